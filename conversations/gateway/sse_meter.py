"""A small SSE reader over the raw bytes a gateway stream forwards: what the ledger needs of them.

The gateway passes the upstream's bytes to the client unchanged, so it cannot use a parser that
owns the socket (httpx-sse reads the response itself). This one is fed the same chunks, in
whatever pieces they arrive (conversations/anthropic/sse.py splits them into events), and keeps
only the usage (the latest value of each field, never a sum), the characters streamed (the
estimate's base when usage never comes), whether `message_stop` arrived and the first `error`
event (decision 66).
"""

import json

from accounts.usage import USAGE_FIELDS

from ..anthropic.sse import SSEReader
from ..settlement import streamed_chars

_DELTA_FIELDS = ("text", "thinking", "partial_json")


class StreamMeter:
    """Feed it the stream's bytes; read `usage`, `output_chars`, `complete` and `error`."""

    def __init__(self) -> None:
        self._reader = SSEReader()
        self.usage: dict[str, int] = {}
        self.output_chars = 0
        self.complete = False
        self.error: dict | None = None
        self.events = 0

    def feed(self, chunk: bytes) -> None:
        for event in self._reader.feed(chunk):
            self._event(event.data)

    def close(self) -> None:
        """The stream ended: an event without its blank line still counts (what it streamed was
        forwarded and may be charged), unlike the spec, which discards it."""
        for event in self._reader.close(keep_incomplete=True):
            self._event(event.data)

    def _event(self, data: str) -> None:
        try:
            payload = json.loads(data)
        except ValueError:
            return  # not ours to judge: the client gets the bytes as they were
        if not isinstance(payload, dict):
            return
        self.events += 1
        kind = payload.get("type")
        if kind == "content_block_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict):
                for name in _DELTA_FIELDS:
                    text = delta.get(name)
                    if isinstance(text, str):
                        self.output_chars += len(text)
                        break
        elif kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict):
                self._usage(message.get("usage"))
        elif kind == "message_delta":
            self._usage(payload.get("usage"))
        elif kind == "message_stop":
            self.complete = True
        elif kind == "error" and self.error is None:
            error = payload.get("error")
            self.error = error if isinstance(error, dict) else {"type": "api_error"}

    def _usage(self, usage: object) -> None:
        # A running total that may repeat the input fields: the latest value of each wins.
        if not isinstance(usage, dict):
            return
        for field in USAGE_FIELDS:
            value = usage.get(field)
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[field] = value


def message_usage(body: bytes) -> tuple[dict, int, bool]:
    """A non-streaming reply's usage, the characters of its content (the estimate's base), and
    whether it is a whole message (an envelope is unwrapped)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return {}, 0, False
    if isinstance(payload, dict) and "code" in payload and "type" not in payload:
        payload = payload.get("data")
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return {}, 0, False
    meter = StreamMeter()
    meter._usage(payload.get("usage"))
    content = payload.get("content")
    chars = streamed_chars(content) if isinstance(content, list) else 0
    return meter.usage, chars, True
