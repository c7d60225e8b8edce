"""The process-wide Anthropic client, pointed at the real API, a gateway, or the demo upstream."""

import asyncio
import logging
import threading
import weakref

from django.conf import settings

from .anthropic import AnthropicClient, ClientConfig

log = logging.getLogger(__name__)

_lock = threading.Lock()
# One client per event loop: an httpx pool is bound to the loop it was made on (tests and
# sync admin views run other loops than the server's).
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AnthropicClient]" = (
    weakref.WeakKeyDictionary()
)
_demo = None


def _demo_base_url() -> str:
    """Start the fake upstream on loopback once per process (no API key: demo mode)."""
    global _demo
    if _demo is None:
        from .fake_upstream import FakeUpstream

        _demo = FakeUpstream(ttft=0.3, token_delay=0.03).start()
        log.info("No ANTHROPIC_API_KEY: replies come from the demo model at %s", _demo.base_url)
    return _demo.base_url


def client_config() -> ClientConfig:
    if settings.DEMO_MODE:
        base_url, api_key = _demo_base_url(), "demo"
    else:
        base_url, api_key = settings.ANTHROPIC_BASE_URL, settings.ANTHROPIC_API_KEY
    return ClientConfig(
        base_url=base_url,
        api_key=api_key,
        version=settings.ANTHROPIC_VERSION,
        connect_timeout=settings.ANTHROPIC_CONNECT_TIMEOUT,
        read_timeout=settings.ANTHROPIC_READ_TIMEOUT,
        max_retries=settings.ANTHROPIC_MAX_RETRIES,
    )


def get_client() -> AnthropicClient:
    """The pooled client of the running event loop (one per process in production)."""
    loop = asyncio.get_running_loop()
    with _lock:
        client = _clients.get(loop)
        if client is None:
            client = _clients[loop] = AnthropicClient(client_config())
        return client


async def close_client() -> None:
    """Close the running loop's client (shutdown and tests)."""
    with _lock:
        client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
