"""A Japanese browser gets the Japanese interface, error messages included."""

import re

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser

JAPANESE = re.compile(r"[\u3040-\u309f\u30a0-\u30ff\u4e00-\u9fff]")
ENGLISH_UI = ["Sign in", "Send", "New chat", "Create an account", "Username", "Password"]


def assert_japanese(text: str, what: str) -> None:
    assert JAPANESE.search(text), f"{what} is not in Japanese: {text!r}"


def assert_no_english_ui(text: str, what: str) -> None:
    found = [s for s in ENGLISH_UI if re.search(rf"\b{re.escape(s)}\b", text)]
    assert not found, f"{what} still shows English {found}: {text!r}"


@pytest.fixture
def ja_page(new_context):
    return new_context(locale="ja-JP", extra_http_headers={"Accept-Language": "ja"}).new_page()


def test_sign_in_page_is_in_japanese(ja_page):
    ja_page.goto("/accounts/login/")
    expect(ja_page.locator("html")).to_have_attribute("lang", "ja")
    assert_japanese(ja_page.locator("h1").inner_text(), "the sign-in heading")
    assert_japanese(ja_page.locator("button.primary").inner_text(), "the sign-in button")
    assert_no_english_ui(ja_page.locator("main").inner_text(), "the sign-in page")


def test_chat_and_upstream_errors_are_in_japanese(ja_page, sign_up, artifacts):
    chat = ChatPage(sign_up(ja_page))
    expect(ja_page.locator("html")).to_have_attribute("lang", "ja")
    assert_japanese(ja_page.locator("a.new-chat").inner_text(), "the New chat link")
    assert_japanese(chat.input.get_attribute("placeholder") or "", "the composer placeholder")
    assert_japanese(chat.send_button.inner_text(), "the Send button")
    assert_no_english_ui(ja_page.locator("body").inner_text(), "the chat page")

    reply = chat.send("!fault=529")
    ChatPage.wait_for_status(reply, "failed")
    error = reply.locator(".message-error")
    expect(error).to_be_visible()
    assert_japanese(error.inner_text(), "the upstream error")
    assert "overloaded" not in error.inner_text().lower()
    ja_page.screenshot(path=str(artifacts / "chat-ja-error.png"))
