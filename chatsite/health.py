"""/healthz: can this worker reach its database and its channel layer? 200 `ok` or 503.

A middleware first in MIDDLEWARE, not a view: it answers before the Host check (a load
balancer probes by address), the HTTPS redirect (probes reach a worker over plain HTTP), the
session and CSRF. It says nothing but `ok` or `unavailable` (decision 43).
"""

import asyncio
import logging

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from channels.layers import get_channel_layer
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

HEALTH_PATH = "/healthz"
# Each part must answer within this; both are asked at once, so a probe waits about this long.
CHECK_SECONDS = 2.0

log = logging.getLogger("chatsite.health")


@sync_and_async_middleware
def health_check_middleware(get_response):
    """Answer /healthz here; pass every other request on untouched."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest):
            if request.path_info != HEALTH_PATH:
                return await get_response(request)
            if request.method not in ("GET", "HEAD"):
                return _not_allowed()
            return _response(request, await _healthy())

    else:

        def middleware(request: HttpRequest):
            if request.path_info != HEALTH_PATH:
                return get_response(request)
            if request.method not in ("GET", "HEAD"):
                return _not_allowed()
            return _response(request, async_to_sync(_healthy)())

    return middleware


async def _healthy() -> bool:
    """Both checks at once, each bounded; a failure is logged here and never shown."""
    results = await asyncio.gather(
        _check("database", sync_to_async(_query_database, thread_sensitive=False)),
        _check("channel layer", _layer_round_trip),
    )
    return all(results)


async def _check(part: str, probe) -> bool:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await probe()
    except TimeoutError:
        log.warning("health check: the %s did not answer in %s s", part, CHECK_SECONDS)
        return False
    except Exception:
        log.warning("health check: the %s failed", part, exc_info=True)
        return False
    return True


def _query_database() -> None:
    # In a thread of the pool, outside any request: a connection broken since the last probe
    # (a database restart) is dropped before the query and after a failed one, not reused.
    close_old_connections()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        close_old_connections()


async def _layer_round_trip() -> None:
    """A message to a new channel of this process, and back: the path every frame takes.

    The layer's own `new_channel()` prefix: channels-redis lets one receive at a time read
    this process's channels, and that reader only pops its own prefix's list.
    """
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.check"})
    await layer.receive(channel)


def _response(request: HttpRequest, healthy: bool) -> HttpResponse:
    body = b"" if request.method == "HEAD" else b"ok" if healthy else b"unavailable"
    return _plain(HttpResponse(body, status=200 if healthy else 503))


def _not_allowed() -> HttpResponse:
    response = _plain(HttpResponse(status=405))
    response["Allow"] = "GET, HEAD"
    return response


def _plain(response: HttpResponse) -> HttpResponse:
    # SecurityMiddleware, which would add nosniff, never sees this response.
    response["Content-Type"] = "text/plain"
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
