"""Upstream failures in the browser: the partial reply stays, the error shows, Retry works."""

import json

import pytest
from playwright.sync_api import expect

from conversations.fake_upstream import script

from .chat_page import ChatPage

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


def test_error_mid_stream_keeps_the_partial_text_and_retry_makes_a_new_reply(
    page, sign_up, upstream_recovers_on_retry
):
    chat = ChatPage(sign_up(page))
    failed = chat.send("Say something !fault=error_mid")
    ChatPage.wait_for_status(failed, "failed")

    assert ChatPage.text_of(failed).startswith("Demo reply"), ChatPage.text_of(failed)
    error = failed.locator(".message-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("overloaded")
    retry = error.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()

    retry.click()

    expect(chat.replies).to_have_count(2)
    again = chat.replies.nth(1)
    ChatPage.wait_for_status(again, "complete")
    expect(again.locator(".content h2")).to_have_text("Demo reply")
    expect(again.locator(".content pre code")).to_contain_text("def greet")
    # The failed reply keeps its text and error, but only the last reply can be retried.
    expect(failed.locator(".message-error")).to_be_visible()
    expect(failed.get_by_role("button", name="Retry")).to_have_count(0)


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
