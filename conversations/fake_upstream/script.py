"""The fake upstream's reply script: the last user message's `!directives` decide the reply."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import media

DEMO_MODEL = "chatsite-demo"
MODELS = [
    (DEMO_MODEL, "Chatsite demo (fake upstream, no API key)", "2025-01-01T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
]
_DIRECTIVE = re.compile(r"(?:^|(?<=\s))!([a-z_]+)(?:=(\S+))?")
# A title request (conversations/titles.py): its system prompt starts so, and it quotes the
# conversation's first message between <user> tags.
TITLE_SYSTEM_START = "You write titles for chat conversations."
_TITLE_EXCERPT = re.compile(r"<user>(.*?)</user>", re.DOTALL)
TITLE_WORDS = 5
TITLE_CHARS_UNSPACED = 16  # Japanese and Chinese have no spaces between words
_PIECE = re.compile(r"\s*\S+\s*|\s+")


@dataclass
class Block:
    kind: str  # "text", "thinking" or "tool_use"
    pieces: list[str]
    signature: str = ""
    tool_id: str = ""
    tool_name: str = ""


@dataclass
class Reply:
    blocks: list[Block]
    stop_reason: str
    usage: dict[str, int]
    ttft: float
    delay: float
    fault: str | None = None
    stop_sequence: str | None = None
    cache_scripted: bool = False  # `!cache=W,R` set the cache figures; else the cache does


def text_of(content: Any) -> str:
    """Concatenate the text of a string or a list of content blocks (text and tool results)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            parts.append(text_of(block.get("content", "")))
    return "\n".join(parts)


def count_input_tokens(body: dict) -> int:
    """A deterministic stand-in for the tokenizer: a quarter of the characters sent, plus
    what the attachments cost (media.py: images by pixels, PDFs by pages, text by length)."""
    chars = len(text_of(body.get("system", "")))
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    chars += sum(len(canonical_json(unmarked(tool))) for tool in tools)
    chars += sum(len(text_of(m.get("content", ""))) for m in body.get("messages", []))
    return max(1, chars // 4 + media.attachment_tokens(body))


canonical_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def unmarked(block: Any) -> Any:
    """A block without its cache_control: a marker is not part of the prompt."""
    if isinstance(block, dict):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def parse_directives(text: str) -> dict[str, str]:
    """`!name` or `!name=value` tokens; the last one of a name wins."""
    return {m.group(1): m.group(2) or "" for m in _DIRECTIVE.finditer(text)}


def split_words(text: str) -> list[str]:
    """Roughly one word per piece; joining the pieces gives back the text exactly."""
    return _PIECE.findall(text)


def _default_text(user_text: str) -> str:
    quoted = " ".join(_DIRECTIVE.sub("", user_text).split())[:60] or "(nothing)"
    return (
        "## Demo reply\n\n"
        f'You said: "{quoted}". This scripted answer comes from the fake upstream '
        f"({DEMO_MODEL}), not from Claude.\n\n"
        "- It streams about one word per delta.\n"
        "- It shows **markdown**, a list and `inline code`.\n"
        "- Usage counts one output token per delta.\n\n"
        "```python\n"
        "def greet(name: str) -> str:\n"
        '    return f"Hello, {name}!"\n'
        "```\n"
    )


def _reply_text(d: dict[str, str], user_text: str) -> str:
    """The text block; !tokens is handled by _text_pieces."""
    if "xss" in d:
        return (
            'Unsafe markup: <img src=x onerror="window.__xss=1"> and '
            "<script>window.__xss=2</script> and [link](javascript:window.__xss=3) end."
        )
    if "tool" in d:
        return "Let me check the weather in Tokyo."
    if "echo" in d:  # the question's own words, lines kept: tests script a reply's markdown
        return _DIRECTIVE.sub("", user_text).strip() or "(nothing)"
    return _default_text(user_text)


def _ms(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value) / 1000.0) if value else default
    except ValueError:
        return default


def _cache_figures(value: str | None) -> tuple[int, int]:
    try:
        written, read = (value or "0,0").split(",")
        return max(0, int(written)), max(0, int(read))
    except ValueError:
        return 0, 0


def _text_pieces(d: dict[str, str], text: str) -> list[str]:
    # !tokens promises exactly one delta per word, so don't re-split those.
    if "tokens" in d and d["tokens"].isdigit():
        return [f"w{i} " for i in range(1, min(int(d["tokens"]), 1_000_000) + 1)]
    return split_words(text)


def thinks(body: dict, d: dict[str, str]) -> bool:
    """The `!thinking` directive, a request with thinking enabled, or a gateway's "-thinking"
    model id (a gateway thinks for those on its own)."""
    enabled = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") == "enabled"
    return "thinking" in d or enabled or str(body.get("model", "")).endswith("-thinking")


def prefill_of(body: dict) -> str | None:
    """The text of a final assistant message, which the reply continues; None without one."""
    last = body["messages"][-1]
    return text_of(last.get("content", "")) if last.get("role") == "assistant" else None


def _continued(pieces: list[str], prefill: str) -> list[str]:
    """The pieces after the prefill: the rest of the scripted text when the prefill is its
    start (Continue), else all of it after a space (a prefill of the member's own words)."""
    written = ""
    for count, piece in enumerate(pieces):
        if written.rstrip() == prefill and written:
            rest = pieces[count:]
            return [written[len(prefill) :] + rest[0], *rest[1:]] if rest else []
        written += piece
    if written.rstrip() == prefill:
        return [written[len(prefill) :]] if written[len(prefill) :] else []
    return [" " + pieces[0], *pieces[1:]] if pieces else []


def is_title_request(body: dict) -> bool:
    return text_of(body.get("system", "")).startswith(TITLE_SYSTEM_START)


def _title_for(body: dict) -> tuple[str, dict[str, str]]:
    """A title from the quoted first message: its first words, directives left out; and the
    directives a title request obeys (`!titlefault=X`: the title call fails with fault X)."""
    excerpt = text_of(body["messages"][-1].get("content", ""))
    found = _TITLE_EXCERPT.search(excerpt)
    quoted = found.group(1) if found else excerpt
    d = parse_directives(quoted)
    words = _DIRECTIVE.sub("", quoted).split()
    if len(words) == 1 and len(words[0]) > TITLE_CHARS_UNSPACED:
        title = words[0][:TITLE_CHARS_UNSPACED]
    else:
        title = " ".join(words[:TITLE_WORDS])
    faults = {"fault": d["titlefault"]} if d.get("titlefault") else {}
    return (title[:1].upper() + title[1:]) or "Demo chat", faults


def _title_reply(body: dict, ttft: float, delay: float) -> Reply:
    title, d = _title_for(body)
    pieces = split_words(title)[: int(body["max_tokens"])]
    usage = {"input_tokens": count_input_tokens(body), "output_tokens": len(pieces)}
    usage |= {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    stop = "end_turn" if len(pieces) == len(split_words(title)) else "max_tokens"
    return Reply([Block("text", pieces)], stop, usage, ttft, delay, d.get("fault"))


def _question_and_rounds(body: dict) -> tuple[str, list[dict]]:
    """The last user message that says something (not only tool results), and the tool
    results sent after it, oldest first: the tool rounds this reply has had."""
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    results: list[dict] = []
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        texts = [b for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        found = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        results[:0] = found
        if texts:
            return text_of(texts), results
    return "", results


_TOOL_INPUT = {"calculator": "expression", "search_conversations": "query"}


def _tool_call(body: dict, d: dict[str, str], done: int) -> Block | None:
    """`!usetool=NAME` (`!toolrounds=N` times, default 1), or a tool_choice naming a tool on
    the first round: a tool_use block for a tool the request declares. `!expr=`/`!query=`
    give the calculator's and the search's input."""
    declared = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
    name = d.get("usetool") or (choice.get("name") if choice.get("type") == "tool" else "")
    rounds = int(d["toolrounds"]) if d.get("toolrounds", "").isdigit() else 1
    if not name or name not in declared or done >= rounds or choice.get("type") == "none":
        return None
    key = _TOOL_INPUT.get(name)
    value = d.get("expr" if name == "calculator" else "query", "2+3")
    args = json.dumps({key: value} if key else {})
    pieces = [args[at : at + 4] for at in range(0, len(args), 4)]  # streams in visibly
    return Block("tool_use", pieces, tool_id=f"toolu_fake_r{done + 1}", tool_name=name)


def _answer_to_results(results: list[dict]) -> str:
    """The text after a tool round: it quotes what the last round's tools returned."""
    lines = []
    for result in results:
        said = text_of(result.get("content", ""))
        failed = " (error)" if result.get("is_error") else ""
        lines.append(f"Tool {result.get('tool_use_id')}{failed} said: {said}")
    return "\n".join(lines)


def plan_reply(body: dict, ttft: float, delay: float) -> Reply:
    """Turn a validated request body into the scripted reply, already cut to max_tokens.

    `!cut=N` stops every call of the reply at max_tokens after N output pieces, so a member
    can Continue it. A title request gets a title instead (`_title_for`).
    """
    if is_title_request(body):
        return _title_reply(body, ttft, delay)
    user_text, results = _question_and_rounds(body)
    d = parse_directives(user_text)
    done = len({r.get("tool_use_id") for r in results})
    calling = _tool_call(body, d, done)
    blocks = []
    if thinks(body, d):
        thoughts = "Let me think about this step by step. The user wants a scripted answer."
        blocks.append(Block("thinking", split_words(thoughts), signature="ZmFrZS1zaWduYXR1cmU="))
    pieces = _text_pieces(d, _reply_text(d, user_text))
    last = body["messages"][-1]
    said = ""
    if last.get("role") == "user" and isinstance(last.get("content"), list):
        answered = [b for b in last["content"] if b.get("type") == "tool_result"]
        if answered:  # a tool round ended: quote its results
            said = _answer_to_results(answered)
            pieces = split_words(said)
    if calling is not None:
        pieces = split_words((said + "\n\n" if said else "") + f"Let me use {calling.tool_name}.")
    received = media.received_line(media.count_attachments(body))
    if received:  # what the request carried, so tests can check it in the reply
        pieces = split_words(received + "\n\n") + pieces  # its own paragraph
    prefill = prefill_of(body)
    if prefill is not None:
        pieces = _continued(pieces, prefill)
    blocks.append(Block("text", pieces))
    if "tool" in d:
        args = ['{"city": ', '"Tokyo", ', '"unit": ', '"celsius"}']
        blocks.append(Block("tool_use", args, tool_id="toolu_fake_1", tool_name="get_weather"))
    if calling is not None:
        blocks.append(calling)
    budget = int(body["max_tokens"])
    stop_reason = "tool_use" if "tool" in d or calling is not None else "end_turn"
    blocks, stop_sequence = _cut_at_stop_sequence(blocks, body.get("stop_sequences") or [])
    if stop_sequence is not None:
        stop_reason = "stop_sequence"
    total = sum(len(b.pieces) for b in blocks)
    cut = d.get("cut", "")
    if cut.isdigit() and int(cut) < min(total, budget):
        stop_reason, stop_sequence, blocks = "max_tokens", None, _truncate(blocks, int(cut))
    elif total > budget or "maxtokens" in d:
        stop_reason, stop_sequence, blocks = "max_tokens", None, _truncate(blocks, budget)
    written, read = _cache_figures(d.get("cache"))
    usage = {
        "input_tokens": count_input_tokens(body),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": sum(len(b.pieces) for b in blocks),
    }
    return Reply(
        blocks,
        stop_reason,
        usage,
        _ms(d.get("ttft"), ttft),
        _ms(d.get("delay"), delay),
        d.get("fault"),
        stop_sequence,
        "cache" in d,
    )


def _cut_at_stop_sequence(blocks: list[Block], stops: list[str]) -> tuple[list[Block], str | None]:
    """End the reply where a text block first shows a stop sequence, as the API does: the
    sequence itself is not sent, and nothing after it."""
    for position, block in enumerate(blocks):
        if block.kind != "text":
            continue
        text = "".join(block.pieces)
        found = [(text.find(s), s) for s in stops if s and s in text]
        if not found:
            continue
        at, stop = min(found)
        pieces, length = [], 0
        for piece in block.pieces:
            if length + len(piece) >= at:
                if at > length:
                    pieces.append(piece[: at - length])
                break
            pieces.append(piece)
            length += len(piece)
        return [*blocks[:position], Block("text", pieces)], stop
    return blocks, None


def _truncate(blocks: list[Block], budget: int) -> list[Block]:
    kept = []
    for block in blocks:
        if budget <= 0:
            break
        if len(block.pieces) > budget:
            # A block cut short never got its signature; the real API stops mid-block too.
            block = Block(block.kind, block.pieces[:budget], "", block.tool_id, block.tool_name)
        budget -= len(block.pieces)
        kept.append(block)
    return kept


def message_json(reply: Reply, model: str, msg_id: str) -> dict:
    """The non-streaming form of a reply."""
    content: list[dict] = []
    for b in reply.blocks:
        joined = "".join(b.pieces)
        if b.kind == "thinking":
            content.append({"type": "thinking", "thinking": joined, "signature": b.signature})
        elif b.kind == "tool_use":
            try:
                args = json.loads(joined)
            except ValueError:  # cut short by max_tokens
                args = {}
            content.append(
                {"type": "tool_use", "id": b.tool_id, "name": b.tool_name, "input": args}
            )
        else:
            content.append({"type": "text", "text": joined})
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": reply.usage,
    }
