"""Fixtures of the consumer and runner tier: users, a runner shut down per test, a write counter."""

import re
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import Client

API_KEY = "sk-ant-test-SECRET-KEY"


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


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def as_alice(alice):
    """A client signed in as alice (some modules sign in with pytest-django's `client`)."""
    client = Client()
    client.force_login(alice)
    return client
