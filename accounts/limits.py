"""The project's one rate limiter: counters in Redis (REDIS_URL) or the database, shared by workers.

A key's window opens at its first hit and lasts `window_seconds`; at most `limit` hits are
allowed in it. Refused hits are counted too but never extend the window, so a client that keeps
trying is let in again when the window ends. Counters never live in process memory: behind a
balancer each worker sees only part of a client's requests. The one exception is
`TokenBucket`, for state that belongs to a single socket (one socket lives in one process).
"""

import hashlib
import math
from dataclasses import dataclass, field
from functools import cache
from time import monotonic, time

from django.conf import settings
from django.db import connection
from django.db.models import F

from .models import RateCounter

REDIS_PREFIX = "chatsite:limit:"
MAX_KEY = 200  # RateCounter.key's length
# Redis calls of the limiter must not hang a request: a dead Redis fails fast.
REDIS_TIMEOUT_SECONDS = 2.0


def hit(key: str, limit: int, window_seconds: int) -> float | None:
    """Count one hit; the seconds until the window ends if this hit is over `limit`, else None."""
    hits, expires_in = _backend().hit(_storage_key(key), window_seconds)
    return max(expires_in, 0.001) if hits > limit else None


def peek(key: str, limit: int) -> float | None:
    """Without counting: the seconds until the window ends if the next hit would be refused."""
    hits, expires_in = _backend().peek(_storage_key(key))
    return max(expires_in, 0.001) if hits >= limit and expires_in > 0 else None


def reset(key: str) -> None:
    """Forget a key's hits (an admin lifting a lock-out)."""
    _backend().reset(_storage_key(key))


def reset_prefix(prefix: str) -> None:
    """Forget the hits of every key starting with `prefix` (short prefixes only: a key longer
    than MAX_KEY is stored hashed past its first 100 characters)."""
    _backend().reset_prefix(prefix[:100])


def refund(key: str) -> None:
    """Take back one hit of an open window (an attempt counted before it turned out fine)."""
    _backend().refund(_storage_key(key))


def retry_seconds(retry_after: float) -> int:
    """A retry_after as the whole seconds a client is told (never 0: that reads "now")."""
    return max(1, math.ceil(retry_after))


def _storage_key(key: str) -> str:
    # Keys carry user input (usernames); long ones are hashed to fit the column.
    if len(key) <= MAX_KEY:
        return key
    return key[:100] + ":" + hashlib.sha256(key.encode()).hexdigest()


def _backend() -> "RedisCounters | DatabaseCounters":
    return _redis_counters(settings.REDIS_URL) if settings.REDIS_URL else DATABASE


class RedisCounters:
    """A counter per key that expires with its window (SET NX EX, INCR, PTTL in MULTI)."""

    def __init__(self, url: str) -> None:
        import redis  # only deployments with REDIS_URL need it

        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )

    def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        name = REDIS_PREFIX + key
        pipe = self.client.pipeline(transaction=True)
        # SET NX opens the window only for the first hit; INCR keeps the key's expiry.
        pipe.set(name, 0, ex=max(1, int(window_seconds)), nx=True)
        pipe.incr(name)
        pipe.pttl(name)
        _, hits, pttl = pipe.execute()
        return int(hits), (pttl if pttl > 0 else window_seconds * 1000) / 1000

    def peek(self, key: str) -> tuple[int, float]:
        name = REDIS_PREFIX + key
        pipe = self.client.pipeline(transaction=True)
        pipe.get(name)
        pipe.pttl(name)
        hits, pttl = pipe.execute()
        return int(hits or 0), max(pttl, 0) / 1000

    def reset(self, key: str) -> None:
        self.client.delete(REDIS_PREFIX + key)

    def reset_prefix(self, prefix: str) -> None:
        names = list(self.client.scan_iter(match=REDIS_PREFIX + _glob_escaped(prefix) + "*"))
        if names:
            self.client.delete(*names)

    def refund(self, key: str) -> None:
        # Only while the key exists: DECR on a missing key would make one that never expires.
        self.client.eval(
            "if redis.call('GET', KEYS[1]) and tonumber(redis.call('GET', KEYS[1])) > 0 "
            "then return redis.call('DECR', KEYS[1]) end return 0",
            1,
            REDIS_PREFIX + key,
        )


def _glob_escaped(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


@cache
def _redis_counters(url: str) -> RedisCounters:
    return RedisCounters(url)  # one client (and connection pool) per process


class DatabaseCounters:
    """A RateCounter row per key, upserted in one statement (SQLite 3.35+ and PostgreSQL)."""

    def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        now = time()
        qn = connection.ops.quote_name
        t, k, h, e = qn(RateCounter._meta.db_table), qn("key"), qn("hits"), qn("expires_at")
        # One statement, so concurrent hits of one key never lose a count: the conflict
        # branch renews an ended window or adds to the open one, and says which it did.
        sql = (
            f"INSERT INTO {t} ({k}, {h}, {e}) VALUES (%s, 1, %s) ON CONFLICT ({k}) DO UPDATE SET "
            f"{h} = CASE WHEN {t}.{e} <= %s THEN 1 ELSE {t}.{h} + 1 END, "
            f"{e} = CASE WHEN {t}.{e} <= %s THEN %s ELSE {t}.{e} END "
            f"RETURNING {h}, {e}"
        )
        ends = now + window_seconds
        with connection.cursor() as cursor:
            cursor.execute(sql, [key, ends, now, now, ends])
            hits, expires_at = cursor.fetchone()
        if hits == 1:
            self._forget_ended(now)  # a window opened: rarely enough to sweep here
        return int(hits), expires_at - now

    def peek(self, key: str) -> tuple[int, float]:
        now = time()
        row = RateCounter.objects.filter(key=key, expires_at__gt=now).values_list(
            "hits", "expires_at"
        )
        hits, expires_at = row.first() or (0, now)
        return hits, expires_at - now

    def reset(self, key: str) -> None:
        RateCounter.objects.filter(key=key).delete()

    def reset_prefix(self, prefix: str) -> None:
        RateCounter.objects.filter(key__startswith=prefix).delete()

    def refund(self, key: str) -> None:
        RateCounter.objects.filter(key=key, hits__gt=0, expires_at__gt=time()).update(
            hits=F("hits") - 1
        )

    @staticmethod
    def _forget_ended(now: float) -> None:
        qn = connection.ops.quote_name
        t, k, e = qn(RateCounter._meta.db_table), qn("key"), qn("expires_at")
        if connection.vendor == "postgresql":
            # SKIP LOCKED: two sweeps inside longer transactions must not wait on each
            # other's renewed rows (that could deadlock); a row left now goes next time.
            sql = (
                f"DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {t} "
                f"WHERE {e} < %s LIMIT 500 FOR UPDATE SKIP LOCKED)"
            )
        else:
            sql = f"DELETE FROM {t} WHERE {e} < %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [now])


DATABASE = DatabaseCounters()


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `burst`, for one socket's frames (in memory on purpose:
    the socket and its bucket live and die in one process)."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.updated = float(self.burst), monotonic()

    def take(self) -> float | None:
        """Spend a token; None if there was one, else the seconds until there will be."""
        now = monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate
