"""Builds the Messages API request for a reply from the stored conversation.

What history goes upstream, one rule a row (decision 40). A feature that changes what the model
sees (attachments, thinking, tools, Continue, branches) adds or changes a row here and in
docs/decisions.md. "Earlier" means before the reply being written; a turn is a user message and
the replies that follow it.

| rule | earlier message                                      | sent upstream                  |
|------|------------------------------------------------------|--------------------------------|
| H1   | a reply `complete` or `stopped`                      | its text, after its question   |
| H2   | a reply `failed` or `interrupted` (or `streaming`)   | nothing                        |
| H3   | a reply's non-text blocks (thinking, tool use)       | nothing yet: its text only     |
| H4   | a user message answered by an H1 reply (the last)    | its text blocks                |
| H5   | a user message with no H1 reply, and a later one     | nothing                        |
| H6   | the last user message: the question being answered  | its text blocks, the last turn |
| H7   | a user message's non-text blocks                     | nothing yet                    |
| H8   | an H1 reply with no text (stopped at once, empty)    | none: question joins the next  |
| H9   | the reply being written, when it has text already    | its text, trailing whitespace  |
|      | (a prefill, or Continue)                             | stripped, as the last message  |
| H10  | thinking blocks of the last assistant turn of a tool | unchanged, signatures included |
|      | loop (tools arrive with issue 13)                    | (every other thinking: H3)     |

Why: H1, a stopped reply is one the user chose to end and has read (decision 24). H2, a broken
answer may stop mid-sentence, and the model would continue or imitate it. H3, thinking and tool
blocks cannot be replayed without their pairs (signatures, tool results). H5, the user moved on:
sending the question again would repeat it, fault directive and all, with every later message.
H6, replies H2 drops do not hide their question: this is how `retry` asks it again. H8, the API
wants alternating roles and no empty turn, and the question was asked and not given up on.
H9, the API continues a final assistant message from its last character (decision 61), and
refuses one that ends in whitespace. H10, the API requires the thinking that led to a tool call
back, signed and unchanged, with the tool's result; earlier turns' thinking is dropped by the
API anyway, so it is not sent (decision 62).

The conversation's system prompt goes as `system`, outside the history.
"""

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings

from . import thinking
from .models import CatalogModel, Message

# H1: the replies that are answers. The others ended badly (H2).
_ANSWER_STATUSES = {Message.Status.COMPLETE, Message.Status.STOPPED}


def upstream_user_id(user_id: int) -> str:
    """An opaque, stable per-user id for metadata.user_id: a keyed hash, never a name."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"user:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def _history_blocks(message: Message) -> list[dict]:
    if message.role == Message.Role.USER:
        return [b for b in message.content if b.get("type") == "text" and b.get("text")]  # H7
    text = message.text.rstrip()  # H3: the model sees its earlier answers as text
    return [{"type": "text", "text": text}] if text else []


def _turns(earlier: Iterable[Message]) -> list[tuple[Message, list[Message]]]:
    """Each user message with the replies that follow it, in order."""
    turns: list[tuple[Message, list[Message]]] = []
    for message in earlier:
        if message.role == Message.Role.USER:
            turns.append((message, []))
        elif turns:
            turns[-1][1].append(message)
    return turns


def _append(messages: list[dict], role: str, blocks: list[dict]) -> None:
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)  # H8: the API wants alternating roles
    elif blocks:
        messages.append({"role": role, "content": blocks})


def history(earlier: Iterable[Message]) -> list[dict]:
    """The `messages` of a request answering the last user message of `earlier` (the table)."""
    turns = _turns(earlier)
    messages: list[dict] = []
    for question, replies in turns[:-1]:
        answers = [reply for reply in replies if reply.status in _ANSWER_STATUSES]
        if not answers:
            continue  # H5
        _append(messages, "user", _history_blocks(question))  # H4
        _append(messages, "assistant", _history_blocks(answers[-1]))  # H1
    if turns:
        _append(messages, "user", _history_blocks(turns[-1][0]))  # H6
    return messages


def prefill_message(reply: Message) -> dict | None:
    """H9: the reply's own text so far, which the model continues; None when it has none."""
    text = reply.text.rstrip()
    return {"role": "assistant", "content": [{"type": "text", "text": text}]} if text else None


def build_request(reply: Message, model: CatalogModel | None = None) -> dict:
    """The streaming request for `reply`: the history of its conversation up to it, sent to
    the catalog row's upstream id, with thinking when the row or the conversation asks for it.

    The thinking budget is fitted to the reply's max_tokens (thinking.fitted_budget); a caller
    that lowers max_tokens afterwards fits it again.
    """
    conversation = reply.conversation
    model_id = reply.model or conversation.model
    if model is None:
        model = CatalogModel.objects.filter(model_id=model_id).first()
    messages = history(conversation.messages.filter(id__lt=reply.id).order_by("id"))
    if prefill := prefill_message(reply):
        messages.append(prefill)
    max_tokens = reply.max_tokens or settings.CHAT_MAX_TOKENS
    request = {
        "model": model.upstream_id if model else model_id,
        "max_tokens": max_tokens,
        "messages": messages,
        "metadata": {"user_id": upstream_user_id(conversation.user_id)},
    }
    if conversation.system_prompt:
        request["system"] = conversation.system_prompt
    if budget := thinking.wanted_budget(model, conversation):
        try:
            budget = thinking.fitted_budget(budget, max_tokens)
        except thinking.BudgetDoesNotFit:
            pass  # sent as wanted only if the caller does not refuse it (services do)
        request["thinking"] = thinking.thinking_param(budget)
    return request
