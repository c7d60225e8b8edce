"""No overspend under concurrency, on SQLite (here) and on a real PostgreSQL server.

Django cannot switch its default database inside one process, so the PostgreSQL run is a
pytest subprocess over pg_cases/admission_case.py with DATABASE_URL pointing at a throwaway
cluster that tests/pg.py starts on loopback. Both runs share pg_cases/scenario.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.pg import postgres_cluster

from .pg_cases import scenario

ROOT = Path(settings.BASE_DIR)
CASE = Path(__file__).parent / "pg_cases" / "admission_case.py"

sqlite = pytest.mark.django_db(transaction=True)


@sqlite
def test_sqlite_concurrent_sends_never_overspend():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    scenario.concurrent_sends()


@sqlite
def test_sqlite_concurrent_first_sends_never_overspend():
    scenario.concurrent_sends(quota_exists=False)


@sqlite
def test_sqlite_racing_settlements_settle_once():
    scenario.racing_settlements()


def test_postgresql_scenarios():
    """The same scenarios on PostgreSQL 15 (initdb + pg_ctl into a temp dir; never skipped)."""
    with postgres_cluster() as database_url:
        env = {**os.environ, "DATABASE_URL": database_url}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(CASE.relative_to(ROOT)),
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "python_files=*_case.py",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert done.returncode == 0, (
        f"the PostgreSQL run failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
