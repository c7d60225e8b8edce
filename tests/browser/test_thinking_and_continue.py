"""Extended thinking, Continue and prefill in the browser, in English and Japanese."""

import json
import re

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage, normalised, words
from .test_i18n import assert_japanese

pytestmark = pytest.mark.browser

VARIANT = "claude-sonnet-4-5-20250929-thinking"


def test_thinking_streams_open_and_folds_when_the_answer_starts(lang_page, sign_up, artifacts):
    chat = ChatPage(sign_up(lang_page))
    lang_page.select_option("#model-select", VARIANT)
    reply = chat.send("Think first !tokens=6 !delay=120")

    thinking = reply.locator("details.block.thinking")
    expect(thinking).to_have_attribute("open", "")
    expect(thinking.locator(".inner")).to_contain_text("step by step")
    expect(reply.locator(".block.text")).to_have_count(0)  # no answer yet: still thinking
    lang_page.screenshot(path=str(artifacts / f"thinking-open-{lang_page.lang}.png"))
    if lang_page.lang == "ja":
        assert_japanese(thinking.locator("summary").inner_text(), "the thinking summary")

    ChatPage.wait_for_word(reply, "w1")
    expect(thinking).not_to_have_attribute("open", re.compile(".*"))
    ChatPage.wait_for_status(reply, "complete")
    lang_page.screenshot(path=str(artifacts / f"thinking-folded-{lang_page.lang}.png"))
    assert normalised(reply.locator(".block.text").inner_text()) == words(6)

    lang_page.reload()
    stored = chat.replies.last
    expect(stored.locator("details.block.thinking")).to_have_count(1)
    expect(stored.locator("details.block.thinking")).not_to_have_attribute("open", re.compile(".*"))


def test_a_reply_cut_at_max_tokens_continues_as_one_answer(lang_page, sign_up, artifacts):
    chat = ChatPage(sign_up(lang_page))
    reply = chat.send("Count !tokens=12 !cut=5")
    ChatPage.wait_for_status(reply, "complete")
    note = reply.locator(".message-note")
    expect(note).to_be_visible()
    button = note.locator(".continue-button")
    if lang_page.lang == "ja":
        assert_japanese(note.inner_text(), "the length-limit note and its Continue button")
    lang_page.screenshot(path=str(artifacts / f"continue-offered-{lang_page.lang}.png"))

    button.click()
    ChatPage.wait_for_word(reply, "w10")
    ChatPage.wait_for_status(reply, "complete")
    expect(reply.locator(".continue-button")).to_be_visible()  # cut again at 5 more
    reply.locator(".continue-button").click()
    ChatPage.wait_for_word(reply, "w12")
    ChatPage.wait_for_status(reply, "complete")

    expect(reply.locator(".message-note")).to_have_count(0)  # it ended by itself
    expect(reply.locator(".block.text")).to_have_count(1)
    assert ChatPage.text_of(reply) == words(12)
    expect(chat.replies).to_have_count(1)
    lang_page.screenshot(path=str(artifacts / f"continued-{lang_page.lang}.png"))
    lang_page.reload()
    assert ChatPage.text_of(chat.replies.last) == words(12), "stored as one answer"


def test_a_prefill_starts_the_reply(lang_page, sign_up, artifacts):
    chat = ChatPage(sign_up(lang_page))
    toggle = lang_page.locator("#prefill-toggle")
    expect(lang_page.locator("#prefill-input")).to_be_hidden()
    if lang_page.lang == "ja":
        assert_japanese(toggle.inner_text(), "the prefill toggle")
    toggle.click()
    lang_page.fill("#prefill-input", "Dear Bob,")
    lang_page.screenshot(path=str(artifacts / f"prefill-{lang_page.lang}.png"))
    reply = chat.send("Write to Bob !tokens=3 !ttft=1500")

    expect(reply.locator(".content")).to_have_text("Dear Bob,")  # at once, before the model
    ChatPage.wait_for_status(reply, "streaming")
    ChatPage.wait_for_status(reply, "complete")
    assert ChatPage.text_of(reply) == "Dear Bob, w1 w2 w3"
    expect(lang_page.locator("#prefill-input")).to_be_hidden()  # for that reply only
    lang_page.reload()
    assert ChatPage.text_of(chat.replies.last) == "Dear Bob, w1 w2 w3"


def test_with_thinking_on_continue_asks_in_a_new_message_and_says_so(page, sign_up):
    chat = ChatPage(sign_up(page))
    page.select_option("#model-select", VARIANT)
    # The thinking block takes 13 pieces: the cut falls in the answer.
    reply = chat.send("Count !tokens=10 !cut=16")
    ChatPage.wait_for_status(reply, "complete")
    note = reply.locator(".continue-note")
    expect(note).to_contain_text("new message")

    reply.locator(".continue-button").click()
    expect(chat.user_messages).to_have_count(2)
    expect(chat.user_messages.last).to_have_text("Continue from where you stopped.")
    expect(chat.replies).to_have_count(2)
    ChatPage.wait_for_status(chat.replies.last, "complete")
    expect(reply.locator(".continue-button")).to_have_count(0)  # no longer the last reply


def test_a_tab_that_missed_the_continue_frame_picks_the_continuation_up(page, sign_up):
    """message.continued and a delta lost (a socket dropping): the gap asks for a snapshot,
    and the snapshot of the reply streaming again is taken, not ignored as stale."""
    lost = {"continued": False, "delta": False}

    def relay(ws) -> None:
        server = ws.connect_to_server()

        def from_server(message) -> None:
            frame = json.loads(message)
            if frame["type"] == "message.continued":
                lost["continued"] = True
                return
            if frame["type"] == "message.delta" and lost["continued"] and not lost["delta"]:
                lost["delta"] = True
                return
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws/chat/$"), relay)
    chat = ChatPage(sign_up(page))
    reply = chat.send("Count !tokens=30 !cut=10 !delay=100")
    ChatPage.wait_for_status(reply, "complete")
    reply.locator(".continue-button").click()

    ChatPage.wait_for_status(reply, "streaming")
    ChatPage.wait_for_word(reply, "w14")
    assert reply.get_attribute("data-status") == "streaming", "shown live, not at the end"
    assert lost == {"continued": True, "delta": True}
    ChatPage.wait_for_status(reply, "complete")
    assert ChatPage.text_of(reply) == words(20)


def test_a_prefill_refused_with_thinking_on_is_given_back(page, sign_up):
    chat = ChatPage(sign_up(page))
    page.select_option("#model-select", VARIANT)
    page.locator("#prefill-toggle").click()
    page.fill("#prefill-input", "Sure, here")
    chat.input.fill("Hello !tokens=2")
    chat.input.press("Enter")

    expect(page.locator("#composer-error")).to_contain_text("prefill")
    expect(chat.input).to_have_value("Hello !tokens=2")
    expect(page.locator("#prefill-input")).to_have_value("Sure, here")
    expect(page.locator("#prefill-input")).to_be_visible()
    expect(chat.replies).to_have_count(0)
