"""Shared fixtures: the fake upstream on loopback, users, and a clean runner per test."""

import importlib

import pytest
from django.core.management import call_command

from conversations.fake_upstream import FakeUpstream


@pytest.fixture(scope="session", autouse=True)
def _collected_static(django_db_blocker):
    # Pages use the manifest storage they ship with, so the tests collect static files once.
    with django_db_blocker.unblock():
        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _seeded_catalog(request):
    """Transactional tests flush the database, data migrations included: seed the catalog again."""
    if request.node.get_closest_marker("django_db") is None:
        return
    from django.apps import apps

    seed = importlib.import_module("conversations.migrations.0003_seed_catalog").seed
    seed(apps, None)


@pytest.fixture(scope="session")
def fake_upstream():
    server = FakeUpstream(ttft=0.0, token_delay=0.0, api_key="sk-ant-test-SECRET-KEY").start()
    yield server
    server.stop()


@pytest.fixture
def upstream(fake_upstream, settings):
    """Point the app at the fake upstream with a real-looking key."""
    settings.DEMO_MODE = False
    settings.ANTHROPIC_API_KEY = "sk-ant-test-SECRET-KEY"
    settings.ANTHROPIC_BASE_URL = fake_upstream.base_url
    settings.ANTHROPIC_READ_TIMEOUT = 2.0
    settings.CHAT_MODEL = "claude-sonnet-4-5-20250929"
    fake_upstream.requests.clear()
    return fake_upstream


@pytest.fixture
def make_user(django_user_model):
    def make(username: str = "alice", password: str = "correct horse battery") -> object:
        return django_user_model.objects.create_user(username=username, password=password)

    return make
