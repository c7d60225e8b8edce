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
    return {
        "type": "message.completed",
        "message": message.pk,
        "status": message.status,
        "stop_reason": message.stop_reason or None,
        "usage": message.usage or {},
        "error": message.error,
        "content": public_content(message.content),
        "seq": message.seq,
    }
