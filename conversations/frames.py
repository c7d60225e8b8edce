"""WebSocket frames of contract v1 (docs/protocol.md): payload builders and JSON encoding."""

import json

from .models import Conversation, Message


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


def message_payload(message: Message) -> dict:
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "role": message.role,
        "status": message.status,
        "content": public_content(message.content),
        "model": message.model,
        "seq": message.seq,
        "stop_reason": message.stop_reason or None,
        "usage": message.usage or {},
        "error": message.error,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def error_frame(code: str, detail: str, client_id: str | None = None) -> dict:
    return {"type": "error", "code": code, "detail": detail, "client_id": client_id}


def completed_frame(message: Message) -> dict:
    """`message.completed` for a reply that has ended, from what is stored."""
    return reply_completed_frame(
        message.pk,
        status=message.status,
        stop_reason=message.stop_reason or None,
        usage=message.usage or {},
        error=message.error,
        content=message.content,
        seq=message.seq,
    )


def reply_completed_frame(
    message_id: int,
    *,
    status: str,
    stop_reason: str | None,
    usage: dict,
    error: dict | None,
    content: list[dict],
    seq: int,
) -> dict:
    """`message.completed` from the values a reply ended with (the runner's, or the stored)."""
    return {
        "type": "message.completed",
        "message": message_id,
        "status": status,
        "stop_reason": stop_reason,
        "usage": usage,
        "error": error,
        "content": public_content(content),
        "seq": seq,
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
