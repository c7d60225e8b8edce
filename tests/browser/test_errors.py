"""Upstream failures in the browser: the partial reply stays, the error shows, Retry works."""

import json

import pytest
from playwright.sync_api import expect

from conversations.fake_upstream import script

from .chat_page import ChatPage, ChatThread

pytestmark = pytest.mark.browser


@pytest.fixture
def upstream_recovers_on_retry(monkeypatch):
    """The same request faults only the first time: the upstream is back when the user retries.

    The fake has no fail-once mid-stream directive, and a retry sends the very same request.
    """
    plan_reply = script.plan_reply
    seen: set[str] = set()

    def plan_once(body, ttft, delay):
        reply = plan_reply(body, ttft, delay)
        key = json.dumps(body.get("messages"), sort_keys=True)
        if key in seen:
            reply.fault = None
        seen.add(key)
        return reply

    monkeypatch.setattr(script, "plan_reply", plan_once)


def test_error_mid_stream_keeps_the_partial_text_and_retry_makes_a_new_version(
    page, sign_up, upstream_recovers_on_retry
):
    chat = ChatThread(sign_up(page))
    reply = chat.send("Say something !fault=error_mid")
    ChatPage.wait_for_status(reply, "failed")
    failed_id = chat.message_id(reply)

    assert ChatPage.text_of(reply).startswith("Demo reply"), ChatPage.text_of(reply)
    error = reply.locator(".message-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("overloaded")
    retry = error.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()

    retry.click()

    # The new reply is a second version of the failed one, in its place (decision 70).
    ChatThread.expect_version(reply, "2/2")
    ChatPage.wait_for_status(reply, "complete")
    expect(chat.replies).to_have_count(1)
    expect(reply.locator(".content h2")).to_have_text("Demo reply")
    expect(reply.locator(".content pre code")).to_contain_text("def greet")
    expect(reply.locator(".message-error")).to_have_count(0)
    # The failed version keeps its text and error, one flip away.
    chat.flip(reply, "prev")
    expect(reply).to_have_attribute("data-id", str(failed_id))
    expect(reply.locator(".message-error")).to_contain_text("overloaded")


def test_message_after_a_failed_reply_is_answered_without_asking_the_failed_one_again(
    page, sign_up
):
    chat = ChatPage(sign_up(page))
    failed = chat.send("Say something !fault=error_mid")
    ChatPage.wait_for_status(failed, "failed")

    # Sent again with this one, the failed question's fault would fail it too (decision 40).
    answered = chat.send("Something else !tokens=3")

    ChatPage.wait_for_status(answered, "complete")
    assert ChatPage.text_of(answered) == "w1 w2 w3"
    expect(answered.locator(".message-error")).to_have_count(0)
