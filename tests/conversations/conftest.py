"""Fixtures of the consumer and runner tier: users, a runner shut down per test, a write counter."""

import re
import threading
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.db.backends.signals import connection_created

from conversations.models import CatalogModel
from conversations.runner import get_runner
from conversations.upstream import close_client

API_KEY = "sk-ant-test-SECRET-KEY"


@pytest.fixture
def chat_model(upstream, settings):
    """The catalog entry of CHAT_MODEL, enabled and priced.

    A transactional test empties every table afterwards, the catalog seeded by the
    migrations included, so each test puts back the model it chats with.
    """

    def seed() -> CatalogModel:
        model, _ = CatalogModel.objects.update_or_create(
            model_id=settings.CHAT_MODEL,
            defaults={
                "display_name": "Claude Sonnet 4.5",
                "enabled": True,
                "is_default": True,
                "max_output_tokens": 64000,
                "price_input": Decimal("3"),
                "price_output": Decimal("15"),
                "price_cache_write": Decimal("3.75"),
                "price_cache_read": Decimal("0.3"),
            },
        )
        return model

    return seed()


@pytest.fixture
async def runner(chat_model):
    """This test's runner, with a model to run; its replies are cancelled and its HTTP pool
    closed at teardown."""
    runner = get_runner()
    yield runner
    await runner.shutdown()
    await close_client()


@pytest.fixture
def fast_passwords(settings):
    # The production hasher costs a third of a second per user: most of a socket test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
async def alice(make_user, fast_passwords):
    return await sync_to_async(make_user)("alice")


@pytest.fixture
async def bob(make_user, fast_passwords):
    return await sync_to_async(make_user)("bob")


class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements on every connection of every thread."""

    WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.counting = False
        self._lock = threading.Lock()
        self._wrapped: list = []

    def __call__(self, execute, sql, params, many, context):
        if self.counting and self.WRITE.match(sql):
            with self._lock:
                self.statements.append(sql)
        return execute(sql, params, many, context)

    def install(self, connection, **kwargs) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)
            self._wrapped.append(connection)

    def uninstall(self) -> None:
        for connection in self._wrapped:
            if self in connection.execute_wrappers:
                connection.execute_wrappers.remove(self)

    def start(self) -> None:
        self.statements.clear()
        self.counting = True

    def stop(self) -> list[str]:
        self.counting = False
        return list(self.statements)


@pytest.fixture
async def write_counter():
    """Wraps every database connection: those the ORM's worker thread already holds (it keeps
    them across calls) and any opened later, in whatever thread."""
    counter = WriteCounter()
    connection_created.connect(counter.install)

    def install_here() -> None:
        for connection in connections.all():
            counter.install(connection)

    install_here()
    await sync_to_async(install_here)()
    yield counter
    connection_created.disconnect(counter.install)
    counter.uninstall()
