"""Backups of an instance: its database (SQLite's online backup or pg_dump) and generated key.

A backup is one directory, `chatsite-<UTC time>` (mode 0700), holding `database.sqlite3` or
`database.dump` (pg_dump's custom format) and, when `SECRET_KEY` was generated rather than set,
a copy of `DATA_DIR/secret_key`. It is written under a `.partial` name and renamed when
complete, so a failed run never looks like a backup. `manage.py backup` and `manage.py restore`
are the commands; docs/deployment.md ("Backups") is the procedure.
"""

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _

PREFIX = "chatsite-"
SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.dump"
KEY_FILE = "secret_key"
SQLITE_BUSY_SECONDS = 20  # as long as the app's own busy timeout


class BackupError(Exception):
    """A backup or restore could not be made; the message says why."""


def _private_copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    target.chmod(0o600)


def _generated_key() -> Path | None:
    path = Path(settings.DATA_DIR) / KEY_FILE
    return path if path.is_file() else None


def _libpq(program: str, arguments: list[str]) -> tuple[list[str], dict[str, str]]:
    """A pg_dump/pg_restore command line for the configured database, and its environment.

    Host, port, user and database go on the command line; the password and the TLS options go
    through the environment as Django's own dbshell passes them, so `ps` never shows a password.
    """
    binary = shutil.which(program)
    if binary is None:
        raise BackupError(
            _(
                "%(program)s not found on PATH: install PostgreSQL's client tools "
                "(apt-get install postgresql-client), of the server's major version or newer."
            )
            % {"program": program}
        )
    database = connection.settings_dict
    options = []
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if database.get(key):
            options.append(f"{flag}={database[key]}")
    options.append(f"--dbname={database['NAME'] or 'postgres'}")
    _args, env = connection.client.settings_to_cmd_args_env(database, [])
    return [binary, *options, *arguments], {**os.environ, **(env or {})}


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(
            _("%(program)s failed (exit %(code)d):")
            % {"program": Path(command[0]).name, "code": done.returncode}
            + "\n"
            + done.stderr
        )


def _sqlite_path() -> Path:
    return Path(connection.settings_dict["NAME"])


def _check_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as database:
        result = database.execute("PRAGMA quick_check").fetchone()[0]
    database.close()
    if result != "ok":
        raise BackupError(
            _("%(path)s fails SQLite's quick_check: %(result)s") % {"path": path, "result": result}
        )


def _backup_sqlite(target: Path) -> None:
    source_path = _sqlite_path()
    if not source_path.is_file():
        raise BackupError(_("There is no SQLite database at %s.") % source_path)
    # mode=rw: never create an empty database where the real one was expected.
    source = sqlite3.connect(f"file:{source_path}?mode=rw", uri=True, timeout=SQLITE_BUSY_SECONDS)
    copy = sqlite3.connect(target)
    try:
        # One step: a single read transaction, so the copy is one consistent moment even while
        # the workers write (WAL lets them go on meanwhile).
        source.backup(copy)
        # A self-contained file: no -wal beside it to forget when it is copied elsewhere.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()
    _check_sqlite(target)


def backup(directory: Path, now: datetime | None = None) -> Path:
    """Write a new backup directory under `directory` (which must exist); return its path."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BackupError(_("%s is not a directory: create it first (mode 0700).") % directory)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    final = directory / f"{PREFIX}{stamp}"
    partial = directory / f".{PREFIX}{stamp}.partial"
    if final.exists():
        raise BackupError(_("%s already exists.") % final)
    partial.mkdir(mode=0o700)
    partial.chmod(0o700)  # whatever the umask
    try:
        if connection.vendor == "sqlite":
            _backup_sqlite(partial / SQLITE_FILE)
        elif connection.vendor == "postgresql":
            dump = partial / POSTGRES_FILE
            _run(*_libpq("pg_dump", ["--format=custom", f"--file={dump}"]))
            dump.chmod(0o600)
        else:
            raise BackupError(_("There is no backup method for %s.") % connection.vendor)
        if key := _generated_key():
            _private_copy(key, partial / KEY_FILE)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def _restore_sqlite(source_path: Path) -> None:
    _check_sqlite(source_path)
    target_path = _sqlite_path()
    target_path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    target = sqlite3.connect(target_path, timeout=SQLITE_BUSY_SECONDS)
    try:
        # The backup API writes through SQLite's own locks and journal, so the live file keeps
        # its owner and mode, and no stale -wal of the old content can be replayed over it.
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
        source.close()


def restore(backup_dir: Path) -> list[str]:
    """Replace the configured database (and the generated key, if the backup has one) with a
    backup's. The workers must be stopped. Returns what was restored, one line each."""
    backup_dir = Path(backup_dir)
    sqlite_file, dump = backup_dir / SQLITE_FILE, backup_dir / POSTGRES_FILE
    restored = []
    if connection.vendor == "sqlite":
        if not sqlite_file.is_file():
            raise BackupError(
                _("%(dir)s holds no %(file)s: it is not a backup of SQLite.")
                % {"dir": backup_dir, "file": SQLITE_FILE}
            )
        _restore_sqlite(sqlite_file)
        restored.append(
            _("database %(to)s from %(from)s") % {"to": _sqlite_path(), "from": sqlite_file}
        )
    elif connection.vendor == "postgresql":
        if not dump.is_file():
            raise BackupError(
                _("%(dir)s holds no %(file)s: it is not a backup of PostgreSQL.")
                % {"dir": backup_dir, "file": POSTGRES_FILE}
            )
        connection.close()  # pg_restore drops tables: hold no connection that uses them
        command, env = _libpq(
            "pg_restore",
            [
                "--clean",
                "--if-exists",
                # Objects belong to the role that restores (the app's own), whatever role
                # owned them where the dump was taken.
                "--no-owner",
                "--no-acl",
                "--single-transaction",
                "--exit-on-error",
                str(dump),
            ],
        )
        _run(command, env)
        restored.append(
            _("database %(to)s from %(from)s")
            % {"to": connection.settings_dict["NAME"], "from": dump}
        )
    else:
        raise BackupError(_("There is no restore method for %s.") % connection.vendor)
    key = backup_dir / KEY_FILE
    if key.is_file():
        target = Path(settings.DATA_DIR) / KEY_FILE
        _private_copy(key, target.with_name(f".{KEY_FILE}.restoring"))
        target.with_name(f".{KEY_FILE}.restoring").replace(target)
        restored.append(_("generated secret key %s") % target)
    return restored
