"""Pasting a key in the composer: a warning names it, "Send anyway" sends; English and Japanese."""

import json

import pytest
from playwright.sync_api import Page, expect

from conversations.secret_scan import find_secrets
from tests.conversations.test_secret_scan import FAKE

from .chat_page import ChatPage, words
from .test_i18n import assert_japanese, assert_no_english_ui

pytestmark = pytest.mark.browser

FAKE_AWS_ID = "AKIA" + "IOSFODNN7EXAMPL3"
TEXT = f"Deploy with {FAKE_AWS_ID} please !tokens=4"
EMPTY_PATTERNS = """document.addEventListener("readystatechange", () => {
  const block = document.getElementById("secret-patterns");
  if (block && document.readyState === "interactive") block.textContent = "[]";
});"""


def warning(page: Page):
    return page.locator("#secret-warning")


def paste_and_press_enter(chat: ChatPage, text: str) -> None:
    chat.wait_until_connected()
    chat.input.fill(text)
    chat.input.press("Enter")


def send_anyway_and_see_the_reply(chat: ChatPage, text: str) -> None:
    chat.page.locator("#secret-send-anyway").click()
    expect(warning(chat.page)).to_be_hidden()
    reply = chat.replies.nth(0)
    ChatPage.wait_for_status(reply, "complete")
    assert ChatPage.text_of(reply) == words(4)
    expect(chat.user_messages.nth(0)).to_have_text(text)
    expect(chat.input).to_have_value("")


def test_pasted_key_is_warned_about_and_sent_anyway(page, sign_up):
    chat = ChatPage(sign_up(page))
    paste_and_press_enter(chat, TEXT)
    expect(warning(page)).to_be_visible()
    expect(warning(page)).to_contain_text("This looks like an AWS access key")
    # Nothing left the page: no message shown, the words still in the box.
    expect(chat.user_messages).to_have_count(0)
    expect(chat.input).to_have_value(TEXT)
    send_anyway_and_see_the_reply(chat, TEXT)


def test_edit_hides_the_warning_and_keeps_the_words(page, sign_up):
    chat = ChatPage(sign_up(page))
    paste_and_press_enter(chat, TEXT)
    page.locator("#secret-edit").click()
    expect(warning(page)).to_be_hidden()
    expect(chat.input).to_be_focused()
    expect(chat.input).to_have_value(TEXT)
    chat.input.fill("Deploy with the key from the vault please !tokens=4")
    chat.input.press("Enter")
    ChatPage.wait_for_status(chat.replies.nth(0), "complete")
    expect(warning(page)).to_be_hidden()


def test_server_refusal_offers_send_anyway_when_the_page_missed_the_key(page, sign_up):
    """A page whose patterns differ (here: none) still gets the server's refusal and choice."""
    chat = ChatPage(sign_up(page))

    # Parsing ends ("interactive") before the deferred chat.js runs: it reads an empty list.
    page.add_init_script(EMPTY_PATTERNS)
    page.reload()
    assert page.evaluate("document.getElementById('secret-patterns').textContent") == "[]"
    paste_and_press_enter(chat, TEXT)
    expect(warning(page)).to_contain_text("AWS access key")
    expect(chat.user_messages).to_have_count(0)
    expect(chat.input).to_have_value(TEXT)  # the server's refusal put the words back
    send_anyway_and_see_the_reply(chat, TEXT)


def test_page_and_server_patterns_find_the_same_kinds(page, sign_up):
    """chat.js compiles the server's list with RegExp: the two regex dialects agree."""
    sign_up(page)
    samples = [*FAKE.values(), TEXT, "What does the sk- prefix mean? AKIA alone, ghp_ alone."]
    found = page.evaluate(
        """(samples) => {
            const patterns = JSON.parse(document.getElementById("secret-patterns").textContent);
            return samples.map((text) => [...new Set(patterns
                .filter((p) => new RegExp(p.pattern, p.flags).test(text))
                .map((p) => p.kind))].sort());
        }""",
        samples,
    )
    expected = [sorted({f.kind for f in find_secrets(s)}) for s in samples]
    assert found == expected, json.dumps(list(zip(samples, found, expected, strict=True)), indent=1)


def test_warning_and_its_buttons_are_in_japanese(new_context, sign_up):
    page = new_context(locale="ja-JP", extra_http_headers={"Accept-Language": "ja"}).new_page()
    chat = ChatPage(sign_up(page))
    paste_and_press_enter(chat, TEXT)
    expect(warning(page)).to_be_visible()
    text = warning(page).inner_text()
    assert_japanese(text, "the secret warning")
    assert "AWS" in text and "looks like" not in text
    assert_japanese(page.locator("#secret-send-anyway").inner_text(), "Send anyway")
    assert_japanese(page.locator("#secret-edit").inner_text(), "Edit")
    assert_no_english_ui(text, "the secret warning")
    send_anyway_and_see_the_reply(chat, TEXT)
