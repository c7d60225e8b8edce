"""The fake upstream's prompt cache: prefixes hashed at breakpoints, read back within 5 minutes.

Written from the API's prompt caching page, not imported from the app (as rules.py): the
prompt is tools, then system, then messages, one block after another. At each block marked
with `cache_control` the exact prefix up to it (canonical JSON, markers left out, under the
model's name) is written to the cache when it reaches the model's minimum length. A request
reads the longest prefix it shares with one written in the last five minutes, looking back
at most `LOOKBACK_BLOCKS` blocks from each of its breakpoints; what follows, up to its last
cacheable breakpoint, is written; the rest is plain input.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import media
from .script import canonical_json, text_of, unmarked

LIFETIME_SECONDS = 300.0  # "ephemeral": 5 minutes, refreshed by each read
LOOKBACK_BLOCKS = 20
DEFAULT_MINIMUM = 1024
MINIMUM_TOKENS = {
    "claude-opus-4-5": 4096,
    "claude-opus-4-6": 4096,
    "claude-haiku-4-5": 4096,
    "claude-sonnet-4-6": 2048,
    "claude-3-5-haiku": 2048,
    "claude-3-haiku": 2048,
}


def minimum_tokens(model: str) -> int:
    for family, tokens in MINIMUM_TOKENS.items():
        if model.startswith(family):
            return tokens
    return DEFAULT_MINIMUM


def _text_chars(block: Any) -> int:
    """Characters as script.count_input_tokens counts them (text and tool results)."""
    return len(text_of([block])) if isinstance(block, dict) else len(str(block))


def _items(body: dict) -> Iterator[tuple[bytes, int, int, bool]]:
    """Each block of the prompt in order: its canonical bytes, its characters, its
    attachment tokens, and whether it is a breakpoint."""
    for tool in body.get("tools") or []:
        marked = isinstance(tool, dict) and "cache_control" in tool
        canonical = canonical_json(["tool", unmarked(tool)])
        yield canonical.encode(), len(canonical_json(unmarked(tool))), 0, marked
    system = body.get("system")
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system or []
    for block in blocks:
        marked = isinstance(block, dict) and "cache_control" in block
        yield canonical_json(["system", unmarked(block)]).encode(), _text_chars(block), 0, marked
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        role = message.get("role")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks or []:
            marked = isinstance(block, dict) and "cache_control" in block
            canonical = canonical_json([index, role, unmarked(block)]).encode()
            extra = media.attachment_tokens({"messages": [{"role": role, "content": [block]}]})
            yield canonical, _text_chars(block), extra, marked


class PromptCache:
    """Prefix digests with the time they were last written or read."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def usage(self, body: dict, total: int) -> dict[str, int]:
        """The request's input usage split into cache reads, cache writes and the rest."""
        model = str(body.get("model", ""))
        digest = hashlib.sha256(model.encode())
        prefixes: list[tuple[bytes, int]] = []  # digest and tokens at each block's end
        breakpoints: list[int] = []
        chars = extra = 0
        for canonical, block_chars, block_extra, marked in _items(body):
            digest.update(len(canonical).to_bytes(8, "big") + canonical)
            chars, extra = chars + block_chars, extra + block_extra
            prefixes.append((digest.copy().digest(), chars // 4 + extra))
            if marked:
                breakpoints.append(len(prefixes) - 1)
        minimum = minimum_tokens(model)
        cacheable = [b for b in breakpoints if prefixes[b][1] >= minimum]
        now = self.clock()
        with self._lock:
            read_at = self._longest_seen(prefixes, breakpoints, now)
            read = prefixes[read_at][1] if read_at is not None else 0
            written = prefixes[cacheable[-1]][1] - read if cacheable else 0
            for position in [*cacheable, *([read_at] if read_at is not None else [])]:
                self._seen[prefixes[position][0]] = now
        written = max(0, written)
        rest = max(0, max(total, read + written) - read - written)
        return {
            "input_tokens": rest,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
        }

    def _longest_seen(
        self, prefixes: list[tuple[bytes, int]], breakpoints: list[int], now: float
    ) -> int | None:
        candidates: set[int] = set()
        for b in breakpoints:
            candidates.update(range(max(0, b - LOOKBACK_BLOCKS + 1), b + 1))
        for position in sorted(candidates, reverse=True):
            seen = self._seen.get(prefixes[position][0])
            if seen is not None and now - seen <= LIFETIME_SECONDS:
                return position
        return None
