"""Per-event cost of reading a Messages API stream: our client against the official SDK's.

Not part of the app or its tests (decision 49). The SDK is no dependency: install it in a
throwaway virtualenv beside the pinned httpx and httpx-sse, then run from the repository root:

    python -m venv /tmp/sdk-bench-venv
    /tmp/sdk-bench-venv/bin/pip install anthropic==2.10.0 httpx==0.28.1 httpx-sse==0.4.3
    /tmp/sdk-bench-venv/bin/python -m bench.sdk_parsing

Each reader gets the same bytes (a reply of TOKENS text deltas, as the API frames them) from
an in-memory transport, so the numbers are the client's own work per event (HTTP framing,
SSE parsing, JSON, typed events), with no network and no server.
"""

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from conversations.anthropic import AnthropicClient, ClientConfig, MessageAccumulator

TOKENS = int(os.environ.get("BENCH_TOKENS", "20000"))
ROUNDS = 7
REQUEST = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 64000,
    "messages": [{"role": "user", "content": "hi"}],
}


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def transcript(tokens: int) -> bytes:
    usage = {"input_tokens": 12, "output_tokens": 1}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
               "model": REQUEST["model"], "stop_reason": None, "stop_sequence": None,
               "usage": usage}  # fmt: skip
    parts = [
        _sse("message_start", {"type": "message_start", "message": message}),
        _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
    ]  # fmt: skip
    for i in range(tokens):
        delta = {"type": "text_delta", "text": f"w{i} "}
        parts.append(_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": delta}))  # fmt: skip
    parts += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": tokens}}),
        _sse("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return b"".join(parts)


def _handler(body: bytes, response_class: type) -> Callable:
    # 16 KiB chunks, about what a socket read returns when tokens queue up.
    chunks = [body[i : i + 16384] for i in range(0, len(body), 16384)]

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    def handle(request: object) -> object:
        return response_class(200, headers={"content-type": "text/event-stream"}, content=stream())

    return handle


async def ours(body: bytes) -> int:
    transport = httpx.MockTransport(_handler(body, httpx.Response))
    config = ClientConfig(base_url="http://upstream.test", api_key="sk-ant-bench")
    async with AnthropicClient(config, transport=transport) as client:
        accumulator, count = MessageAccumulator(), 0
        async for event in client.stream(REQUEST):
            accumulator.feed(event)  # the runner feeds every event to one
            count += 1
    return count


def _sdk(body: bytes):
    import anthropic
    import httpx2

    transport = httpx2.MockTransport(_handler(body, httpx2.Response))
    return anthropic.AsyncAnthropic(
        api_key="sk-ant-bench",
        base_url="http://upstream.test",
        http_client=httpx2.AsyncClient(transport=transport),
    )


async def sdk_raw(body: bytes) -> int:
    """`messages.create(stream=True)`: the SDK's typed events, without a snapshot."""
    count = 0
    async with _sdk(body) as client:
        async for _event in await client.messages.create(**REQUEST, stream=True):
            count += 1
    return count


async def sdk_stream(body: bytes) -> int:
    """`messages.stream()`: typed events plus the running message snapshot."""
    count = 0
    async with _sdk(body) as client:
        async with client.messages.stream(**REQUEST) as stream:
            async for _event in stream:
                count += 1
    return count


def measure(reader: Callable[[bytes], Awaitable[int]], body: bytes) -> tuple[float, float]:
    """Best and median CPU microseconds per upstream event over ROUNDS streams.

    Per event on the wire, not per object yielded: `messages.stream()` also yields a text
    event for each text delta.
    """
    wire_events = body.count(b"\n\n")
    per_event = []
    for _ in range(ROUNDS):
        began = time.process_time()
        yielded = asyncio.run(reader(body))
        per_event.append((time.process_time() - began) / wire_events * 1e6)
        assert yielded >= wire_events, f"{reader.__name__} yielded {yielded} of {wire_events}"
    return min(per_event), statistics.median(per_event)


def main() -> None:
    body = transcript(TOKENS)
    readers = {"ours (httpx + httpx-sse)": ours}
    try:
        import anthropic

        print(f"anthropic {anthropic.__version__}")
        readers |= {"SDK create(stream=True)": sdk_raw, "SDK messages.stream()": sdk_stream}
    except ImportError:
        print("anthropic is not installed: measuring ours only", file=sys.stderr)
    print(f"{TOKENS} text deltas per stream, best and median of {ROUNDS} (CPU µs per event)")
    for name, reader in readers.items():
        best, median = measure(reader, body)
        print(f"{name:28} {best:7.1f} {median:7.1f}")


if __name__ == "__main__":
    main()
