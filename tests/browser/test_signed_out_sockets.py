"""A chat tab whose socket is closed as signed out (4401) follows the browser's session."""

import re

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage, words
from .conftest import PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "quince-Harbour-5-lantern"
CHAT_URL = re.compile(r"^https?://[^/]+/$")


def test_password_changed_in_another_tab_keeps_the_chat_signed_in(context, sign_up):
    chat_tab = sign_up(context.new_page())
    chat = ChatPage(chat_tab)
    chat.wait_until_connected()
    settings_tab = context.new_page()
    settings_tab.goto("/accounts/password_change/")
    settings_tab.fill("#id_old_password", PASSWORD)
    settings_tab.fill("#id_new_password1", NEW_PASSWORD)
    settings_tab.fill("#id_new_password2", NEW_PASSWORD)

    # The chat's socket belonged to the session key the change replaced: it is closed (4401),
    # and the tab opens a new one under the browser's new session instead of asking to sign in.
    with chat_tab.expect_event("websocket"):
        settings_tab.get_by_role("button", name="Change password").click()

    expect(settings_tab).to_have_url(re.compile(r"/accounts/password_change/done/$"))
    chat.wait_until_connected()
    expect(chat_tab).to_have_url(CHAT_URL)  # still the chat, not the sign-in page
    reply = chat.send("after the change !tokens=2")
    ChatPage.wait_for_status(reply, "complete")
    assert ChatPage.text_of(reply) == words(2)


def test_signed_out_tab_goes_to_the_sign_in_page(context, sign_up):
    chat_tab = sign_up(context.new_page())
    ChatPage(chat_tab).wait_until_connected()
    other_tab = context.new_page()
    other_tab.goto("/")

    other_tab.get_by_role("button", name="Sign out").click()

    chat_tab.wait_for_url(re.compile(r"/accounts/login/\?next=%2F$"))
