"""Two Daphne workers behind the Redis channel layer: a reply written by one is followed and
stopped from a tab on the other."""

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.redis_server import redis_server

from .chat_page import ChatPage, normalised, words
from .conftest import (
    DEFAULT_TIMEOUT_MS,
    PASSWORD,
    _free_port,
    _sign_up,
    prepare_data,
    start_daphne,
    stop_process,
    unique_username,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def two_workers(browser_upstream) -> Iterator[list[str]]:
    """Two Daphne processes sharing one database and a Redis channel layer."""
    with redis_server() as redis_url:
        data_dir, env = prepare_data(browser_upstream, "chatsite-workers-", REDIS_URL=redis_url)
        processes, urls = [], []
        try:
            for n in (1, 2):
                port = _free_port()
                processes.append(start_daphne(env, port, f"worker-{n}"))
                urls.append(f"http://127.0.0.1:{port}")
            yield urls
        finally:
            for process in processes:
                stop_process(process)
            shutil.rmtree(data_dir, ignore_errors=True)


def _context(browser: Browser, url: str, errors: list[str]) -> BrowserContext:
    context = browser.new_context(base_url=url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.on("console", lambda m: m.type == "error" and errors.append(m.text))
    context.on("weberror", lambda e: errors.append(str(e.error)))
    return context


@contextmanager
def _writer_and_another_worker(
    browser: Browser, two_workers: list[str], name: str
) -> Iterator[tuple[ChatPage, str, BrowserContext, list[str]]]:
    """A new user writing on the first worker (with its name), a browser context on the
    second, and the console errors of both; the contexts are closed afterwards."""
    errors: list[str] = []
    first, second = (_context(browser, url, errors) for url in two_workers)
    try:
        username = unique_username(name)
        writer = ChatPage(_sign_up(first.new_page(), username))
        writer.wait_until_connected()
        yield writer, username, second, errors
    finally:
        first.close()
        second.close()


def _follow(page: Page, username: str, conversation_id: int) -> ChatPage:
    """Sign in on this page's worker and open the conversation."""
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button.primary")
    page.goto(f"/c/{conversation_id}/")
    follower = ChatPage(page)
    follower.wait_until_connected()
    return follower


def test_tab_on_another_worker_follows_and_stops_the_reply(browser, two_workers):
    with _writer_and_another_worker(browser, two_workers, "workers") as context:
        writer, username, second, errors = context
        reply = writer.send("follow me !tokens=400 !delay=25")
        writer.wait_for_word(reply, "w20")
        conversation_id = writer.conversation_id()

        page = second.new_page()
        follower = _follow(page, username, conversation_id)
        followed = follower.replies.last
        # Deltas cross from worker 1 through Redis: the reply keeps growing on worker 2.
        follower.wait_for_word(followed, "w60")
        expect(follower.stop_button).to_be_visible()

        follower.stop_button.click()  # worker 2 asks worker 1, which owns the reply, to stop

        ChatPage.wait_for_status(followed, "stopped")
        ChatPage.wait_for_status(reply, "stopped")
        kept = ChatPage.text_of(reply)
        assert kept == ChatPage.text_of(followed)
        assert words(400).startswith(kept) and len(kept.split()) < 400
        page.reload()
        assert normalised(ChatPage.text_of(ChatPage(page).replies.last)) == kept
        assert not errors, errors


def test_a_tab_open_on_another_worker_before_the_reply_sees_it_stream(browser, two_workers):
    # Decision 103: deltas go through Redis only when another worker follows the conversation.
    # Here the follower is there before the reply starts, so no snapshot request announces it:
    # the writer's worker must find it in the conversation's group.
    with _writer_and_another_worker(browser, two_workers, "early") as context:
        writer, username, second, errors = context
        ChatPage.wait_for_status(writer.send("first !tokens=3"), "complete")
        conversation_id = writer.conversation_id()

        page = second.new_page()
        follower = _follow(page, username, conversation_id)
        expect(follower.replies).to_have_count(1)

        writer.send("second !tokens=200 !delay=25")
        expect(follower.replies).to_have_count(2)
        followed = follower.replies.last
        follower.wait_for_word(followed, "w40")  # growing, long before it ends
        assert ChatPage.text_of(followed).split()[-1] != "w200"
        ChatPage.wait_for_status(followed, "complete")
        assert normalised(ChatPage.text_of(followed)) == normalised(words(200))
        assert not errors, errors


def test_sign_out_on_one_worker_closes_the_sessions_socket_on_the_other(browser, two_workers):
    errors: list[str] = []
    first_url, second_url = two_workers
    # One browser: cookies are per host, not per port, so both workers see its one session.
    browser_context = _context(browser, first_url, errors)
    elsewhere_context = _context(browser, second_url, errors)
    try:
        username = unique_username("signout")
        signing_out = _sign_up(browser_context.new_page(), username)  # on worker 1
        # The same user in another browser, also on worker 2: a session of its own.
        other = elsewhere_context.new_page()
        other.goto("/accounts/login/")
        other.fill("#id_username", username)
        other.fill("#id_password", PASSWORD)
        other.click("button.primary")
        other_chat = ChatPage(other)
        other_chat.wait_until_connected()
        on_second = browser_context.new_page()
        sockets = []
        on_second.on("websocket", lambda socket: sockets.append(socket))
        on_second.goto(f"{second_url}/")
        ChatPage(on_second).wait_until_connected()

        signing_out.get_by_role("button", name="Sign out").click()  # handled by worker 1

        # Worker 2 closes that session's socket with 4401; the page tries once more (a new
        # password would have left it a new session key), is refused, and goes to sign in.
        on_second.wait_for_url(re.compile(r"/accounts/login/"))
        assert len(sockets) == 2, "the open socket was closed, not refused on a reconnect"
        reply = other_chat.send("still signed in? !tokens=3")
        ChatPage.wait_for_status(reply, "complete")
        assert ChatPage.text_of(reply) == words(3)
        assert not errors, errors
    finally:
        browser_context.close()
        elsewhere_context.close()
