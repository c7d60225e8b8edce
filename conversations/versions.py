"""New versions of a turn and the visible branch: regenerate, edit, switch (decision 70).

Regenerate and edit go through the send path of conversations/services.py (its checks, its
admission, its reply creation); only where the new message hangs in the tree differs.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User

from .attachments import attachment_ids, claim_for_edit
from .branches import Tree, messages_by_ids, tree_of
from .errors import ChatError
from .models import Conversation, Message
from .secret_scan import refuse_if_secrets
from .selectors import message_for, model_or_refuse
from .sending_limits import refuse_if_sending_too_fast, sending_limits_for

# The send path's own steps, shared on purpose: one place admits every reply.
from .services import (
    SendResult,
    _create_streaming_reply,
    _new_version,
    _refuse_if_busy,
    _store_turn,
    _validate_text,
)


@dataclass(frozen=True)
class BranchView:
    """The visible branch after a switch: its messages in order, and the parent links."""

    conversation: Conversation
    messages: list[Message]
    tree: Tree


def regenerate_reply(
    user: User, message_id: object, client_id: str = "", model_id: str | None = None
) -> SendResult:
    """A new reply to the same user message: a sibling version of `message_id`, now visible.

    Admitted like a send's reply (model access, limits, quota, the conversation's settings);
    `model_id` switches the conversation's model as a send's does.
    """
    sending = sending_limits_for(user)
    refuse_if_sending_too_fast(user, sending)
    with transaction.atomic():
        old = message_for(user, message_id, lock=True)
        if old.role != Message.Role.ASSISTANT or old.parent_id is None:
            raise ChatError("invalid_frame", _("Only a reply can be regenerated."))
        conversation = old.conversation
        _refuse_if_busy(conversation)
        model = model_or_refuse(user, model_id or conversation.model)
        conversation.model = model.model_id
        reply, call = _create_streaming_reply(
            user, conversation, model, client_id, sending, old.parent_id
        )
        conversation.save(update_fields=["updated_at", "model", "leaf"])
        return _new_version(conversation, None, reply, call)


def edit_message(
    user: User,
    message_id: object,
    text: object,
    attachments: object = (),
    client_id: str = "",
    model_id: str | None = None,
    allow_secrets: bool = False,
) -> SendResult:
    """A new version of a user message (a sibling: same parent), then its reply, as a send.

    `attachments`: the sender's unsent uploads, and any of the edited message's own, which the
    new version keeps (as copies on the same stored files).
    """
    ids = attachment_ids(attachments)
    text = _validate_text(text, allow_empty=bool(ids))
    refuse_if_secrets(text, confirmed=allow_secrets)  # before the limits, as for a send
    sending = sending_limits_for(user)
    refuse_if_sending_too_fast(user, sending)
    with transaction.atomic():
        original = message_for(user, message_id, lock=True)
        if original.role != Message.Role.USER:
            raise ChatError("invalid_frame", _("Only your own messages can be edited."))
        conversation = original.conversation
        _refuse_if_busy(conversation)
        model = model_or_refuse(user, model_id or conversation.model)
        conversation.model = model.model_id
        claimed, kept = claim_for_edit(user, ids, model, original)
        user_message, reply, call = _store_turn(
            user,
            conversation,
            model,
            text,
            claimed,
            client_id,
            sending,
            parent=original.parent_id,
            kept=kept,
        )
        conversation.save(update_fields=["updated_at", "model", "leaf"])
        return _new_version(conversation, user_message, reply, call)


def switch_branch(user: User, message_id: object) -> BranchView:
    """Make the version `message_id` visible: the branch through it, down to its newest
    message (a message already on the visible branch leaves it as it is)."""
    with transaction.atomic():
        target = message_for(user, message_id, lock=True)
        conversation = target.conversation
        _refuse_if_busy(conversation)
        tree = tree_of(conversation.pk)
        leaf = tree.visible_leaf(conversation)
        if target.pk not in tree.path_to(leaf):
            leaf = tree.latest_leaf(target.pk)
        if leaf != conversation.leaf_id:
            Conversation.objects.filter(pk=conversation.pk).update(leaf_id=leaf)
            conversation.leaf_id = leaf
        return BranchView(conversation, messages_by_ids(tree.path_to(leaf)), tree)
