"""A reply's start on the database thread, with the event loop parked until it returns.

`database_sync_to_async` lets the event loop go on while the database thread works. Under a
burst that is slower, not faster: every SQL statement releases the GIL and the database
thread must win it back from a busy loop, so at a burst of 100 a send that costs ~2.5 ms of
CPU alone took ~20 ms of wall time and ~8 ms of CPU, and the sends queued behind it waited for
all of that (decision 102, docs/performance.md). `hop` hands the call to the same thread (the
same executor `database_sync_to_async` would pick, so the same connection) and parks the loop
thread until it returns, for at most `DB_HOP_HOLD_SECONDS`: the database thread runs alone.
A call queued behind other work, or one that needs the loop itself (`async_to_sync`), goes
on asynchronously after the hold, so the loop stalls at most that long per call.
"""

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, _restore_context
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


async def hop(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`await database_sync_to_async(function)(*args, **kwargs)`, the loop parked meanwhile."""
    loop = asyncio.get_running_loop()
    hold = settings.DB_HOP_HOLD_SECONDS
    executor = _database_thread(loop) if hold > 0 else None
    if executor is None:
        return await database_sync_to_async(function)(*args, **kwargs)
    context = contextvars.copy_context()  # the caller's language and other context travel
    future = executor.submit(
        context.run, _on_database_thread, context, loop, function, args, kwargs
    )
    try:
        return future.result(timeout=hold)  # the GIL is released while the loop waits
    except concurrent.futures.TimeoutError:
        pass
    waiter = asyncio.wrap_future(future)
    try:
        return await asyncio.shield(waiter)
    except asyncio.CancelledError:
        # As database_sync_to_async does: a call already running finishes and its result is
        # kept (a send that committed must still start its reply).
        if future.done() or future.cancel():
            raise
        return await waiter


def _database_thread(loop: asyncio.AbstractEventLoop) -> concurrent.futures.Executor | None:
    """The executor `database_sync_to_async` would use here when it is the process's one
    database thread; None under a sync caller or in a thread-sensitive context (an HTTP
    request's own thread), where that choice is asgiref's to make."""
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return None
    if SyncToAsync.thread_sensitive_context.get(None) is not None:
        return None
    return AsyncToSync.loop_thread_executors.get(loop) or SyncToAsync.single_thread_executor


def _on_database_thread(
    context: contextvars.Context, loop: asyncio.AbstractEventLoop, function: Callable, args, kwargs
):
    # As asgiref's thread handler does: `Local` values (the active language) are moved to this
    # thread, and async_to_sync inside comes back to this loop. asgiref is pinned
    # (constraints.txt); tests/test_db_hop.py fails if its private helper changes.
    _restore_context(context)
    SyncToAsync.threadlocal.main_event_loop = loop
    close_old_connections()  # as channels' database_sync_to_async does, before and after
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()
