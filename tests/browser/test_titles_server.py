"""Automatic titles as shipped: after the first reply the chat is renamed by the title model."""

import pytest
from playwright.sync_api import expect

from tests.waiting import wait_until

from .chat_page import ChatPage

pytestmark = pytest.mark.browser


def test_the_first_reply_gives_the_chat_a_title_a_rename_keeps_its_own(
    page, sign_up, automatic_titles
):
    chat = ChatPage(sign_up(page))
    reply = chat.send("plan the team offsite in Kyoto !tokens=3")
    ChatPage.wait_for_status(reply, "complete")
    conversation_id = chat.conversation_id()

    def sidebar() -> str:
        return page.request.get(f"/sidebar/?current={conversation_id}").text()

    wait_until(lambda: "Plan the team offsite in" in sidebar(), 10, what="the automatic title")
    page.reload()
    item = chat.sidebar.locator(f'.conversation-item[data-id="{conversation_id}"]')
    expect(item.locator("a.title")).to_have_text("Plan the team offsite in")

    page.goto(f"/c/{conversation_id}/rename/")
    page.fill("#id_title", "Offsite")
    page.click("button.primary")
    page.wait_for_url(f"**/c/{conversation_id}/")
    reply = ChatPage(page).send("And the budget? !tokens=2")
    ChatPage.wait_for_status(reply, "complete")
    expect(item.locator("a.title")).to_have_text("Offsite")
