"""A throwaway PostgreSQL cluster on loopback for tests that need the real server.

`postgres_cluster()` runs initdb into a temporary directory, starts the server on a free
127.0.0.1 port with trust authentication and no fsync, yields its DATABASE_URL, then stops it
(`pg_ctl stop -m immediate`) and deletes the directory. The server binaries refuse to run as
root, so under root (CI) they run as the `postgres` system user in a directory it owns.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BINARIES = ("initdb", "pg_ctl", "postgres")
SYSTEM_USER = "postgres"
START_ATTEMPTS = 3


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server could not be found or started: the test cannot run."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binaries() -> dict[str, str]:
    found = {name: shutil.which(name) for name in BINARIES}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise PostgresUnavailable(
            f"PostgreSQL server binaries not found on PATH: {', '.join(missing)}. "
            "Install the PostgreSQL server (e.g. apt-get install postgresql) and put its bin "
            "directory on PATH; the PostgreSQL tests need a real server."
        )
    return found  # type: ignore[return-value]


def _as_server_user() -> list[str]:
    """The command prefix that runs the server binaries as a non-root user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root, but runuser is missing to drop to postgres")
    try:
        import pwd

        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and there is no {SYSTEM_USER!r} system user to run the "
            "PostgreSQL server as (it refuses to run as root)"
        ) from None
    return ["runuser", "-u", SYSTEM_USER, "--"]


def _run(command: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise PostgresUnavailable(
            f"{what} failed (exit {done.returncode}): {' '.join(command)}\n"
            f"{done.stdout}\n{done.stderr}"
        )


@contextmanager
def postgres_cluster(options: tuple[str, ...] = ()) -> Iterator[str]:
    """Start a private PostgreSQL server; yield postgres://postgres@127.0.0.1:PORT/postgres.

    `options`: extra server settings such as "-c max_connections=200" (the benchmark's).
    """
    binaries = _binaries()
    prefix = _as_server_user()
    # Under root the cluster lives in /tmp (world-traversable) in a directory postgres owns.
    base = Path(tempfile.mkdtemp(prefix="chatsite-pg-", dir="/tmp" if prefix else None))
    try:
        base.chmod(0o755)
        if prefix:
            shutil.chown(base, user=SYSTEM_USER, group=None)
        data = base / "data"
        _run(
            [
                *prefix,
                binaries["initdb"],
                "-D",
                str(data),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                # A UTF-8 character type, so pg_trgm counts Japanese as word characters (the
                # search's trigram index, decision 84); C.UTF-8 sorts like C.
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            base,
            "initdb",
        )
        port = _start(prefix, binaries["pg_ctl"], base, data, options)
        try:
            yield f"postgres://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, binaries["pg_ctl"], "-D", str(data), "stop", "-m", "immediate", "-w"],
                cwd=base,
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _start(prefix: list[str], pg_ctl: str, base: Path, data: Path, extra: tuple[str, ...]) -> int:
    """Start the server on a free loopback port (retrying if another process took the port)."""
    error: PostgresUnavailable | None = None
    for _attempt in range(START_ATTEMPTS):
        port = _free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={base}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                *extra,
            ]
        )
        log = base / "server.log"
        command = [*prefix, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "30"]
        try:
            _run([*command, "-o", options, "start"], base, "pg_ctl start")
            return port
        except PostgresUnavailable as exc:
            log_text = log.read_text(errors="replace") if log.exists() else ""
            error = PostgresUnavailable(f"{exc}\nserver log:\n{log_text}")
    assert error is not None
    raise error


ROOT = Path(__file__).resolve().parent.parent


def is_postgresql_run() -> bool:
    """This process is the PostgreSQL run that `pytest_on_postgresql` started."""
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


def pytest_on_postgresql(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run pytest with `args` in a subprocess whose DATABASE_URL is a throwaway cluster:
    Django cannot switch its default database inside one process."""
    with postgres_cluster() as database_url:
        return subprocess.run(
            [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
