"""chatsite.db_hop: a send's trip to the database thread with the event loop parked."""

import asyncio
import threading
import time

import pytest
from channels.db import database_sync_to_async
from django.utils import translation

from chatsite.db_hop import hop

# The database thread closes stale connections around each call, as channels' wrapper does.
pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hold(settings):
    settings.DB_HOP_HOLD_SECONDS = 0.05
    return settings


async def test_it_runs_on_the_thread_database_sync_to_async_uses(hold):
    theirs = await database_sync_to_async(threading.get_ident)()
    assert await hop(threading.get_ident) == theirs != threading.get_ident()


async def test_the_loop_is_parked_until_a_short_call_returns(hold):
    ran = []
    asyncio.get_running_loop().call_soon(ran.append, "loop")

    def call() -> list:
        time.sleep(0.01)  # long enough for a loop that was not parked to run its callback
        return list(ran)

    seen = await hop(call)
    assert seen == [] and ran == []  # nothing ran on the loop before hop returned
    await asyncio.sleep(0)
    assert ran == ["loop"]


async def test_a_call_longer_than_the_hold_lets_the_loop_go_on(hold):
    loop_ran = threading.Event()
    asyncio.get_running_loop().call_soon(loop_ran.set)
    # Parked for the whole call, the loop could not set the event: the call would time out.
    assert await hop(loop_ran.wait, 5) is True


async def test_without_a_hold_nothing_is_parked(settings):
    settings.DB_HOP_HOLD_SECONDS = 0
    loop_ran = threading.Event()
    asyncio.get_running_loop().call_soon(loop_ran.set)
    assert await hop(loop_ran.wait, 5) is True


async def test_the_functions_exception_is_raised(hold):
    def fail() -> None:
        raise LookupError("nope")

    with pytest.raises(LookupError, match="nope"):
        await hop(fail)


async def test_a_slow_calls_exception_is_raised_after_the_hold(hold):
    def fail_late() -> None:
        time.sleep(0.1)
        raise LookupError("late")

    with pytest.raises(LookupError, match="late"):
        await hop(fail_late)


async def test_the_callers_language_travels(hold):
    with translation.override("ja"):
        assert await hop(translation.get_language) == "ja"
    assert await hop(translation.get_language) != "ja"


async def test_a_cancelled_caller_keeps_the_result_of_a_call_already_running(hold):
    # As database_sync_to_async: a send that committed must still start its reply.
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.3)
        return "stored"

    task = asyncio.ensure_future(hop(slow))
    await asyncio.sleep(0)
    assert started.wait(1)
    await asyncio.sleep(0.1)  # past the hold: the caller awaits asynchronously
    task.cancel()
    assert await task == "stored"


async def test_a_call_cancelled_while_queued_never_runs(hold):
    release, ran = threading.Event(), []
    blocker = asyncio.ensure_future(database_sync_to_async(release.wait)(5))
    await asyncio.sleep(0.05)  # the database thread is busy with the blocker
    task = asyncio.ensure_future(hop(ran.append, "queued"))
    await asyncio.sleep(0.1)  # past the hold, still queued
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await blocker
    await database_sync_to_async(lambda: None)()  # everything queued has run
    assert ran == []
