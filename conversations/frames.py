"""WebSocket frames of contract v1 (docs/protocol.md): payload builders and JSON encoding."""

import json
from decimal import Decimal

from accounts.money import decimal_text
from accounts.pricing import PRICE_FIELDS, PriceList

from .models import Attachment, Conversation, Message


def encode(frame: dict) -> str:
    """Encode a frame once; the same string goes to every socket."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def conversation_payload(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "title": conversation.display_title,
        "url": conversation.get_absolute_url(),
    }


def public_content(content: list[dict]) -> list[dict]:
    """Content blocks as readers see them: thinking signatures stay on the server."""
    return [
        {k: v for k, v in block.items() if k != "signature"} if "signature" in block else block
        for block in content
    ]


def attachment_json(attachment: Attachment, url: str | None = None) -> dict:
    """An attachment as the upload answers it and as messages list it (the contract's JSON)."""
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "media_type": attachment.media_type,
        "size": attachment.size,
        "kind": attachment.kind,
        "width": attachment.width,
        "height": attachment.height,
        "url": url or attachment.get_absolute_url(),
    }


def message_attachments(message: Message) -> list[dict]:
    """A user message's attachments; callers in async code prefetch them (`attachments`)."""
    if message.role != Message.Role.USER or message.pk is None:
        return []
    cached = getattr(message, "_prefetched_objects_cache", {})
    rows = cached["attachments"] if "attachments" in cached else message.attachments.all()
    return [attachment_json(a) for a in rows]


def single_version(message_id: int) -> dict:
    return {"index": 0, "count": 1, "ids": [message_id]}


def cost_text(cost: Decimal | None) -> str | None:
    """A reply's cost as the payloads carry it: exact USD as decimal text, or null."""
    return None if cost is None else decimal_text(cost)


def live_prices(prices: PriceList, prompt_tokens: int) -> dict:
    """A reply's `prices` (decision 91): the rates its call was admitted at, in dollars per
    million tokens as decimal text, and the admission's estimate of its prompt in tokens, so a
    page can price the reply while it streams."""
    rates = prices.rates(prompt_tokens)
    return {name: decimal_text(rates[name]) for name in PRICE_FIELDS} | {
        "prompt_tokens": prompt_tokens
    }


def message_payload(message: Message, versions: dict | None = None) -> dict:
    """A message as frames and the page carry it. `versions`: its place among its siblings
    (branches.Tree.versions); None for a message known to have none. A reply just admitted
    carries its `prices` (set by services._admit_reply), so its `message.created` does."""
    payload = {
        "id": message.pk,
        "conversation": message.conversation_id,
        # Branches (decision 70): the message it follows, and its versions.
        "parent": message.parent_id,
        "versions": versions or single_version(message.pk),
        "role": message.role,
        "status": message.status,
        "content": public_content(message.content),
        "model": message.model,
        "seq": message.seq,
        "stop_reason": message.stop_reason or None,
        "stop_sequence": message.stop_sequence or None,
        "usage": message.usage or {},
        # The sum of the reply's calls' charges (decision 73); null before any, and for users'.
        "cost": cost_text(message.cost),
        "error": message.error,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "attachments": message_attachments(message),
        # Earlier attachments this reply's request left out (the API's per-request limits).
        "attachments_left_out": list(message.attachments_left_out or []),
        # The reply's output cap, and whether the quota lowered it (selectors.mark_quota_cuts).
        "max_tokens": message.max_tokens,
        "max_tokens_lowered": getattr(message, "max_tokens_lowered", False),
    }
    prices = getattr(message, "admitted_prices", None)
    if prices:
        payload["prices"] = prices
    return payload


def error_frame(code: str, detail: str, client_id: str | None = None) -> dict:
    return {"type": "error", "code": code, "detail": detail, "client_id": client_id}


def completed_frame(message: Message) -> dict:
    """`message.completed` for a reply that has ended, from what is stored."""
    return reply_completed_frame(
        message.pk,
        status=message.status,
        stop_reason=message.stop_reason or None,
        stop_sequence=message.stop_sequence or None,
        usage=message.usage or {},
        cost=message.cost,
        error=message.error,
        content=message.content,
        seq=message.seq,
        max_tokens=message.max_tokens,
        max_tokens_lowered=getattr(message, "max_tokens_lowered", False),
    )


def reply_completed_frame(
    message_id: int,
    *,
    status: str,
    stop_reason: str | None,
    usage: dict,
    cost: Decimal | None = None,
    stop_sequence: str | None = None,
    error: dict | None,
    content: list[dict],
    seq: int,
    max_tokens: int | None = None,
    max_tokens_lowered: bool = False,
) -> dict:
    """`message.completed` from the values a reply ended with (the runner's, or the stored).

    `usage` and `cost`: the sums of the reply's charged calls (decision 73).
    `max_tokens_lowered`: it stopped at a max_tokens the quota lowered to `max_tokens`.
    """
    return {
        "type": "message.completed",
        "message": message_id,
        "status": status,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
        "cost": cost_text(cost),
        "error": error,
        "content": public_content(content),
        "seq": seq,
        "max_tokens": max_tokens,
        "max_tokens_lowered": max_tokens_lowered,
    }


def delta_frame(message_id: int, seq: int, block: int, kind: str, text: str) -> dict:
    """`message.delta`: new text for one block of a streaming reply."""
    return {
        "type": "message.delta",
        "message": message_id,
        "seq": seq,
        "block": block,
        "kind": kind,
        "text": text,
    }


def tool_result_frame(message_id: int, seq: int, block: int, result: dict) -> dict:
    """`message.delta` of kind `tool_result`: a tool's whole answer, as a new block."""
    frame = delta_frame(message_id, seq, block, "tool_result", str(result.get("content", "")))
    frame["tool_use_id"] = result.get("tool_use_id", "")
    frame["is_error"] = bool(result.get("is_error", False))
    return frame


def snapshot_frame(message_id: int, content: list[dict], seq: int) -> dict:
    """`message.snapshot`: a streaming reply's exact state, deltas 1..seq included."""
    return {"type": "message.snapshot", "message": message_id, "content": content, "seq": seq}


def conversation_created_frame(conversation: Conversation, client_id: str | None) -> dict:
    return {
        "type": "conversation.created",
        "conversation": conversation_payload(conversation),
        "client_id": client_id,
    }


def message_created_frame(payload: dict, client_id: str | None) -> dict:
    """`message.created` around a `message_payload` (a live reply's may carry its snapshot)."""
    return {"type": "message.created", "message": payload, "client_id": client_id}


def message_continued_frame(payload: dict, client_id: str | None) -> dict:
    """`message.continued`: an ended reply streams again (Continue), from this payload's
    content and seq; its deltas follow on from that seq."""
    return {"type": "message.continued", "message": payload, "client_id": client_id}


def branch_frame(conversation_id: int, payloads: list[dict]) -> dict:
    """`conversation.branch`: the visible branch's messages, in order; a client replaces its
    thread with them (after a switch, or before the new version of a regenerate or edit)."""
    return {"type": "conversation.branch", "conversation": conversation_id, "messages": payloads}


def conversation_updated_frame(conversation_id: int, title: str) -> dict:
    """`conversation.updated`: the conversation's title changed (an automatic title)."""
    return {"type": "conversation.updated", "conversation": conversation_id, "title": title}
