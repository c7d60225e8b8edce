"""Quotas in the browser: an admin limits a user, the user runs out, the admin grants more."""

import re

import pytest
from playwright.sync_api import Page, expect

from .chat_page import ChatPage
from .conftest import _sign_up, unique_username

pytestmark = pytest.mark.browser

MAX_SENDS = 8


def admin_page(new_context, first_account) -> Page:
    return new_context(storage_state=first_account["storage_state"]).new_page()


def open_user(admin: Page, username: str) -> None:
    admin.goto(f"/admin/accounts/user/?q={username}")
    admin.get_by_role("link", name=username, exact=True).click()


def test_admin_limits_user_who_runs_out_then_gets_a_grant(new_context, first_account):
    username = unique_username("budget")
    user_page = _sign_up(new_context().new_page(), username)
    chat = ChatPage(user_page)
    admin = admin_page(new_context, first_account)

    # The admin sets a tiny monthly budget on the user's page (the quota inline).
    open_user(admin, username)
    admin.fill("#id_quota-0-cost_limit", "0.002")
    admin.select_option("#id_quota-0-period", "month")
    admin.click("input[name=_save]")
    expect(admin.locator(".messagelist")).to_be_visible()

    # The user chats until the budget is gone: each reply costs about $0.001.
    user_page.reload()
    chat.wait_until_connected()
    meter = user_page.locator("#quota-meter")
    expect(meter).to_contain_text("left of $0.0020")
    refusal = user_page.locator("#composer-error")
    replies = 0
    for n in range(MAX_SENDS):
        count = chat.replies.count()
        chat.input.fill(f"question {n} !tokens=60")
        chat.input.press("Enter")
        user_page.wait_for_function(
            "([n]) => document.querySelectorAll('#messages article.assistant').length > n"
            " || !document.getElementById('composer-error').hidden",
            arg=[count],
        )
        if chat.replies.count() > count:
            ChatPage.wait_for_status(chat.replies.nth(count), "complete")
            replies += 1
            user_page.click("a.new-chat")  # a fresh chat keeps each prompt small
            chat.wait_until_connected()
        if refusal.is_visible():
            break
    assert replies >= 1, "the budget should allow at least one reply"
    expect(refusal).to_contain_text(re.compile(r"used up your quota\. It resets on .*\d"))
    # The refused words are back in the box, not lost.
    expect(chat.input).to_have_value(re.compile(r"question \d+ !tokens=60"))
    # Said once: the meter, refreshed as used up, leaves the saying to the composer.
    expect(user_page.locator("#quota-exhausted")).to_have_count(1)
    said = user_page.get_by_text(re.compile("used up your quota")).filter(visible=True)
    expect(said).to_have_count(1)
    # Once the refusal is dismissed (a new chat), the meter says it.
    user_page.goto("/")
    expect(user_page.locator("#quota-exhausted")).to_be_visible()

    # The admin grants more from the users list; the user can send again.
    admin.goto(f"/admin/accounts/user/?q={username}")
    admin.locator("input[name=_selected_action]").first.check()
    admin.select_option("select[name=action]", "grant")
    admin.click("button[name=index]")
    admin.fill("#id_cost", "1")
    admin.fill("#id_reason", "deadline week")
    admin.click("input[type=submit].default")
    expect(admin.locator(".messagelist")).to_be_visible()

    user_page.goto("/")
    chat.wait_until_connected()
    reply = chat.send("one more !tokens=5")
    ChatPage.wait_for_status(reply, "complete")
    expect(user_page.locator("#quota-exhausted")).to_have_count(0)


def test_a_reply_the_quota_cut_short_says_so_and_keeps_continue(new_context, first_account):
    """The quota lowered max_tokens below what the reply needed: the note says the quota did
    it (not the length limit), beside the Continue button."""
    username = unique_username("short")
    user_page = _sign_up(new_context().new_page(), username)
    chat = ChatPage(user_page)
    admin = admin_page(new_context, first_account)
    open_user(admin, username)
    admin.fill("#id_quota-0-cost_limit", "0.003")
    admin.select_option("#id_quota-0-period", "month")
    admin.click("input[name=_save]")
    expect(admin.locator(".messagelist")).to_be_visible()

    user_page.reload()
    chat.wait_until_connected()
    reply = chat.send("Tell me everything !tokens=2000")
    ChatPage.wait_for_status(reply, "complete")

    note = reply.locator(".stop-note")
    expect(note).to_have_attribute("data-stop-reason", "max_tokens")
    expect(note).to_contain_text(re.compile(r"your quota covered only \d+ tokens for this reply"))
    expect(reply.locator(".continue-button")).to_be_visible()
    # The same after a reload, from the stored reply.
    user_page.reload()
    expect(chat.replies.last.locator(".stop-note")).to_contain_text("your quota covered only")
