"""The end of replies and their calls: checkpoints, heartbeats, the final write, the reapers."""

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts import ledger
from accounts.models import LedgerEntry, UpstreamCall
from accounts.prepared import Prepared
from accounts.usage import USAGE_FIELDS
from accounts.write_batch import WriteBatch

from . import call_log
from .models import Conversation, Message
from .search_text import search_text_of

log = logging.getLogger(__name__)
FINAL_FIELDS = [
    "status",
    "content",
    "seq",
    "stop_reason",
    "stop_sequence",
    "usage",
    "cost",
    "error",
    "heartbeat_at",
]
INTERRUPTED_ERROR = {
    "code": "interrupted",
    "detail": "The server restarted while this reply was being written.",
}
DELETED_ERROR = {"code": "deleted", "detail": "This conversation was deleted."}


@dataclass(frozen=True)
class ReplyCheckpoint:
    """A streaming reply's partial state, as a runner stores it every second or so."""

    message_id: int
    content: list[dict]
    seq: int
    usage: dict


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
                content=reply.content,
                search_text=search_text_of(reply.content),  # search finds partial replies
                seq=reply.seq,
                usage=reply.usage,
                heartbeat_at=now,
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


@dataclass(frozen=True)
class FinishedReply:
    """How storing a reply's end went: "stored", "deleted" (the reply is gone) or "ended"
    (another process ended it first); with what the reply then shows."""

    outcome: str
    usage: dict = field(default_factory=dict)  # the sum of its calls' charges
    cost: Decimal | None = None
    # Its conversation's first completed reply: the caller asks for a title (decision 72).
    wants_title: bool = False


def charged_totals(
    message_id: int | None, call_id: int | None = None
) -> tuple[dict, Decimal | None]:
    """The sum of a reply's charges (or of one call's), usage and cost: what it shows
    (decision 73). ({}, None) before any charge."""
    charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE)
    if message_id is not None:
        charges = charges.filter(message_id=message_id)
    else:
        charges = charges.filter(call_id=call_id)
    sums = charges.aggregate(
        charges=Sum("tokens"), cost=Sum("cost"), **{f: Sum(f) for f in USAGE_FIELDS}
    )
    if sums["charges"] is None:
        return {}, None
    return {f: sums[f] or 0 for f in USAGE_FIELDS}, sums["cost"]


def settle_and_log(
    call_id: int,
    usage: dict,
    chars: int,
    *,
    complete: bool,
    message_id,
    status,
    error=None,
    batch: WriteBatch | None = None,
) -> LedgerEntry | None:
    """Settle a call and, once its transaction commits, write its log line from the charge
    in hand (no second read, whoever settled it: the runner, a delete's stop, a reaper).
    `batch`: as `ledger.settle_call`'s, run by the caller."""
    charge = ledger.settle_call(
        call_id, usage, chars, complete=complete, message_id=message_id, batch=batch
    )
    if charge is not None:
        transaction.on_commit(
            lambda: call_log.log_call_end(charge, message_id=message_id, status=status, error=error)
        )
    return charge


def settle_unattached_call(
    call_id: int, usage: dict, chars: int, *, complete: bool, status: str, error=None
) -> None:
    """Settle a call that has no message (a gateway request, a title) from what its caller
    knows, and log it, as the runner settles a reply's call."""
    with transaction.atomic():
        settle_and_log(
            call_id, usage, chars, complete=complete, message_id=None, status=status, error=error
        )


def _settle_calls_of(
    message: Message, usage: dict, content: list[dict], complete: bool, status: str, error=None
) -> None:
    """Settle every call of a reply still running, from the reply's own knowledge."""
    running = UpstreamCall.objects.filter(message=message, status=UpstreamCall.Status.RUNNING)
    for call_id in running.values_list("pk", flat=True):
        settle_and_log(
            call_id,
            usage,
            streamed_chars(content),
            complete=complete,
            message_id=message.pk,
            status=status,
            error=error,
        )


def finish_reply(
    message_id: int,
    *,
    call_id: int | None = None,
    status: str,
    content: list[dict],
    seq: int,
    stop_reason: str | None = None,
    stop_sequence: str | None = None,
    usage: dict | None = None,
    error: dict | None = None,
    complete: bool = False,
    output_chars: int | None = None,
) -> FinishedReply:
    """Charge a reply's call and store its final blocks, stop reason and usage (the sum of its
    calls' charges, this one's included), in one transaction.

    `output_chars`: what this call streamed, when `content` holds more (a continued reply).
    `complete`: the stream reached message_stop, so the usage is the API's final figure. The
    call is charged even when its message was deleted meanwhile: the runner's usage is the best
    knowledge anyone has of it.
    """
    usage = usage or {}
    charge = None
    # The charge's writes and the reply's final UPDATE: one statement on PostgreSQL.
    batch = WriteBatch()
    with transaction.atomic():
        message = _locked_streaming(message_id, with_conversation=True)
        if call_id is not None:
            charge = settle_and_log(
                call_id,
                usage,
                streamed_chars(content) if output_chars is None else output_chars,
                complete=complete,
                message_id=message_id,
                status=status,
                error=error,
                batch=batch,
            )
        elif message is not None:
            _settle_calls_of(message, usage, content, complete, status, error)
        if message is None:
            batch.run()  # the charge of a call whose reply is gone or ended
            if Message.objects.filter(pk=message_id).exists():
                return FinishedReply("ended")
            # Readers still on the deleted chat's page see what this call was charged.
            return FinishedReply("deleted", *charged_totals(None, call_id))
        message.status, message.content, message.seq = status, content, seq
        message.stop_reason, message.error = stop_reason or "", error
        totals = getattr(charge, "message_totals", None)  # read with the hold: no SUM
        if totals is None:
            batch.run()  # the sum below must see this call's charge, if any
            totals = charged_totals(message.pk)
        message.usage, message.cost = totals
        message.stop_sequence = stop_sequence or ""
        message.heartbeat_at = None
        message.search_text = search_text_of(content)  # as Message.save() would
        batch.update_fields(message, [*FINAL_FIELDS, "search_text"])
        batch.run()
        wants_title = status == Message.Status.COMPLETE and _claim_title(message.conversation)
        return FinishedReply("stored", message.usage, message.cost, wants_title)


def _claim_title(conversation: Conversation) -> bool:
    """Its first completed reply: the conversation's title is to be written (once)."""
    if (
        not settings.CHAT_AUTO_TITLES
        or conversation.title_source != Conversation.TitleSource.PENDING
    ):
        return False
    # The first words stay unless the title call succeeds.
    Source = Conversation.TitleSource
    return Conversation.move_title_source(conversation.pk, Source.PENDING, Source.KEPT)


def _locked_streaming(message_id: int, with_conversation: bool = False) -> Message | None:
    """The reply, row-locked, if it is still streaming (ending it twice is refused here)."""
    found = (_LOCKED_WITH_CONVERSATION if with_conversation else _LOCKED)(message_id)
    return found[0] if found else None


def _lockable(message_id: int, with_conversation: bool = False):
    messages = Message.objects.select_for_update(of=("self",))
    if with_conversation:
        messages = messages.select_related("conversation")
    return messages.filter(pk=message_id, status=Message.Status.STREAMING).order_by()[:1]


# Every reply's end reads it: compiled once (accounts/prepared.py).
_LOCKED = Prepared(_lockable)
_LOCKED_WITH_CONVERSATION = Prepared(lambda message_id: _lockable(message_id, True))


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
        _settle_calls_of(
            message, message.usage, message.content, False, message.status, INTERRUPTED_ERROR
        )
        message.usage, message.cost = charged_totals(message.pk)
        message.save(update_fields=["status", "heartbeat_at", "error", "usage", "cost"])
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
        # The message's checkpoint, else what a delete recorded on the call.
        if message is not None and message.content:
            usage, chars = message.usage, streamed_chars(message.content)
        else:
            usage, chars = call.usage, call.output_chars
        try:
            settle_and_log(
                call.pk,
                usage,
                chars,
                complete=False,
                message_id=call.message_id,
                status=Message.Status.INTERRUPTED,
                error=INTERRUPTED_ERROR,
            )
        except Exception:  # as above: the next call is settled all the same
            log.exception("settling call %s failed", call.pk)
            continue
        settled += 1
    return settled
