"""Two Daphne workers sharing Redis: a user's sends per minute are counted once, not per worker."""

import shutil
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page

from tests.redis_server import redis_server

from .conftest import (
    DEFAULT_TIMEOUT_MS,
    _free_port,
    _sign_up,
    prepare_data,
    start_daphne,
    stop_process,
    unique_username,
)

pytestmark = pytest.mark.browser

SENDS_PER_MINUTE = 3

# Opens a socket from the page (its session cookie goes along), sends each text as a new
# conversation one after the other, and returns the first answer to each: the reply's
# message.created, or an error frame.
SEND_ALL = """
async ([url, texts, prefix]) => {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const answers = [];
  for (const [i, text] of texts.entries()) {
    const clientId = prefix + i;
    const answer = new Promise((resolve) => {
      ws.addEventListener("message", function seen(event) {
        const frame = JSON.parse(event.data);
        if (frame.client_id !== clientId) return;
        if (frame.type === "error" || frame.type === "message.created") {
          ws.removeEventListener("message", seen);
          resolve(frame);
        }
      });
    });
    ws.send(JSON.stringify(
      {type: "send", conversation: null, text, attachments: [], client_id: clientId}));
    answers.push(await answer);
  }
  ws.close();
  return answers.map((f) => f.type === "error" ? [f.code, f.retry_after] : ["sent", null]);
}
"""


@pytest.fixture(scope="module")
def limited_workers(browser_upstream) -> Iterator[tuple[list[str], str]]:
    """Two workers on one database and one Redis, with a small per-minute send limit."""
    with redis_server() as redis_url:
        data_dir, env = prepare_data(
            browser_upstream,
            "chatsite-worker-limits-",
            REDIS_URL=redis_url,
            CHAT_SENDS_PER_MINUTE=str(SENDS_PER_MINUTE),
            CHAT_MAX_CONCURRENT_REPLIES="0",
        )
        processes, urls = [], []
        try:
            for n in (1, 2):
                port = _free_port()
                processes.append(start_daphne(env, port, f"limits-worker-{n}"))
                urls.append(f"http://127.0.0.1:{port}")
            yield urls, redis_url
        finally:
            for process in processes:
                stop_process(process)
            shutil.rmtree(data_dir, ignore_errors=True)


def send_all(page: Page, base_url: str, texts: list[str], prefix: str) -> list[list]:
    socket_url = base_url.replace("http://", "ws://") + "/ws/chat/"
    return page.evaluate(SEND_ALL, [socket_url, texts, prefix])


def test_the_send_limit_holds_across_two_workers(browser: Browser, limited_workers):
    (first_url, second_url), redis_url = limited_workers
    # Cookies belong to the host, not the port: one sign-in serves both workers.
    context = browser.new_context(base_url=first_url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        first = _sign_up(context.new_page(), unique_username("limits"))
        first.goto("/accounts/usage/")
        second = context.new_page()
        second.goto(f"{second_url}/accounts/usage/")

        on_first = send_all(first, first_url, ["one !tokens=2", "two !tokens=2"], "a")
        on_second = send_all(second, second_url, ["three !tokens=2", "four !tokens=2"], "b")

        assert on_first == [["sent", None], ["sent", None]]
        assert on_second[0] == ["sent", None]
        code, retry_after = on_second[1]
        assert code == "rate_limited" and 1 <= retry_after <= 60
        # The count lives in Redis, where both workers read it.
        assert redis.Redis.from_url(redis_url).keys("chatsite:limit:send:*")
    finally:
        context.close()
