"""Process start-up: replies a dead process left streaming become interrupted."""

import asyncio
import logging
import sys

from channels.db import database_sync_to_async

from . import settlement
from .runner import get_runner
from .upstream import close_client

log = logging.getLogger(__name__)


class StartupReaper:
    """ASGI wrapper that reaps orphaned replies once, before the first request is served.

    Daphne has no lifespan events, so the first request of the process is the start-up hook.
    """

    def __init__(self, app) -> None:
        self.app = app
        self._done = False
        self._lock: asyncio.Lock | None = None

    async def __call__(self, scope, receive, send):
        if not self._done and scope["type"] in ("http", "websocket"):
            await self._reap_once()
        return await self.app(scope, receive, send)

    async def _reap_once(self) -> None:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._done:
                return
            runner = get_runner()
            # One process with the in-memory layer: every streaming reply in the database
            # belongs to a process that is gone. Several processes: trust heartbeats only.
            reaped = await database_sync_to_async(settlement.reap_interrupted)(
                all_streaming=not runner.cross_process
            )
            if reaped:
                log.warning("%d replies left streaming by a dead process: interrupted", len(reaped))
                await runner.announce_interrupted(reaped)
            install_shutdown_hook(runner)
            runner.ensure_maintenance()
            self._done = True


def install_shutdown_hook(runner) -> None:
    """On a graceful stop, store live replies as interrupted (and charge them), close the pool.

    Daphne runs on Twisted's asyncio reactor: a "before shutdown" trigger may return a
    Deferred, which Twisted waits for before it stops the loop.
    """
    if "twisted.internet.reactor" not in sys.modules:
        return  # not under Daphne (tests, other servers)
    from twisted.internet import defer, reactor

    async def stop() -> None:
        await runner.shutdown()
        await close_client()

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(stop()))
    )
