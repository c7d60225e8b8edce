"""The ledger's concurrency scenarios, run by test_admission_concurrency.py in a subprocess
whose DATABASE_URL points at a throwaway PostgreSQL server (not collected on its own: the
file name lacks the test_ prefix).
"""

import pytest
from django.db import connection

from . import scenario

pytestmark = pytest.mark.django_db(transaction=True)


def test_runs_on_postgresql():
    assert connection.vendor == "postgresql"


def test_concurrent_sends_never_overspend():
    scenario.concurrent_sends()


def test_concurrent_first_sends_never_overspend():
    scenario.concurrent_sends(quota_exists=False)


def test_racing_settlements_settle_once():
    scenario.racing_settlements()
