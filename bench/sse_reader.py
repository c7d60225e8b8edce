"""Micro-benchmark: CPU per 1000 tokens of httpx-sse against the raw-bytes SSE reader.

`python -m bench.sse_reader [--tokens 1000] [--repeats 30]` records one streamed reply from the
fake upstream (the bytes as the app reads them), then reads that transcript again and again
through an httpx response, as conversations/anthropic/client.py does, with each reader, each
event decoded by the app's EventDecoder. The socket, h11 and the event loop's wake-ups cost the
same for both and are left out; what differs is what runs between httpx's bytes and the event.
Pieces: one event per socket read (tokens arriving one by one, the common case at low load),
four (the runner's read pause), and the transcript cut every 1,400 bytes (a loaded server).
"""

import argparse
import asyncio
import time

import httpx
from httpx_sse import EventSource

from conversations.anthropic.events import BlockDelta, EventDecoder
from conversations.anthropic.sse import SSEReader
from conversations.fake_upstream.server import FakeUpstream


def record(tokens: int) -> bytes:
    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 4096,
        "stream": True,
        "messages": [{"role": "user", "content": f"bench !tokens={tokens}"}],
    }
    with FakeUpstream(ttft=0, token_delay=0) as upstream:
        url = f"{upstream.base_url}/v1/messages"
        headers = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}
        with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
            return b"".join(response.iter_bytes())


def pieces(transcript: bytes, how: str) -> list[bytes]:
    if how == "bytes":
        return [transcript[i : i + 1400] for i in range(0, len(transcript), 1400)]
    per = 1 if how == "event" else 4
    events = [e + b"\n\n" for e in transcript.split(b"\n\n") if e]
    return [b"".join(events[i : i + per]) for i in range(0, len(events), per)]


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


def _response(chunks: list[bytes]) -> httpx.Response:
    headers = {"content-type": "text/event-stream"}
    return httpx.Response(200, headers=headers, stream=_Chunks(chunks))


async def read_httpx_sse(chunks: list[bytes]) -> int:
    decoder, deltas = EventDecoder(), 0
    async for sse in EventSource(_response(chunks)).aiter_sse():
        deltas += type(decoder.decode(sse.data, sse.event)) is BlockDelta
    return deltas


async def read_raw(chunks: list[bytes], raw: bool = False) -> int:
    decoder, deltas, reader = EventDecoder(), 0, SSEReader()
    response = _response(chunks)
    async for chunk in response.aiter_raw() if raw else response.aiter_bytes():
        for sse in reader.feed(chunk):
            deltas += type(decoder.decode(sse.data, sse.event)) is BlockDelta
    return deltas


async def decode_only(chunks: list[bytes]) -> int:
    """The floor of any reader: the app's one json.loads per event, no SSE parsing at all."""
    decoder, deltas = EventDecoder(), 0
    for block in b"".join(chunks).split(b"\n\n"):  # a C-speed join: not the reader's work
        _, _, data = block.rpartition(b"data: ")
        if data:
            deltas += type(decoder.decode(data.decode())) is BlockDelta
    return deltas


READERS = {
    "httpx-sse (as shipped)": read_httpx_sse,
    "raw reader on aiter_bytes()": read_raw,
    "raw reader on aiter_raw()": lambda chunks: read_raw(chunks, raw=True),
    "json.loads alone (no SSE parsing)": decode_only,
}


async def measure(reader, chunks: list[bytes], repeats: int) -> tuple[float, int]:
    """CPU ms per 1000 tokens: the best of five rounds of `repeats` reads (least disturbed)."""
    deltas = await reader(chunks)  # warm-up, and the token count
    best = float("inf")
    for _ in range(5):
        cpu = time.process_time()
        for _ in range(repeats):
            await reader(chunks)
        best = min(best, (time.process_time() - cpu) / repeats)
    return best * 1000 / deltas * 1000, deltas


async def run(tokens: int, repeats: int) -> list[str]:
    transcript = record(tokens)
    lines = [
        f"Transcript: {tokens} tokens, {len(transcript):,} bytes. CPU ms per 1000 tokens "
        f"(best of 5 × {repeats} reads), the SSE layers only:",
        "",
        "| reader | one event per read | four per read | 1,400-byte reads |",
        "|---|---:|---:|---:|",
    ]
    for name, reader in READERS.items():
        cells = []
        for how in ("event", "four", "bytes"):
            per_1k, deltas = await measure(reader, pieces(transcript, how), repeats)
            assert deltas == tokens, f"{name} read {deltas} of {tokens} deltas"
            cells.append(f"{per_1k:.1f}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sse_reader", description=__doc__)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    print("\n".join(asyncio.run(run(args.tokens, args.repeats))))


if __name__ == "__main__":
    main()
