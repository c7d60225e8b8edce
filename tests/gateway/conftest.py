"""The gateway's fixtures: chatsite served on loopback, a member with a key, the fake upstream."""

import logging
from decimal import Decimal

import pytest
from django.core.asgi import get_asgi_application

from accounts import api_keys
from conversations.fake_upstream import FakeUpstream
from conversations.models import CatalogModel

from .live import LiveServer

# Distinctive, so a search of every response and log line can tell it never leaked.
SERVER_KEY = "sk-ant-gateway-DISTINCTIVE-7f3a9c"
MODEL = "claude-sonnet-4-5-20250929"


@pytest.fixture(scope="session")
def gateway_upstream():
    server = FakeUpstream(ttft=0.0, token_delay=0.0, api_key=SERVER_KEY, record_bodies=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chatsite_live():
    server = LiveServer(get_asgi_application()).start()
    yield server
    server.stop()


@pytest.fixture
def upstream(gateway_upstream, settings):
    settings.DEMO_MODE = False
    settings.ANTHROPIC_API_KEY = SERVER_KEY
    settings.ANTHROPIC_BASE_URL = gateway_upstream.base_url
    settings.ANTHROPIC_READ_TIMEOUT = 5.0
    settings.ANTHROPIC_MAX_RETRIES = 0
    settings.GATEWAY_REQUESTS_PER_MINUTE = 0
    settings.GATEWAY_CONCURRENT_STREAMS = 0
    settings.CHAT_MAX_CONCURRENT_REPLIES = 0
    gateway_upstream.requests.clear()
    gateway_upstream.connections.clear()
    gateway_upstream.prompt_cache.clear()
    return gateway_upstream


@pytest.fixture
def sonnet(upstream):
    model, _ = CatalogModel.objects.update_or_create(
        model_id=MODEL,
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


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user(username="mia", password="pw")


@pytest.fixture
def member_key(member, sonnet):
    """(the key's row, the key itself)."""
    return api_keys.create_key(member, "laptop")


@pytest.fixture
def gateway(chatsite_live, upstream, member_key):
    """The base URL of chatsite serving the gateway, with the fake upstream behind it."""
    return chatsite_live.url


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog
