"""The load client: N users' WebSockets and the direct-upstream baseline, in its own process.

Driven by bench.__main__ over stdin/stdout, one JSON object per line, so that the parent can
read the server's CPU and database counters exactly between "ready" and "done". Each command
answers with one line; `streams` answers twice ({"ready": true} after every socket is open,
then the results after {"cmd": "go"}).
"""

import asyncio
import contextlib
import itertools
import json
import resource
import sys
import time

from websockets.asyncio.client import connect

CONNECT_CONCURRENCY = 64
_ids = itertools.count(1)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Client:
    def __init__(self, spec: dict) -> None:
        self.servers: list[str] = spec["servers"]
        self.upstream: str = spec["upstream"]
        self.cookies: list[str] = spec["cookies"]
        self.tokens: int = spec["tokens"]
        self.timeout: float = spec.get("timeout", 120.0)
        # Sends start spread evenly over `ramp` seconds and each socket sends `rounds` replies
        # back to back: N sockets then hold about N streams at once in steady state.
        self.ramp: float = spec.get("ramp", 0.0)
        self.rounds: int = spec.get("rounds", 1)
        self.idle: list = []

    def _target(self, i: int) -> tuple[str, str]:
        server = self.servers[i % len(self.servers)]
        return server.replace("http://", "ws://") + "/ws/chat/", server

    async def _open(self, i: int, cookie: str, sem: asyncio.Semaphore | None):
        url, origin = self._target(i)
        async with sem or contextlib.nullcontext():
            return await connect(
                url,
                origin=origin,
                additional_headers={"Cookie": cookie},
                ping_interval=None,
                open_timeout=60,
                max_size=2**22,
            )

    async def open_many(
        self, n: int, *, at_once: bool = False, first: int = 0
    ) -> tuple[list, list[str]]:
        """Open n sockets, at most CONNECT_CONCURRENCY handshakes at a time unless `at_once`."""
        sem = None if at_once else asyncio.Semaphore(CONNECT_CONCURRENCY)
        # Socket i belongs to user i (streams) or cycles through the users (idle sockets).
        cookies = self.cookies
        tasks = [self._open(i, cookies[i % len(cookies)], sem) for i in range(first, first + n)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        sockets = [r for r in results if not isinstance(r, BaseException)]
        errors = [f"connect: {r!r}"[:200] for r in results if isinstance(r, BaseException)]
        return sockets, errors

    # -- the app ------------------------------------------------------------------------

    async def streams(self, n: int, go: asyncio.Future) -> dict:
        sockets, errors = await self.open_many(n)
        extensions = sorted(
            {str(getattr(e, "name", e)) for ws in sockets[:1] for e in ws.protocol.extensions}
        )
        _emit({"ready": True, "open": len(sockets)})
        await go
        cpu0, t0 = _cpu(), time.perf_counter()
        offsets = [self.ramp * i / max(1, len(sockets)) for i in range(len(sockets))]
        pairs = zip(sockets, offsets, strict=True)
        rounds = await asyncio.gather(*(self._rounds(ws, o) for ws, o in pairs))
        results = [r for per_socket in rounds for r in per_socket]
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        ttfd = [r["ttfd"] for r in results if r["ttfd"] is not None]
        gaps = [g for r in results for g in r["gaps"]]
        created = [r["created"] for r in results if r["created"] is not None]
        errors += [r["error"] for r in results if r["error"]]
        return {
            "n": n,
            "replies": len(results),
            "ttfd_p50": _percentile(ttfd, 50),
            "ttfd_p99": _percentile(ttfd, 99),
            "created_p50": _percentile(created, 50),
            "created_p99": _percentile(created, 99),
            "gap_p50": _percentile(gaps, 50),
            "gap_p99": _percentile(gaps, 99),
            "frames": sum(r["frames"] for r in results),
            "tokens": sum(r["tokens"] for r in results),
            "errors": len(errors),
            "error_samples": errors[:5],
            "wall": wall,
            "client_cpu": cpu,
            "extensions": extensions,
        }

    async def _rounds(self, ws, offset: float) -> list[dict]:
        await asyncio.sleep(offset)
        out = []
        for _ in range(self.rounds):
            out.append(await self._one(ws))
            if out[-1]["error"]:
                break
        return out

    async def _one(self, ws) -> dict:
        out = {"ttfd": None, "created": None, "gaps": [], "frames": 0, "tokens": 0, "error": None}
        client_id = f"bench-{next(_ids)}"
        frame = {
            "type": "send",
            "conversation": None,
            "text": f"bench !tokens={self.tokens}",
            "attachments": [],
            "client_id": client_id,
        }
        text: list[str] = []
        try:
            async with asyncio.timeout(self.timeout):
                sent = time.perf_counter()
                await ws.send(json.dumps(frame))
                last = None
                async for raw in ws:
                    now = time.perf_counter()
                    data = json.loads(raw)
                    kind = data.get("type")
                    if kind == "message.delta":
                        out["frames"] += 1
                        text.append(data["text"])
                        if last is None:
                            out["ttfd"] = (now - sent) * 1000
                        else:
                            out["gaps"].append((now - last) * 1000)
                        last = now
                    elif kind == "message.created" and data["message"]["role"] == "assistant":
                        out["created"] = (now - sent) * 1000
                    elif kind == "message.completed":
                        words = len("".join(text).split())
                        if data.get("status") != "complete":
                            out["error"] = f"completed {data.get('status')}: {data.get('error')}"
                        elif words != self.tokens:
                            out["error"] = f"received {words} of {self.tokens} tokens"
                        return out
                    elif kind == "error":
                        out["error"] = f"error frame {data.get('code')}: {data.get('detail')}"
                        return out
                out["error"] = "socket closed before message.completed"
        except TimeoutError:
            out["error"] = f"no message.completed within {self.timeout}s"
        except Exception as exc:  # a benchmark reports failures, it does not stop on them
            out["error"] = repr(exc)[:200]
        finally:
            out["tokens"] = len("".join(text).split())  # streamed, even if it then failed
        return out

    # -- the baseline: the same fake upstream, directly -----------------------------------

    async def baseline(self, n: int) -> dict:
        cpu0, t0 = _cpu(), time.perf_counter()
        offsets = [self.ramp * i / max(1, n) for i in range(n)]
        rounds = await asyncio.gather(*(self._direct_rounds(o) for o in offsets))
        results = [r for per_stream in rounds for r in per_stream]
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        ttft = [r["ttft"] for r in results if r["ttft"] is not None]
        gaps = [g for r in results for g in r["gaps"]]
        errors = [r["error"] for r in results if r["error"]]
        return {
            "n": n,
            "ttft_p50": _percentile(ttft, 50),
            "ttft_p99": _percentile(ttft, 99),
            "gap_p99": _percentile(gaps, 99),
            "errors": len(errors),
            "error_samples": errors[:5],
            "wall": wall,
            "client_cpu": cpu,
        }

    async def _direct_rounds(self, offset: float) -> list[dict]:
        await asyncio.sleep(offset)
        return [await self._direct() for _ in range(self.rounds)]

    async def _direct(self) -> dict:
        """One streaming POST /v1/messages on a raw socket: cheaper to read than httpx."""
        out = {"ttft": None, "gaps": [], "error": None}
        host, port = self.upstream.removeprefix("http://").split(":")
        body = json.dumps(
            {
                "model": "claude-sonnet-4-5-20250929",
                "max_tokens": 4096,
                "stream": True,
                "messages": [{"role": "user", "content": f"bench !tokens={self.tokens}"}],
            }
        ).encode()
        head = (
            f"POST /v1/messages HTTP/1.1\r\nhost: {host}:{port}\r\nx-api-key: bench\r\n"
            "anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        writer = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(host, int(port))
                sent = time.perf_counter()
                writer.write(head + body)
                last, deltas = None, 0
                while line := await reader.readline():
                    if line.startswith(b"event: content_block_delta"):
                        now = time.perf_counter()
                        deltas += 1
                        if last is None:
                            out["ttft"] = (now - sent) * 1000
                        else:
                            out["gaps"].append((now - last) * 1000)
                        last = now
                    elif line.startswith(b"event: message_stop"):
                        break
                if deltas != self.tokens:
                    out["error"] = f"upstream sent {deltas} of {self.tokens} deltas"
        except Exception as exc:
            out["error"] = repr(exc)[:200]
        finally:
            if writer is not None:
                writer.close()
        return out

    # -- handshakes under load -------------------------------------------------------------

    async def handshakes(self, first: int, second: int, at_once: int) -> dict:
        """Handshake failures: `second` new sockets opened at once right after a burst of
        `first` sockets (opened at once) that each send one reply; then `at_once` sockets
        opened at once on the quiet server."""
        sockets, first_errors = await self.open_many(first, at_once=True)
        self.ramp, self.rounds = 0.0, 1
        sends = [asyncio.ensure_future(self._one(ws)) for ws in sockets]
        await asyncio.sleep(0)  # the sends are written before the next handshakes start
        more, second_errors = await self.open_many(second, at_once=True, first=first)
        replies = await asyncio.gather(*sends)
        await asyncio.gather(*(ws.close() for ws in sockets + more), return_exceptions=True)
        crowd, crowd_errors = await self.open_many(at_once, at_once=True)
        await asyncio.gather(*(ws.close() for ws in crowd), return_exceptions=True)
        reply_errors = [r["error"] for r in replies if r["error"]]
        return {
            "first_failed": len(first_errors),
            "second_failed": len(second_errors),
            "at_once_failed": len(crowd_errors),
            "reply_errors": len(reply_errors),
            "error_samples": (first_errors + second_errors + crowd_errors + reply_errors)[:5],
        }

    def configure(self, command: dict) -> None:
        """Per-command overrides of the setup's reply length and timing pattern."""
        for key in ("tokens", "ramp", "rounds", "timeout"):
            if key in command:
                setattr(self, key, command[key])

    # -- idle sockets -------------------------------------------------------------------

    async def idle_open(self, n: int) -> dict:
        self.idle, errors = await self.open_many(n)
        return {"open": len(self.idle), "errors": len(errors), "error_samples": errors[:5]}

    async def idle_close(self) -> dict:
        await asyncio.gather(*(ws.close() for ws in self.idle), return_exceptions=True)
        count, self.idle = len(self.idle), []
        return {"closed": count}


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    client: Client | None = None
    while line := await reader.readline():
        command = json.loads(line)
        cmd = command["cmd"]
        if cmd == "setup":
            client = Client(command)
            _emit({"ok": True, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]})
        elif cmd == "baseline":
            client.configure(command)
            _emit(await client.baseline(command["n"]))
        elif cmd == "handshakes":
            _emit(await client.handshakes(command["first"], command["second"], command["n"]))
        elif cmd == "streams":
            client.configure(command)
            go = loop.create_future()
            task = asyncio.create_task(client.streams(command["n"], go))
            # Until "go" the only thing to read is that line; the task says "ready" first.
            while not go.done():
                if task.done():
                    break
                next_line = await reader.readline()
                if not next_line:
                    return
                if json.loads(next_line)["cmd"] == "go":
                    go.set_result(None)
            _emit(await task)
        elif cmd == "idle_open":
            _emit(await client.idle_open(command["n"]))
        elif cmd == "idle_close":
            _emit(await client.idle_close())
        elif cmd == "quit":
            _emit({"bye": True})
            return


if __name__ == "__main__":
    asyncio.run(_main())
