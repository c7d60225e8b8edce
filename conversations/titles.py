"""Automatic titles: after a conversation's first reply, a small model names it (decision 72).

The title call is an upstream call with no message (source "title"), admitted and settled
through the ledger like any other, so the member pays for it and it counts against the quota.
It is skipped, silently, when no title model is set, when the quota cannot cover it, or when
the member renamed the chat meanwhile; when it fails the chat keeps its first words.
"""

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from accounts import ledger
from accounts.models import UpstreamCall
from accounts.prepared import Prepared
from accounts.request_bound import request_token_bound

from .models import CatalogModel, Conversation, Message
from .prompt import upstream_user_id
from .settlement import settle_and_log

log = logging.getLogger(__name__)

# The fake upstream recognises a title request by this start (conversations/fake_upstream).
TITLE_SYSTEM = (
    "You write titles for chat conversations. Answer with a title of at most six words that "
    "says what the conversation is about, in the language the user writes in. No quotes, no "
    "final period, nothing else."
)
TITLE_MAX_TOKENS = 40
EXCERPT_CHARS = 2000  # of each side: a title needs the gist, not the whole reply
TITLE_CHARS = 80
_QUOTES = "\"'“”‘’「」『』«»"


@dataclass(frozen=True)
class TitleCall:
    """An admitted title call: its request and the call its charge settles."""

    conversation_id: int
    call_id: int
    request: dict


def title_model() -> CatalogModel | None:
    """The catalog's title model if it is enabled; the demo model in demo mode.

    Read from the database each time (compiled once), not from the catalog cache: a title
    model set by another process without Redis (a shell, a script) must be seen at once."""
    if settings.DEMO_MODE:
        return CatalogModel.objects.filter(enabled=True, model_id=settings.DEMO_MODEL).first()
    return next(iter(_TITLE_MODEL()), None)


_TITLE_MODEL = Prepared(
    lambda: CatalogModel.objects.filter(enabled=True, is_title_model=True).order_by()[:1]
)


def title_prompt(question: Message | None, reply: Message) -> str:
    """The title request's one message: the first question and its answer, quoted."""
    asked = question.text[:EXCERPT_CHARS] if question is not None else ""
    answered = reply.text[:EXCERPT_CHARS]
    return (
        "Write a title for this conversation.\n\n"
        f"<user>\n{asked}\n</user>\n\n<assistant>\n{answered}\n</assistant>"
    )


# Every new chat's first reply reads them: compiled once (accounts/prepared.py).
_CONVERSATION = Prepared(
    lambda pk: Conversation.objects.select_related("user").filter(pk=pk).order_by()[:1]
)
_REPLY = Prepared(lambda pk: Message.objects.select_related("parent").filter(pk=pk).order_by()[:1])


def begin_title(conversation_id: int, reply_id: int) -> TitleCall | None:
    """Build and admit the title call for the conversation whose first reply is `reply_id`;
    None when there is nothing to do or the quota cannot cover it (nothing held)."""
    conversation = next(iter(_CONVERSATION(conversation_id)), None)
    reply = next(iter(_REPLY(reply_id)), None)
    model = title_model()
    if conversation is None or reply is None or model is None:
        return None
    if conversation.title_source != Conversation.TitleSource.KEPT:
        return None  # renamed meanwhile
    request = {
        "model": model.upstream_id,
        "max_tokens": TITLE_MAX_TOKENS,
        "system": TITLE_SYSTEM,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": title_prompt(reply.parent, reply)}],
            }
        ],
        "metadata": {"user_id": upstream_user_id(conversation.user_id)},
    }
    try:
        with transaction.atomic():
            admission = ledger.admit(
                conversation.user,
                model,
                request_token_bound(request),
                TITLE_MAX_TOKENS,
                source=UpstreamCall.Source.TITLE,
                input_estimate=ledger.estimate_prompt_tokens(request),
            )
    except ledger.QuotaExceeded:
        return None
    request["max_tokens"] = admission.max_tokens
    return TitleCall(conversation_id, admission.call.pk, request)


def clean_title(text: str) -> str:
    """One line, no surrounding quotes or final period, at most TITLE_CHARS characters."""
    line = " ".join(text.split())
    line = re.sub(r"^(title|タイトル)\s*[:：]\s*", "", line, flags=re.IGNORECASE)
    line = line.strip(_QUOTES + " ").rstrip(".。")
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def finish_title(
    title: TitleCall, message: dict | None, *, error: dict | None = None
) -> str | None:
    """Charge the title call and, if it answered and the chat was not renamed meanwhile, store
    the title, in one transaction. Returns the new title, or None (the first words stay)."""
    message = message or {}
    text = "".join(
        b.get("text", "")
        for b in message.get("content") or []
        if isinstance(b, dict) and b.get("type") == "text"
    )
    complete = bool(message) and error is None
    status = "complete" if complete else "failed"
    usage = message.get("usage")
    with transaction.atomic():
        settle_and_log(
            title.call_id,
            usage if isinstance(usage, dict) else {},
            len(text),
            complete=complete,
            message_id=None,
            status=status,
            error=error,
        )
        new_title = clean_title(text) if complete else ""
        if not new_title:
            return None
        Source = Conversation.TitleSource
        stored = Conversation.move_title_source(
            title.conversation_id, Source.KEPT, Source.GENERATED, title=new_title
        )
    return new_title if stored else None
