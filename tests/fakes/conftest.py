"""Fixtures of the fake upstream's own tests: a live instance and a plain httpx client for it."""

from collections.abc import Iterator

import httpx
import pytest

from conversations.fake_upstream import FakeUpstream

HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="session")
def _collected_static() -> None:
    """Overrides tests/conftest.py's Django-only autouse fixture: these tests need no Django."""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(ttft=0, token_delay=0) as server:
        yield server


@pytest.fixture
def api(fake: FakeUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, headers=HEADERS, timeout=5) as c:
        yield c
