"""Bounded waits for a state: tests poll for what they need instead of sleeping a guess.

A sleep long enough for a loaded machine is slow everywhere else and still flaky under a
heavier load; a poll returns as soon as the state holds and fails with a message after the
timeout.
"""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

POLL_EVERY = 0.02


def _describe(predicate: Callable, what: str | None) -> str:
    return what or getattr(predicate, "__name__", repr(predicate))


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 5.0,
    *,
    every: float = POLL_EVERY,
    what: str | None = None,
) -> None:
    """Call `predicate` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout}s for {_describe(predicate, what)}")
        time.sleep(every)


async def eventually(
    predicate: Callable[[], object | Awaitable[object]],
    timeout: float = 5.0,
    *,
    every: float = POLL_EVERY,
    what: str | None = None,
) -> None:
    """`wait_until` for the event loop: the predicate may be a coroutine function.

    A plain predicate runs in the loop's thread, so it suits in-memory state (the runner's
    generations); wrap ORM reads in `sync_to_async` so they run where the ORM may.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = predicate()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"waited {timeout}s for {_describe(predicate, what)}") from None
