"""Search in the browser, in English and Japanese: type in the sidebar's box, see the matches
marked, open one and land on the matching message; Escape clears the box (issue 16 item 1)."""

import re

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser

TALKS = ["Plan the Night Train to Vienna", "東京の天気を教えてください", "Lunch ideas for Friday"]


def test_search_finds_a_phrase_marks_it_and_opens_the_message(lang_page, sign_up):
    chat = ChatPage(sign_up(lang_page))
    page = chat.page
    ids = {}
    for text in TALKS:
        page.goto("/")
        reply = chat.send(text)
        ids[text] = chat.conversation_id()
        ChatPage.wait_for_status(reply, "complete")

    box = page.locator("#search-input")
    hits = page.locator("#search-results .search-hit")
    for query, talk, marked in [
        ("night train", TALKS[0], "Night Train"),
        ("天気を教え", TALKS[1], "天気を教え"),
    ]:
        box.fill(query)
        expect(hits).to_have_count(1)
        hit = hits.first
        expect(hit).to_have_attribute("data-conversation", str(ids[talk]))
        expect(hit.locator("mark").first).to_have_text(re.compile(marked, re.IGNORECASE))

    hits.first.locator("a").click()
    page.wait_for_url(re.compile(rf"/c/{ids[TALKS[1]]}/#m-\d+$"))
    target = page.locator("#messages .message.search-target")
    expect(target).to_have_count(1)
    expect(target).to_contain_text("天気を教え")
    expect(target).to_be_in_viewport()

    box.fill("night")
    expect(hits).to_have_count(1)
    box.fill("")
    expect(page.locator("#search-results")).to_be_empty()
    box.press("Enter")
    expect(page.locator("#search-results .search-message")).to_be_visible()

    box.fill("zebra crossing")
    expect(page.locator("#search-results .search-message")).to_be_visible()
    expect(hits).to_have_count(0)
    box.press("Escape")
    expect(box).to_have_value("")
    expect(page.locator("#search-results")).to_be_empty()
