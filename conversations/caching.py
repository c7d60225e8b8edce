"""Prompt caching: `cache_control` breakpoints on a finished request (decision 81).

`add_breakpoints` is the last step of `prompt.build_request`. It marks, in this order, the last
tool, the last system block and the last block of the final user turn, each only when the
estimated prompt up to it reaches the model's minimum cacheable length (the API caches
nothing shorter, so a marker there only misleads), at most `MAX_BREAKPOINTS`, with the
default 5-minute lifetime the catalog's `price_cache_write` prices.

Why the final user turn, not the end of the previous turn: the API looks back from a
breakpoint for the longest prefix it has cached. Marking the question being answered writes
everything up to it now; the next turn's request starts with that same prefix (the question,
then this reply, then the new question), so it is read back whole, and only the reply and the
new question are written. Marking the turn before would leave each question out of the cache
and make every turn write its previous question again. A prefill (H12) is never marked: it
changes when the reply is continued.
"""

import json

from django.conf import settings

from accounts import ledger
from accounts.request_bound import (
    MESSAGE_OVERHEAD_TOKENS,
    REQUEST_OVERHEAD_TOKENS,
    request_token_bound,
)

EPHEMERAL = {"type": "ephemeral"}  # the default lifetime: 5 minutes, refreshed on each read
MAX_BREAKPOINTS = 4  # the API refuses a request with more
DEFAULT_MINIMUM_TOKENS = 1024
# The API's minimum cacheable prompt by model family (its prompt caching page); a family not
# listed gets DEFAULT_MINIMUM_TOKENS. The catalog has no field for it (no migration in
# issue 13): a catalog column would let an admin set it for a new model.
MINIMUM_TOKENS = (
    ("claude-opus-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
)
_TEXT_FIELDS = ("text", "thinking", "content")
_MEDIA = ("image", "document")


def minimum_tokens(*model_ids: str) -> int:
    """The shortest prompt the model caches, by the first id that names a known family."""
    for model_id in model_ids:
        for family, tokens in MINIMUM_TOKENS:
            if model_id and model_id.startswith(family):
                return tokens
    return DEFAULT_MINIMUM_TOKENS


def block_tokens(block: object, model_id: str = "") -> int:
    """A likely token count of one block or tool (the ledger's three characters a token);
    images and documents by the admission bound, which knows their pixels and pages."""
    if isinstance(block, dict) and block.get("type") in _MEDIA:
        message = {"role": "user", "content": [block]}
        bound = request_token_bound({"model": model_id, "messages": [message]})
        return bound - REQUEST_OVERHEAD_TOKENS - MESSAGE_OVERHEAD_TOKENS
    if isinstance(block, dict) and block.get("type") in ("text", "thinking", "tool_result"):
        return ledger.estimate_tokens("".join(_text(block.get(f)) for f in _TEXT_FIELDS))
    return ledger.estimate_tokens(json.dumps(block, ensure_ascii=False, default=str))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_text(v.get("text", "")) if isinstance(v, dict) else "" for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _marked(block: dict) -> dict:
    return {**block, "cache_control": dict(EPHEMERAL)}


def add_breakpoints(request: dict, model: object = None) -> dict:
    """`request` with breakpoints where the prompt is long enough to cache; it is changed in
    place and returned. Off with PROMPT_CACHING = False."""
    if not getattr(settings, "PROMPT_CACHING", True):
        return request
    model_id = str(request.get("model", ""))
    minimum = minimum_tokens(model_id, getattr(model, "model_id", ""))
    left = MAX_BREAKPOINTS - _count_marked(request)
    tokens = ledger.PROMPT_OVERHEAD_TOKENS

    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        tokens += sum(block_tokens(tool, model_id) for tool in tools)
        if tokens >= minimum and left > 0 and isinstance(tools[-1], dict):
            tools[-1], left = _marked(tools[-1]), left - 1

    system = request.get("system")
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) and system else system
    if isinstance(blocks, list) and blocks:
        tokens += sum(block_tokens(block, model_id) for block in blocks)
        if tokens >= minimum and left > 0 and isinstance(blocks[-1], dict):
            blocks[-1], left = _marked(blocks[-1]), left - 1
            request["system"] = blocks  # a string becomes one block, to carry the marker

    messages = request.get("messages") or []
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if last_user is None:
        return request
    for message in messages[: last_user + 1]:
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        tokens += MESSAGE_OVERHEAD_TOKENS + sum(block_tokens(b, model_id) for b in blocks)
    content = messages[last_user].get("content")
    if tokens >= minimum and left > 0 and isinstance(content, list) and content:
        content[-1] = _marked(content[-1])
    return request


def _count_marked(request: dict) -> int:
    """Breakpoints the request has already (none from build_request today)."""
    blocks = list(request.get("tools") or [])
    system = request.get("system")
    blocks += system if isinstance(system, list) else []
    for message in request.get("messages") or []:
        content = message.get("content")
        blocks += content if isinstance(content, list) else []
    return sum(1 for b in blocks if isinstance(b, dict) and "cache_control" in b)
