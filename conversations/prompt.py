"""Builds the Messages API request for a reply from the stored conversation."""

import hashlib
import hmac

from django.conf import settings

from .models import Message

# Replies that ended badly are not part of the history the model sees: the user retried
# them or moved on, and their partial text may stop mid-sentence.
_HISTORY_STATUSES = {Message.Status.COMPLETE, Message.Status.STOPPED}


def upstream_user_id(user_id: int) -> str:
    """An opaque, stable per-user id for metadata.user_id: a keyed hash, never a name."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"user:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def _history_blocks(message: Message) -> list[dict]:
    if message.role == Message.Role.USER:
        return [b for b in message.content if b.get("type") == "text" and b.get("text")]
    # Thinking and tool blocks need their pairs (signatures, tool results) to be replayed;
    # until tools arrive, the model sees its earlier answers as text.
    text = message.text.rstrip()
    return [{"type": "text", "text": text}] if text else []


def build_request(reply: Message) -> dict:
    """The streaming request for `reply`: every earlier message of its conversation."""
    conversation = reply.conversation
    earlier = conversation.messages.filter(id__lt=reply.id).order_by("id")
    messages: list[dict] = []
    for message in earlier:
        if message.role == Message.Role.ASSISTANT and message.status not in _HISTORY_STATUSES:
            continue
        blocks = _history_blocks(message)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == message.role:
            messages[-1]["content"].extend(blocks)  # the API wants alternating roles
        else:
            messages.append({"role": message.role, "content": blocks})
    request = {
        "model": reply.model or conversation.model,
        "max_tokens": reply.max_tokens or settings.CHAT_MAX_TOKENS,
        "messages": messages,
        "metadata": {"user_id": upstream_user_id(conversation.user_id)},
    }
    if conversation.system_prompt:
        request["system"] = conversation.system_prompt
    return request
