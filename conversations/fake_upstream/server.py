"""The fake upstream's HTTP/1.1 server: the Messages API on loopback, replies as scripted."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import secrets
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from . import media, script
from .cache import PromptCache
from .rules import parameter_problem
from .script import MODELS, Block, Reply, count_input_tokens, message_json

FAULT_AFTER = 5  # content deltas sent before error_mid / drop / hang strike
PING_EVERY = 50  # deltas between pings, like the real API's keep-alive pings
YIELD_EVERY = 16  # with no token delay, give other streams a turn this often
HANG_SECONDS = 120.0
MAX_REQUEST_BYTES = 32_000_000  # the Messages API's request size limit
_HEADER_LIMIT = 1 << 20
_REASONS = {s: HTTPStatus(s).phrase for s in (200, 400, 401, 404, 413, 429, 500)} | {
    529: "Overloaded"
}
_STATUS_FAULTS = {
    "529": (529, "overloaded_error", "Overloaded"),
    "500": (500, "api_error", "Internal server error"),
    "401": (401, "authentication_error", "invalid x-api-key"),
    "400": (400, "invalid_request_error", "Scripted bad request (!fault=400)"),
    "404": (404, "not_found_error", "model: the requested model is retired"),
}
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_DELTA_FIELD = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "input_json_delta": "partial_json",
}
_TERMINATOR = b"0\r\n\r\n"


class _ClientGone(Exception):
    """The client closed the connection; the stream just ends."""


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

    def __init__(self, writer: asyncio.StreamWriter, body: bytearray | None = None) -> None:
        self.writer, self.sent, self.body = writer, 0, body

    async def emit(self, data: bytes) -> None:
        # Writing to a closed transport only logs warnings; stop the stream instead.
        if self.writer.transport.is_closing():
            raise _ClientGone
        self.writer.write(data)
        if self.body is not None and data != _TERMINATOR:  # the chunk's payload, unframed
            self.body += data[data.index(b"\r\n") + 2 : -2]
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
    record: dict
    connection: dict


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
        record_bodies: bool = False,
    ) -> None:
        self.host, self.port, self.ttft, self.token_delay = host, port, ttft, token_delay
        self.api_key, self.verbose = api_key, verbose
        self.requests: list[dict] = []
        # With record_bodies, each request's record keeps the body bytes sent back
        # ("response", unframed): tests compare them with what a client received.
        self.record_bodies = record_bodies
        # One entry per closed connection: whether the client left mid-stream, after how many
        # content deltas (a proxy that stops the upstream call when its client leaves shows
        # here).
        self.connections: list[dict] = []
        self._seen_bodies: dict[bytes, int] = {}  # for !fault=429once
        # Prefixes written at cache_control breakpoints: usage reports reads and writes.
        self.prompt_cache = PromptCache()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def message_bodies(self) -> list[dict]:
        """The bodies of the Messages requests received so far, oldest first."""
        return [
            r["body"]
            for r in list(self.requests)
            if r["path"] == "/v1/messages" and isinstance(r["body"], dict)
        ]

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
        connection = {"streaming": False, "client_gone_mid_stream": False, "deltas": 0}
        try:
            while (req := await self._read_request(reader, w, connection)) and await self._route(
                req
            ):
                pass
        except (ConnectionError, _ClientGone, asyncio.IncompleteReadError):
            # The client went away: mid-stream, the reply stops being written here.
            connection["client_gone_mid_stream"] = connection["streaming"]
        except asyncio.CancelledError:
            pass  # shutting down: nothing to report
        except Exception:
            traceback.print_exc()  # a bug in this fake, not a client fault: make it visible
        finally:
            self._tasks.discard(task)
            w.close()
            self.connections.append(connection)

    async def _read_request(
        self, reader: asyncio.StreamReader, w: asyncio.StreamWriter, connection: dict
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
        if self.record_bodies:
            record["response"] = bytearray()
        self.requests.append(record)  # list.append is atomic: tests read it from their thread
        if self.verbose:
            print(f"fake_upstream: {method} {target}", file=sys.stderr, flush=True)
        return _Request(method, path, headers, raw, body, keep, reader, w, record, connection)

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
        if len(req.raw) > MAX_REQUEST_BYTES:
            msg = "Request exceeds the maximum allowed number of bytes."
            return await self._error(req, 413, "request_too_large", msg)
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
        reply = script.plan_reply(req.body, self.ttft, self.token_delay)
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
        if not reply.cache_scripted:
            input_tokens = reply.usage["input_tokens"]
            reply.usage |= self.prompt_cache.usage(req.body, input_tokens)
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
        out = _Stream(req.writer, req.record.get("response"))
        req.connection["streaming"] = True
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
                req.connection["deltas"] = deltas
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
        end = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
        delta = {"type": "message_delta", "delta": end, "usage": reply.usage}
        await out.emit(sse_chunk("message_delta", delta))
        await out.emit(sse_chunk("message_stop", {"type": "message_stop"}))
        await out.emit(_TERMINATOR)
        await req.writer.drain()
        req.connection["streaming"] = False
        return req.keep_alive

    async def _fault_mid_stream(self, req: _Request, out: _Stream, fault: str) -> bool:
        if fault == "error_mid":
            await out.emit(sse_chunk("error", _error_body("overloaded_error", "Overloaded")))
            await out.emit(_TERMINATOR)  # the HTTP body ends cleanly; the reply does not
            await req.writer.drain()
            req.connection["streaming"] = False
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
        if "response" in req.record:
            req.record["response"] += payload
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
    return media.validate(body) or (None if counting else parameter_problem(body))


async def _wait_for_disconnect(reader: asyncio.StreamReader) -> None:
    """Send nothing until the client gives up (EOF) or HANG_SECONDS pass."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HANG_SECONDS):
            while await reader.read(65536):
                pass
