"""Chat actions that change state: send, retry, finish and reap replies, rename and delete."""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts import ledger
from accounts.models import UpstreamCall, User
from accounts.request_bound import request_token_bound

from .errors import ChatError
from .models import CatalogModel, Conversation, Message
from .prompt import build_request
from .secret_scan import refuse_if_secrets
from .selectors import conversation_for, message_for, usable_model
from .sending_limits import (
    SendingLimits,
    refuse_if_sending_too_fast,
    refuse_if_too_many_replies,
    sending_limits_for,
)

log = logging.getLogger(__name__)
TITLE_LENGTH = 60
FINAL_FIELDS = ["status", "content", "seq", "stop_reason", "usage", "error", "heartbeat_at"]
INTERRUPTED_ERROR = {
    "code": "interrupted",
    "detail": "The server restarted while this reply was being written.",
}
DELETED_ERROR = {"code": "deleted", "detail": "This conversation was deleted."}


@dataclass(frozen=True)
class SendResult:
    conversation: Conversation
    created: bool
    user_message: Message | None
    reply: Message
    call: UpstreamCall

    @property
    def request(self) -> dict:
        """The Messages API request for the reply, as admitted (max_tokens included)."""
        return self.reply.upstream_request


@dataclass(frozen=True)
class ReplyCheckpoint:
    """A streaming reply's partial state, as a runner stores it every second or so."""

    message_id: int
    content: list[dict]
    seq: int
    usage: dict


@dataclass(frozen=True)
class StreamingReply:
    """A reply still being written, and the worker writing it (which is asked to stop it)."""

    message_id: int
    worker: str


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


def _model_or_refuse(user: User, model_id: str | None) -> CatalogModel:
    model = usable_model(user, model_id)
    if model is None and not model_id:
        raise ChatError(
            "model_unavailable",
            _("No model is available to you. Ask an administrator to enable one."),
        )
    if model is None:
        raise ChatError(
            "model_unavailable",
            _("The model %(model)s is not available to you. Choose another model.")
            % {"model": model_id},
        )
    return model


def quota_error(balance: ledger.Balance, model: CatalogModel | None = None) -> ChatError:
    """The friendly refusal for an exhausted quota, with what is left and when it resets.

    When a short message would still fit, it is this conversation's length that does not:
    say so, since a new chat can still be sent.
    """
    when = None
    if balance.resets_at is not None:
        when = date_format(timezone.localtime(balance.resets_at), "DATETIME_FORMAT")
    if not ledger.is_exhausted(balance, model):
        detail = _(
            "This conversation is too long for what is left of your quota. Start a new chat, "
            "or ask an administrator for more."
        )
    elif when:
        detail = _("You have used up your quota. It resets on %(when)s.") % {"when": when}
    else:
        detail = _("You have used up your quota. Ask an administrator for more.")
    return ChatError(
        "quota_exceeded",
        detail,
        resets_at=balance.resets_at.isoformat() if balance.resets_at else None,
        remaining={
            "cost": (
                format(balance.remaining_cost, "f") if balance.remaining_cost is not None else None
            ),
            "tokens": balance.remaining_tokens,
        },
    )


def _create_streaming_reply(
    user: User,
    conversation: Conversation,
    model: CatalogModel,
    client_id: str,
    sending: SendingLimits,
) -> tuple[Message, UpstreamCall]:
    """Create the streaming reply and admit its first call (inside the send transaction)."""
    refuse_if_too_many_replies(user, sending)
    reply = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=model.model_id,
        client_id=client_id,
        heartbeat_at=timezone.now(),
        worker=settings.WORKER_ID,
    )
    reply.conversation = conversation
    request = build_request(reply)
    wanted = min(settings.CHAT_MAX_TOKENS, model.max_output_tokens)
    try:
        admission = ledger.admit(
            user,
            model,
            request_token_bound(request),
            wanted,
            source=UpstreamCall.Source.CHAT,
            message=reply,
            input_estimate=ledger.estimate_prompt_tokens(request),
        )
    except ledger.QuotaExceeded as exc:
        raise quota_error(exc.balance, model) from None  # the transaction rolls back
    reply.max_tokens = admission.max_tokens
    Message.objects.filter(pk=reply.pk).update(max_tokens=reply.max_tokens)
    # The runner sends exactly this, without reading the conversation again.
    reply.upstream_request = request | {"max_tokens": reply.max_tokens}
    return reply, admission.call


def send_message(
    user: User,
    conversation_id: int | None,
    text: object,
    attachments: object = (),
    client_id: str = "",
    model_id: str | None = None,
    allow_secrets: bool = False,
) -> SendResult:
    """Store the user's words and a streaming reply in one transaction; nothing goes upstream."""
    text = _validate_text(text)
    refuse_if_secrets(text, confirmed=allow_secrets)  # before the limits: only the resend counts
    if attachments:
        # Attachments arrive with a later issue; until then every id is unknown.
        raise ChatError("not_found", _("Attachment not found."))
    sending = sending_limits_for(user)
    refuse_if_sending_too_fast(user, sending)
    with transaction.atomic():
        created = conversation_id is None
        if created:
            model = _model_or_refuse(user, model_id)
            conversation = Conversation.objects.create(
                user=user, model=model.model_id, title=_title_from(text)
            )
        else:
            conversation = conversation_for(user, conversation_id, lock=True)
            _refuse_if_busy(conversation)
            model = _model_or_refuse(user, model_id or conversation.model)
            if conversation.model != model.model_id:
                conversation.model = model.model_id
        user_message = Message.objects.create(
            conversation=conversation,
            role=Message.Role.USER,
            content=[{"type": "text", "text": text}],
            client_id=client_id,
        )
        reply, call = _create_streaming_reply(user, conversation, model, client_id, sending)
        conversation.save(update_fields=["updated_at", "model"])
    return SendResult(conversation, created, user_message, reply, call)


def retry_reply(user: User, message_id: object, client_id: str = "") -> SendResult:
    """Start a new reply after a failed or interrupted one that ends the conversation."""
    sending = sending_limits_for(user)
    refuse_if_sending_too_fast(user, sending)
    with transaction.atomic():
        failed = message_for(user, message_id, lock=True)
        conversation = failed.conversation
        last = conversation.messages.order_by("-id").first()
        # A stopped reply is part of the history (the reader chose to end it): send again instead.
        retryable = {Message.Status.FAILED, Message.Status.INTERRUPTED}
        if (
            failed.role != Message.Role.ASSISTANT
            or failed.status not in retryable
            or last != failed
        ):
            raise ChatError(
                "invalid_frame", _("Only the last reply can be retried, and only if it failed.")
            )
        model = _model_or_refuse(user, conversation.model)
        reply, call = _create_streaming_reply(user, conversation, model, client_id, sending)
        conversation.save(update_fields=["updated_at"])
    return SendResult(conversation, False, None, reply, call)


def checkpoint_replies(batch: list[ReplyCheckpoint], idle: list[int] = ()) -> list[int]:
    """Store partial replies and refresh their heartbeats, in one transaction; returns the ids
    that are no longer streaming (deleted, or reaped), of those and of the `idle` replies
    (nothing new to store, such as one still waiting for its first token)."""
    now = timezone.now()
    gone = []
    if idle:
        alive = Message.objects.filter(pk__in=idle, status=Message.Status.STREAMING)
        gone = sorted(set(idle) - set(alive.values_list("pk", flat=True)))
    with transaction.atomic():
        for reply in batch:
            streaming = Message.objects.filter(pk=reply.message_id, status=Message.Status.STREAMING)
            stored = streaming.update(
                content=reply.content, seq=reply.seq, usage=reply.usage, heartbeat_at=now
            )
            if not stored:
                gone.append(reply.message_id)
    return gone


def touch_replies(message_ids: list[int], call_ids: list[int] = ()) -> int:
    """Refresh the heartbeat of the replies and calls this process is still running."""
    now = timezone.now()
    UpstreamCall.objects.filter(pk__in=call_ids, status=UpstreamCall.Status.RUNNING).update(
        heartbeat_at=now
    )
    return Message.objects.filter(pk__in=message_ids, status=Message.Status.STREAMING).update(
        heartbeat_at=now
    )


def streamed_chars(content: list[dict]) -> int:
    """Characters a reply has streamed (text, thinking, tool input): the output estimate's base.

    A tool call is counted from its streamed JSON or, once the stream has parsed it, its input.
    """
    return sum(_block_chars(b) for b in content if isinstance(b, dict))


def _block_chars(block: dict) -> int:
    text = block.get("text") or block.get("thinking") or block.get("partial_json")
    if text:
        return len(text)
    if block.get("type") == "tool_use" and block.get("input"):
        return len(json.dumps(block["input"], ensure_ascii=False))
    return len(block.get("data") or "")  # redacted thinking


def _settle_calls_of(message: Message, usage: dict, content: list[dict], complete: bool) -> None:
    """Settle every call of a reply still running, from the reply's own knowledge."""
    running = UpstreamCall.objects.filter(message=message, status=UpstreamCall.Status.RUNNING)
    for call_id in running.values_list("pk", flat=True):
        ledger.settle_call(call_id, usage, streamed_chars(content), complete=complete)


def finish_reply(
    message_id: int,
    *,
    call_id: int | None = None,
    status: str,
    content: list[dict],
    seq: int,
    stop_reason: str | None = None,
    usage: dict | None = None,
    error: dict | None = None,
    complete: bool = False,
) -> str:
    """Store the final blocks, stop reason and usage of a reply and charge its call, in one
    transaction. Returns "stored", "deleted" (the reply is gone) or "ended" (another process
    ended it first, as interrupted).

    `complete`: the stream reached message_stop, so the usage is the API's final figure. The
    call is charged even when its message was deleted meanwhile: the runner's usage is the best
    knowledge anyone has of it.
    """
    usage = usage or {}
    with transaction.atomic():
        message = _locked_streaming(message_id)
        if message is not None:
            message.status, message.content, message.seq = status, content, seq
            message.stop_reason, message.usage, message.error = stop_reason or "", usage, error
            message.heartbeat_at = None
            message.save(update_fields=FINAL_FIELDS)
        if call_id is not None:
            ledger.settle_call(call_id, usage, streamed_chars(content), complete=complete)
        elif message is not None:
            _settle_calls_of(message, usage, content, complete)
        if message is not None:
            return "stored"
        return "ended" if Message.objects.filter(pk=message_id).exists() else "deleted"


def _locked_streaming(message_id: int) -> Message | None:
    """The reply, row-locked, if it is still streaming (ending it twice is refused here)."""
    return (
        Message.objects.select_for_update()
        .filter(pk=message_id, status=Message.Status.STREAMING)
        .first()
    )


def reap_interrupted(*, all_streaming: bool = False) -> list[Message]:
    """Mark replies whose process died as interrupted, keep their partial content, charge them;
    then settle every other call whose worker is gone.

    With `all_streaming` (a single-process deployment starting up) every streaming reply and
    running call is an orphan; otherwise only those whose heartbeat is older than
    STREAM_HEARTBEAT_TIMEOUT.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.STREAM_HEARTBEAT_TIMEOUT)
    orphans = Message.objects.filter(status=Message.Status.STREAMING)
    if not all_streaming:
        orphans = orphans.filter(heartbeat_at__lt=cutoff)
    reaped = []
    for message_id in orphans.values_list("pk", flat=True):
        try:
            message = _reap_one(message_id)
        except Exception:  # one bad row must not keep every other orphan's hold open
            log.exception("reaping reply %s failed", message_id)
            continue
        if message is not None:
            reaped.append(message)
    reap_calls(all_running=all_streaming, cutoff=cutoff)
    return reaped


def _reap_one(message_id: int) -> Message | None:
    with transaction.atomic():
        message = _locked_streaming(message_id)
        if message is None:
            return None
        message.status = Message.Status.INTERRUPTED
        message.heartbeat_at = None
        message.error = INTERRUPTED_ERROR
        message.save(update_fields=["status", "heartbeat_at", "error"])
        _settle_calls_of(message, message.usage, message.content, complete=False)
        return message


def reap_calls(*, all_running: bool = False, cutoff=None) -> int:
    """Settle running calls that no live worker owns (their message deleted, or none)."""
    calls = UpstreamCall.objects.filter(status=UpstreamCall.Status.RUNNING)
    if not all_running:
        cutoff = cutoff or timezone.now() - timedelta(seconds=settings.STREAM_HEARTBEAT_TIMEOUT)
        calls = calls.filter(heartbeat_at__lt=cutoff)
    settled = 0
    for call in calls.select_related("message"):
        message = call.message
        try:
            if message is not None and message.content:
                entry = ledger.settle_call(
                    call.pk, message.usage, streamed_chars(message.content), complete=False
                )
            else:
                entry = ledger.settle_unfinished(call)
        except Exception:  # as above: the next call is settled all the same
            log.exception("settling call %s failed", call.pk)
            continue
        settled += entry is not None
    return settled


def rename_conversation(user: User, conversation_id: object, title: str) -> Conversation:
    return edit_conversation(conversation_for(user, conversation_id), title=title)


def edit_conversation(
    conversation: Conversation, *, title: str | None = None, system_prompt: str | None = None
) -> Conversation:
    """Change a conversation's title or system prompt (the owner's rename, the admin's edit)."""
    changed = []
    if title is not None:
        conversation.title = " ".join(title.split())[:200]
        changed.append("title")
    if system_prompt is not None:
        conversation.system_prompt = system_prompt
        changed.append("system_prompt")
    if changed:
        conversation.save(update_fields=[*changed, "updated_at"])
    return conversation


def delete_conversation(user: User, conversation_id: object) -> list[StreamingReply]:
    """Delete a conversation; returns the replies that were still streaming."""
    with transaction.atomic():
        conversation = conversation_for(user, conversation_id)
        return delete_conversations(Conversation.objects.filter(pk=conversation.pk))


def delete_conversations(conversations) -> list[StreamingReply]:
    """Delete conversations (the app's and the admin's one path); returns the replies that
    were still streaming, which the caller asks their workers to stop.

    Their calls stay open: the worker settles each from its own usage once stopped (it knows
    more than any checkpoint), and if that worker is dead, the reaper settles it from what is
    recorded on the call here.
    """
    with transaction.atomic():
        replies = list(
            Message.objects.filter(
                conversation__in=conversations, status=Message.Status.STREAMING
            ).select_for_update()
        )
        for reply in replies:
            UpstreamCall.objects.filter(message=reply, status=UpstreamCall.Status.RUNNING).update(
                usage=reply.usage, output_chars=streamed_chars(reply.content)
            )
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).delete()
    return [StreamingReply(reply.pk, reply.worker) for reply in replies]
