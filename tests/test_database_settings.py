"""The database settings: a PostgreSQL server that never answers fails a connect, not hangs it."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Settings as a worker loads them, then one connection attempt; prints how it ended.
CONNECT = """
import django, sys
django.setup()
from django.db import OperationalError, connection
print(connection.settings_dict["OPTIONS"].get("connect_timeout"))
try:
    connection.ensure_connection()
except OperationalError:
    print("failed")
"""


def _connect_to(port: int, **env: str) -> list[str]:
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DATABASE_URL": f"postgres://chatsite:x@127.0.0.1:{port}/chatsite",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", CONNECT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,  # the guard: without a connect timeout the attempt would wait for the OS
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_silent_postgres_server_fails_the_connect_after_the_timeout():
    # A socket that accepts the TCP handshake (its backlog) and never says a word: as a
    # database host behind a dead proxy or a full firewall queue looks to libpq.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        assert _connect_to(port, DATABASE_CONNECT_TIMEOUT="2") == ["2", "failed"]


def test_a_connect_timeout_in_the_url_wins():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        url = f"postgres://chatsite:x@127.0.0.1:{port}/chatsite?connect_timeout=1"
        assert _connect_to(port, DATABASE_URL=url) == ["1", "failed"]
