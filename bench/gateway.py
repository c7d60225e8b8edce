"""`python -m bench --gateway`: what the gateway adds to a stream, against the upstream directly.

One Daphne on SQLite and the fake upstream, as the main benchmark starts them; a member with a
personal key (`create_api_key`). N concurrent streams (default 100) go straight to the fake
upstream, then N through chatsite's `/v1/messages`, all started at once, each `--tokens`
deltas long. Reported: time to first event (the first SSE bytes a client reads) at p50 and p99
for both and their difference, and the server's CPU (from /proc around the run) per 1000
tokens passed through. Bytes are checked too: every stream through the gateway must end with
`message_stop`.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from . import stack

MODEL = "claude-sonnet-4-5-20250929"


async def one_stream(http: httpx.AsyncClient, url: str, headers: dict, tokens: int) -> dict:
    body = {
        "model": MODEL,
        "max_tokens": tokens + 10,
        "stream": True,
        "messages": [{"role": "user", "content": f"!tokens={tokens}"}],
    }
    t0 = time.perf_counter()
    first, received = None, bytearray()
    async with http.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            if first is None:
                first = time.perf_counter() - t0
            received += chunk
    return {
        "ttfe": first,
        "complete": b"event: message_stop" in received,
        "deltas": received.count(b"event: content_block_delta"),
    }


async def run(url: str, headers: dict, n: int, tokens: int) -> list[dict]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        return await asyncio.gather(*(one_stream(http, url, headers, tokens) for _ in range(n)))


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(server_pid: int, base_url: str, upstream_url: str, key: str, args) -> dict:
    version = {"anthropic-version": "2023-06-01"}
    direct_headers = {**version, "x-api-key": "sk-ant-bench"}
    gateway_headers = {**version, "x-api-key": key}
    # Warm-up: lazy imports, the upstream pool, the first database connections.
    asyncio.run(run(base_url + "/v1/messages", gateway_headers, 4, 10))
    rounds = {"direct": [], "gateway": [], "cpu": [], "tokens": []}
    for _ in range(args.rounds):
        rounds["direct"] += asyncio.run(
            run(upstream_url + "/v1/messages", direct_headers, args.streams, args.tokens)
        )
        time.sleep(0.5)
        cpu0 = stack.cpu_seconds(server_pid)
        through = asyncio.run(
            run(base_url + "/v1/messages", gateway_headers, args.streams, args.tokens)
        )
        time.sleep(0.5)  # the settlements after the last bytes
        rounds["cpu"].append(stack.cpu_seconds(server_pid) - cpu0)
        rounds["tokens"].append(sum(s["deltas"] for s in through))
        rounds["gateway"] += through
    incomplete = sum(not s["complete"] for s in rounds["gateway"] + rounds["direct"])
    direct = [s["ttfe"] * 1000 for s in rounds["direct"]]
    gateway = [s["ttfe"] * 1000 for s in rounds["gateway"]]
    return {
        "streams": args.streams,
        "tokens": args.tokens,
        "rounds": args.rounds,
        "incomplete": incomplete,
        "direct_p50": statistics.median(direct),
        "direct_p99": quantile(direct, 0.99),
        "gateway_p50": statistics.median(gateway),
        "gateway_p99": quantile(gateway, 0.99),
        "cpu_ms_per_1000_tokens": 1000 * sum(rounds["cpu"]) / (sum(rounds["tokens"]) / 1000),
        "cpu_seconds": rounds["cpu"],
    }


def render(r: dict) -> str:
    added50, added99 = r["gateway_p50"] - r["direct_p50"], r["gateway_p99"] - r["direct_p99"]
    lines = [
        f"## Gateway pass-through: {r['streams']} concurrent streams of {r['tokens']} tokens",
        "",
        f"{r['rounds']} rounds; the same streams straight to the fake upstream, then "
        "through `/v1/messages` with a personal key (one Daphne, SQLite). Time to first "
        "event: from sending the request to the first SSE bytes read. Server CPU from /proc "
        f"around each round (its settlements included). Incomplete: {r['incomplete']}.",
        "",
        "| | time to first event, p50 | p99 | server CPU per 1000 tokens |",
        "|---|---|---|---|",
        f"| fake upstream directly | {r['direct_p50']:.1f} ms | {r['direct_p99']:.1f} ms | |",
        f"| through the gateway | {r['gateway_p50']:.1f} ms | {r['gateway_p99']:.1f} ms "
        f"| {r['cpu_ms_per_1000_tokens']:.1f} ms |",
        f"| added by the gateway | {added50:+.1f} ms | {added99:+.1f} ms | |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from .__main__ import RESULTS, log, manage, server_env

    parser = argparse.ArgumentParser(prog="python -m bench --gateway")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--token-delay-ms", type=float, default=10.0)
    parser.add_argument("--out", default=str(RESULTS / "gateway.md"))
    args = parser.parse_args(argv)
    with ExitStack() as stack_:
        workdir = Path(stack_.enter_context(tempfile.TemporaryDirectory(prefix="chatsite-gw-")))
        upstream, upstream_url = stack.fake_upstream(workdir, args.ttft_ms, args.token_delay_ms)
        stack_.callback(upstream.stop)
        env = server_env(workdir / "data", workdir / "static", upstream_url)
        # A script's load, not a person's: no per-key or per-member caps in the way.
        env.update(
            GATEWAY_REQUESTS_PER_MINUTE="0",
            GATEWAY_CONCURRENT_STREAMS="0",
            CHAT_MAX_CONCURRENT_REPLIES="0",
        )
        log("gateway: collectstatic, migrate, a member and a key")
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        manage(
            env, "shell", "-c", "from accounts.models import User; User.objects.create_user('gw')"
        )
        key = manage(env, "create_api_key", "gw", "--name", "bench").strip()
        server, base_url = stack.daphne(env, workdir, 0)
        stack_.callback(server.stop)
        log(f"gateway: {args.rounds} rounds of {args.streams} streams (server pid {server.pid})")
        result = measure(server.pid, base_url, upstream_url, key, args)
    text = render(result)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    return 1 if result["incomplete"] else 0
