"""Shared links in the browser: share, read signed out, fork and continue, revoke."""

import re

import pytest
from playwright.sync_api import Page, expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser


def share_current_conversation(page: Page, chat: ChatPage, conversation_id: int) -> str:
    """Open Share from the sidebar, make a public link, and return its URL."""
    item = chat.sidebar.locator(f'.conversation-item[data-id="{conversation_id}"]')
    item.get_by_role("link", name="Share").click()
    page.wait_for_url(f"**/c/{conversation_id}/share/")
    page.get_by_label("Anyone with the link").check()
    page.click("#create-share")
    page.wait_for_url(re.compile(r"\?created=\d+$"))
    link = page.locator("#share-url").input_value()
    assert re.search(r"/s/[A-Za-z0-9_-]{43}/$", link)
    return link


def test_owner_shares_visitor_reads_member_forks_and_owner_revokes(
    new_context, sign_up, browser_problems
):
    owner = sign_up(new_context().new_page())
    chat = ChatPage(owner)
    reply = chat.send("Plan the team offsite !thinking")
    conversation_id = chat.conversation_id()
    ChatPage.wait_for_status(reply, "complete")
    link = share_current_conversation(owner, chat, conversation_id)

    # A signed-out browser reads the snapshot, rendered like the chat.
    visitor = new_context().new_page()
    response = visitor.goto(link)
    assert response is not None and response.status == 200
    expect(visitor).to_have_title(re.compile(r"^Plan the team offsite"))
    answer = visitor.locator("#shared-messages article.message.assistant")
    expect(answer.locator("h2")).to_have_text("Demo reply")
    expect(answer.locator("pre code.hljs, pre code .hljs-keyword").first).to_be_attached()
    expect(answer.locator("pre button.copy")).to_have_count(1)
    thinking = answer.locator("details.block.thinking")
    expect(thinking).to_have_count(1)
    expect(thinking).not_to_have_attribute("open", "")
    expect(visitor.locator("#continue-button")).to_have_count(0)
    expect(
        visitor.get_by_role("link", name="Sign in to continue this conversation")
    ).to_be_visible()

    # A second member forks it and carries on in a conversation of their own.
    member = sign_up(new_context().new_page())
    member.goto(link)
    member.click("#continue-button")
    fork = ChatPage(member)
    fork_id = fork.conversation_id()
    assert fork_id != conversation_id
    expect(fork.replies).to_have_count(1)
    expect(fork.replies.first).to_contain_text("Demo reply")
    fork.wait_until_connected()
    follow_up = fork.send("And the budget? !tokens=4")
    ChatPage.wait_for_status(follow_up, "complete")
    ChatPage.wait_for_word(follow_up, "w4")

    # The snapshot did not change with the fork's new messages.
    visitor.reload()
    expect(visitor.locator("#shared-messages article.message")).to_have_count(2)

    # The owner revokes; the visitor now gets the 404.
    owner.locator(".topnav").get_by_role("link", name="Shared links").click()
    owner.wait_for_url("**/shares/")
    row = owner.locator("tr.share-link")
    expect(row.locator(".num")).to_have_text("3")  # visitor twice, member once
    row.get_by_role("button", name="Revoke").click()
    expect(owner.locator("tr.share-link .share-status")).to_have_text("Revoked")

    browser_problems.allow("status of 404")
    response = visitor.goto(link)
    assert response is not None and response.status == 404


def test_model_output_is_inert_on_the_shared_page(new_context, sign_up):
    owner = sign_up(new_context().new_page())
    chat = ChatPage(owner)
    reply = chat.send('<img src=x onerror="window.__xss=9"> hi !xss')
    conversation_id = chat.conversation_id()
    ChatPage.wait_for_status(reply, "complete")
    link = share_current_conversation(owner, chat, conversation_id)

    visitor = new_context().new_page()
    visitor.goto(link)
    messages = visitor.locator("#shared-messages")
    expect(messages.locator("article.message.assistant")).to_contain_text(
        "<script>window.__xss=2</script>"
    )
    visitor.wait_for_timeout(300)  # an injected onerror would have fired by now
    assert visitor.evaluate("window.__xss") is None
    expect(messages.locator("img")).to_have_count(0)
    expect(messages.locator("script")).to_have_count(0)
    expect(messages.locator("[onerror]")).to_have_count(0)
    expect(messages.locator('a[href^="javascript:"]')).to_have_count(0)
    expect(messages.locator("article.message.user")).to_contain_text(
        '<img src=x onerror="window.__xss=9">'
    )
