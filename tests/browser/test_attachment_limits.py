"""Attachment limits in the browser: too many files for one message, too many for one request."""

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from .chat_page import ChatPage
from .conftest import (
    DEFAULT_TIMEOUT_MS,
    _free_port,
    _sign_up,
    prepare_data,
    start_daphne,
    stop_process,
    unique_username,
)
from .test_attachments import CODE, png_screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def small_limits_url(browser_upstream) -> Iterator[str]:
    """The app with two files per message and one image per request."""
    data_dir, env = prepare_data(
        browser_upstream,
        "chatsite-attachment-limits-",
        ATTACHMENTS_PER_MESSAGE="2",
        ATTACHMENT_MAX_IMAGES_PER_REQUEST="1",
    )
    process = None
    try:
        port = _free_port()
        process = start_daphne(env, port, "attachment-limits-server")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def limited_page(browser: Browser, small_limits_url) -> Iterator[Page]:
    context = browser.new_context(base_url=small_limits_url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    problems: list[str] = []
    context.on("weberror", lambda web_error: problems.append(str(web_error.error)))
    try:
        yield _sign_up(context.new_page(), unique_username("limits"))
    finally:
        context.close()
    assert not problems, problems


def attach_picture(chat: ChatPage, name: str, count: int) -> None:
    chat.paste_file(png_screenshot(), name, "image/png")
    chat.wait_for_uploads(count)


def test_one_file_too_many_for_a_message_is_refused_and_the_files_come_back(limited_page):
    chat = ChatPage(limited_page)
    chat.wait_until_connected()
    chat.attach_files(
        {"name": "one.py", "mimeType": "text/x-python", "buffer": CODE},
        {"name": "two.py", "mimeType": "text/x-python", "buffer": CODE},
        {"name": "three.py", "mimeType": "text/x-python", "buffer": CODE},
    )
    chat.wait_for_uploads(3)
    chat.input.fill("All three")
    chat.input.press("Enter")
    expect(chat.composer_error).to_be_visible()
    expect(chat.composer_error).to_contain_text("2")
    expect(chat.uploads).to_have_count(3)
    expect(chat.input).to_have_value("All three")
    expect(chat.user_messages).to_have_count(0)

    chat.uploads.filter(has_text="three.py").get_by_role("button").click()
    reply = chat.send("Two then")
    ChatPage.wait_for_status(reply, "complete")
    expect(chat.user_messages.last.locator("a.attachment-file")).to_have_count(2)


def test_a_reply_says_which_earlier_attachments_its_request_left_out(limited_page):
    chat = ChatPage(limited_page)
    chat.wait_until_connected()
    attach_picture(chat, "first.png", 1)
    ChatPage.wait_for_status(chat.send("The first picture"), "complete")
    attach_picture(chat, "second.png", 1)
    reply = chat.send("The second picture")
    ChatPage.wait_for_status(reply, "complete")
    note = reply.locator(".attachments-note")
    expect(note).to_contain_text("first.png")
    expect(chat.replies.first.locator(".attachments-note")).to_have_count(0)

    limited_page.reload()
    expect(ChatPage(limited_page).replies.last.locator(".attachments-note")).to_contain_text(
        "first.png"
    )
