"""Attachments in the browser: paste, drop and pick files, send them, see them, reload."""

import io
import random
import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Locator, Page, expect

from tests.waiting import wait_until

from .chat_page import ChatPage
from .test_i18n import assert_japanese

pytestmark = pytest.mark.browser

ATTACHMENT_URL = re.compile(r"/attachments/(\d+)/$")
DOWNLOAD_URL = re.compile(r"/attachments/\d+/\?download=1$")
CODE = b'"""A small module."""\n\n\ndef greet(name: str) -> str:\n    return f"Hello, {name}"\n'


def png_screenshot(width: int = 640, height: int = 400) -> bytes:
    """A picture like a screenshot: a window with a title bar and some lines."""
    image = Image.new("RGB", (width, height), (245, 247, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 40), fill=(59, 91, 219))
    for row in range(6):
        draw.rectangle((30, 70 + row * 45, width - 30 - row * 40, 90 + row * 45), fill=(90, 90, 90))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def noise_png(width: int, height: int) -> bytes:
    """A picture PNG cannot compress: its upload takes as long as its size says."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.randbytes(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def one_page_pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 280), (255, 255, 255)).save(out, "PDF")
    return out.getvalue()


def attach_three_kinds(chat: ChatPage) -> None:
    """A pasted screenshot, a dropped PDF and a picked Python file, all uploaded."""
    chat.wait_until_connected()
    chat.paste_file(png_screenshot(), "image.png", "image/png")
    chat.drop_file(one_page_pdf(), "report.pdf", "application/pdf")
    chat.attach_files({"name": "greet.py", "mimeType": "text/x-python", "buffer": CODE})
    chat.wait_for_uploads(3)


def assert_thread_shows_the_three(page: Page, message: Locator) -> None:
    """The user message shows the image as a thumbnail and the two files as download chips."""
    attachments = message.locator(".attachments .attachment")
    expect(attachments).to_have_count(3)
    thumbnail = message.locator("a.attachment-image img")
    expect(thumbnail).to_have_count(1)
    expect(message.locator("a.attachment-image")).to_have_attribute("href", ATTACHMENT_URL)
    expect(message.locator("a.attachment-image")).to_have_attribute("target", "_blank")
    expect(thumbnail).to_have_attribute("loading", "lazy")
    # Loaded through the authorising view, not a placeholder.
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )
    files = message.locator("a.attachment-file")
    expect(files).to_have_count(2)
    expect(files.nth(0)).to_contain_text("report.pdf")
    expect(files.nth(1)).to_contain_text("greet.py")
    for index in range(2):
        expect(files.nth(index)).to_have_attribute("href", DOWNLOAD_URL)
    download = page.request.get(files.nth(1).get_attribute("href") or "")
    assert download.status == 200
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.body() == CODE


def test_pasted_dropped_and_picked_files_are_sent_answered_and_shown_after_reload(
    page, sign_up, artifacts
):
    chat = ChatPage(sign_up(page))
    attach_three_kinds(chat)
    tray = page.locator("#upload-tray")
    expect(tray.locator("img.upload-thumb")).to_have_count(1)  # the local preview
    expect(tray).to_contain_text("report.pdf")
    expect(tray).to_contain_text("greet.py")
    page.screenshot(path=str(artifacts / "attachments-composer.png"))

    reply = chat.send("What do these show?")
    ChatPage.wait_for_status(reply, "complete")
    expect(chat.uploads).to_have_count(0)
    expect(tray).to_be_hidden()
    message = chat.user_messages.last
    assert_thread_shows_the_three(page, message)
    # The fake upstream says what reached it: the files went upstream with the words.
    expect(reply).to_contain_text("Received 1 image, 1 PDF, 1 text file.")
    page.screenshot(path=str(artifacts / "attachments-thread.png"))

    page.reload()
    reloaded = ChatPage(page)
    expect(reloaded.user_messages).to_have_count(1)
    assert_thread_shows_the_three(page, reloaded.user_messages.first)


def test_the_same_journey_in_japanese(new_context, sign_up, artifacts):
    page = new_context(locale="ja-JP", extra_http_headers={"Accept-Language": "ja"}).new_page()
    chat = ChatPage(sign_up(page))
    assert_japanese(
        page.locator(".attach-button").get_attribute("title") or "", "the attach button"
    )
    attach_three_kinds(chat)
    remove = chat.uploads.first.locator("button.upload-remove")
    assert_japanese(remove.get_attribute("aria-label") or "", "a chip's remove button")

    reply = chat.send("これらのファイルには何が書いてありますか?")
    ChatPage.wait_for_status(reply, "complete")
    assert_thread_shows_the_three(page, chat.user_messages.last)
    page.screenshot(path=str(artifacts / "attachments-thread-ja.png"))
    page.reload()
    assert_thread_shows_the_three(page, ChatPage(page).user_messages.first)


def test_a_refused_file_shows_why_and_is_not_sent_and_a_later_message_still_sends(
    page, sign_up, browser_problems, artifacts
):
    browser_problems.allow("status of 400")  # the browser logs every refused request
    chat = ChatPage(sign_up(page))
    chat.wait_until_connected()
    chat.attach_files(
        {
            "name": "logo.svg",
            "mimeType": "image/svg+xml",
            "buffer": b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        },
        {"name": "cat.png", "mimeType": "image/png", "buffer": b"<!doctype html><p>not a cat</p>"},
    )
    chat.wait_for_uploads(2)
    refused = page.locator('#upload-tray li.upload[data-status="error"]')
    expect(refused).to_have_count(2)
    for index in range(2):
        expect(refused.nth(index).locator(".upload-error")).not_to_be_empty()
    page.screenshot(path=str(artifacts / "attachments-refused.png"))
    expect(chat.send_button).to_be_enabled()

    reply = chat.send("Hello without the files")
    ChatPage.wait_for_status(reply, "complete")
    expect(chat.user_messages.last.locator(".attachments")).to_have_count(0)
    expect(chat.uploads).to_have_count(0)


def test_a_refused_send_gives_its_files_back(page, sign_up):
    chat = ChatPage(sign_up(page))
    chat.wait_until_connected()
    chat.attach_files({"name": "greet.py", "mimeType": "text/x-python", "buffer": CODE})
    chat.wait_for_uploads(1)
    chat.input.fill("x" * 100_001)  # over CHAT_MAX_MESSAGE_CHARS: the server refuses it
    chat.input.press("Enter")
    expect(chat.composer_error).to_be_visible()
    expect(chat.uploads).to_have_count(1)
    expect(chat.uploads.first).to_have_attribute("data-status", "done")
    expect(chat.user_messages).to_have_count(0)

    reply = chat.send("Now a short one")
    ChatPage.wait_for_status(reply, "complete")
    expect(chat.user_messages.last.locator("a.attachment-file")).to_contain_text("greet.py")


def test_files_alone_are_sent_without_words(page, sign_up):
    chat = ChatPage(sign_up(page))
    chat.wait_until_connected()
    chat.paste_file(png_screenshot(), "image.png", "image/png")
    chat.wait_for_uploads(1)
    expect(chat.input).to_have_value("")
    chat.send_button.click()
    reply = chat.replies.first
    ChatPage.wait_for_status(reply, "complete")
    expect(reply).to_contain_text("Received 1 image.")
    expect(chat.user_messages.last.locator("a.attachment-image img")).to_have_count(1)
    expect(chat.user_messages.last.locator(".block.text")).to_have_count(0)


def test_a_screenshot_pasted_while_the_message_box_has_no_focus_is_attached(page, sign_up):
    chat = ChatPage(sign_up(page))
    chat.input.blur()
    chat.paste_file(png_screenshot(), "image.png", "image/png", into=page.locator("#messages"))
    chat.wait_for_uploads(1)
    expect(chat.uploads.first).to_have_attribute("data-kind", "image")


def test_a_removed_chip_is_not_sent(page, sign_up):
    chat = ChatPage(sign_up(page))
    chat.wait_until_connected()
    chat.attach_files(
        {"name": "keep.py", "mimeType": "text/x-python", "buffer": CODE},
        {"name": "drop.txt", "mimeType": "text/plain", "buffer": b"not this one\n"},
    )
    chat.wait_for_uploads(2)
    removed = chat.uploads.filter(has_text="drop.txt")
    removed_url = f"/attachments/{removed.get_attribute('data-id')}/"
    assert page.request.get(removed_url).status == 200
    removed.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(chat.uploads).to_have_count(1)
    expect(chat.input).to_be_focused()
    wait_until(lambda: page.request.get(removed_url).status == 404, 10, what="the upload deleted")

    reply = chat.send("Only one file")
    ChatPage.wait_for_status(reply, "complete")
    files = chat.user_messages.last.locator("a.attachment-file")
    expect(files).to_have_count(1)
    expect(files).to_contain_text("keep.py")


def test_the_attach_button_is_a_file_input_reachable_by_keyboard(page, sign_up):
    chat = ChatPage(sign_up(page))
    chat.input.focus()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "attach-input"
    expect(page.get_by_label("Attach files", exact=True)).to_have_attribute("multiple", "")


def test_dragging_files_over_the_chat_shows_where_to_drop_them(page, sign_up):
    chat = ChatPage(sign_up(page))
    hint = page.locator("#drop-hint")
    expect(hint).to_be_hidden()
    data = chat.file_transfer(CODE, "greet.py", "text/x-python")
    page.dispatch_event("#messages", "dragenter", {"dataTransfer": data})
    expect(hint).to_be_visible()
    page.dispatch_event("#messages", "dragleave", {"dataTransfer": data})
    expect(hint).to_be_hidden()
    expect(chat.uploads).to_have_count(0)


def test_send_waits_while_a_file_uploads_and_the_bar_shows_its_progress(new_context, sign_up):
    context = new_context()
    page = sign_up(context.new_page())
    chat = ChatPage(page)
    chat.wait_until_connected()
    # A slow uplink, so the upload is seen on its way: about 4 s for this picture.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", conditions | {"uploadThroughput": 64_000})
    picture = noise_png(300, 300)
    chat.attach_files({"name": "big.png", "mimeType": "image/png", "buffer": picture})
    bar = chat.uploads.first.locator("progress")
    expect(bar).to_be_visible()
    expect(chat.send_button).to_be_disabled()
    moving = "() => [...document.querySelectorAll('#upload-tray progress')].some(b => b.value > 0)"
    page.wait_for_function(moving)
    chat.input.fill("Too early")
    chat.input.press("Enter")
    expect(chat.composer_error).to_be_visible()
    expect(chat.user_messages).to_have_count(0)

    expect(chat.uploads.first).to_have_attribute("data-status", "done", timeout=30_000)
    expect(chat.send_button).to_be_enabled()
    chat.input.press("Enter")
    expect(chat.user_messages.last.locator("a.attachment-image img")).to_have_count(1)


def test_attachments_fit_a_phone_screen_in_dark_mode(new_context, sign_up, artifacts):
    context = new_context(
        viewport={"width": 390, "height": 800}, is_mobile=True, has_touch=True, color_scheme="dark"
    )
    page = sign_up(context.new_page())
    chat = ChatPage(page)
    chat.wait_until_connected()
    long_name = "quarterly-report-with-a-very-long-file-name-for-the-board-meeting.pdf"
    chat.drop_file(one_page_pdf(), long_name, "application/pdf")
    chat.paste_file(png_screenshot(1200, 300), "image.png", "image/png")
    chat.wait_for_uploads(2)
    page.screenshot(path=str(artifacts / "attachments-phone-composer-dark.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    reply = chat.send("Both, please")
    ChatPage.wait_for_status(reply, "complete")
    message = chat.user_messages.last
    expect(message.locator(".attachment")).to_have_count(2)
    page.screenshot(path=str(artifacts / "attachments-phone-thread-dark.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for box in (message.locator(".attachment-file"), message.locator(".attachment-image img")):
        bounds = box.bounding_box()
        assert bounds is not None and bounds["x"] + bounds["width"] <= 390


def share_link(page: Page, conversation_id: int, include_attachments: bool) -> str:
    """Make an "anyone with the link" share of the conversation; returns its URL."""
    page.goto(f"/c/{conversation_id}/share/")
    page.get_by_label("Anyone with the link").check()
    page.get_by_label("Include attachments").set_checked(include_attachments)
    page.click("#create-share")
    page.wait_for_url(re.compile(r"\?created=\d+$"))
    return page.locator("#share-url").input_value()


def test_a_shared_link_that_includes_attachments_shows_them_to_a_visitor(
    new_context, sign_up, artifacts
):
    owner = sign_up(new_context().new_page())
    chat = ChatPage(owner)
    chat.wait_until_connected()
    chat.paste_file(png_screenshot(), "image.png", "image/png")
    chat.attach_files({"name": "greet.py", "mimeType": "text/x-python", "buffer": CODE})
    chat.wait_for_uploads(2)
    ChatPage.wait_for_status(chat.send("Share these"), "complete")
    conversation_id = chat.conversation_id()
    with_files = share_link(owner, conversation_id, include_attachments=True)
    without_files = share_link(owner, conversation_id, include_attachments=False)

    visitor = new_context().new_page()
    visitor.goto(with_files)
    token = with_files.rstrip("/").rsplit("/", 1)[1]
    message = visitor.locator("#shared-messages article.message.user")
    through_share = re.compile(rf"/s/{re.escape(token)}/attachments/\d+/")
    expect(message.locator("a.attachment-image")).to_have_attribute("href", through_share)
    thumbnail = message.locator("a.attachment-image img")
    loaded = "img => img.complete && img.naturalWidth > 0"
    visitor.wait_for_function(loaded, arg=thumbnail.element_handle())
    chip = message.locator("a.attachment-file")
    expect(chip).to_contain_text("greet.py")
    download = visitor.request.get(chip.get_attribute("href") or "")
    assert download.status == 200 and download.body() == CODE
    visitor.screenshot(path=str(artifacts / "attachments-shared.png"))

    visitor.goto(without_files)
    expect(visitor.locator("#shared-messages article.message.user")).to_contain_text("Share these")
    expect(visitor.locator("#shared-messages .attachments")).to_have_count(0)


def test_an_image_by_url_is_sent_as_a_link_the_page_never_loads(page, sign_up):
    chat = ChatPage(sign_up(page))
    chat.wait_until_connected()
    page.get_by_role("button", name="Add image by URL").click()
    address = page.get_by_label("Image URL")
    expect(address).to_be_focused()
    address.fill("http://example.com/cat.png")
    address.press("Enter")
    expect(chat.composer_error).to_contain_text("https://")
    expect(chat.uploads).to_have_count(0)

    address.fill("https://images.example.com/cat.png")
    address.press("Enter")
    chat.wait_for_uploads(1)
    reply = chat.send("What is in this picture?")
    ChatPage.wait_for_status(reply, "complete")
    link = chat.user_messages.last.locator("a.attachment-file")
    expect(link).to_have_attribute("data-kind", "image_url")
    expect(link).to_contain_text("cat.png")
    expect(chat.user_messages.last.locator("img")).to_have_count(0)


def test_a_shared_pages_attachments_are_links_even_without_javascript(new_context, sign_up):
    owner = sign_up(new_context().new_page())
    chat = ChatPage(owner)
    chat.wait_until_connected()
    chat.attach_files({"name": "greet.py", "mimeType": "text/x-python", "buffer": CODE})
    chat.wait_for_uploads(1)
    ChatPage.wait_for_status(chat.send("Without scripts"), "complete")
    link = share_link(owner, chat.conversation_id(), include_attachments=True)

    reader = new_context(java_script_enabled=False).new_page()
    reader.goto(link)
    chip = reader.locator("#shared-messages article.message.user a.attachment-file")
    expect(chip).to_contain_text("greet.py")
    assert reader.request.get(chip.get_attribute("href") or "").body() == CODE
