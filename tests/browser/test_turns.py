"""Turns a reader controls, in the browser: copy, regenerate and flip versions, edit and resend,
a title that appears and is renamed inline; English and Japanese, desktop and phone width."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .chat_page import RECORD_CLIPBOARD_JS, ChatPage, ChatThread
from .conftest import BASE_DIR

pytestmark = pytest.mark.browser

FAKE_AWS_ID = "AKIA" + "IOSFODNN7EXAMPL3"  # split so scanners of this file do not flag it
JAPANESE = re.compile(r"[\u3040-\u309f\u30a0-\u30ff\u4e00-\u9fff]")
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
LANGUAGES = {
    "en": {"locale": "en-US", "extra_http_headers": {"Accept-Language": "en"}},
    "ja": {"locale": "ja-JP", "extra_http_headers": {"Accept-Language": "ja"}},
}
# Words each language shows or types, for the assertions that read them. The fake upstream
# titles a conversation with the first five words of its first message (16 characters of a
# language written without spaces), and its reply quotes the question.
WORDS = {
    "en": {
        "question": "Plan a picnic for four people",
        "edited": "Plan a picnic for six people",
        "title": "Plan a picnic for four",
        "before": "four people",
        "after": "six people",
        "copied": "Copied",
        "version": "Version {index} of {count}",
        "copy": "Copy message",
    },
    "ja": {
        "question": "週末に四人で行くピクニックの計画を立ててください",
        "edited": "週末に六人で行くピクニックの計画を立ててください",
        "title": "週末に四人で行くピクニックの計画",
        "before": "四人で",
        "after": "六人で",
        "copied": "コピーしました",
        "version": "全{count}件中{index}件目のバージョン",
        "copy": "メッセージをコピー",
    },
}


def screenshot_dir(artifacts: Path) -> Path:
    """docs/screenshots/ when UPDATE_SCREENSHOTS=1 (the README's pictures), else test-artifacts/."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        target = BASE_DIR / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return artifacts


def open_chat(new_context, sign_up, lang: str, device: dict) -> ChatThread:
    context = new_context(**LANGUAGES[lang], **device)
    context.add_init_script(RECORD_CLIPBOARD_JS)
    chat = ChatThread(sign_up(context.new_page()))
    chat.wait_until_connected()
    return chat


def no_horizontal_scroll(chat: ChatPage, width: int) -> None:
    scroll_width = chat.page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width}px wide on a {width}px screen"


@pytest.mark.parametrize(
    ("lang", "device", "width"),
    [("en", DESKTOP, 1280), ("en", PHONE, 375), ("ja", DESKTOP, 1280), ("ja", PHONE, 375)],
    ids=["en-desktop", "en-phone", "ja-desktop", "ja-phone"],
)
def test_regenerate_flip_edit_copy_and_a_title_appears(
    new_context, sign_up, artifacts, automatic_titles, lang, device, width
):
    chat = open_chat(new_context, sign_up, lang, device)
    words = WORDS[lang]
    reply = chat.send(words["question"])
    ChatPage.wait_for_status(reply, "complete")
    first_reply = chat.message_id(reply)

    # A title appears in the header, the tab's title and the sidebar, without a reload.
    conversation = chat.conversation_id()
    title = words["title"]
    expect(chat.title).to_have_text(title, timeout=15_000)
    expect(chat.page).to_have_title(re.compile(re.escape(title)))
    expect(chat.sidebar.locator(f'li[data-id="{conversation}"] .title')).to_have_text(title)

    # The reply says which model wrote it and what it cost, a fraction of a cent included.
    expect(reply.locator(".message-meta")).to_contain_text(re.compile(r"\$\d|<\$0\.0001"))

    # Copy: the reply as markdown, and the button says so.
    copy = chat.action(reply, "copy-message")
    assert copy.get_attribute("aria-label") == words["copy"]
    chat.click_action(reply, "copy-message")
    expect(copy).to_contain_text(words["copied"])
    copied = chat.copied()
    assert copied and copied[-1].startswith("## Demo reply"), copied
    assert "```python" in copied[-1]

    # Regenerate: a second version of the reply, shown where the first was.
    chat.click_action(reply, "regenerate")
    ChatThread.expect_version(reply, "2/2")
    ChatPage.wait_for_status(reply, "complete")
    assert chat.message_id(reply) != first_reply
    expect(chat.replies).to_have_count(1)

    # Flip back and forth; the flipper says where it is.
    chat.flip(reply, "prev")
    ChatThread.expect_version(reply, "1/2")
    expect(reply).to_have_attribute("data-id", str(first_reply))
    version_one = words["version"].format(index=1, count=2)
    expect(chat.flipper(reply)).to_have_attribute("aria-label", version_one)
    expect(chat.announcer).to_have_text(version_one)
    chat.flip(reply, "next")
    ChatThread.expect_version(reply, "2/2")

    # Edit the question and resend: a new branch with its own reply.
    question = chat.user_messages.first
    chat.edit(question, words["edited"])
    expect(question.locator(".content")).to_have_text(words["edited"])
    ChatThread.expect_version(question, "2/2")
    ChatPage.wait_for_status(reply, "complete")
    expect(reply.locator(".content")).to_contain_text(words["after"])
    expect(reply.locator(".message-actions .version-flipper")).to_have_count(0)

    # The first question's branch is kept, with the reply it ended on.
    chat.flip(question, "prev")
    expect(question.locator(".content")).to_have_text(words["question"])
    ChatThread.expect_version(reply, "2/2")
    expect(reply.locator(".content")).to_contain_text(words["before"])

    if width < 1000:
        # On a phone the buttons are there without a hover, and nothing widens the page.
        chat.action(reply, "regenerate").scroll_into_view_if_needed()
        expect(chat.action(reply, "regenerate")).to_be_in_viewport()
        opacity = chat.action(reply, "regenerate").evaluate(
            "(b) => getComputedStyle(b.closest('.action-buttons')).opacity"
        )
        assert opacity == "1"
        no_horizontal_scroll(chat, width)
    if lang == "ja":
        labels = " ".join(
            chat.page.locator(".message-actions button").evaluate_all(
                "(buttons) => buttons.map((b) => b.getAttribute('aria-label'))"
            )
        )
        assert JAPANESE.search(labels) and not re.search(r"[A-Za-z]{3,}", labels), labels
    chat.page.mouse.move(0, 0)
    chat.page.evaluate("document.activeElement.blur()")
    chat.page.wait_for_function(  # the buttons have finished fading out
        "() => [...document.querySelectorAll('.action-buttons')]"
        ".every((el) => ['0', '1'].includes(getComputedStyle(el).opacity))"
    )
    chat.messages.evaluate("(list) => (list.scrollTop = list.scrollHeight)")
    name = f"chat-{lang}-{'desktop' if width >= 1000 else 'phone'}.png"
    chat.page.screenshot(path=str(screenshot_dir(artifacts) / name))


def test_a_second_tab_follows_a_branch_switch(new_context, sign_up):
    context = new_context(**DESKTOP)
    chat = ChatThread(sign_up(context.new_page()))
    reply = chat.send("Short, please !tokens=5")
    ChatPage.wait_for_status(reply, "complete")
    first_reply = chat.message_id(reply)
    other = ChatThread(context.new_page())
    other.page.goto(chat.page.url)
    other.wait_until_connected()
    other_reply = other.replies.first

    chat.click_action(reply, "regenerate")
    ChatPage.wait_for_status(reply, "complete")
    ChatThread.expect_version(other_reply, "2/2")
    ChatPage.wait_for_status(other_reply, "complete")

    chat.flip(reply, "prev")
    ChatThread.expect_version(other_reply, "1/2")
    expect(other_reply).to_have_attribute("data-id", str(first_reply))
    expect(other.replies).to_have_count(1)


def test_an_empty_edit_is_refused_and_escape_keeps_the_message(new_context, sign_up):
    chat = ChatThread(sign_up(new_context(**DESKTOP).new_page()))
    reply = chat.send("Short, please !tokens=3")
    ChatPage.wait_for_status(reply, "complete")
    question = chat.user_messages.first
    chat.click_action(question, "edit-message")
    editor = question.locator(".message-editor textarea")
    editor.fill("   ")
    editor.press("Enter")
    expect(question.locator(".editor-error")).to_be_visible()
    expect(editor).to_have_value("   ")

    # Escape leaves the message as it was, and the keyboard on its Edit button.
    editor.press("Escape")
    expect(question.locator(".message-editor")).to_have_count(0)
    expect(question.locator(".content")).to_have_text("Short, please !tokens=3")
    expect(chat.action(question, "edit-message")).to_be_focused()


def test_an_edit_with_a_secret_is_held_in_the_editor_until_sent_anyway(new_context, sign_up):
    chat = ChatThread(sign_up(new_context(**DESKTOP).new_page()))
    reply = chat.send("Short, please !tokens=3")
    ChatPage.wait_for_status(reply, "complete")
    question = chat.user_messages.first
    words = f"Is {FAKE_AWS_ID} still valid? !tokens=4"
    chat.edit(question, words)

    # The server refuses the words; the editor keeps them and offers the composer's choice.
    error = question.locator(".editor-error")
    expect(error).to_contain_text("AWS")
    expect(question.locator(".message-editor textarea")).to_have_value(words)
    expect(chat.composer_error).to_be_hidden()
    expect(chat.user_messages).to_have_count(1)

    error.locator(".editor-send-anyway").click()
    expect(question.locator(".message-editor")).to_have_count(0)
    ChatThread.expect_version(question, "2/2")
    expect(question.locator(".content")).to_have_text(words)
    ChatPage.wait_for_status(reply, "complete")
    expect(reply.locator(".content")).to_have_text("w1 w2 w3 w4")


def test_flipping_an_earlier_reply_keeps_it_where_it_was(new_context, sign_up):
    chat = ChatThread(sign_up(new_context(viewport={"width": 1280, "height": 600}).new_page()))
    for turn in range(3):
        reply = chat.send(f"Turn {turn} !tokens=60")
        ChatPage.wait_for_status(reply, "complete")
    first = chat.replies.first
    chat.click_action(first, "regenerate")
    ChatThread.expect_version(first, "2/2")
    ChatPage.wait_for_status(first, "complete")
    expect(chat.replies).to_have_count(1)  # the later turns belong to the first version

    chat.flip(first, "prev")
    expect(chat.replies).to_have_count(3)
    top = first.bounding_box()["y"]
    chat.flip(first, "next")
    expect(chat.replies).to_have_count(1)
    chat.flip(first, "prev")
    expect(chat.replies).to_have_count(3)
    # The reader's eyes stay on the reply they flipped, not on the end of the thread.
    assert abs(first.bounding_box()["y"] - top) <= 2
    expect(chat.flipper(first).locator(".version-next")).to_be_focused()


def test_actions_on_a_conversation_deleted_elsewhere_say_so_and_keep_the_words(
    new_context, sign_up, browser_problems
):
    browser_problems.allow("404")  # the rename's POST answers 404: the page says so itself
    context = new_context(**DESKTOP)
    chat = ChatThread(sign_up(context.new_page()))
    reply = chat.send("Short, please !tokens=3")
    ChatPage.wait_for_status(reply, "complete")
    conversation = chat.conversation_id()
    other = context.new_page()
    other.goto(f"/c/{conversation}/delete/")
    other.locator("button.danger").click()
    other.wait_for_url("**/")

    chat.click_action(reply, "regenerate")
    expect(chat.composer_error).to_be_visible()
    expect(chat.action(reply, "regenerate")).to_be_enabled()

    question = chat.user_messages.first
    chat.edit(question, "Different words")
    expect(question.locator(".editor-error")).to_be_visible()
    expect(question.locator(".message-editor textarea")).to_have_value("Different words")
    question.locator(".editor-cancel").click()

    title = chat.title.inner_text()
    chat.rename_link.click()
    chat.title_input.fill("A new name")
    chat.title_input.press("Enter")
    expect(chat.composer_error).to_contain_text("The title could not be saved")
    expect(chat.title).to_have_text(title)


def test_the_title_is_renamed_inline_with_enter_and_kept_with_escape(new_context, sign_up):
    chat = ChatThread(sign_up(new_context(**DESKTOP).new_page()))
    reply = chat.send("Short, please !tokens=3")
    ChatPage.wait_for_status(reply, "complete")
    conversation = chat.conversation_id()
    expect(chat.rename_link).to_be_visible()

    chat.rename_link.click()
    expect(chat.title_input).to_be_focused()
    chat.title_input.fill("Picnic  plans ")
    chat.title_input.press("Enter")
    expect(chat.title).to_have_text("Picnic plans")
    expect(chat.page).to_have_title("Picnic plans · chatsite")
    item = chat.sidebar.locator(f'li[data-id="{conversation}"] .title')
    expect(item).to_have_text("Picnic plans")

    chat.rename_link.click()
    chat.title_input.fill("Something else")
    chat.title_input.press("Escape")
    expect(chat.title).to_have_text("Picnic plans")
    expect(chat.rename_link).to_be_focused()

    chat.page.reload()
    expect(chat.title).to_have_text("Picnic plans")


def test_without_javascript_the_title_links_to_the_rename_page(new_context, sign_up):
    context = new_context(**DESKTOP)
    chat = ChatThread(sign_up(context.new_page()))
    reply = chat.send("Short, please !tokens=3")
    ChatPage.wait_for_status(reply, "complete")
    url = chat.page.url
    plain = new_context(java_script_enabled=False, storage_state=context.storage_state())
    page = plain.new_page()
    page.goto(url)
    page.locator("#chat-rename").click()
    page.fill("#id_title", "Renamed without scripts")
    page.locator("button.primary").click()
    page.wait_for_url(url)
    expect(page.locator("#chat-title")).to_have_text("Renamed without scripts")


def test_message_buttons_appear_on_hover_and_keyboard_focus(new_context, sign_up):
    chat = ChatThread(sign_up(new_context(**DESKTOP).new_page()))
    reply = chat.send("Short, please !tokens=3 !delay=700")
    ChatPage.wait_for_status(reply, "complete")
    chat.page.mouse.move(0, 0)
    buttons = reply.locator(".action-buttons")
    opacity = "(el) => getComputedStyle(el).opacity"
    chat.page.wait_for_function(
        "() => getComputedStyle(document.querySelector('.message.assistant .action-buttons'))"
        ".opacity === '0'"
    )
    reply.hover()
    chat.page.wait_for_function(
        "() => getComputedStyle(document.querySelector('.message.assistant .action-buttons'))"
        ".opacity === '1'"
    )
    chat.page.mouse.move(0, 0)

    # Keyboard: Tab reaches the buttons, which show while one has the focus, with a ring.
    copy = chat.action(reply, "copy-message")
    copy.focus()
    chat.page.keyboard.press("Tab")
    chat.page.keyboard.press("Shift+Tab")
    expect(copy).to_be_focused()
    assert buttons.evaluate(opacity) == "1"
    assert copy.evaluate("(b) => getComputedStyle(b).outlineStyle") != "none"
    # The model's name stays in sight without a hover: it says something about the reply.
    expect(reply.locator(".message-meta")).to_be_visible()

    # Regenerate and Edit from the keyboard: the new version's flipper takes the focus.
    chat.page.keyboard.press("Tab")
    expect(chat.action(reply, "regenerate")).to_be_focused()
    chat.page.keyboard.press("Enter")
    previous = chat.flipper(reply).locator(".version-prev")
    expect(previous).to_be_focused()
    # While the new version streams, the server would refuse a switch: the arrow says so.
    expect(previous).to_have_attribute("aria-disabled", "true")
    ChatPage.wait_for_status(reply, "complete")
    expect(previous).not_to_have_attribute("aria-disabled", "true")
    question = chat.user_messages.first
    chat.action(question, "edit-message").focus()
    chat.page.keyboard.press("Enter")
    chat.page.keyboard.press("End")
    chat.page.keyboard.type(" again")
    chat.page.keyboard.press("Enter")
    expect(question.locator(".content")).to_have_text("Short, please !tokens=3 !delay=700 again")
    expect(chat.flipper(question).locator(".version-prev")).to_be_focused()


def test_a_new_message_leaves_the_earlier_rows_as_they_are(new_context, sign_up):
    # The thread is a live region: a rebuilt row would be read out again by a screen reader.
    chat = ChatThread(sign_up(new_context(**DESKTOP).new_page()))
    reply = chat.send("Short, please !tokens=3")
    ChatPage.wait_for_status(reply, "complete")
    row = reply.locator(".message-actions")
    expect(row).to_have_attribute("aria-live", "off")
    row.evaluate("(el) => (window.__row = el.querySelector('.message-meta'))")
    second = chat.send("Again !tokens=3")
    ChatPage.wait_for_status(second, "complete")
    same = row.evaluate("(el) => el.querySelector('.message-meta') === window.__row")
    assert same, "the first reply's row was rebuilt when the second message arrived"


def test_costs_under_a_cent_are_legible(new_context, sign_up):
    chat = ChatThread(sign_up(new_context(**DESKTOP).new_page()))
    formatted = chat.page.evaluate(
        """() => ["0.0042", "0.00004", "0.012345", "1234.5", "0", null]
            .map(window.chatsiteActions.formatCost)"""
    )
    assert formatted == ["$0.0042", "<$0.0001", "$0.01", "$1,234.50", "$0.00", ""]
