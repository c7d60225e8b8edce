""" "Get code" in the browser: the dialog opens from a reply's actions, shows the request as cURL,
Python and JavaScript, copies the tab shown, and closes with Escape; English and Japanese,
desktop and phone width (decision 83)."""

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage, ChatThread
from .conftest import API_KEY
from .test_turns import DESKTOP, JAPANESE, PHONE, open_chat

pytestmark = pytest.mark.browser

DARK_PHONE = PHONE | {"color_scheme": "dark"}
COPIED = {"en": "Copied", "ja": "コピーしました"}
COPY = {"en": "Copy", "ja": "コピー"}


@pytest.mark.parametrize(
    ("lang", "device", "width"),
    [("en", DESKTOP, 1280), ("ja", DESKTOP, 1280), ("en", PHONE, 375), ("ja", DARK_PHONE, 375)],
    ids=["en-desktop", "ja-desktop", "en-phone", "ja-phone-dark"],
)
def test_get_code_opens_switches_language_copies_and_closes(
    new_context, sign_up, artifacts, lang, device, width
):
    chat = open_chat(new_context, sign_up, lang, device)
    reply = chat.send("Write a haiku about tea, it's 'quoted'")
    ChatPage.wait_for_status(reply, "complete")

    chat.click_action(reply, "get-code-open")
    dialog = chat.page.locator("#get-code")
    expect(dialog).to_be_visible()
    curl_tab = dialog.get_by_role("tab", name="cURL")
    expect(curl_tab).to_have_attribute("aria-selected", "true")
    expect(curl_tab).to_be_focused()
    code = dialog.locator(".get-code-text")
    expect(code).to_contain_text("/v1/messages")
    expect(code).to_contain_text('-H "x-api-key: $ANTHROPIC_API_KEY"')
    assert API_KEY not in code.text_content()
    expect(dialog.locator(".get-code-note a")).to_have_attribute("href", "/accounts/api-keys/")
    if lang == "ja":
        assert JAPANESE.search(dialog.locator(".get-code-copy").text_content())

    # The arrow key moves to Python; Copy puts exactly the tab shown on the clipboard.
    curl_tab.press("ArrowRight")
    python_tab = dialog.get_by_role("tab", name="Python")
    expect(python_tab).to_have_attribute("aria-selected", "true")
    expect(code).to_contain_text("anthropic.Anthropic(base_url=")
    copy = dialog.get_by_role("button", name=COPY[lang], exact=True)
    copy.click()
    expect(dialog.locator(".get-code-status")).to_have_text(COPIED[lang])
    copied = chat.copied()
    assert copied and copied[-1] == code.text_content()
    assert copied[-1].startswith("import anthropic")

    # Tab goes round the dialog's controls, never out to the page behind it.
    for _ in range(8):
        chat.page.keyboard.press("Tab")
        assert chat.page.evaluate("document.activeElement.closest('#get-code') !== null")

    chat.page.screenshot(path=str(artifacts / f"get-code-{lang}-{width}.png"))
    if device.get("color_scheme") == "dark":  # the palette swap reaches the dialog
        shade = dialog.evaluate("(d) => getComputedStyle(d).backgroundColor")
        assert shade == "rgb(22, 24, 29)", shade
    if width < 1000:
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        overflow = chat.page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width

    chat.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(ChatThread.action(reply, "get-code-open")).to_be_focused()
