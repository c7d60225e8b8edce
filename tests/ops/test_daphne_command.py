"""Every way chatsite starts Daphne gives WebSocket handshakes 30 s, not Daphne's 5 (decision 99).

Under a burst of sends the session lookup of a new socket waits behind them on the database
thread; with Daphne's default connect timeout the bench lost every handshake of a burst of 200
new sockets (docs/performance.md, "Issue 14: what-ifs").
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def daphne_commands() -> list[str]:
    commands = [
        line
        for path in ("Makefile", "docs/deployment.md")
        for line in (ROOT / path).read_text().splitlines()
        if re.search(r"daphne\s+-", line)
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    commands += [line for line in dockerfile.splitlines() if '"daphne"' in line]
    return commands


def test_every_daphne_command_line_raises_the_websocket_connect_timeout() -> None:
    commands = daphne_commands()
    assert len(commands) >= 4  # make run, the Dockerfile, systemd, docker run
    for command in commands:
        assert re.search(r'--websocket_connect_timeout"?,?\s*"?30\b', command), command
