"""The chat at phone width: usable and without horizontal overflow."""

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser


def test_chat_fits_a_phone_screen(new_context, sign_up, artifacts):
    context = new_context(viewport={"width": 390, "height": 800}, is_mobile=True, has_touch=True)
    chat = ChatPage(sign_up(context.new_page()))
    reply = chat.send("A reply with a code block, please")
    ChatPage.wait_for_status(reply, "complete")

    chat.page.screenshot(path=str(artifacts / "chat-phone-390.png"))
    expect(chat.input).to_be_in_viewport()
    expect(chat.send_button).to_be_in_viewport()
    expect(chat.user_messages.first).to_be_visible()
    expect(reply.locator(".content h2")).to_be_visible()
    scroll_width = chat.page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 390, f"the page is {scroll_width}px wide on a 390px screen"
    # Long code scrolls inside its own box rather than widening the page.
    code_box = reply.locator("pre").first.bounding_box()
    assert code_box is not None and code_box["x"] + code_box["width"] <= 390


def test_the_admins_longer_menu_also_fits_a_phone_screen(new_context, first_account):
    context = new_context(
        viewport={"width": 390, "height": 800}, storage_state=first_account["storage_state"]
    )
    page = context.new_page()
    page.goto("/")
    expect(page.get_by_role("link", name="Admin")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 390, f"the page is {scroll_width}px wide on a 390px screen"
