"""Shared links: create, refresh and revoke snapshots, resolve tokens, fork into a new chat."""

import copy
from datetime import timedelta
from itertools import pairwise

from django.db import transaction
from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.models import User

from .attachments import copy_attachments
from .branches import visible_path
from .frames import attachment_json, public_content
from .models import Attachment, Conversation, Message, Share
from .prompt import system_text
from .selectors import conversation_for, default_model_for

Action = audit.Action
# Block types a reader of a shared page may see; anything else (redacted thinking, whose
# payload is opaque ciphertext, or future types) stays on the server.
SHARED_BLOCK_TYPES = {"text", "thinking", "tool_use"}


def _snapshot_blocks(content: list[dict]) -> list[dict]:
    blocks = [b for b in public_content(content) if b.get("type") in SHARED_BLOCK_TYPES]
    return copy.deepcopy(blocks)


def _snapshot_message(message: Message, share: Share) -> dict:
    files = []
    if share.include_attachments and message.role == Message.Role.USER:
        files = [
            attachment_json(a, reverse("shared_attachment", args=[share.token, a.pk]))
            for a in message.attachments.all()
        ]
    return {
        "role": message.role,
        "status": message.status,
        "content": _snapshot_blocks(message.content),
        "created_at": message.created_at.isoformat() if message.created_at else None,
        # Only with "include attachments": the entries, their URLs on the share's own route.
        "attachments": files,
    }


def _take_snapshot(share: Share, conversation: Conversation) -> None:
    """Freeze the conversation into the share (not saved here)."""
    # The visible branch (decision 70); a reply still being written is left out: the snapshot
    # holds finished words only.
    path = visible_path(conversation)
    finished = [m for m in path if m.status != Message.Status.STREAMING]
    share.title = conversation.display_title
    share.system_prompt = system_text(conversation) if share.include_system_prompt else ""
    messages = [_snapshot_message(m, share) for m in finished]
    share.snapshot = {
        "messages": messages,
        # The included attachments: only these can be fetched through the share's token.
        "attachments": [entry for m in messages for entry in m["attachments"]],
    }
    share.updated_at = timezone.now()


def create_share(
    user: User,
    conversation_id: object,
    *,
    visibility: str = Share.Visibility.ANYONE,
    expires_in: timedelta | None = None,
    include_system_prompt: bool = False,
    include_attachments: bool = False,
) -> Share:
    """A new link to a snapshot of the user's conversation (Http404 for anyone else's)."""
    with transaction.atomic():
        conversation = conversation_for(user, conversation_id)
        share = Share(
            conversation=conversation,
            visibility=visibility,
            include_system_prompt=include_system_prompt,
            include_attachments=include_attachments,
            expires_at=timezone.now() + expires_in if expires_in else None,
        )
        _take_snapshot(share, conversation)
        share.save()
    return share


def shares_for(user: User) -> QuerySet[Share]:
    """Every link the user made, newest first: the one place the owner scope is written."""
    return Share.objects.filter(conversation__user=user).select_related("conversation")


def share_for(user: User, share_id: object) -> Share:
    """The user's link with this id, or Http404 (also for another user's link)."""
    return get_object_or_404(shares_for(user), pk=share_id)


def update_snapshot(user: User, share_id: object) -> Share:
    """Replace the link's snapshot with the conversation as it is now (same token)."""
    with transaction.atomic():
        share = get_object_or_404(shares_for(user).filter(revoked_at__isnull=True), pk=share_id)
        _take_snapshot(share, share.conversation)
        share.save(update_fields=["title", "system_prompt", "snapshot", "updated_at"])
    return share


def revoke_share(user: User, share_id: object) -> Share:
    """Switch the link off for good; its token then gives the same 404 as an unknown one."""
    share = share_for(user, share_id)
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.save(update_fields=["revoked_at"])
    return share


def revoke_shares(shares: QuerySet[Share], by: User | None = None) -> int:
    """Revoke many links at once (the admin's action); returns how many were live.

    Each link revoked gets an audit entry naming `by`.
    """
    now = timezone.now()
    with transaction.atomic():
        # Locked through a plain query: PostgreSQL refuses FOR UPDATE on the DISTINCT or
        # joined querysets an admin changelist may hand over.
        selected = Share.objects.filter(pk__in=shares.values("pk"), revoked_at__isnull=True)
        live = list(selected.select_for_update())
        Share.objects.filter(pk__in=[share.pk for share in live]).update(revoked_at=now)
        for share in live:
            audit.record(by, Action.SHARE_REVOKED, share, {"revoked_at": None}, {"revoked_at": now})
    return len(live)


def share_for_token(token: str) -> Share | None:
    """The live link for this token, or None: unknown, revoked and expired look the same.

    One indexed lookup by token, then the same checks for every outcome, so the caller
    has a single not-found path.
    """
    share = Share.objects.select_related("conversation").filter(token=token).first()
    if share is None or not share.is_live():
        return None
    return share


def count_view(share: Share) -> None:
    Share.objects.filter(pk=share.pk).update(view_count=F("view_count") + 1)


def snapshot_attachment(share: Share, attachment_id: object) -> dict | None:
    """The attachment entry if it is part of this share's snapshot, else None."""
    if not share.include_attachments:
        return None
    wanted = str(attachment_id)
    for entry in share.snapshot_attachments:
        if str(entry.get("id")) == wanted:
            return entry
    return None


def shared_attachment_row(share: Share, attachment_id: object) -> Attachment | None:
    """The stored attachment behind a snapshot entry: one of the shared conversation's."""
    return Attachment.objects.filter(pk=attachment_id, conversation=share.conversation).first()


def fork_share(viewer: User, share: Share) -> Conversation:
    """Copy the snapshot into a new conversation owned by the viewer (copies, not references)."""
    model = default_model_for(viewer)
    with transaction.atomic():
        conversation = Conversation.objects.create(
            user=viewer,
            title=share.title[:200],
            # Without a usable model the first send explains that none is available.
            model=model.model_id if model else "",
            system_prompt=share.system_prompt if share.include_system_prompt else "",
            title_source=Conversation.TitleSource.KEPT,  # the sharer's title stays
        )
        snapshot = share.snapshot_messages
        messages = Message.objects.bulk_create(
            Message(
                conversation=conversation,
                role=m["role"],
                status=m.get("status", Message.Status.COMPLETE),
                content=copy.deepcopy(m.get("content", [])),
            )
            for m in snapshot
        )
        _link_in_order(conversation, messages)
        if share.include_attachments:
            _fork_attachments(share, viewer, conversation, zip(snapshot, messages, strict=True))
    return conversation


def _link_in_order(conversation: Conversation, messages: list[Message]) -> None:
    """A copied snapshot is one branch: each message follows the one before it."""
    for previous, message in pairwise(messages):
        message.parent = previous
    Message.objects.bulk_update(messages[1:], ["parent"])
    if messages:
        conversation.leaf = messages[-1]
        conversation.save(update_fields=["leaf"])


def _fork_attachments(share: Share, viewer: User, conversation: Conversation, pairs) -> None:
    """New rows on the same stored files for each forked message that carried attachments."""
    for entry, message in pairs:
        ids = [item.get("id") for item in entry.get("attachments") or []]
        if ids:
            sources = Attachment.objects.filter(pk__in=ids, conversation=share.conversation)
            copy_attachments(sources, viewer, conversation, message)
