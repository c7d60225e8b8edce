"""No overspend under concurrency, on SQLite (here) and on a real PostgreSQL server.

Django cannot switch its default database inside one process, so the PostgreSQL run is a
pytest subprocess over pg_cases/admission_case.py with DATABASE_URL pointing at a throwaway
cluster that tests/pg.py starts on loopback. Both runs share pg_cases/scenario.py.
"""

from pathlib import Path

import pytest
from django.conf import settings

from tests.pg import ROOT, pytest_on_postgresql

from .pg_cases import scenario

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
    done = pytest_on_postgresql(str(CASE.relative_to(ROOT)), "-o", "python_files=*_case.py")
    assert done.returncode == 0, (
        f"the PostgreSQL run failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
