"""Between two rounds of a tool loop: run the tools, settle the round's call, admit the next.

A reply that calls tools is one message that grows (decision 78): each round's blocks, then a
`tool_result` block for each of its `tool_use` blocks. Each round is its own upstream call,
held and charged on its own (decision 79); a quota that cannot cover the next round ends the
reply with what it has (decision 80).
"""

import asyncio
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from . import services, settlement
from .errors import ChatError
from .models import CatalogModel, Message
from .tools import registry
from .tools.registry import ToolContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NextRound:
    """The next round's call and request; `call_id` None: the reply ends here."""

    call_id: int | None
    request: dict | None
    reason: str = ""  # why it ends: "quota", "refused", "deleted"


def tool_uses(content: list[dict]) -> list[dict]:
    return [b for b in content if b.get("type") == "tool_use"]


def context_for(conversation_user_id: int, time_zone: str | None = None) -> ToolContext:
    """The member the tools work for; the browser's zone when it sent one (none does yet)."""
    if time_zone:
        return ToolContext(conversation_user_id, time_zone, "browser")
    return ToolContext(conversation_user_id, settings.TIME_ZONE, "server")


async def run_tools(uses: list[dict], context: ToolContext) -> list[dict]:
    """One `tool_result` per `tool_use`, in order; tools run together, none can fail the reply."""
    return list(await asyncio.gather(*(registry.run(use, context) for use in uses)))


def user_of(message_id: int) -> int | None:
    users = Message.objects.filter(pk=message_id).values_list("conversation__user_id", flat=True)
    return users.first()


def next_round(
    message_id: int,
    *,
    call_id: int | None,
    content: list[dict],
    seq: int,
    usage: dict,
    complete: bool,
    output_chars: int,
) -> NextRound:
    """Charge the round that ended, store the reply so far, and admit the next round's call.

    One transaction: the charge and the stored blocks go together. The admission runs in a
    savepoint, so a refusal (the quota ran out) keeps the round charged and stored.
    """
    with transaction.atomic():
        reply = settlement._locked_streaming(message_id, with_conversation=True)
        if call_id is not None:
            settlement.settle_and_log(
                call_id,
                usage,
                output_chars,
                complete=complete,
                message_id=message_id,
                status=Message.Status.COMPLETE,
            )
        if reply is None:
            return NextRound(None, None, "deleted")
        reply.content, reply.seq = content, seq
        reply.save(update_fields=["content", "seq"])
        model = CatalogModel.objects.filter(model_id=reply.model).first()
        if model is None:
            return NextRound(None, None, "refused")
        try:
            with transaction.atomic():
                call = services._admit_reply(reply.conversation.user, model, reply)
        except ChatError as exc:
            log.info("tool loop of reply %s ends: %s", message_id, exc.code)
            return NextRound(None, None, "quota" if exc.code == "quota_exceeded" else "refused")
        return NextRound(call.pk, reply.upstream_request)
