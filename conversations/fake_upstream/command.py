"""The fake upstream's command line, for `python -m` and `manage.py fake_upstream`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .script import DEMO_MODEL
from .server import FakeUpstream

DESCRIPTION = "A loopback server that speaks the Anthropic Messages API, with scripted replies."


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
    parser = argparse.ArgumentParser(
        prog="python -m conversations.fake_upstream", description=DESCRIPTION
    )
    add_cli_arguments(parser)
    args = parser.parse_args(argv)
    run(args.host, args.port, args.ttft_ms, args.token_delay_ms, args.api_key, args.verbose)
