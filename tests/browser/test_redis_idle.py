"""Two Daphne workers on the Redis channel layer: idle sockets stay open and nothing is logged."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket

from tests.redis_server import redis_server

from .chat_page import ChatPage
from .conftest import (
    ARTIFACTS,
    DEFAULT_TIMEOUT_MS,
    _free_port,
    _sign_up,
    prepare_data,
    start_daphne,
    stop_process,
    unique_username,
)

pytestmark = pytest.mark.browser

# Three times channels-redis's 5 s blocking pop: with a socket timeout at or below it, every
# idle receive on the layer times out within this window (issue 8, item 11).
IDLE_SECONDS = 15
ERROR_MARKS = ("Timeout reading", "Traceback", " ERROR ", " CRITICAL ")


@pytest.fixture(scope="module")
def idle_workers(browser_upstream) -> Iterator[list[tuple[str, Path]]]:
    """Two Daphne processes on one database and a Redis layer: each one's URL and log file."""
    with redis_server() as redis_url:
        data_dir, env = prepare_data(browser_upstream, "chatsite-idle-", REDIS_URL=redis_url)
        processes, workers = [], []
        try:
            for n in (1, 2):
                port = _free_port()
                processes.append(start_daphne(env, port, f"idle-worker-{n}"))
                workers.append((f"http://127.0.0.1:{port}", ARTIFACTS / f"idle-worker-{n}.log"))
            yield workers
        finally:
            for process in processes:
                stop_process(process)
            shutil.rmtree(data_dir, ignore_errors=True)


def _chat_page(browser: Browser, url: str, sockets: list[WebSocket], closed: list[str]) -> Page:
    """A new user signed up on `url`, on the chat page with its socket open."""
    context: BrowserContext = browser.new_context(base_url=url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()

    def opened(socket: WebSocket) -> None:
        sockets.append(socket)
        socket.on("close", lambda s: closed.append(f"{url}: {s.url}"))

    page.on("websocket", opened)
    _sign_up(page, unique_username("idle"))
    ChatPage(page).wait_until_connected()
    return page


def test_idle_sockets_on_the_redis_layer_stay_open_without_errors(browser, idle_workers):
    sockets: list[WebSocket] = []
    closed: list[str] = []
    pages = [_chat_page(browser, url, sockets, closed) for url, _log in idle_workers]
    try:
        assert len(sockets) == 2
        pages[0].wait_for_timeout(IDLE_SECONDS * 1000)  # both pages idle; events still arrive

        assert not closed, f"idle sockets were closed: {closed}"
        assert len(sockets) == 2, "a page reconnected while idle"
        for page in pages:  # the sockets still carry a reply after the wait
            chat = ChatPage(page)
            ChatPage.wait_for_status(chat.send("Still there? !tokens=3"), "complete")
        assert len(sockets) == 2 and not closed
        for url, log in idle_workers:
            text = log.read_text(errors="replace")
            marks = [m for m in ERROR_MARKS if m in text]
            assert not marks, f"{url} logged {marks}:\n{text[-3000:]}"
    finally:
        for page in pages:
            page.context.close()
