"""Builds the Messages API request for a reply from the stored conversation.

What history goes upstream, one rule a row (decision 40). A feature that changes what the model
sees (attachments, thinking, tools, Continue, branches) adds or changes a row here and in
docs/decisions.md. "Earlier" means before the reply being written; a turn is a user message and
the replies that follow it.

| rule | earlier message                                      | sent upstream                  |
|------|------------------------------------------------------|--------------------------------|
| H1   | a reply `complete` or `stopped`                      | its text, after its question   |
| H2   | a reply `failed` or `interrupted` (or `streaming`)   | nothing                        |
| H3   | a reply's thinking blocks                            | nothing: its text (and H15)    |
| H4   | a user message answered by an H1 reply (the last)    | its text blocks                |
| H5   | a user message with no H1 reply, and a later one     | nothing                        |
| H6   | the last user message: the question being answered  | its text blocks, the last turn |
| H7   | a user message's non-text blocks                     | nothing yet                    |
| H8   | an H1 reply with no text (stopped at once, empty)    | none: question joins the next  |
| H9   | a user message's attachments (H4, H6 messages)       | their blocks, before its text  |
| H10  | an attachment past the API's per-request limits      | a note; the newest are kept    |
| H11  | an image or PDF the request's model cannot read      | a short text placeholder       |
| H12  | the reply being written, when it has text already    | its text, trailing whitespace  |
|      | (a prefill, or Continue)                             | stripped, as the last message  |
| H13  | thinking blocks of the reply being written, in a     | unchanged, signatures included |
|      | tool loop (the turns before its tool results)        | (every other thinking: H3)     |
| H14  | a message off the reply's branch (another version of | nothing: "earlier" is the      |
|      | a turn, a regenerated or edited one, and what        | reply's ancestors, first to    |
|      | follows it)                                          | last, not every earlier id     |
| H15  | a reply's tool_use blocks and their tool_result      | exactly, split into assistant, |
|      | blocks (stored after them in the reply, decision 78) | user (results), assistant turns|
| H16  | a tool_use with no stored result (cut, stopped)      | nothing; a result alone: none  |
| H17  | H15 pairs when the conversation has tools off now    | the pairs, with their tools'   |
|      |                                                      | definitions and choice `none`  |
| H18  | blocks an import brought (marked `imported`): tool   | tool steps as plain text in    |
|      | steps, thinking (never signed)                       | the reply's text; thinking: H3 |

Why: H1, a stopped reply is one the user chose to end and has read (decision 24). H2, a broken
answer may stop mid-sentence, and the model would continue or imitate it. H3, thinking and tool
blocks cannot be replayed without their pairs (signatures, tool results). H5, the user moved on:
sending the question again would repeat it, fault directive and all, with every later message.
H6, replies H2 drops do not hide their question: this is how `retry` asks it again. H8, the API
wants alternating roles and no empty turn, and the question was asked and not given up on.

H9, the model keeps seeing what it was shown (decision 51): images and PDFs go again from
storage on every later turn, images first as the API recommends. H10, a request the API would
refuse helps no one: counting newest first, the oldest attachments past the images, PDF pages or
request-size limits become a note telling the model, and the reply lists their ids
(`attachments_left_out`) for the page. H11, after a switch to a model without vision or PDF
support (the send refuses new ones), earlier files become a placeholder, not an error.
H12, the API continues a final assistant message from its last character (decision 61), and
refuses one that ends in whitespace. H13, the API requires the thinking that led to a tool call
back, signed and unchanged, with the tool's result; earlier turns' thinking is dropped by the
API anyway, so it is not sent (decision 62). H14, versions the reader set aside are not what
the conversation said: the model sees the branch its reply continues (decision 70), which is
the visible branch whenever a reply is written (a new version becomes visible).
H15, a tool loop's reply is one message whose content holds each round's blocks and the tools'
results (decision 78); the API wants them as the turns they were, so they are replayed as such,
in this reply's next round and in every later turn. H16, the API refuses a tool_use without
its result and the reverse. H17, the API refuses tool blocks in a request that defines no
tools; `tool_choice` `none` keeps the model from calling the tools it no longer has.
H18, an imported conversation's tool calls were made elsewhere: their ids, tools and thinking
signatures mean nothing to this API key, so the model reads what they did as text (decision 89).

The conversation's system prompt goes as `system`, outside the history: a string, or, for a
conversation started from a team preset, two text blocks, the team's prompt first and the
member's own second (decision 56). The conversation's settings add their parameters
(`chat_settings.request_parameters`). Last, `caching.add_breakpoints` marks where the API may
cache the prompt (decision 81): a marked system string goes as one text block.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from . import caching, chat_settings
from .attachment_blocks import block_for, fit_to_limits
from .branches import history_of
from .models import CatalogModel, Conversation, Message
from .tools import registry as tool_registry

# H1: the replies that are answers. The others ended badly (H2).
_ANSWER_STATUSES = {Message.Status.COMPLETE, Message.Status.STOPPED}


def upstream_user_id(user_id: int) -> str:
    """An opaque, stable per-user id for metadata.user_id: a keyed hash, never a name."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"user:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class _Reads:
    """What the request's model reads besides text (the catalog's flags)."""

    vision: bool = True
    pdf: bool = True


def _history_blocks(message: Message, reads: _Reads = _Reads()) -> list[dict]:
    if message.role == Message.Role.USER:
        stored = message.attachments.all() if message.pk else []
        files = [block_for(a, reads.vision, reads.pdf) for a in stored]  # H9
        text = [b for b in message.content if b.get("type") == "text" and b.get("text")]  # H7
        return files + text
    text = _reply_text(message.content).rstrip()  # H3: its earlier answers as text
    return [{"type": "text", "text": text}] if text else []


def _reply_text(content: list[dict]) -> str:
    """A reply's text, with the tool steps an import brought written in place (H18)."""
    results = {b.get("tool_use_id"): b for b in content if b.get("type") == "tool_result"}
    parts = []
    for block in content:
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "tool_use" and block.get("imported"):
            parts.append(imported_step_text(block, results.get(block.get("id"))))
    return "".join(parts)


def imported_step_text(use: dict, result: dict | None) -> str:
    """An imported tool call and its result as plain text (H18)."""
    text = f"\n\n[Tool call {use.get('name')}: {json.dumps(use.get('input'), ensure_ascii=False)}]"
    if result is not None:
        content = result.get("content")
        if isinstance(content, list):
            content = "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
        label = "Tool error" if result.get("is_error") else "Tool result"
        text += f"\n[{label}: {content}]"
    return text + "\n\n"


def _has_tool_steps(message: Message) -> bool:
    return any(b.get("type") == "tool_result" and not b.get("imported") for b in message.content)


def reply_turns(content: list[dict], *, thinking: bool = False) -> list[tuple[str, list[dict]]]:
    """A reply's blocks as the API's turns (H15): tool results as user turns between the
    assistant's; `thinking`: keep signed thinking (H13), else drop it (H3)."""
    answered = {b.get("tool_use_id") for b in content if b.get("type") == "tool_result"}
    asked = {b.get("id") for b in content if b.get("type") == "tool_use"}
    turns: list[tuple[str, list[dict]]] = []
    results = {b.get("tool_use_id"): b for b in content if b.get("type") == "tool_result"}
    for block in content:
        kind = block.get("type")
        if block.get("imported"):  # H18: never a block of its own
            if kind != "tool_use":
                continue
            kind, block = "text", {"text": imported_step_text(block, results.get(block.get("id")))}
        if kind == "text" and block.get("text"):
            sent = {"type": "text", "text": block["text"]}
        elif kind == "thinking" and thinking and block.get("signature"):
            sent = {k: block[k] for k in ("type", "thinking", "signature")}
        elif kind == "tool_use" and block.get("id") in answered:  # H16
            sent = {k: block.get(k) for k in ("type", "id", "name", "input")}
            sent["input"] = sent["input"] if isinstance(sent["input"], dict) else {}
        elif kind == "tool_result" and block.get("tool_use_id") in asked:
            keys = ("type", "tool_use_id", "content", "is_error")
            sent = {k: block[k] for k in keys if k in block}
        else:
            continue
        role = "user" if kind == "tool_result" else "assistant"
        if turns and turns[-1][0] == role:
            turns[-1][1].append(sent)
        else:
            turns.append((role, [sent]))
    if turns and turns[-1][0] == "assistant":
        _strip_trailing(turns[-1][1])
    return turns


def _strip_trailing(blocks: list[dict]) -> None:
    """The API refuses a final assistant text that ends in whitespace (H12)."""
    if blocks and blocks[-1].get("type") == "text":
        text = blocks[-1]["text"].rstrip()
        if text:
            blocks[-1] = {"type": "text", "text": text}
        else:
            blocks.pop()


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


def history(earlier: Iterable[Message], reads: _Reads = _Reads()) -> list[dict]:
    """The `messages` of a request answering the last user message of `earlier` (the table).

    Attachment blocks carry their hints (conversations/attachment_blocks.py): the caller fits
    them to the API's limits and fills them in before sending.
    """
    turns = _turns(earlier)
    messages: list[dict] = []
    for question, replies in turns[:-1]:
        answers = [reply for reply in replies if reply.status in _ANSWER_STATUSES]
        if not answers:
            continue  # H5
        _append(messages, "user", _history_blocks(question, reads))  # H4
        if _has_tool_steps(answers[-1]):
            for role, blocks in reply_turns(answers[-1].content):  # H15
                _append(messages, role, blocks)
        else:
            _append(messages, "assistant", _history_blocks(answers[-1]))  # H1
    if turns:
        _append(messages, "user", _history_blocks(turns[-1][0], reads))  # H6
    return messages


def _reads(model: CatalogModel | None) -> _Reads:
    return _Reads(model.supports_vision, model.supports_pdf) if model else _Reads()


def system_parameter(conversation: Conversation) -> str | list[dict] | None:
    """`system`: the member's prompt as a string, or the team preset's and theirs as blocks.

    Blocks keep the team's instructions whole whatever the member writes, and in front.
    """
    own = conversation.system_prompt
    preset = conversation.preset if conversation.preset_id else None
    team = preset.system_prompt if preset is not None and preset.is_team else ""
    if not team:
        return own or None
    return [{"type": "text", "text": text} for text in (team, own) if text]


def system_text(conversation: Conversation) -> str:
    """The whole system prompt as one text (a shared snapshot shows what the model was told)."""
    system = system_parameter(conversation)
    if isinstance(system, list):
        return "\n\n".join(block["text"] for block in system)
    return system or ""


def prefill_message(reply: Message) -> dict | None:
    """H12: the reply's own text so far, which the model continues; None when it has none."""
    text = reply.text.rstrip()
    return {"role": "assistant", "content": [{"type": "text", "text": text}]} if text else None


def build_request(
    reply: Message, model: CatalogModel | None = None, history_messages: list | None = None
) -> dict:
    """The streaming request for `reply`: the history of its branch up to it, sent to
    the catalog row's upstream id, with the conversation's system prompt and settings (`model`:
    its catalog row, looked up if None), and thinking when the row or the conversation asks.

    Attachments are placeholders here (phase 1: stored metadata only, no file read); the ids
    H10 left out are put on `reply.attachments_left_out` (not saved here). The thinking budget
    is as wanted: the send path fits it to the admitted max_tokens (`thinking.fit_request`).
    `history_messages`: the branch before the reply when the caller has it in hand (a new
    chat's first message), instead of reading it.
    """
    conversation = reply.conversation
    model_id = reply.model or conversation.model
    if model is None:
        model = CatalogModel.objects.filter(model_id=model_id).first()
    chosen = conversation.settings or {}
    if history_messages is None:
        history_messages = history_of(reply)
    messages = history(history_messages, _reads(model))  # H14: the reply's branch only
    reply.attachments_left_out = fit_to_limits(messages)  # H10
    if _has_tool_steps(reply):  # a tool loop's next round: its turns so far (H13, H15)
        for role, blocks in reply_turns(reply.content, thinking=True):
            _append(messages, role, blocks)
    elif prefill := prefill_message(reply):
        messages.append(prefill)
    max_tokens = reply.max_tokens
    if not max_tokens:
        fallback = settings.CHAT_MAX_TOKENS
        max_tokens = chat_settings.wanted_max_tokens(chosen, model) if model else fallback
    request = {
        "model": model.upstream_id if model else model_id,
        "max_tokens": max_tokens,
        "messages": messages,
        "metadata": {"user_id": upstream_user_id(conversation.user_id)},
    }
    system = system_parameter(conversation)
    if system:
        request["system"] = system
    if model is not None:
        request |= chat_settings.request_parameters(chosen, model)
    _keep_tools_for_replay(request)
    return caching.add_breakpoints(request, model)  # last: over the finished request


def _keep_tools_for_replay(request: dict) -> None:
    """H17: the API refuses tool blocks in a request without `tools`; tools switched off
    after a loop are still defined for the pairs replayed, and none may be called."""
    if "tools" in request:
        return
    used = {
        block.get("name")
        for message in request["messages"]
        for block in message["content"]
        if block.get("type") == "tool_use"
    }
    if used:
        request["tools"] = tool_registry.definitions(sorted(used))
        request["tool_choice"] = {"type": "none"}
