"""Streaming replies in the browser: send, watch it grow, stop, reload, two tabs."""

import itertools
import time

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage, normalised, words

pytestmark = pytest.mark.browser


def test_enter_sends_and_the_reply_grows_until_complete(page, sign_up):
    chat = ChatPage(sign_up(page))
    reply = chat.send("Tell me about chatsite !delay=40")

    expect(chat.user_messages.last).to_contain_text("Tell me about chatsite !delay=40")
    expect(chat.input).to_have_value("")
    ChatPage.wait_for_status(reply, "streaming")
    lengths = ChatPage.sample_while_streaming(reply)
    ChatPage.wait_for_status(reply, "complete")

    # Markdown may re-flow a half-written line (an opening fence), so growth, not monotony.
    grown = [b for a, b in itertools.pairwise(lengths) if b > a]
    assert len(grown) >= 2, f"the text did not grow while streaming: {lengths}"
    assert lengths[0] < lengths[-1], f"the text did not grow while streaming: {lengths}"
    # The finished reply is rendered markdown, highlighted code included.
    expect(reply.locator(".content h2")).to_have_text("Demo reply")
    expect(reply.locator(".content pre code")).to_contain_text("def greet")
    expect(reply.locator(".content strong")).to_have_text("markdown")
    expect(chat.send_button).to_be_visible()
    expect(chat.stop_button).to_be_hidden()


def test_shift_enter_inserts_a_newline_instead_of_sending(page, sign_up):
    chat = ChatPage(sign_up(page))
    chat.input.click()
    chat.input.type("line one")
    chat.input.press("Shift+Enter")
    chat.input.type("line two")

    expect(chat.input).to_have_value("line one\nline two")
    # Nothing to wait for: a message wrongly sent would show within this time (the page adds
    # the user's message as it sends); expect() alone would pass before it could appear.
    time.sleep(0.3)
    expect(chat.user_messages).to_have_count(0)

    chat.input.press("Enter")
    expect(chat.user_messages).to_have_count(1)
    reply = chat.replies.first
    ChatPage.wait_for_status(reply, "complete")
    assert chat.user_messages.first.inner_text().strip() == "line one\nline two"


def test_stop_keeps_the_partial_reply_and_it_stops_growing(page, sign_up):
    chat = ChatPage(sign_up(page))
    reply = chat.send("!tokens=500 !delay=30")
    ChatPage.wait_for_word(reply, "w5")
    expect(chat.send_button).to_be_hidden()

    chat.stop_button.click()

    ChatPage.wait_for_status(reply, "stopped", timeout=5_000)
    stopped_text = ChatPage.text_of(reply)
    assert stopped_text.startswith("w1 w2 w3 w4 w5")
    assert not stopped_text.endswith("w500")
    # Not a wait for a state: the claim is that nothing arrives during twenty more tokens'
    # worth of time (30 ms each), so the test must let that time pass.
    time.sleep(0.6)
    assert ChatPage.text_of(reply) == stopped_text
    expect(chat.send_button).to_be_visible()
    expect(chat.stop_button).to_be_hidden()

    # The stored reply is the same partial text after a reload.
    page.reload()
    reply = chat.replies.first
    ChatPage.wait_for_status(reply, "stopped")
    assert ChatPage.text_of(reply) == stopped_text


def test_reload_mid_stream_shows_the_partial_reply_and_resumes_exactly(page, sign_up):
    chat = ChatPage(sign_up(page))
    reply = chat.send("!tokens=300 !delay=30")
    conversation_id = chat.conversation_id()
    ChatPage.wait_for_word(reply, "w80")  # past the first once-a-second checkpoint

    page.reload()

    assert page.url.endswith(f"/c/{conversation_id}/")
    reply = chat.replies.first
    assert reply.get_attribute("data-status") == "streaming"
    shown_at_once = ChatPage.text_of(reply)
    assert shown_at_once.startswith("w1 w2 w3"), shown_at_once[:80]
    lengths = ChatPage.sample_while_streaming(reply)
    assert lengths and lengths[-1] > len(shown_at_once), "the reply did not grow after reload"
    ChatPage.wait_for_status(reply, "complete")
    assert ChatPage.text_of(reply) == words(300)


def test_two_tabs_on_one_conversation_stream_the_same_reply(context, sign_up):
    first = ChatPage(sign_up(context.new_page()))
    reply = first.send("!tokens=150 !delay=30")
    conversation_id = first.conversation_id()
    ChatPage.wait_for_word(reply, "w3")

    second = ChatPage(context.new_page())
    second.page.goto(f"/c/{conversation_id}/")
    second_reply = second.replies.first
    ChatPage.wait_for_status(second_reply, "streaming")
    seen_by_second = ChatPage.sample_while_streaming(second_reply)

    ChatPage.wait_for_status(reply, "complete")
    ChatPage.wait_for_status(second_reply, "complete")
    assert len(set(seen_by_second)) >= 2, f"the second tab did not stream: {seen_by_second}"
    assert ChatPage.text_of(reply) == words(150)
    assert ChatPage.text_of(second_reply) == words(150)
    assert normalised(second.user_messages.first.inner_text()) == "!tokens=150 !delay=30"
