"""Chat actions that change state: send, retry, finish and reap replies, rename and delete."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .models import Conversation, Message
from .selectors import conversation_for, conversations_for, message_for

TITLE_LENGTH = 60


class ChatError(Exception):
    """A refused action, with a frame error code and a message for the user."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class SendResult:
    conversation: Conversation
    created: bool
    user_message: Message | None
    reply: Message


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


def _validate_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ChatError("invalid_frame", _("The message is empty."))
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(
            "too_long",
            _("The message is too long (%(count)d characters; the limit is %(limit)d).")
            % {"count": len(text), "limit": settings.CHAT_MAX_MESSAGE_CHARS},
        )
    return text


def _refuse_if_busy(conversation: Conversation) -> None:
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        raise ChatError("busy", _("A reply is still being written. Stop it or wait for it."))


def _new_reply(conversation: Conversation, client_id: str) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=conversation.model,
        client_id=client_id,
        heartbeat_at=timezone.now(),
        worker=settings.WORKER_ID,
    )


def send_message(
    user: User,
    conversation_id: int | None,
    text: object,
    attachments: object = (),
    client_id: str = "",
) -> SendResult:
    """Store the user's words and a streaming reply in one transaction; nothing goes upstream."""
    text = _validate_text(text)
    if attachments:
        # Attachments arrive with a later issue; until then every id is unknown.
        raise ChatError("not_found", _("Attachment not found."))
    with transaction.atomic():
        created = conversation_id is None
        if created:
            conversation = Conversation.objects.create(
                user=user, model=settings.CHAT_MODEL, title=_title_from(text)
            )
        else:
            conversation = conversation_for(user, conversation_id)
            _refuse_if_busy(conversation)
        user_message = Message.objects.create(
            conversation=conversation,
            role=Message.Role.USER,
            content=[{"type": "text", "text": text}],
            client_id=client_id,
        )
        reply = _new_reply(conversation, client_id)
        conversation.save(update_fields=["updated_at"])
    return SendResult(conversation, created, user_message, reply)


def retry_reply(user: User, message_id: object, client_id: str = "") -> SendResult:
    """Start a new reply after a failed or interrupted one that ends the conversation."""
    with transaction.atomic():
        failed = message_for(user, message_id)
        conversation = failed.conversation
        last = conversation.messages.order_by("-id").first()
        retryable = {Message.Status.FAILED, Message.Status.INTERRUPTED, Message.Status.STOPPED}
        if (
            failed.role != Message.Role.ASSISTANT
            or failed.status not in retryable
            or last != failed
        ):
            raise ChatError(
                "invalid_frame", _("Only the last reply can be retried, once it has ended.")
            )
        reply = _new_reply(conversation, client_id)
        conversation.save(update_fields=["updated_at"])
    return SendResult(conversation, False, None, reply)


def checkpoint_reply(message_id: int, content: list[dict], seq: int) -> bool:
    """Store the partial reply and refresh its heartbeat; False once it is gone or has ended."""
    return bool(
        Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
            content=content, seq=seq, heartbeat_at=timezone.now()
        )
    )


def touch_replies(message_ids: list[int]) -> int:
    """Refresh the heartbeat of replies this process is still writing (one UPDATE)."""
    return Message.objects.filter(pk__in=message_ids, status=Message.Status.STREAMING).update(
        heartbeat_at=timezone.now()
    )


def finish_reply(
    message_id: int,
    *,
    status: str,
    content: list[dict],
    seq: int,
    stop_reason: str | None = None,
    usage: dict | None = None,
    error: dict | None = None,
) -> bool:
    """Store the final blocks, stop reason and usage of a reply in one write."""
    with transaction.atomic():
        updated = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
            status=status,
            content=content,
            seq=seq,
            stop_reason=stop_reason or "",
            usage=usage or {},
            error=error,
            heartbeat_at=None,
        )
    return bool(updated)


def reap_interrupted(*, all_streaming: bool = False) -> int:
    """Mark replies whose process died as interrupted, keeping their partial content.

    With `all_streaming` (a single-process deployment starting up) every streaming reply is
    an orphan; otherwise only those whose heartbeat is older than STREAM_HEARTBEAT_TIMEOUT.
    """
    orphans = Message.objects.filter(status=Message.Status.STREAMING)
    if not all_streaming:
        cutoff = timezone.now() - timedelta(seconds=settings.STREAM_HEARTBEAT_TIMEOUT)
        orphans = orphans.filter(heartbeat_at__lt=cutoff)
    return orphans.update(
        status=Message.Status.INTERRUPTED,
        heartbeat_at=None,
        error={
            "code": "interrupted",
            "detail": str(_("The server restarted while this reply was being written.")),
        },
    )


def rename_conversation(user: User, conversation_id: object, title: str) -> Conversation:
    conversation = conversation_for(user, conversation_id)
    conversation.title = " ".join(title.split())[:200]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def delete_conversation(user: User, conversation_id: object) -> list[int]:
    """Delete a conversation; returns the ids of replies that were still streaming."""
    conversation = conversation_for(user, conversation_id)
    streaming = list(
        conversation.messages.filter(status=Message.Status.STREAMING).values_list("id", flat=True)
    )
    conversation.delete()
    return streaming


def latest_conversation(user: User) -> Conversation | None:
    return conversations_for(user).first()
