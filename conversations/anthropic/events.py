"""Typed Messages API stream events, their decoder, and the final-message accumulator."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import AnthropicError, ErrorKind, error_from_payload, make_error

# Far above any context window or output limit, far below a 64-bit column.
MAX_USAGE_COUNT = 10**9


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def merged(self, raw: dict | None) -> Usage:
        """Take the latest value of each field present in `raw`: the API reports running totals."""
        if not raw:
            return self
        values = {}
        for f in fields(self):
            value = raw.get(f.name)
            # bool is an int subclass; a null field means "unchanged", not zero.
            # A negative or absurd figure from a gateway is not a count: it would credit the
            # user or overflow the ledger's columns.
            is_count = isinstance(value, int) and not isinstance(value, bool)
            is_count = is_count and 0 <= value <= MAX_USAGE_COUNT
            values[f.name] = value if is_count else getattr(self, f.name)
        return Usage(**values)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class MessageStart:
    message_id: str
    model: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class BlockStart:
    index: int
    block: dict


@dataclass(frozen=True, slots=True)
class BlockDelta:
    index: int
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class BlockStop:
    index: int


@dataclass(frozen=True, slots=True)
class MessageDelta:
    stop_reason: str | None
    stop_sequence: str | None
    usage: Usage


@dataclass(frozen=True, slots=True)
class MessageStop:
    pass


Event = MessageStart | BlockStart | BlockDelta | BlockStop | MessageDelta | MessageStop

# delta type -> (BlockDelta.kind, field holding the text)
_DELTA_KINDS = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("signature", "signature"),
    "input_json_delta": ("tool_input", "partial_json"),
}


class EventDecoder:
    """Turns one SSE event's data into a typed event; keeps the running usage of one stream."""

    def __init__(self, *, secret: str = "") -> None:
        self._secret = secret
        self.usage = Usage()
        self.complete = False

    def decode(self, data: str, event: str = "") -> Event | None:
        """Parse `data` (JSON) once; return None for pings and unknown types; raise on `error`."""
        if not data.strip():
            return None
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise self._malformed() from exc
        if not isinstance(payload, dict):
            raise self._malformed()
        event_type = payload.get("type") or event
        try:
            return self._dispatch(event_type, payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed() from exc

    def _dispatch(self, event_type: str, payload: dict[str, Any]) -> Event | None:
        if event_type == "message_start":
            message = payload["message"]
            self.usage = self.usage.merged(message.get("usage"))
            return MessageStart(str(message["id"]), str(message.get("model") or ""), self.usage)
        if event_type == "content_block_start":
            return BlockStart(int(payload["index"]), dict(payload["content_block"]))
        if event_type == "content_block_delta":
            delta = payload["delta"]
            kind, key = _DELTA_KINDS.get(delta.get("type"), (None, None))
            if kind is None:
                return None
            return BlockDelta(int(payload["index"]), kind, str(delta.get(key) or ""))
        if event_type == "content_block_stop":
            return BlockStop(int(payload["index"]))
        if event_type == "message_delta":
            delta = payload.get("delta") or {}
            self.usage = self.usage.merged(payload.get("usage"))
            return MessageDelta(delta.get("stop_reason"), delta.get("stop_sequence"), self.usage)
        if event_type == "message_stop":
            self.complete = True
            return MessageStop()
        if event_type == "error":
            error = error_from_payload({**payload, "type": "error"}, secret=self._secret)
            raise error or make_error(ErrorKind.API, secret=self._secret)
        return None

    def _malformed(self) -> AnthropicError:
        return make_error(ErrorKind.API, "malformed stream event", secret=self._secret)


@dataclass
class _Block:
    data: dict
    partial_json: list[str] = field(default_factory=list)


class MessageAccumulator:
    """Feed it every stream event; it assembles the final API-shaped message."""

    def __init__(self) -> None:
        self._blocks: dict[int, _Block] = {}
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.message_id: str | None = None
        self.model: str | None = None
        self.complete = False

    def feed(self, event: Event) -> None:
        match event:
            case MessageStart():
                self.message_id, self.model, self.usage = event.message_id, event.model, event.usage
            case BlockStart():
                self._blocks[event.index] = _Block(_initial_block(event.block))
            case BlockDelta():
                self._apply_delta(event)
            case MessageDelta():
                self.stop_reason, self.stop_sequence = event.stop_reason, event.stop_sequence
                self.usage = event.usage
            case MessageStop():
                self.complete = True

    @property
    def content(self) -> list[dict]:
        """Content blocks in index order, tool inputs parsed from their concatenated JSON."""
        return [_final_block(self._blocks[i]) for i in sorted(self._blocks)]

    def text(self) -> str:
        return "".join(b["text"] for b in self.content if b.get("type") == "text")

    def _apply_delta(self, event: BlockDelta) -> None:
        block = self._blocks.get(event.index)
        if block is None:
            # A delta without its block start: keep visible text rather than drop it.
            if event.kind != "text":
                return
            block = self._blocks[event.index] = _Block({"type": "text", "text": ""})
        if event.kind == "tool_input":
            block.partial_json.append(event.text)
        else:
            block.data[event.kind] = block.data.get(event.kind, "") + event.text


def _initial_block(block: dict) -> dict:
    data = dict(block)
    if data.get("type") == "text":
        data.setdefault("text", "")
    elif data.get("type") == "thinking":
        data.setdefault("thinking", "")
        data.setdefault("signature", "")
    return data


def _final_block(block: _Block) -> dict:
    data = dict(block.data)
    # Server tool blocks (server_tool_use, mcp_tool_use) stream their input the same way.
    if block.partial_json or data.get("type") == "tool_use":
        raw = "".join(block.partial_json)
        if not raw.strip():
            data["input"] = data.get("input") or {}
        else:
            try:
                data["input"] = json.loads(raw)
            except ValueError:
                data["input"] = {}
                data["_partial_json"] = raw
    return data
