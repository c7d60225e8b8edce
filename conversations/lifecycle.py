"""Process start-up: replies a dead process left streaming become interrupted."""

import asyncio
import logging

from channels.db import database_sync_to_async

from . import services
from .runner import get_runner

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
            count = await database_sync_to_async(services.reap_interrupted)(
                all_streaming=not runner.cross_process
            )
            if count:
                log.warning(
                    "marked %d replies left streaming by a dead process as interrupted", count
                )
            runner.ensure_maintenance()
            self._done = True
