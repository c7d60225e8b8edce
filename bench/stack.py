"""The processes a bench run starts (fake upstream, Redis, PostgreSQL, Daphne) and /proc probes."""

import os
import socket
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

from tests.pg import PostgresUnavailable, postgres_cluster

BASE_DIR = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_SECONDS = 60


_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port: from BENCH_PORTS ("18920-18999") when set, else any."""
    low, _, high = os.environ.get("BENCH_PORTS", "").partition("-")
    candidates = range(int(low), int(high or low) + 1) if low else [0]
    for port in candidates:
        if port in _handed_out:
            continue  # given to a process that may not listen yet
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = sock.getsockname()[1]
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak resident set) of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0])
    return {"rss": out.get("VmRSS", 0), "hwm": out.get("VmHWM", 0)}


class Process:
    """A child process we started, stopped by its own PID only."""

    def __init__(self, name: str, command: list[str], log: Path, **kwargs) -> None:
        self.name, self.log_path = name, log
        with log.open("w") as out:
            self.popen = subprocess.Popen(
                command, cwd=BASE_DIR, stdout=out, stderr=subprocess.STDOUT, **kwargs
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_port(self, port: int) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on {port} in {START_SECONDS}s")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def fake_upstream(workdir: Path, ttft_ms: float, token_delay_ms: float) -> tuple[Process, str]:
    port = free_port()
    command = [PYTHON, "-m", "conversations.fake_upstream", "--port", str(port)]
    command += ["--ttft-ms", str(ttft_ms), "--token-delay-ms", str(token_delay_ms)]
    process = Process("fake upstream", command, workdir / "upstream.log")
    process.wait_port(port)
    return process, f"http://127.0.0.1:{port}"


def redis(workdir: Path) -> tuple[Process, str]:
    port = free_port()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port)]
    command += ["--save", "", "--appendonly", "no", "--maxclients", "10000"]
    process = Process("redis", command, workdir / "redis.log")
    process.wait_port(port)
    return process, f"redis://127.0.0.1:{port}/0"


# As `make run` passes it (decision 99).
CONNECT_TIMEOUT = "--websocket_connect_timeout 30"


def daphne(
    env: dict[str, str], workdir: Path, index: int, extra: str = CONNECT_TIMEOUT
) -> tuple[Process, str]:
    """Daphne as `make run` starts it, with a raised open-file limit (1,000 idle sockets)."""
    port = free_port()
    daphne_bin = Path(PYTHON).with_name("daphne")
    script = (
        'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; '
        f'exec "{daphne_bin}" -b 127.0.0.1 -p {port} {extra} chatsite.asgi:application'
    )
    log = workdir / f"daphne-{index}.log"
    process = Process(f"daphne {index}", ["bash", "-c", script], log, env=env)
    process.wait_port(port)
    return process, f"http://127.0.0.1:{port}"


def floor(workdir: Path, upstream_url: str) -> tuple[Process, str]:
    """bench/floor.py, with the same raised open-file limit as Daphne."""
    port = free_port()
    script = (
        'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; '
        f'exec "{PYTHON}" -m bench.floor --port {port} --upstream {upstream_url}'
    )
    process = Process("floor", ["bash", "-c", script], workdir / "floor.log")
    process.wait_port(port)
    return process, f"http://127.0.0.1:{port}"


def postgres() -> AbstractContextManager[str]:
    """tests/pg.py's throwaway cluster, with pg_stat_statements loaded to count statements."""
    return postgres_cluster(
        (
            "-c shared_preload_libraries=pg_stat_statements",
            "-c pg_stat_statements.track=all",
            "-c max_connections=200",
        )
    )


__all__ = ["PostgresUnavailable", "Process", "cpu_seconds", "memory_kb", "postgres"]
