"""Shared fixtures: the fake upstream on loopback, users, and a clean runner per test."""

import importlib
from collections.abc import Iterator
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

from conversations.fake_upstream import FakeUpstream
from conversations.models import CatalogModel
from conversations.runner import get_runner
from conversations.upstream import close_client


@pytest.fixture(scope="session", autouse=True)
def _collected_static(django_db_blocker, tmp_path_factory):
    # Pages use the manifest storage they ship with, so the tests collect static files once,
    # into a directory of this run's own (test runs side by side must not share one).
    settings.STATIC_ROOT = tmp_path_factory.mktemp("static")
    with django_db_blocker.unblock():
        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[list[str]]:
    """MD5 for the whole run; yields the hashers the settings name.

    The production hasher costs a third of a second per password, most of the time of the
    fast tiers. Tests whose behaviour is signing in, signing up or changing a password ask
    for the real one with the `real_password_hasher` marker.
    """
    configured = list(settings.PASSWORD_HASHERS)
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield configured


@pytest.fixture(autouse=True)
def _real_password_hasher(request, _fast_password_hashing):
    if request.node.get_closest_marker("real_password_hasher") is not None:
        request.getfixturevalue("settings").PASSWORD_HASHERS = _fast_password_hashing


@pytest.fixture(autouse=True)
def _english_after_each_test() -> Iterator[None]:
    """A request with the Japanese cookie leaves its language active in the thread (the locale
    middleware activates and never resets): later tests would read Japanese messages."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _seeded_catalog(request):
    """Transactional tests flush the database, data migrations included: seed the catalog again."""
    if request.node.get_closest_marker("django_db") is None:
        return
    from django.apps import apps

    seed = importlib.import_module("conversations.migrations.0003_seed_catalog").seed
    seed(apps, None)
    thinking = importlib.import_module(
        "conversations.migrations.0010_catalog_upstream_id_and_thinking"
    )
    thinking.official_api_defaults(apps, None)
    # The flush and the seed's bulk updates send no signal: the catalog cache starts afresh.
    from conversations import model_cache

    model_cache.forget()


@pytest.fixture(autouse=True)
def _ledger_checked(request):
    """After every test that touches the database, `check_ledger` must find nothing wrong.

    Tests that write deliberately inconsistent entries (report arithmetic on hand-made
    charges, the check's own corruption cases) opt out with `ledger_unchecked`.
    """
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    # Asked for here, so the database is torn down after this check, not before it.
    request.getfixturevalue("_django_db_helper")
    yield
    if request.node.get_closest_marker("ledger_unchecked") is None:
        from accounts.ledger_check import problems

        with django_db_blocker_unblocked(request):
            found = problems()
        assert not found, "check_ledger: " + "; ".join(found)


def django_db_blocker_unblocked(request):
    return request.getfixturevalue("django_db_blocker").unblock()


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
    fake_upstream.prompt_cache.clear()  # each test starts with nothing cached
    return fake_upstream


@pytest.fixture
def make_user(django_user_model):
    def make(username: str = "alice", password: str = "correct horse battery") -> object:
        return django_user_model.objects.create_user(username=username, password=password)

    return make


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
async def alice(make_user):
    return await sync_to_async(make_user)("alice")


@pytest.fixture
async def bob(make_user):
    return await sync_to_async(make_user)("bob")


@pytest.fixture(autouse=True)
def _no_automatic_titles(settings):
    """Automatic titles are an extra upstream call and charge after a chat's first reply: off,
    so each test sees only the calls it makes; the `auto_titles` fixture turns them on."""
    settings.CHAT_AUTO_TITLES = False


@pytest.fixture
def auto_titles(settings, db):
    """Automatic titles on, written by the seeded Claude Haiku 4.5 (decision 72)."""
    settings.CHAT_AUTO_TITLES = True
    CatalogModel.objects.filter(is_title_model=True).update(is_title_model=False)
    CatalogModel.objects.filter(model_id="claude-haiku-4-5-20251001").update(
        is_title_model=True, enabled=True
    )
    return CatalogModel.objects.get(is_title_model=True)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory):
    """Each test stores its attachments in a directory of its own (never DATA_DIR/media)."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    return settings.MEDIA_ROOT
