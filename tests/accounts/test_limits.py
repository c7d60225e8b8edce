"""The shared rate limiter (accounts/limits.py) on both of its stores: Redis and the database."""

import re
import threading
from pathlib import Path

import pytest

from accounts import limits
from accounts.models import RateCounter
from tests.pg import ROOT, is_postgresql_run, pytest_on_postgresql
from tests.redis_server import redis_server
from tests.waiting import wait_until

# Transactional: the concurrency test's threads use connections of their own.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture(params=["database", "redis"])
def store(request, settings) -> str:
    """Run the test on each store; the Redis one starts empty."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings.REDIS_URL = url
        limits._redis_counters(url).client.flushdb()
    else:
        settings.REDIS_URL = ""
    return request.param


def test_hits_up_to_the_limit_pass_and_the_next_is_refused_with_retry_after(store):
    assert [limits.hit("k", 3, 60) for _ in range(3)] == [None, None, None]
    retry_after = limits.hit("k", 3, 60)
    assert retry_after is not None and 55 < retry_after <= 60


def test_keys_are_counted_apart(store):
    assert limits.hit("a", 1, 60) is None
    assert limits.hit("b", 1, 60) is None
    assert limits.hit("a", 1, 60) is not None


def test_peek_refuses_at_the_limit_without_counting(store):
    assert limits.peek("k", 2) is None
    limits.hit("k", 2, 60)
    assert limits.peek("k", 2) is None
    assert limits.peek("k", 2) is None  # peeking never adds a hit
    limits.hit("k", 2, 60)
    retry_after = limits.peek("k", 2)
    assert retry_after is not None and 55 < retry_after <= 60


def test_reset_forgets_the_hits(store):
    limits.hit("k", 1, 60)
    assert limits.hit("k", 1, 60) is not None
    limits.reset("k")
    assert limits.peek("k", 1) is None
    assert limits.hit("k", 1, 60) is None


def test_refund_gives_back_one_hit_and_never_goes_below_zero(store):
    for _ in range(2):
        limits.hit("r", 2, 60)
    assert limits.hit("r", 2, 60) is not None

    limits.refund("r")
    limits.refund("r")
    assert limits.hit("r", 2, 60) is None
    limits.refund("nothing-here")
    assert limits.peek("nothing-here", 1) is None


def test_reset_prefix_forgets_only_the_keys_it_names(store):
    for key in ("login:pair:abc:192.0.2.1", "login:pair:abc:192.0.2.2", "login:pair:abd:x"):
        limits.hit(key, 1, 60)

    limits.reset_prefix("login:pair:abc:")

    assert limits.peek("login:pair:abc:192.0.2.1", 1) is None
    assert limits.peek("login:pair:abc:192.0.2.2", 1) is None
    assert limits.peek("login:pair:abd:x", 1) is not None


def test_refused_hits_do_not_extend_the_window(store):
    first = limits.hit("k", 0, 60)
    for _ in range(5):
        later = limits.hit("k", 0, 60)
    assert later <= first


def test_a_new_window_opens_when_the_last_one_ends(store):
    assert limits.hit("k", 1, 1) is None
    assert limits.hit("k", 1, 1) is not None
    # Redis expires the key on its own clock.
    wait_until(lambda: limits.peek("k", 1) is None, every=0.05, what="the window to end")
    assert limits.hit("k", 1, 1) is None
    assert limits.hit("k", 1, 1) is not None


def test_concurrent_hits_are_all_counted(store):
    """Workers hitting one key together: exactly `limit` of them pass."""
    from django.db import connection

    passed: list[bool] = []
    barrier = threading.Barrier(12)

    def hit() -> None:
        try:
            barrier.wait(timeout=10)
            passed.append(limits.hit("shared", 5, 60) is None)
        finally:
            connection.close()

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(passed) == [False] * 7 + [True] * 5


def test_long_keys_fit_the_store(store):
    key = "login:account:" + "x" * 500
    assert limits.hit(key, 1, 60) is None
    assert limits.hit(key, 1, 60) is not None
    assert limits.hit(key[:-1] + "y", 1, 60) is None


def test_the_database_store_renews_an_ended_window_and_sweeps_old_rows(settings, monkeypatch):
    settings.REDIS_URL = ""
    now = 1_000_000.0
    monkeypatch.setattr(limits, "time", lambda: now)
    limits.hit("old", 1, 10)
    limits.hit("k", 1, 60)
    assert limits.hit("k", 1, 60) == 60

    now += 61
    assert limits.hit("k", 1, 60) is None  # renewed in place, counting from one
    assert RateCounter.objects.get(key="k").hits == 1
    assert not RateCounter.objects.filter(key="old").exists()  # swept when a window opened


def test_token_bucket_allows_a_burst_then_refills_at_its_rate(monkeypatch):
    now = 100.0
    monkeypatch.setattr(limits, "monotonic", lambda: now)
    bucket = limits.TokenBucket(rate=2, burst=3)
    assert [bucket.take() for _ in range(3)] == [None, None, None]
    assert bucket.take() == pytest.approx(0.5)
    now += 0.5
    assert bucket.take() is None
    assert bucket.take() is not None
    now += 100
    assert [bucket.take() for _ in range(4)][:3] == [None, None, None]


def test_retry_seconds_are_whole_and_never_zero():
    assert limits.retry_seconds(0.001) == 1
    assert limits.retry_seconds(4.2) == 5


def test_the_database_store_on_postgresql():
    """This module's database-store tests again, on PostgreSQL 15 (the upsert is raw SQL)."""
    if is_postgresql_run():
        return  # this is the PostgreSQL run itself
    module = str(Path(__file__).relative_to(ROOT))
    done = pytest_on_postgresql(module, "-k", "database and not postgresql")
    assert done.returncode == 0, f"the PostgreSQL run failed:\n{done.stdout}\n{done.stderr}"
    ran = re.search(r"(\d+) passed", done.stdout)
    assert ran and int(ran.group(1)) >= 9, done.stdout
