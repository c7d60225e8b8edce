"""The floor server: chatsite's /ws/chat/ frames for a text send, with no database, no Django.

What Python on this machine costs to stream a reply from the same fake upstream to a WebSocket:
`python -m bench.floor --port P --upstream URL`. It reads the upstream with chatsite's own client
(conversations/anthropic: httpx, httpx-sse, the same event decoder), so it pays the same upstream
reading costs, and coalesces deltas as the runner does (the first at once, then one frame per
`--coalesce-ms` window, with the same short pause after a token that had to be waited for). It
accepts any cookie and any Origin. Everything else chatsite does per send (the session, the
limiter, admission, the messages, the hold, checkpoints, the charge) is what the floor leaves
out: the difference between the two in one bench run is the price of those.
"""

import argparse
import asyncio
import itertools
import json
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from conversations.anthropic.client import AnthropicClient, ClientConfig
from conversations.anthropic.events import BlockDelta, MessageDelta, MessageStart

PATH = "/ws/chat/"
MODEL = "claude-sonnet-4-5-20250929"
MAX_TOKENS = 4096
# The runner's thresholds (conversations/runner.py): a read that waited longer than this found
# the socket empty, so the next read waits half a coalescing window for tokens to gather.
READ_WAIT_SECONDS = 0.002
_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def message_payload(
    message_id: int, conversation: int, role: str, text: str | None, *, status: str
) -> dict:
    """The `message` object of a `message.created` frame, in docs/protocol.md's shape."""
    content = [{"type": "text", "text": text}] if text is not None else []
    return {
        "id": message_id,
        "conversation": conversation,
        "parent": None,
        "versions": {"index": 0, "count": 1, "ids": [message_id]},
        "role": role,
        "status": status,
        "content": content,
        "model": MODEL if role == "assistant" else "",
        "seq": 0,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {},
        "cost": None,
        "error": None,
        "created_at": _now(),
        "attachments": [],
        "attachments_left_out": [],
        "max_tokens": MAX_TOKENS if role == "assistant" else None,
        "max_tokens_lowered": False,
    }


class Reply:
    """One streaming reply: its coalesced deltas go out on one socket."""

    def __init__(self, ws: ServerConnection, message_id: int, coalesce: float) -> None:
        self.ws, self.message_id, self.coalesce = ws, message_id, coalesce
        self.pending: list[str] = []
        self.text: list[str] = []
        self.seq = 0
        self.last_flush = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.flushing: asyncio.Future | None = None

    async def add(self, text: str) -> None:
        self.pending.append(text)
        if self.seq == 0 or time.monotonic() - self.last_flush >= self.coalesce:
            await self.flush()
        elif self.timer is None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.coalesce, self._flush_soon)

    def _flush_soon(self) -> None:
        self.timer = None
        self.flushing = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        text, self.pending = "".join(self.pending), []
        self.text.append(text)
        self.seq += 1
        frame = {
            "type": "message.delta",
            "message": self.message_id,
            "seq": self.seq,
            "block": 0,
            "kind": "text",
            "text": text,
        }
        await self.ws.send(json.dumps(frame))


class Floor:
    def __init__(self, upstream: AnthropicClient, coalesce: float) -> None:
        self.upstream, self.coalesce = upstream, coalesce
        self.tasks: set[asyncio.Task] = set()

    async def handler(self, ws: ServerConnection) -> None:
        async for raw in ws:
            try:
                frame = json.loads(raw)
            except ValueError:
                await ws.send(json.dumps({"type": "error", "code": "invalid", "detail": "JSON"}))
                continue
            if frame.get("type") != "send":
                continue  # the floor answers only what the load client sends
            task = asyncio.ensure_future(self.send(ws, frame))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def send(self, ws: ServerConnection, frame: dict) -> None:
        client_id, text = frame.get("client_id"), str(frame.get("text") or "")
        conversation = frame.get("conversation") or next(_ids)
        if frame.get("conversation") is None:
            created = {"id": conversation, "title": text[:50], "url": f"/c/{conversation}/"}
            out = {"type": "conversation.created", "conversation": created}
            await ws.send(json.dumps({**out, "client_id": client_id}))
        user_id, reply_id = next(_ids), next(_ids)
        for payload in (
            message_payload(user_id, conversation, "user", text, status="complete"),
            message_payload(reply_id, conversation, "assistant", None, status="streaming"),
        ):
            out = {"type": "message.created", "message": payload, "client_id": client_id}
            await ws.send(json.dumps(out))
        reply = Reply(ws, reply_id, self.coalesce)
        request = {
            "model": MODEL,
            "max_tokens": MAX_TOKENS,
            "messages": [{"role": "user", "content": text}],
        }
        status, error, stop_reason, usage = "complete", None, None, {}
        try:
            events = self.upstream.stream(request)
            while True:
                asked = time.monotonic()
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    break
                waited = time.monotonic() - asked
                if type(event) is BlockDelta and event.kind == "text":
                    await reply.add(event.text)
                    if waited > READ_WAIT_SECONDS and reply.seq:
                        await asyncio.sleep(self.coalesce / 2)
                elif type(event) in (MessageStart, MessageDelta):
                    usage = event.usage.as_dict()
                    stop_reason = getattr(event, "stop_reason", stop_reason)
        except Exception as exc:  # the client counts a failed reply; the floor keeps serving
            status, error = "failed", {"code": "upstream", "detail": repr(exc)[:200]}
        await reply.flush()
        completed = {
            "type": "message.completed",
            "message": reply_id,
            "status": status,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
            "cost": None,
            "error": error,
            "content": [{"type": "text", "text": "".join(reply.text)}],
            "seq": reply.seq,
            "max_tokens": MAX_TOKENS,
            "max_tokens_lowered": False,
        }
        await ws.send(json.dumps(completed))


def refuse_other_paths(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?")[0] != PATH:
        return connection.respond(404, "Not found\n")
    return None


async def serve_floor(
    port: int, upstream_url: str, coalesce: float, ready: Callable[[int], object] | None = None
) -> None:
    """Serve until cancelled (or SIGTERM); `ready(port)` once listening (port 0: any free)."""
    config = ClientConfig(base_url=upstream_url, api_key="sk-ant-floor", max_retries=0)
    async with AnthropicClient(config) as upstream:
        floor = Floor(upstream, coalesce)
        async with serve(
            floor.handler,
            "127.0.0.1",
            port,
            process_request=refuse_other_paths,
            ping_interval=None,
            max_size=2**22,
            compression=None,  # Daphne negotiates no permessage-deflate either
            server_header=None,
        ) as server:
            if ready is not None:
                ready(server.sockets[0].getsockname()[1])
            loop = asyncio.get_running_loop()
            stop = loop.create_future()
            if sys.platform != "win32":
                loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
            try:
                await stop
            finally:
                server.close()
                for task in list(floor.tasks):
                    task.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the fake upstream's base URL")
    parser.add_argument("--coalesce-ms", type=float, default=40.0, help="as STREAM_COALESCE")
    args = parser.parse_args(argv)
    asyncio.run(serve_floor(args.port, args.upstream, args.coalesce_ms / 1000))


if __name__ == "__main__":
    main()
