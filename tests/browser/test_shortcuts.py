"""Keyboard shortcuts in the browser, in English and Japanese: each one does its job, "?" does
nothing while typing, and no shortcut acts on a keydown an input method is composing
(issue 16 item 7)."""

import re

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser

# A keydown as Chromium sends it while an IME composes: isComposing, and keyCode 229.
COMPOSING_KEYDOWN = """([key, ctrl, shift, legacy]) => {
    const event = new KeyboardEvent("keydown", {
        key, ctrlKey: ctrl, shiftKey: shift, bubbles: true, cancelable: true,
        isComposing: !legacy,
    });
    if (legacy) Object.defineProperty(event, "keyCode", { value: 229 });
    (document.activeElement || document.body).dispatchEvent(event);
}"""


def focused_id(chat: ChatPage) -> str:
    return chat.page.evaluate("document.activeElement ? document.activeElement.id : ''")


def test_every_shortcut_works_and_none_fires_while_composing(lang_page, sign_up):
    chat = ChatPage(sign_up(lang_page))
    page = chat.page
    chat.wait_until_connected()
    help_dialog = page.locator("#shortcuts-help")
    search_box = page.locator("#search-input")

    # Composing: neither the search shortcut nor "?" acts (isComposing, then keyCode 229).
    page.locator("body").click()
    for legacy in (False, True):
        page.evaluate(COMPOSING_KEYDOWN, ["k", True, False, legacy])
        page.evaluate(COMPOSING_KEYDOWN, ["?", False, True, legacy])
        expect(help_dialog).not_to_be_visible()
        assert focused_id(chat) != "search-input"

    # Ctrl+K: the sidebar's search; Shift+Escape: back to the message box.
    page.keyboard.press("Control+k")
    expect(search_box).to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(chat.input).to_be_focused()

    # "?" typed in the message box is a question mark, not the help.
    chat.input.fill("")
    chat.input.type("?")
    expect(chat.input).to_have_value("?")
    expect(help_dialog).not_to_be_visible()
    chat.input.fill("")

    # "?" elsewhere opens the help; Escape closes it (and stops nothing).
    page.locator("#chat-title").click()
    page.keyboard.press("?")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.locator("tr[data-shortcut]")).to_have_count(5)
    page.keyboard.press("Escape")
    expect(help_dialog).not_to_be_visible()

    # Escape stops a streaming reply.
    reply = chat.send("Tell me a long story !tokens=400 !delay=30")
    ChatPage.wait_for_word(reply, "w3")
    page.evaluate(COMPOSING_KEYDOWN, ["Escape", False, False, False])
    expect(reply).to_have_attribute("data-status", "streaming")
    page.keyboard.press("Escape")
    ChatPage.wait_for_status(reply, "stopped")
    conversation = chat.conversation_id()

    # Ctrl+Shift+O: a new chat.
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    assert conversation
