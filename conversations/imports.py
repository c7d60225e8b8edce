"""Conversations into chatsite: a file of our JSON format (docs/export-format.md) checked whole,
then stored in one transaction, charged nothing (decision 89).

Checking comes first and touches nothing: every shape, every parent link, every attachment
through the upload checks. Only a file that passes is stored, and a failure while storing
rolls back and removes the files it wrote. Imported thinking and tool blocks are marked
`imported`: shown as they were, never sent upstream as blocks (prompt.py, H18).
"""

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.models import User

from . import chat_settings
from .attachment_checks import AttachmentRefused, check_file, check_image_url, clean_name
from .attachments import delete_file_if_unreferenced, write_file
from .exports import FORMAT, VERSION
from .models import Attachment, Conversation, Message
from .selectors import default_model_for, usable_model

STATUSES = set(Message.Status.values)
TITLE_SOURCES = {"generated": "generated", "renamed": "renamed"}  # the rest: kept


class ImportRefused(Exception):
    """The file cannot be imported; `message` is translated and says where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _File:
    name: str
    kind: str
    media_type: str = ""
    data: bytes = b""
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    url: str = ""


@dataclass
class _Message:
    number: int
    parent: int | None
    role: str
    status: str
    content: list[dict]
    model: str
    stop_reason: str
    stop_sequence: str
    usage: dict
    error: dict | None
    created_at: datetime | None
    files: list[_File]


@dataclass
class _Conversation:
    title: str
    title_source: str
    model: str
    system_prompt: str
    settings: dict
    created_at: datetime | None
    updated_at: datetime | None
    leaf: int | None
    messages: list[_Message]


@dataclass
class ImportResult:
    conversations: list[Conversation]
    notices: list[str] = field(default_factory=list)


def _refuse(where: str, problem: str) -> ImportRefused:
    return ImportRefused(f"{where}: {problem}" if where else problem)


def _text(value: object, where: str, name: str, limit: int | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _refuse(where, _("%(field)s must be text.") % {"field": name})
    if limit is not None and len(value) > limit:
        problem = _("%(field)s is longer than %(limit)d characters.")
        raise _refuse(where, problem % {"field": name, "limit": limit})
    return value


def _when(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise _refuse(where, _("A date is not in ISO 8601 form."))
    return parsed


def parse(data: bytes) -> list:
    """The file's conversations, once its format and version are ours."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise ImportRefused(_("The file is not JSON. Choose a file chatsite exported.")) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportRefused(_("This is not a chatsite export. Choose a file chatsite exported."))
    version = document.get("version")
    if version != VERSION:
        raise ImportRefused(
            _("This file has format version %(version)s; this server reads version %(ours)d.")
            % {"version": str(version)[:20], "ours": VERSION}
        )
    conversations = document.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise ImportRefused(_("The file holds no conversations."))
    return conversations


def _block(block: object, role: str, where: str) -> dict:
    kind = block.get("type") if isinstance(block, dict) else None
    if role == Message.Role.USER and kind != "text":
        raise _refuse(where, _("A message of yours may hold only text."))
    if kind == "text" and isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    if kind == "thinking" and isinstance(block.get("thinking"), str):
        # No signature: the API checks them against its own calls, and these were not ours.
        return {"type": "thinking", "thinking": block["thinking"], "imported": True}
    if kind == "tool_use":
        if (
            isinstance(block.get("id"), str)
            and isinstance(block.get("name"), str)
            and isinstance(block.get("input"), dict)
        ):
            sent = {k: block[k] for k in ("id", "name", "input")}
            return {"type": "tool_use", **sent, "imported": True}
    if kind == "tool_result" and isinstance(block.get("tool_use_id"), str):
        content = block.get("content", "")
        texts = isinstance(content, list) and all(
            isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
            for b in content
        )
        if isinstance(content, str) or texts:
            result = {"type": "tool_result", "tool_use_id": block["tool_use_id"]}
            result["content"] = content
            if block.get("is_error") is True:
                result["is_error"] = True
            return result | {"imported": True}
    raise _refuse(where, _("A content block has an unknown type or shape."))


def _file(entry: object, where: str) -> _File | None:
    if not isinstance(entry, dict):
        raise _refuse(where, _("An attachment must be an object."))
    name = clean_name(_text(entry.get("name"), where, "name"))
    where = f"{where}, {name}"
    try:
        if "url" in entry:
            return _File(name, Attachment.Kind.IMAGE_URL, url=check_image_url(entry["url"]))
        if entry.get("missing") is True and "data" not in entry:
            return None  # the exporting server had lost the file: nothing to bring
        try:
            data = base64.b64decode(_text(entry.get("data"), where, "data"), validate=True)
        except (binascii.Error, ValueError):
            raise _refuse(where, _("The attachment's data is not base64.")) from None
        digest = entry.get("sha256")
        if digest and digest != hashlib.sha256(data).hexdigest():
            raise _refuse(where, _("The attachment's data does not match its SHA-256."))
        checked = check_file(name, data)  # the upload's checks, from the bytes alone
    except AttachmentRefused as refused:
        raise _refuse(where, refused.message) from None
    return _File(
        name,
        checked.kind,
        checked.media_type,
        data,
        checked.width,
        checked.height,
        checked.pages,
    )


def _message(entry: object, seen: dict[int, str], where: str) -> _Message:
    if not isinstance(entry, dict):
        raise _refuse(where, _("A message must be an object."))
    number, parent, role = entry.get("id"), entry.get("parent"), entry.get("role")
    if not isinstance(number, int) or isinstance(number, bool) or number in seen:
        raise _refuse(where, _("Each message needs an id of its own (a whole number)."))
    if role not in Message.Role.values:
        raise _refuse(where, _("A message's role is user or assistant."))
    # The tree as the chat keeps it (decision 70): a reply follows a message of yours, which
    # starts the conversation or follows a reply; parents come first.
    wanted = Message.Role.USER if role == Message.Role.ASSISTANT else Message.Role.ASSISTANT
    if (parent is None and role == Message.Role.ASSISTANT) or (
        parent is not None and seen.get(parent) != wanted
    ):
        raise _refuse(where, _("The message's parent is missing or of the wrong role."))
    status = entry.get("status", Message.Status.COMPLETE)
    if status not in STATUSES:
        raise _refuse(where, _("Unknown status: %(status)s.") % {"status": str(status)[:30]})
    if status == Message.Status.STREAMING:  # no process here is writing it
        status = Message.Status.INTERRUPTED
    content = entry.get("content")
    if not isinstance(content, list):
        raise _refuse(where, _("A message's content must be a list of blocks."))
    blocks = [_block(b, role, where) for b in content]
    usage, error = entry.get("usage") or {}, entry.get("error")
    if not isinstance(usage, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in usage.values()
    ):
        raise _refuse(where, _("A message's usage must map names to whole numbers."))
    if error is not None and not (
        isinstance(error, dict) and all(isinstance(v, str) for v in error.values())
    ):
        raise _refuse(where, _("A message's error must be an object of texts."))
    files_in = entry.get("attachments") or []
    if not isinstance(files_in, list) or len(files_in) > settings.ATTACHMENTS_PER_MESSAGE:
        raise _refuse(
            where,
            _("A message may carry at most %(limit)d attachments.")
            % {"limit": settings.ATTACHMENTS_PER_MESSAGE},
        )
    if files_in and role != Message.Role.USER:
        raise _refuse(where, _("Only your messages carry attachments."))
    files = [f for f in (_file(e, where) for e in files_in) if f is not None]
    seen[number] = role
    return _Message(
        number,
        parent,
        role,
        status,
        blocks,
        _text(entry.get("model"), where, "model", 100),
        _text(entry.get("stop_reason"), where, "stop_reason", 32),
        _text(entry.get("stop_sequence"), where, "stop_sequence", 500),
        usage,
        error,
        _when(entry.get("created_at"), where),
        files,
    )


def _conversation(entry: object, where: str, notices: list[str]) -> _Conversation:
    if not isinstance(entry, dict):
        raise _refuse(where, _("A conversation must be an object."))
    messages_in = entry.get("messages")
    if not isinstance(messages_in, list):
        raise _refuse(where, _("A conversation's messages must be a list."))
    seen: dict[int, str] = {}
    messages = [
        _message(m, seen, _("%(where)s, message %(n)d") % {"where": where, "n": i})
        for i, m in enumerate(messages_in, start=1)
    ]
    leaf = entry.get("leaf")
    if leaf is not None and leaf not in seen:
        raise _refuse(where, _("The visible branch ends at a message the file does not hold."))
    title = _text(entry.get("title"), where, "title")[:200]
    try:
        system_prompt = chat_settings.clean_system_prompt(entry.get("system_prompt"))
        chosen = chat_settings.clean_settings(entry.get("settings") or None)
    except chat_settings.SettingsInvalid as invalid:
        if "system_prompt" in invalid.fields:
            raise _refuse(where, invalid.message) from None
        notices.append(
            _("%(where)s: its settings were left out (%(problem)s)")
            % {"where": title or where, "problem": invalid.message}
        )
        chosen = {}
    return _Conversation(
        title=title,
        title_source=TITLE_SOURCES.get(entry.get("title_source"), Conversation.TitleSource.KEPT),
        model=_text(entry.get("model"), where, "model", 100),
        system_prompt=system_prompt,
        settings=chosen,
        created_at=_when(entry.get("created_at"), where),
        updated_at=_when(entry.get("updated_at"), where),
        leaf=leaf if leaf is not None else (messages[-1].number if messages else None),
        messages=messages,
    )


def checked_file(data: bytes) -> tuple[list[_Conversation], list[str]]:
    """The file's conversations, every part checked; ImportRefused says what is wrong."""
    notices: list[str] = []
    conversations = [
        _conversation(entry, _("Conversation %(n)d") % {"n": i}, notices)
        for i, entry in enumerate(parse(data), start=1)
    ]
    return conversations, notices


def _models(user: User, wanted: set[str], notices: list[str]) -> dict[str, str]:
    """Each model the file names, or the user's default where this server has not got it."""
    default = default_model_for(user)
    fallback = default.model_id if default else ""
    chosen = {}
    for model_id in sorted(wanted):
        model = usable_model(user, model_id) if model_id else None
        chosen[model_id] = model.model_id if model else fallback
        if model is None:
            notices.append(
                _("The model %(model)s is not available here: its conversations use %(default)s.")
                % {"model": model_id or "-", "default": str(default) if default else "-"}
            )
    return chosen


def import_conversations(user: User, data: bytes) -> ImportResult:
    """Check the whole file, then store its conversations as the user's, in one transaction."""
    checked, notices = checked_file(data)
    models = _models(user, {c.model for c in checked}, notices)
    written: list[str] = []
    try:
        with transaction.atomic():
            created = [_store(user, c, models[c.model], written) for c in checked]
    except BaseException:
        for name in written:  # rolled back: the files this import wrote are no one's
            delete_file_if_unreferenced(name)
        raise
    return ImportResult(created, notices)


def _store(user: User, entry: _Conversation, model: str, written: list[str]) -> Conversation:
    conversation = Conversation.objects.create(
        user=user,
        title=entry.title,
        title_source=entry.title_source,
        model=model,
        system_prompt=entry.system_prompt,
        settings=entry.settings,
    )
    rows = Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role=m.role,
            status=m.status,
            content=m.content,
            model=m.model,
            stop_reason=m.stop_reason,
            stop_sequence=m.stop_sequence,
            usage=m.usage,
            error=m.error,
        )
        for m in entry.messages
    )
    by_number = {m.number: row for m, row in zip(entry.messages, rows, strict=True)}
    for m, row in zip(entry.messages, rows, strict=True):
        row.parent = by_number.get(m.parent) if m.parent is not None else None
        row.created_at = m.created_at or row.created_at
    Message.objects.bulk_update(rows, ["parent", "created_at"])
    files = [
        _attachment_row(user, conversation, row, f, written)
        for m, row in zip(entry.messages, rows, strict=True)
        for f in m.files
    ]
    Attachment.objects.bulk_create(files)
    # Its own times, so it sorts among the member's chats by when it was last used.
    Conversation.objects.filter(pk=conversation.pk).update(
        leaf=by_number.get(entry.leaf),
        created_at=entry.created_at or conversation.created_at,
        updated_at=entry.updated_at or conversation.updated_at,
    )
    conversation.refresh_from_db()
    return conversation


def _attachment_row(
    user: User, conversation: Conversation, message: Message, f: _File, written: list[str]
) -> Attachment:
    row = Attachment(
        user=user,
        conversation=conversation,
        message=message,
        name=f.name,
        kind=f.kind,
        media_type=f.media_type,
        size=len(f.data),
        width=f.width,
        height=f.height,
        pages=f.pages,
        source_url=f.url,
    )
    if f.data:
        row.sha256 = hashlib.sha256(f.data).hexdigest()
        row.file.name, wrote = write_file(user.pk, row.sha256, f.data)
        if wrote:
            written.append(row.file.name)
    return row
