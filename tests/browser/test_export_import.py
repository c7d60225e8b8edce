"""Export and import in the browser, in English and Japanese: a member exports a chat with a
file and thinking as JSON and Markdown, another imports the JSON and reads the same chat."""

import json

import pytest
from playwright.sync_api import Page, expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser

CODE = b'def greet(name):\n    return f"Hello, {name}!"\n'


def download(page: Page, selector: str) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    path = info.value.path()
    assert path is not None
    with open(path, "rb") as handle:
        return handle.read()


def test_a_member_exports_a_chat_and_another_imports_it(
    lang_page, new_context, sign_up, browser_problems
):
    owner = sign_up(lang_page)
    assert owner.locator("html").get_attribute("lang") == lang_page.lang
    chat = ChatPage(owner)
    chat.wait_until_connected()
    chat.attach_files({"name": "greet.py", "mimeType": "text/x-python", "buffer": CODE})
    chat.wait_for_uploads(1)
    reply = chat.send("Plan the offsite !thinking !tokens=5")
    ChatPage.wait_for_status(reply, "complete")
    conversation_id = chat.conversation_id()
    answer = ChatPage.text_of(chat.replies.first)
    # The new chat's menu appears with its links, without a reload.
    expect(owner.locator("#chat-export")).to_be_visible()
    expect(owner.locator("#export-json")).to_have_attribute(
        "href", f"/c/{conversation_id}/export.json"
    )

    owner.click("#chat-export summary")
    markdown = download(owner, "#export-md").decode()
    assert "Plan the offsite" in markdown and "greet.py" in markdown
    expect(owner.locator("#chat-export")).to_have_attribute("open", "")  # still open
    exported = download(owner, "#export-json")
    assert json.loads(exported)["version"] == 1

    # Another member, in the same language, imports the file from the sidebar's link.
    if lang_page.lang == "ja":
        context = new_context(locale="ja-JP", extra_http_headers={"Accept-Language": "ja"})
    else:
        context = new_context()
    member = sign_up(context.new_page())
    member.click("#transfer-link")
    member.wait_for_url("**/export/")
    expect(member.locator("#export-all-json")).to_be_visible()

    member.set_input_files(
        "#import-file", {"name": "chat.json", "mimeType": "application/json", "buffer": b"{"}
    )
    browser_problems.allow("status of 400")  # the refused file's page, on purpose
    member.click("#import-submit")
    expect(member.locator("#import-error")).to_be_visible()
    expect(member.locator("#import-result")).to_have_count(0)

    member.set_input_files(
        "#import-file",
        {"name": "chat.json", "mimeType": "application/json", "buffer": exported},
    )
    member.click("#import-submit")
    expect(member.locator("#import-result")).to_be_visible()
    member.locator("#import-result a").first.click()
    copy = ChatPage(member)
    copy.conversation_id()
    expect(copy.replies).to_have_count(1)
    expect(copy.replies.first.locator("details.block.thinking")).to_have_count(1)
    assert ChatPage.text_of(copy.replies.first) == answer
    expect(copy.user_messages.first).to_contain_text("greet.py")

    # Export all, from the same page: a JSON file holding the imported chat.
    member.click("#transfer-link")
    everything = json.loads(download(member, "#export-all-json"))
    assert len(everything["conversations"]) == 1
