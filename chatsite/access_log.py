"""Access log lines: one per HTTP request (a middleware) and one per WebSocket (an ASGI wrapper).

Fields only, never bodies: no query string, no cookie, no frame's text (decision 44).
"""

import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .logging import elapsed_ms

http_log = logging.getLogger("chatsite.http")
socket_log = logging.getLogger("chatsite.websocket")

# URL parts that are bearer secrets (shared links, invites, password resets): logged by name.
SECRET_URL_PARTS = frozenset({"token", "uidb64"})


class RequestLogMiddleware:
    """First after the health check, so its duration and status cover every other layer."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        http_log.info(
            "request",
            extra={
                "method": request.method,
                "path": loggable_path(request),
                "status": response.status_code,
                "duration_ms": elapsed_ms(started),
                "user_id": _user_id(request),
                "worker": settings.WORKER_ID,
            },
        )
        return response


def loggable_path(request: HttpRequest) -> str:
    """The path without its query string, secret URL parts replaced by their names."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    for name, value in (match.kwargs if match else {}).items():
        if name in SECRET_URL_PARTS and isinstance(value, str) and value:
            path = path.replace(f"/{value}/", f"/<{name}>/")
    return path


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)  # absent for files WhiteNoise served
    try:
        return user.pk if user is not None and user.is_authenticated else None
    except Exception:  # the database is away: the line goes out without the user
        return None


class SocketLogMiddleware:
    """Wraps the WebSocket app, inside the auth middleware: a line when a socket ends.

    Watching the ASGI events keeps the consumer free of bookkeeping: frames received are the
    client's `websocket.receive` events; the close code is the first close, ours or theirs.
    """

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send) -> None:
        started = time.monotonic()
        seen = {"frames": 0, "code": None}

        async def counting_receive() -> dict:
            event = await receive()
            if event["type"] == "websocket.receive":
                seen["frames"] += 1
            elif event["type"] == "websocket.disconnect" and seen["code"] is None:
                seen["code"] = event.get("code", 1005)
            return event

        async def watching_send(event: dict) -> None:
            if event["type"] == "websocket.close" and seen["code"] is None:
                seen["code"] = event.get("code", 1000)
            await send(event)

        try:
            await self.inner(scope, counting_receive, watching_send)
        finally:
            user = scope.get("user")
            socket_log.info(
                "socket closed",
                extra={
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                    "close_code": seen["code"],
                    "duration_ms": elapsed_ms(started),
                    "frames_received": seen["frames"],
                    "worker": settings.WORKER_ID,
                },
            )
