"""The conversation sidebar: new conversations appear, can be renamed and deleted."""

import re

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser


def test_conversation_appears_in_sidebar_and_can_be_renamed_and_deleted(
    page, sign_up, browser_problems
):
    chat = ChatPage(sign_up(page))
    expect(chat.sidebar.locator(".conversation-item")).to_have_count(0)
    # Five words, no directive: the automatic title (the fake's first five words) is the same
    # as the first-words title, whenever the sidebar is drawn (decision 72).
    reply = chat.send("Plan the team offsite")
    conversation_id = chat.conversation_id()
    ChatPage.wait_for_status(reply, "complete")

    item = chat.sidebar.locator(f'.conversation-item[data-id="{conversation_id}"]')
    expect(item.locator("a.title")).to_have_text("Plan the team offsite")
    expect(item).to_have_class(re.compile(r"\bcurrent\b"))

    item.get_by_role("link", name="Rename").click()
    page.wait_for_url(f"**/c/{conversation_id}/rename/")
    expect(page.locator("#id_title")).to_have_value("Plan the team offsite")
    page.fill("#id_title", "Offsite plans")
    page.click("button.primary")
    page.wait_for_url(f"**/c/{conversation_id}/")
    expect(item.locator("a.title")).to_have_text("Offsite plans")
    expect(page).to_have_title(re.compile("^Offsite plans"))

    item.get_by_role("link", name="Delete").click()
    page.wait_for_url(f"**/c/{conversation_id}/delete/")
    expect(page.locator("main")).to_contain_text("Offsite plans")
    page.locator("button.danger").click()
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    expect(chat.sidebar.locator(f'[data-id="{conversation_id}"]')).to_have_count(0)
    expect(chat.sidebar).to_contain_text("No conversations yet.")

    browser_problems.allow("status of 404")
    response = page.goto(f"/c/{conversation_id}/")
    assert response is not None and response.status == 404


def test_a_sidebar_refresh_copies_no_style_attribute_past_the_csp(page, sign_up, browser_problems):
    # Found by CI: Playwright's screenshots leave style="" on inputs, and htmx's settle step
    # copied it onto the swapped-in sidebar's inputs with setAttribute, which the CSP blocks
    # (a console error per input). Any script or extension that styles an element does the same.
    chat = ChatPage(sign_up(page))
    reply = chat.send("Plan the team offsite")
    ChatPage.wait_for_status(reply, "complete")
    page.evaluate(
        "document.querySelectorAll('#conversation-list [id]').forEach(e => e.style.outline = '0')"
    )
    with page.expect_response(re.compile(r"/sidebar/")):
        page.evaluate("htmx.trigger(document.body, 'chat:sidebar')")
    page.wait_for_timeout(300)  # htmx settles 20 ms after the swap
    assert not [p for p in browser_problems.seen if "Content Security Policy" in p]
