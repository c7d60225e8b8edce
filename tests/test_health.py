"""/healthz: 200 `ok` when the database and the channel layer answer; else 503, saying nothing."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import HttpCommunicator
from django.db import OperationalError
from django.db.backends import utils as db_utils

from chatsite import health
from chatsite.asgi import application
from conversations.runner import get_runner
from tests.conversations.wsclient import ChatSocket
from tests.redis_server import redis_server

pytestmark = [pytest.mark.django_db(transaction=True)]

SECRET_DETAIL = "db-7.internal.example refused: password authentication failed for chatsite"


async def probe(method: str = "GET", host: bytes = b"127.0.0.1", **kwargs) -> dict:
    """/healthz through the ASGI app as Daphne runs it, as a load balancer asks."""
    headers = [(b"host", host), *kwargs.pop("headers", [])]
    communicator = HttpCommunicator(application, method, "/healthz", headers=headers)
    response = await communicator.get_response(timeout=10)
    response["header_map"] = {k.decode().lower(): v.decode() for k, v in response["headers"]}
    return response


class SilentLayer(InMemoryChannelLayer):
    """A layer that accepts messages and never delivers them (a wedged Redis)."""

    async def receive(self, channel):
        await asyncio.Event().wait()


@pytest.fixture
def short_checks(monkeypatch):
    monkeypatch.setattr(health, "CHECK_SECONDS", 0.3)


@pytest.fixture
def refusing_database():
    """Every query on every connection fails, as with the database server gone (until the
    test ends: the ledger check after it needs the database)."""

    def refuse(self, sql, params=None):
        raise OperationalError(SECRET_DETAIL)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db_utils.CursorWrapper, "execute", refuse)
        yield


async def test_healthy_worker_answers_ok(runner):
    response = await probe()
    assert (response["status"], response["body"]) == (200, b"ok")
    assert response["header_map"]["cache-control"] == "no-store"
    assert response["header_map"]["content-type"] == "text/plain"


async def test_needs_no_sign_in_session_or_csrf_token_and_sets_no_cookie(runner):
    response = await probe(headers=[(b"cookie", b"sessionid=not-a-session; csrftoken=x")])
    assert (response["status"], response["body"]) == (200, b"ok")
    assert "set-cookie" not in response["header_map"]
    assert "cookie" not in response["header_map"].get("vary", "").lower()


async def test_load_balancer_probing_by_address_is_answered(runner, settings):
    # Not in ALLOWED_HOSTS, and plain HTTP although the site redirects to HTTPS.
    settings.SECURE_SSL_REDIRECT = True
    response = await probe(host=b"10.0.3.7:8001")
    assert (response["status"], response["body"]) == (200, b"ok")
    other_page = HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"10.0.3.7")]
    )
    assert (await other_page.get_response(timeout=10))["status"] == 400  # the Host check holds


async def test_head_answers_without_a_body(runner):
    response = await probe("HEAD")
    assert (response["status"], response["body"]) == (200, b"")


async def test_other_methods_are_not_allowed(runner):
    response = await probe("POST")
    assert response["status"] == 405 and response["header_map"]["allow"] == "GET, HEAD"


async def test_broken_database_answers_503_and_reveals_nothing(runner, refusing_database, caplog):
    response = await probe()
    assert (response["status"], response["body"]) == (503, b"unavailable")
    assert SECRET_DETAIL.encode() not in b"".join(v for _k, v in response["headers"])
    # The reason is for the operator, in the log.
    assert any("database" in r.getMessage() for r in caplog.records if r.name == "chatsite.health")


async def test_database_that_hangs_answers_503_in_bounded_time(runner, short_checks):
    release = threading.Event()

    def hang(self, sql, params=None):
        release.wait(10)
        raise OperationalError("gave up")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db_utils.CursorWrapper, "execute", hang)
        try:
            response = await probe()
        finally:
            release.set()
    assert (response["status"], response["body"]) == (503, b"unavailable")


async def test_unreachable_redis_layer_answers_503(runner, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens on port 1
        }
    }
    response = await probe()
    assert (response["status"], response["body"]) == (503, b"unavailable")


async def test_layer_that_never_delivers_answers_503(runner, settings, short_checks):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.test_health.SilentLayer"}}
    response = await probe()
    assert (response["status"], response["body"]) == (503, b"unavailable")


async def test_redis_layer_answers_while_sockets_wait_on_it(make_user, settings):
    """Every open socket holds a receive on the layer; the probe's round trip must pass them."""
    with redis_server() as redis_url:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [redis_url]},
            }
        }
        user = await sync_to_async(make_user)("carol")
        socket = await ChatSocket.open(user)
        try:
            assert socket.connected
            assert await socket.receive_nothing(0.2)  # the consumer now waits on its channel
            for _ in range(3):
                response = await probe()
                assert (response["status"], response["body"]) == (200, b"ok")
        finally:
            await socket.close()
            await get_runner().shutdown()
            await get_channel_layer().close_pools()
