"""Conversations out of chatsite: our JSON format (docs/export-format.md) and Markdown.

JSON carries every message of every branch with its parent link, so an import rebuilds the
tree; Markdown is for reading and follows the visible branch (decision 88). Both stream (JSON
one message at a time), so exporting all of an account never holds all of it in memory.
"""

import base64
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .branches import visible_path
from .frames import cost_text
from .models import Attachment, Conversation, Message

log = logging.getLogger(__name__)

FORMAT = "chatsite.conversations"
VERSION = 1
# Block types a file carries, and each one's keys: signatures and redacted thinking are the
# API's ciphertext for this account's calls, worthless (and unverifiable) anywhere else.
BLOCK_KEYS = {
    "text": ("type", "text"),
    "thinking": ("type", "thinking"),
    "tool_use": ("type", "id", "name", "input"),
    "tool_result": ("type", "tool_use_id", "content", "is_error"),
}


def export_blocks(content: list[dict]) -> list[dict]:
    """A message's blocks as the file carries them: known types, known keys, no signature."""
    blocks = []
    for block in content:
        keys = BLOCK_KEYS.get(block.get("type"))
        if keys:
            blocks.append({k: block[k] for k in keys if k in block})
    return blocks


def _attachment_entry(attachment: Attachment) -> dict:
    entry = {
        "name": attachment.name,
        "kind": attachment.kind,
        "media_type": attachment.media_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
    }
    if attachment.kind == Attachment.Kind.IMAGE_URL:
        return entry | {"url": attachment.source_url}
    try:
        with attachment.file.open("rb") as handle:
            data = handle.read()
    except (OSError, ValueError):  # the stored file is gone: say so rather than fail the file
        log.warning("attachment %s has no stored file; exported without data", attachment.pk)
        return entry | {"missing": True}
    return entry | {"data": base64.b64encode(data).decode("ascii")}


def _message_entry(message: Message, number: dict[int, int]) -> dict:
    return {
        "id": number[message.pk],
        "parent": number.get(message.parent_id) if message.parent_id else None,
        "role": message.role,
        "status": message.status,
        "content": export_blocks(message.content),
        "model": message.model,
        "stop_reason": message.stop_reason,
        "stop_sequence": message.stop_sequence,
        "usage": message.usage or {},
        "cost": cost_text(message.cost),
        "error": message.error,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "attachments": [_attachment_entry(a) for a in message.attachments.all()],
    }


def conversation_chunks(conversation: Conversation) -> Iterator[str]:
    """One conversation of the file, its settings then one message at a time (a message's
    attachments are read only when its turn comes), parents before their children."""
    messages = list(conversation.messages.order_by("id").prefetch_related("attachments"))
    # Ids in the file are 1, 2, 3…: the database's ids mean nothing elsewhere. Children are
    # newer than their parents, so by id every parent comes before its children.
    number = {m.pk: i for i, m in enumerate(messages, start=1)}
    preset = conversation.preset if conversation.preset_id else None
    head = {
        "title": conversation.title,
        "title_source": conversation.title_source,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "team_preset": (
            {"name": preset.name, "system_prompt": preset.system_prompt}
            if preset is not None and preset.is_team
            else None
        ),
        "settings": conversation.settings or {},
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "leaf": number.get(conversation.leaf_id) if conversation.leaf_id else None,
    }
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "messages": ['
    for index, message in enumerate(messages):
        entry = json.dumps(_message_entry(message, number), ensure_ascii=False)
        yield ("," if index else "") + "\n" + entry
    yield "]}"


def _header() -> str:
    head = {"format": FORMAT, "version": VERSION, "exported_at": timezone.now().isoformat()}
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "conversations": ['


def json_chunks(conversation_ids: list[int]) -> Iterator[str]:
    """The file, in pieces: the header, then one conversation at a time."""
    yield _header()
    first = True
    for pk in conversation_ids:
        conversation = Conversation.objects.select_related("preset").filter(pk=pk).first()
        if conversation is None:  # deleted while the download ran
            continue
        yield ("\n" if first else ",\n")
        first = False
        yield from conversation_chunks(conversation)
    yield "\n]}\n"


async def streamed(chunks: Iterator[str]) -> AsyncIterator[bytes]:
    """The chunks for an ASGI response, each made in a worker thread: Django would read a
    plain iterator to the end before sending a byte."""
    sentinel = object()
    while True:
        chunk = await sync_to_async(next)(chunks, sentinel)
        if chunk is sentinel:
            return
        yield chunk.encode()


def conversation_ids_of(user: User) -> list[int]:
    """Every conversation of the user, newest activity first (ids only: read one at a time)."""
    return list(
        Conversation.objects.filter(user=user)
        .order_by("-updated_at", "-id")
        .values_list("pk", flat=True)
    )


# -- Markdown --------------------------------------------------------------------------------


def _fence(text: str, info: str = "") -> str:
    """A fenced code block that no run of backticks inside `text` can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def _result_text(content: object) -> str:
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content or "")


def _tool_markdown(block: dict, results: dict[str, dict]) -> str:
    title = _("Tool call: %(name)s") % {"name": block.get("name", "")}
    parts = [f"**{title}**", _fence(json.dumps(block.get("input"), indent=2), "json")]
    result = results.get(block.get("id"))
    if result is not None:
        label = _("Error") if result.get("is_error") else _("Result")
        parts += [f"**{label}**", _fence(_result_text(result.get("content")))]
    return "\n\n".join(parts)


def _size(size: int) -> str:
    return _("%(kb).1f KB") % {"kb": size / 1024}


def message_markdown(message: Message) -> str:
    role = _("You") if message.role == Message.Role.USER else _("Assistant")
    heading = f"## {role}"
    if message.status not in (Message.Status.COMPLETE, Message.Status.STREAMING):
        heading += f" ({message.get_status_display()})"
    parts = [heading]
    results = {b.get("tool_use_id"): b for b in message.content if b.get("type") == "tool_result"}
    for block in message.content:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            parts.append(block["text"].strip())
        elif kind == "thinking" and block.get("thinking"):
            parts.append(_quote(f"**{_('Thinking')}**\n\n" + block["thinking"].strip()))
        elif kind == "tool_use":
            parts.append(_tool_markdown(block, results))
    files = [
        f"- {a.name} ({a.media_type or a.source_url}, {_size(a.size)})"
        if a.kind != Attachment.Kind.IMAGE_URL
        else f"- {a.name} (<{a.source_url}>)"
        for a in message.attachments.all()
    ]
    if files:
        parts.append(f"*{_('Attachments')}:*\n\n" + "\n".join(files))
    return "\n\n".join(parts)


def conversation_markdown(conversation: Conversation) -> str:
    """The visible branch as Markdown: the title, then each message under its role."""
    lines = [f"# {conversation.display_title}"]
    meta = _("Model: %(model)s · exported %(date)s") % {
        "model": conversation.model or "-",
        "date": timezone.localtime().strftime("%Y-%m-%d %H:%M"),
    }
    lines.append(f"*{meta}*")
    if conversation.system_prompt:
        lines.append(_quote(f"**{_('System prompt')}**\n\n" + conversation.system_prompt))
    lines += [message_markdown(m) for m in visible_path(conversation)]
    return "\n\n".join(lines) + "\n"


def markdown_chunks(conversation_ids: list[int]) -> Iterator[str]:
    """Every conversation's Markdown, one after another, with a rule between them."""
    for index, pk in enumerate(conversation_ids):
        conversation = Conversation.objects.filter(pk=pk).first()
        if conversation is not None:
            yield ("\n---\n\n" if index else "") + conversation_markdown(conversation)


def filename(stem: str, extension: str) -> str:
    """A download name of ASCII letters, digits and dashes (headers and every OS take it)."""
    safe = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-")[:60] or "conversation"
    return f"{safe}.{extension}"
