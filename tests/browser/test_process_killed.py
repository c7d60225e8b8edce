"""A server process killed mid-reply: after a restart the reply is interrupted, its text kept,
and it is charged (estimated); no hold is left open."""

import shutil
import signal
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage
from .conftest import (
    BASE_DIR,
    DEFAULT_TIMEOUT_MS,
    _free_port,
    _sign_up,
    prepare_data,
    start_daphne,
    stop_process,
    unique_username,
)

pytestmark = pytest.mark.browser

LEDGER_SUMMARY = (
    "from accounts.models import LedgerEntry as E; "
    "open_holds = E.objects.filter(kind='hold', settled_by__isnull=True).count(); "
    "charges = list(E.objects.filter(kind='charge').values_list('estimated', 'output_tokens')); "
    "print(open_holds, charges)"
)


def test_reply_of_a_killed_process_is_interrupted_kept_and_charged(browser, browser_upstream):
    data_dir, env = prepare_data(browser_upstream, "chatsite-killed-")
    port = _free_port()
    first = start_daphne(env, port, "killed-before")
    second = None
    context = browser.new_context(base_url=f"http://127.0.0.1:{port}")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        chat = ChatPage(_sign_up(context.new_page(), unique_username("killed")))
        chat.wait_until_connected()
        reply = chat.send("a long one !tokens=600 !delay=20")
        chat.wait_for_word(reply, "w120")  # past at least one checkpoint (1 s)
        conversation_id = chat.conversation_id()

        first.send_signal(signal.SIGKILL)  # no graceful shutdown: the reply is orphaned
        first.wait(10)
        second = start_daphne(env, port, "killed-after")

        chat.page.goto(f"/c/{conversation_id}/")
        restarted = ChatPage(chat.page).replies.last
        ChatPage.wait_for_status(restarted, "interrupted")
        expect(restarted.locator(".message-error")).to_be_visible()
        kept = ChatPage.text_of(restarted).split()
        assert kept[:50] == [f"w{i}" for i in range(1, 51)], "the checkpointed text is kept"

        summary = (
            subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", LEDGER_SUMMARY],
                cwd=BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )  # after the shell's own banner
        open_holds, charges = summary.split(" ", 1)
        assert open_holds == "0", summary
        assert charges.startswith("[(True, ") and "(True, 0)" not in charges, summary
    finally:
        context.close()
        stop_process(first)
        stop_process(second)
        shutil.rmtree(data_dir, ignore_errors=True)
