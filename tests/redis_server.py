"""A throwaway Redis server on loopback for tests that need one (several workers, the limiter).

`redis_server()` starts redis-server on a free 127.0.0.1 port, without persistence, in a
temporary directory, yields its REDIS_URL, then stops it and deletes the directory.
"""

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.waiting import wait_until

START_SECONDS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(port: int, data_dir: Path) -> subprocess.Popen:
    """redis-server on 127.0.0.1:`port`, answering PING; fails the test if it cannot start."""
    redis = shutil.which("redis-server")
    if redis is None:
        pytest.fail("redis-server is missing: apt-get install redis-server")
    process = subprocess.Popen(
        [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers_ping() -> bool:
        probe = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        )
        return probe.stdout.strip() == "PONG"

    try:
        wait_until(answers_ping, START_SECONDS, every=0.1, what="redis-server to answer PING")
    except AssertionError:
        process.kill()
        raise
    return process


def stop_redis(process: subprocess.Popen) -> None:
    """End the server this test started, by its handle."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def redis_server() -> Iterator[str]:
    """A fresh Redis server for the duration of the block; yields its REDIS_URL."""
    data_dir = Path(tempfile.mkdtemp(prefix="chatsite-redis-"))
    port = _free_port()
    process = start_redis(port, data_dir)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_redis(process)
        shutil.rmtree(data_dir, ignore_errors=True)
