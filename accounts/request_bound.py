"""An upper bound on the prompt tokens of a whole Messages API request, every block kind counted.

Admission holds this bound before a request goes upstream (docs/quotas.md has the table for
admins, decision 41 the reasons). Every figure below is a ceiling the API documents, or a
count that is never shorter than the tokens it stands for (a token is at least one byte):

- text, thinking, tool calls, tool definitions: one token per UTF-8 byte, plus framing;
- an image: width × height / 750 after the API's own downscaling and 28-pixel padding, and
  the largest image the model can see when its size is unknown;
- a PDF: per page, the documented text allowance plus one page image;
- the tool-use system prompt the API adds, and the content server tools fetch.

Malformed parts never raise: anything unexpected counts as the bytes of its JSON.
A caller that measured an attachment (at upload) may put a `BoundHint` under `BOUND_HINT_KEY`
on its image or document block: it counts where the bytes cannot tell (a URL, a PDF whose pages
hide) and never below what they show. Only `BoundHint` objects count, so a hint in JSON from an
API client is ignored; `strip_bound_hints` removes the key before the request is sent.
"""

import math
import re
from dataclasses import dataclass

from .media_size import decode_base64, image_size_from_base64, pdf_page_count

BOUND_HINT_KEY = "_bound"
# Role markers, the request frame and hidden system text the API adds to every prompt.
REQUEST_OVERHEAD_TOKENS = 64
MESSAGE_OVERHEAD_TOKENS = 8  # a turn's role marker
BLOCK_OVERHEAD_TOKENS = 8  # a block's framing (decision 14)

# Vision: "an image uses approximately width * height / 750 tokens"; larger images are first
# scaled down to the model's native resolution and padded to a multiple of 28 pixels.
PIXELS_PER_TOKEN = 750
PATCH_PIXELS = 28

# PDF support: "each page typically uses 1,500-3,000 tokens" of text, and each page is also
# converted into an image; a request may hold at most 100 pages.
PDF_TEXT_TOKENS_PER_PAGE = 3_000
PDF_MAX_PAGES = 100
# A file_id's size is unknown here; no request can be longer than the largest context window.
LARGEST_CONTEXT_WINDOW = 1_000_000

# The tool-use system prompt, by tool_choice: the largest count documented for any model
# (Claude 3 Opus: 530 with auto; Claude 3 Haiku: 340 with any or tool; 4.x models: 346 / 313).
TOOL_SYSTEM_PROMPT_TOKENS = {"auto": 530, "none": 530, "any": 340, "tool": 340}
# Anthropic-defined tools carry hidden definitions (bash 245, text editor 700, computer use
# 735 plus its own system prompt): one constant above all of them.
ANTHROPIC_TOOL_TOKENS = 1_500
# "Enabling citations incurs a slight increase in input tokens due to system prompt additions
# and document chunking": not quantified, so a constant per document that enables them.
CITATIONS_TOKENS = 1_000
# Server tools (web search, web fetch, code execution) and MCP servers bring content into
# the same call. Not a documented bound: chatsite sends none of them; this holds room for
# `max_uses` results (10, the server-side loop's iterations, when unset) of this size each.
CLIENT_TOOL_PREFIXES = ("bash_", "text_editor_", "computer_", "memory_")
SERVER_TOOL_DEFAULT_USES = 10
SERVER_TOOL_RESULT_TOKENS = 25_000
MCP_SERVER_TOKENS = 25_000

_IGNORED_KEYS = {"type", "cache_control", BOUND_HINT_KEY}
_JSON_ESCAPES = re.compile(r'["\\\x00-\x1f]')


@dataclass(frozen=True)
class BoundHint:
    """What the caller measured of an attachment; never JSON, so no API client can send one."""

    width: int | None = None
    height: int | None = None
    pages: int | None = None
    text_bytes: int | None = None  # a text document's size, when its data is filled in later


@dataclass(frozen=True)
class VisionLimits:
    """The largest image a model sees: long edge and pixels after the API downscales it."""

    long_edge: int
    max_pixels: int

    @property
    def image_ceiling(self) -> int:
        """Tokens of the largest image, whatever its shape (rounding and padding included)."""
        return math.ceil((self.max_pixels + 60 * self.long_edge + 1000) / PIXELS_PER_TOKEN)


# 1568 px on the long edge and 1568 patches of 28 px (784 × 1568, the largest size the vision
# guide lists as not resized: "about 1.15 megapixels", ~1,600 tokens).
STANDARD_VISION = VisionLimits(long_edge=1568, max_pixels=1568 * PATCH_PIXELS**2)
# Claude Opus 4.7 and later: 2576 px on the long edge, about 3.75 megapixels.
HIGH_RES_VISION = VisionLimits(long_edge=2576, max_pixels=4784 * PATCH_PIXELS**2)
# Models known to see at most the standard size; any other id gets the larger limits, so a
# model added to the catalog later cannot be under-held.
STANDARD_VISION_MODELS = (
    "chatsite-demo",
    "claude-3",
    "claude-haiku-4-5",
    "claude-sonnet-4-0",
    "claude-sonnet-4-2025",
    "claude-sonnet-4-5",
    "claude-sonnet-4-6",
    "claude-opus-4-0",
    "claude-opus-4-2025",
    "claude-opus-4-1",
    "claude-opus-4-5",
    "claude-opus-4-6",
)


def vision_limits_for(model: object) -> VisionLimits:
    """The standard limits for models known to use them, the larger ones for any other id."""
    if isinstance(model, str) and model.startswith(STANDARD_VISION_MODELS):
        return STANDARD_VISION
    return HIGH_RES_VISION


def image_tokens(width: int, height: int, vision: VisionLimits) -> int:
    """The API's formula for one image of known size, after its downscaling and padding."""
    scale = min(
        1.0,
        vision.long_edge / max(width, height),
        math.sqrt(vision.max_pixels / (width * height)),
    )
    seen_w = min(width, math.ceil(width * scale))
    seen_h = min(height, math.ceil(height * scale))
    padded = math.ceil(seen_w / PATCH_PIXELS) * math.ceil(seen_h / PATCH_PIXELS) * PATCH_PIXELS**2
    return math.ceil(padded / PIXELS_PER_TOKEN)


def pdf_page_tokens(vision: VisionLimits) -> int:
    """One PDF page: the documented text allowance plus the page as an image."""
    return PDF_TEXT_TOKENS_PER_PAGE + vision.image_ceiling


def request_token_bound(request: dict) -> int:
    """A conservative upper bound on the prompt tokens of a Messages API request."""
    if not isinstance(request, dict):
        return REQUEST_OVERHEAD_TOKENS + json_size(request)
    counter = _Counter(vision_limits_for(request.get("model")))
    total = REQUEST_OVERHEAD_TOKENS + counter.content(request.get("system"))
    messages = request.get("messages")
    for message in messages if isinstance(messages, list) else [messages]:
        total += MESSAGE_OVERHEAD_TOKENS
        if isinstance(message, dict):
            total += counter.content(message.get("content"))
        elif message is not None:
            total += json_size(message)
    total += _tools_tokens(request.get("tools"), request.get("tool_choice"))
    return total + _mcp_tokens(request.get("mcp_servers"))


def strip_bound_hints(request: dict) -> dict:
    """A copy of `request` without the `BOUND_HINT_KEY` entries, ready to send upstream."""
    root: list = [request]
    stack: list[tuple[list | dict, int | str]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        value = parent[key]  # type: ignore[index]
        if isinstance(value, dict):
            copy: dict | list = {k: v for k, v in value.items() if k != BOUND_HINT_KEY}
            keys: list = list(copy)
        elif isinstance(value, list):
            copy = list(value)
            keys = list(range(len(copy)))
        else:
            continue
        parent[key] = copy  # type: ignore[index]
        stack.extend((copy, k) for k in keys)
    return root[0]


def text_size(value: object) -> int:
    """UTF-8 bytes of a string (lone surrogates included); JSON bytes of anything else."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    return json_size(value)


def json_size(value: object) -> int:
    """At least the length of `value` as JSON, never zero; iterative, so depth cannot raise."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += 2 + text_size(item) + 5 * len(_JSON_ESCAPES.findall(item))
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            for key, inner in item.items():
                stack.append(key if isinstance(key, str) else str(key))
                stack.append(inner)
        elif isinstance(item, list | tuple):
            total += 2 + len(item)
            stack.extend(item)
        elif item is None or isinstance(item, bool):
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2  # digits, without str() and its length limit
        elif isinstance(item, float):
            total += 32
        else:
            total += 2 + text_size(repr(item))
    return max(total, 1)


class _Counter:
    """Walks content (strings, block lists, nested tool results) without recursion."""

    def __init__(self, vision: VisionLimits) -> None:
        self.vision = vision

    def content(self, value: object) -> int:
        total, stack = 0, [value]
        while stack:
            item = stack.pop()
            if item is None:
                continue
            if isinstance(item, str):
                total += text_size(item)
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                tokens, nested = self.block(item)
                total += BLOCK_OVERHEAD_TOKENS + tokens
                stack.extend(nested)
            else:
                total += json_size(item)
        return total

    def block(self, block: dict) -> tuple[int, list]:
        kind = block.get("type")
        handler = _BLOCKS.get(kind) if isinstance(kind, str) else None
        if handler is None:  # unknown or missing type: the whole block, as JSON
            return json_size({k: v for k, v in block.items() if k != BOUND_HINT_KEY}), []
        method, handled = handler
        tokens, nested = method(self, block)
        for key, value in block.items():
            if key not in handled and key not in _IGNORED_KEYS:
                tokens += json_size(key) + json_size(value)
        return tokens, nested

    def text(self, block: dict) -> tuple[int, list]:
        return text_size(block.get("text", "")), []

    def thinking(self, block: dict) -> tuple[int, list]:
        return text_size(block.get("thinking", "")) + text_size(block.get("signature", "")), []

    def redacted_thinking(self, block: dict) -> tuple[int, list]:
        return text_size(block.get("data", "")), []

    def tool_use(self, block: dict) -> tuple[int, list]:
        tokens = text_size(block.get("id", "")) + text_size(block.get("name", ""))
        return tokens + json_size(block.get("input", {})), []

    def tool_result(self, block: dict) -> tuple[int, list]:
        return text_size(block.get("tool_use_id", "")), [block.get("content")]

    def search_result(self, block: dict) -> tuple[int, list]:
        tokens = text_size(block.get("source", "")) + text_size(block.get("title", ""))
        return tokens, [block.get("content")]

    def image(self, block: dict) -> tuple[int, list]:
        source = block.get("source")
        sizes = [_hinted_size(block)]
        if isinstance(source, dict) and source.get("type") == "base64":
            sizes.append(image_size_from_base64(source.get("data")))
        known = [image_tokens(w, h, self.vision) for w, h in filter(None, sizes)]
        return (max(known) if known else self.vision.image_ceiling), []

    def document(self, block: dict) -> tuple[int, list]:
        tokens = text_size(block.get("title") or "") + text_size(block.get("context") or "")
        citations = block.get("citations")
        if isinstance(citations, dict) and citations.get("enabled"):
            tokens += CITATIONS_TOKENS
        source = block.get("source")
        kind = source.get("type") if isinstance(source, dict) else None
        if kind == "text":
            data_tokens = text_size(source.get("data", ""))  # type: ignore[union-attr]
            return tokens + max(data_tokens, _hinted_text_bytes(block) or 0), []
        if kind == "content":
            return tokens, [source.get("content")]  # type: ignore[union-attr]
        pages_ceiling = PDF_MAX_PAGES * pdf_page_tokens(self.vision)
        if kind == "url":
            return tokens + pages_ceiling, []
        if kind != "base64":  # a file_id or a malformed source: its size is unknown
            return tokens + max(pages_ceiling, LARGEST_CONTEXT_WINDOW), []
        data = decode_base64(source.get("data"))  # type: ignore[union-attr]
        counts = [pdf_page_count(data) if data else None, _hinted_pages(block)]
        pages = max(filter(None, counts), default=PDF_MAX_PAGES)
        return tokens + pages * pdf_page_tokens(self.vision), []


_BLOCKS = {
    "text": (_Counter.text, {"text"}),
    "thinking": (_Counter.thinking, {"thinking", "signature"}),
    "redacted_thinking": (_Counter.redacted_thinking, {"data"}),
    "tool_use": (_Counter.tool_use, {"id", "name", "input"}),
    "server_tool_use": (_Counter.tool_use, {"id", "name", "input"}),
    "tool_result": (_Counter.tool_result, {"tool_use_id", "content", "is_error"}),
    "search_result": (_Counter.search_result, {"source", "title", "content", "citations"}),
    "image": (_Counter.image, {"source"}),
    "document": (_Counter.document, {"source", "title", "context", "citations"}),
}


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _hinted_size(block: dict) -> tuple[int, int] | None:
    hint = block.get(BOUND_HINT_KEY)
    if not isinstance(hint, BoundHint):
        return None
    width, height = _positive_int(hint.width), _positive_int(hint.height)
    return (width, height) if width and height else None


def _hinted_pages(block: dict) -> int | None:
    hint = block.get(BOUND_HINT_KEY)
    return _positive_int(hint.pages) if isinstance(hint, BoundHint) else None


def _hinted_text_bytes(block: dict) -> int | None:
    hint = block.get(BOUND_HINT_KEY)
    return _positive_int(hint.text_bytes) if isinstance(hint, BoundHint) else None


def _tools_tokens(tools: object, tool_choice: object) -> int:
    if not tools:
        return 0
    if not isinstance(tools, list):
        return max(TOOL_SYSTEM_PROMPT_TOKENS.values()) + json_size(tools)
    choice = tool_choice.get("type") if isinstance(tool_choice, dict) else "auto"
    total = TOOL_SYSTEM_PROMPT_TOKENS.get(choice, max(TOOL_SYSTEM_PROMPT_TOKENS.values()))
    for tool in tools:
        visible = tool
        if isinstance(tool, dict):
            visible = {k: v for k, v in tool.items() if k not in ("cache_control", BOUND_HINT_KEY)}
        total += BLOCK_OVERHEAD_TOKENS + json_size(visible)
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and kind != "custom":
            total += ANTHROPIC_TOOL_TOKENS
            if not kind.startswith(CLIENT_TOOL_PREFIXES):
                total += _server_tool_results(tool)  # type: ignore[arg-type]
    return total


def _server_tool_results(tool: dict) -> int:
    uses = _positive_int(tool.get("max_uses")) or SERVER_TOOL_DEFAULT_USES
    per_use = _positive_int(tool.get("max_content_tokens")) or SERVER_TOOL_RESULT_TOKENS
    return uses * max(per_use, SERVER_TOOL_RESULT_TOKENS)


def _mcp_tokens(servers: object) -> int:
    if not servers:
        return 0
    count = len(servers) if isinstance(servers, list) else 1
    results = SERVER_TOOL_DEFAULT_USES * SERVER_TOOL_RESULT_TOKENS
    return json_size(servers) + count * (MCP_SERVER_TOKENS + results)
