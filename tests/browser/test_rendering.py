"""Model output and user text reach the page only as inert, sanitized markup."""

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser

USER_MARKUP = '<img src=x onerror="window.__xss=9"> hello !xss'


def assert_inert(chat: ChatPage) -> None:
    reply = chat.replies.first
    assert chat.page.evaluate("window.__xss") is None
    expect(chat.messages.locator("img")).to_have_count(0)
    expect(chat.messages.locator("script")).to_have_count(0)
    expect(chat.messages.locator("[onerror]")).to_have_count(0)
    expect(chat.messages.locator('a[href^="javascript:"]')).to_have_count(0)
    expect(reply.locator(".content")).to_contain_text("<script>window.__xss=2</script>")
    expect(reply.locator(".content")).to_contain_text('<img src=x onerror="window.__xss=1">')
    expect(chat.user_messages.first).to_contain_text(USER_MARKUP)


def test_markup_in_model_output_and_user_text_is_shown_as_text(page, sign_up):
    chat = ChatPage(sign_up(page))
    reply = chat.send(USER_MARKUP)
    ChatPage.wait_for_status(reply, "complete")
    page.wait_for_timeout(300)  # an injected onerror would have fired by now
    assert_inert(chat)

    # Stored messages rendered by the server on reload are just as inert.
    page.reload()
    ChatPage.wait_for_status(chat.replies.first, "complete")
    page.wait_for_timeout(300)
    assert_inert(chat)
