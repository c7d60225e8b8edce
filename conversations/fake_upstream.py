"""A loopback HTTP/1.1 server that speaks the Anthropic Messages API, with scripted replies."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import secrets
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

DEMO_MODEL = "chatsite-demo"
MODELS = [
    (DEMO_MODEL, "Chatsite demo (fake upstream, no API key)", "2025-01-01T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
]
FAULT_AFTER = 5  # content deltas sent before error_mid / drop / hang strike
PING_EVERY = 50  # deltas between pings, like the real API's keep-alive pings
YIELD_EVERY = 16  # with no token delay, give other streams a turn this often
HANG_SECONDS = 120.0
_HEADER_LIMIT = 1 << 20
_REASONS = {s: HTTPStatus(s).phrase for s in (200, 400, 401, 404, 429, 500)} | {529: "Overloaded"}
_STATUS_FAULTS = {
    "529": (529, "overloaded_error", "Overloaded"),
    "500": (500, "api_error", "Internal server error"),
    "401": (401, "authentication_error", "invalid x-api-key"),
    "400": (400, "invalid_request_error", "Scripted bad request (!fault=400)"),
    "404": (404, "not_found_error", "model: the requested model is retired"),
}
_DIRECTIVE = re.compile(r"(?:^|(?<=\s))!([a-z_]+)(?:=(\S+))?")
_PIECE = re.compile(r"\s*\S+\s*|\s+")
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_DELTA_FIELD = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "input_json_delta": "partial_json",
}
_TERMINATOR = b"0\r\n\r\n"


class _ClientGone(Exception):
    """The client closed the connection; the stream just ends."""


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
    """A deterministic stand-in for the tokenizer: a quarter of the characters sent."""
    chars = len(text_of(body.get("system", "")))
    chars += sum(len(text_of(m.get("content", ""))) for m in body.get("messages", []))
    return max(1, chars // 4)


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


def plan_reply(body: dict, ttft: float, delay: float) -> Reply:
    """Turn a validated request body into the scripted reply, already cut to max_tokens."""
    user_msgs = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    user_text = text_of(user_msgs[-1].get("content", "")) if user_msgs else ""
    d = parse_directives(user_text)
    blocks = []
    if "thinking" in d:
        thoughts = "Let me think about this step by step. The user wants a scripted answer."
        blocks.append(Block("thinking", split_words(thoughts), signature="ZmFrZS1zaWduYXR1cmU="))
    blocks.append(Block("text", _text_pieces(d, _reply_text(d, user_text))))
    if "tool" in d:
        args = ['{"city": ', '"Tokyo", ', '"unit": ', '"celsius"}']
        blocks.append(Block("tool_use", args, tool_id="toolu_fake_1", tool_name="get_weather"))
    budget = int(body["max_tokens"])
    total = sum(len(b.pieces) for b in blocks)
    stop_reason = "tool_use" if "tool" in d else "end_turn"
    if total > budget or "maxtokens" in d:
        stop_reason, blocks = "max_tokens", _truncate(blocks, budget)
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
    )


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
        "stop_sequence": None,
        "usage": reply.usage,
    }


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def sse_chunk(event: str, data: dict) -> bytes:
    """One SSE event framed as one HTTP chunk, ready for a single write."""
    return _chunk(b"event: %b\ndata: %b\n\n" % (event.encode(), _DUMPS(data).encode()))


def _delta_prefix(index: int, delta_type: str) -> bytes:
    # Everything but the piece itself is pre-encoded once per block: the per-delta cost is
    # then one string dumps plus a few bytes concatenations.
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
        b'"delta":{"type":"%b","%b":'
        % (index, delta_type.encode(), _DELTA_FIELD[delta_type].encode())
    )


def _block_start(index: int, b: Block) -> dict:
    if b.kind == "thinking":
        start: dict = {"type": "thinking", "thinking": "", "signature": ""}
    elif b.kind == "tool_use":
        start = {"type": "tool_use", "id": b.tool_id, "name": b.tool_name, "input": {}}
    else:
        start = {"type": "text", "text": ""}
    return {"type": "content_block_start", "index": index, "content_block": start}


_PING = sse_chunk("ping", {"type": "ping"})
_DELTA_TYPES = {"text": "text_delta", "thinking": "thinking_delta", "tool_use": "input_json_delta"}
_ROUTES = {("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"), ("GET", "/v1/models")}
_STREAM_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "transfer-encoding": "chunked",
}


class _Stream:
    """Writes chunks to one client, noticing when it has gone away."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer, self.sent = writer, 0

    async def emit(self, data: bytes) -> None:
        # Writing to a closed transport only logs warnings; stop the stream instead.
        if self.writer.transport.is_closing():
            raise _ClientGone
        self.writer.write(data)
        self.sent += 1
        if self.sent % YIELD_EVERY == 0:
            await self.writer.drain()
            await asyncio.sleep(0)  # drain() does not yield unless paused: let others run

    async def pause(self, seconds: float) -> None:
        if seconds > 0:
            await self.writer.drain()
            await asyncio.sleep(seconds)


def _error_body(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


@dataclass
class _Request:
    """One parsed request plus the connection it arrived on."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    keep_alive: bool
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class FakeUpstream:
    """The fake Messages API server; `start()` runs it in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ttft: float = 0.05,
        token_delay: float = 0.01,
        api_key: str | None = None,
        verbose: bool = False,
    ) -> None:
        self.host, self.port, self.ttft, self.token_delay = host, port, ttft, token_delay
        self.api_key, self.verbose = api_key, verbose
        self.requests: list[dict] = []
        self._seen_bodies: dict[bytes, int] = {}  # for !fault=429once
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeUpstream:
        ready, failure = threading.Event(), []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.serve_forever(on_listening=ready.set))
            except Exception as exc:  # e.g. port in use: re-raised by start()
                failure.append(exc)
            finally:
                ready.set()
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread and self._thread.is_alive() and self._loop and self._stop_event:
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(10)

    async def serve_forever(self, on_listening: Callable[[], object] | None = None) -> None:
        self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=_HEADER_LIMIT
        )
        self.port = server.sockets[0].getsockname()[1]
        if on_listening:
            on_listening()
        try:
            await self._stop_event.wait()
        finally:
            # Server.close() leaves open connections alone (before 3.13), so end them here.
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while (req := await self._read_request(reader, w)) and await self._route(req):
                pass
        except (ConnectionError, _ClientGone, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away or we are shutting down: nothing to report
        except Exception:
            traceback.print_exc()  # a bug in this fake, not a client fault: make it visible
        finally:
            self._tasks.discard(task)
            w.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> _Request | None:
        """Parse one request (None at a clean close between requests) and record it."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = [*lines[0].split(" "), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if headers.get("expect", "").lower() == "100-continue":
            w.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits a second for this otherwise
        # Clients of this API send Content-Length bodies; chunked uploads are not worth parsing.
        raw = await reader.readexactly(int(headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = target.split("?", 1)[0]  # SDKs may add ?beta=true
        record = {"method": method, "path": path, "headers": headers, "body": body}
        if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
            record["user_id"] = body["metadata"].get("user_id")
        self.requests.append(record)  # list.append is atomic: tests read it from their thread
        if self.verbose:
            print(f"fake_upstream: {method} {target}", file=sys.stderr, flush=True)
        return _Request(method, path, headers, raw, body, keep, reader, w)

    async def _route(self, req: _Request) -> bool:
        """Answer one request; returns whether the connection stays open."""
        if (req.method, req.path) not in _ROUTES and not (
            req.method == "GET" and req.path.startswith("/v1/models/")
        ):
            return await self._error(req, 404, "not_found_error", f"Not found: {req.path}")
        key = req.headers.get("x-api-key", "")
        if not key:
            return await self._error(req, 401, "authentication_error", "x-api-key is required")
        if self.api_key is not None and key != self.api_key:
            return await self._error(req, 401, "authentication_error", "invalid x-api-key")
        if not req.headers.get("anthropic-version"):
            msg = "anthropic-version: header is required"
            return await self._error(req, 400, "invalid_request_error", msg)
        if req.method == "GET":
            return await self._models(req)
        counting = req.path.endswith("/count_tokens")
        problem = _validate(req.body, counting=counting)
        if problem:
            return await self._error(req, 400, "invalid_request_error", problem)
        if counting:
            return await self._json(req, 200, {"input_tokens": count_input_tokens(req.body)})
        return await self._messages(req)

    async def _models(self, req: _Request) -> bool:
        data = [
            {"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in MODELS
        ]
        if req.path == "/v1/models":
            ends = {"first_id": data[0]["id"], "last_id": data[-1]["id"]}
            return await self._json(req, 200, {"data": data, "has_more": False, **ends})
        model_id = req.path.removeprefix("/v1/models/")
        for model in data:
            if model["id"] == model_id:
                return await self._json(req, 200, model)
        return await self._error(req, 404, "not_found_error", f"model: {model_id}")

    async def _messages(self, req: _Request) -> bool:
        reply = plan_reply(req.body, self.ttft, self.token_delay)
        if reply.fault == "429once":
            # Keyed by the raw body, so a client's retry of the same request succeeds.
            digest = hashlib.sha256(req.raw).digest()
            self._seen_bodies[digest] = self._seen_bodies.get(digest, 0) + 1
            if self._seen_bodies[digest] == 1:
                retry = {"retry-after": "0", "retry-after-ms": "10"}
                msg = "Rate limited (!fault=429once)"
                return await self._error(req, 429, "rate_limit_error", msg, retry)
        if reply.fault in _STATUS_FAULTS:
            return await self._error(req, *_STATUS_FAULTS[reply.fault])
        msg_id = f"msg_fake_{secrets.token_hex(12)}"
        if req.body.get("stream") is True:
            return await self._stream(req, reply, msg_id)
        if reply.fault == "drop":
            return False  # the connection closes without any response
        if reply.fault == "hang":
            await _wait_for_disconnect(req.reader)
            return False
        if reply.fault == "error_mid":  # no stream to break: fail the way the event would
            return await self._error(req, 529, "overloaded_error", "Overloaded")
        return await self._json(req, 200, message_json(reply, req.body["model"], msg_id))

    async def _stream(self, req: _Request, reply: Reply, msg_id: str) -> bool:
        req.writer.write(self._head(req, 200, _STREAM_HEADERS))
        out = _Stream(req.writer)
        start = message_json(reply, req.body["model"], msg_id)
        start.update(content=[], stop_reason=None, usage=reply.usage | {"output_tokens": 1})
        await out.emit(sse_chunk("message_start", {"type": "message_start", "message": start}))
        await out.emit(_PING)
        deltas, fault_at = 0, min(FAULT_AFTER, reply.usage["output_tokens"])
        for index, block in enumerate(reply.blocks):
            await out.emit(sse_chunk("content_block_start", _block_start(index, block)))
            prefix = _delta_prefix(index, _DELTA_TYPES[block.kind])
            for piece in block.pieces:
                await out.pause(reply.ttft if deltas == 0 else reply.delay)
                await out.emit(_chunk(b"%b%b}}\n\n" % (prefix, _DUMPS(piece).encode())))
                deltas += 1
                if deltas == fault_at and reply.fault in ("error_mid", "drop", "hang"):
                    return await self._fault_mid_stream(req, out, reply.fault)
                if deltas % PING_EVERY == 0:
                    await out.emit(_PING)
            if block.signature:
                sig = {"type": "signature_delta", "signature": block.signature}
                delta = {"type": "content_block_delta", "index": index, "delta": sig}
                await out.emit(sse_chunk("content_block_delta", delta))
            stop = {"type": "content_block_stop", "index": index}
            await out.emit(sse_chunk("content_block_stop", stop))
        end = {"stop_reason": reply.stop_reason, "stop_sequence": None}
        delta = {"type": "message_delta", "delta": end, "usage": reply.usage}
        await out.emit(sse_chunk("message_delta", delta))
        await out.emit(sse_chunk("message_stop", {"type": "message_stop"}))
        await out.emit(_TERMINATOR)
        await req.writer.drain()
        return req.keep_alive

    async def _fault_mid_stream(self, req: _Request, out: _Stream, fault: str) -> bool:
        if fault == "error_mid":
            await out.emit(sse_chunk("error", _error_body("overloaded_error", "Overloaded")))
            await out.emit(_TERMINATOR)  # the HTTP body ends cleanly; the reply does not
            await req.writer.drain()
            return req.keep_alive
        await req.writer.drain()
        if fault == "hang":
            await _wait_for_disconnect(req.reader)
        return False  # the caller closes the socket with no terminating chunk: a "drop"

    def _head(self, req: _Request, status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"request-id: req_fake_{next(self._ids):012x}")
        lines.append("connection: " + ("keep-alive" if req.keep_alive else "close"))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _json(
        self, req: _Request, status: int, data: dict, extra: dict[str, str] | None = None
    ) -> bool:
        payload = _DUMPS(data).encode()
        headers = {"content-type": "application/json", "content-length": str(len(payload))}
        req.writer.write(self._head(req, status, headers | (extra or {})) + payload)
        await req.writer.drain()
        return req.keep_alive

    async def _error(
        self, req: _Request, status: int, kind: str, message: str, extra: dict | None = None
    ) -> bool:
        return await self._json(req, status, _error_body(kind, message), extra)


def _validate(body: Any, *, counting: bool) -> str | None:
    if not isinstance(body, dict):
        return "The request body is not valid JSON"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if not all(isinstance(m, dict) and m.get("role") in ("user", "assistant") for m in messages):
        return "messages: each message needs a role of user or assistant"
    max_tokens = body.get("max_tokens")
    if not counting and (not isinstance(max_tokens, int) or max_tokens < 1):
        return "max_tokens: Field required (a positive integer)"
    return None


async def _wait_for_disconnect(reader: asyncio.StreamReader) -> None:
    """Send nothing until the client gives up (EOF) or HANG_SECONDS pass."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HANG_SECONDS):
            while await reader.read(65536):
                pass


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `python -m conversations.fake_upstream` and `manage.py fake_upstream`."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="time to first token")
    parser.add_argument("--token-delay-ms", type=float, default=10.0, help="delay per delta")
    parser.add_argument("--api-key", default=None, help="require this x-api-key (default: any)")
    parser.add_argument("--verbose", action="store_true", help="log one line per request")


def run(
    host: str,
    port: int,
    ttft_ms: float,
    token_delay_ms: float,
    api_key: str | None = None,
    verbose: bool = False,
) -> None:
    """Run a server in the foreground until interrupted."""
    ttft, delay = ttft_ms / 1000, token_delay_ms / 1000
    server = FakeUpstream(
        host, port, ttft=ttft, token_delay=delay, api_key=api_key, verbose=verbose
    )

    def announce() -> None:
        print(f"Fake Anthropic upstream (demo model {DEMO_MODEL}) on {server.base_url}", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve_forever(on_listening=announce))


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m conversations.fake_upstream`."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_cli_arguments(parser)
    args = parser.parse_args(argv)
    run(args.host, args.port, args.ttft_ms, args.token_delay_ms, args.api_key, args.verbose)


if __name__ == "__main__":
    main()
