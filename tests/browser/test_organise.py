"""Organising the sidebar in the browser: file a chat in a folder, pin, archive, see it in
Archived, unarchive, bulk archive and bulk delete, in English and Japanese (decision 86)."""

import re

import pytest
from playwright.sync_api import Page, expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser

FOLDER = {"en": "Trips", "ja": "旅行"}
TOPICS = {
    "en": ["Alpha notes", "Bravo notes", "Charlie notes"],
    "ja": ["京都の予定", "大阪の予定", "奈良の予定"],
}


def new_chat(chat: ChatPage, text: str) -> int:
    chat.page.goto("/")
    reply = chat.send(text)
    conversation_id = chat.conversation_id()
    ChatPage.wait_for_status(reply, "complete")
    return conversation_id


def item(chat: ChatPage, conversation_id: int, within: str = ""):
    return chat.sidebar.locator(f'{within} .conversation-item[data-id="{conversation_id}"]')


def menu_action(chat: ChatPage, conversation_id: int, path: str) -> None:
    """Open the chat's "⋯" menu and press the action that posts to …/PATH/."""
    row = item(chat, conversation_id)
    row.hover()
    row.locator(".item-menu > summary").click()
    row.locator(f'.menu [formaction$="/{path}/"], .menu a[href$="/{path}/"]').click()


def mark_page(page: Page) -> None:
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def test_file_pin_archive_unarchive_and_bulk_archive_and_delete(lang_page, sign_up):
    chat = ChatPage(sign_up(lang_page))
    lang = lang_page.lang
    expect(lang_page.locator("html")).to_have_attribute("lang", lang)
    alpha, bravo, charlie = (new_chat(chat, text) for text in TOPICS[lang])
    mark_page(lang_page)

    # A folder, and a chat filed in it from the "⋯" menu's picker.
    chat.sidebar.locator(".new-folder > summary").click()
    chat.sidebar.locator("#new-folder-name").fill(FOLDER[lang])
    chat.sidebar.locator("#new-folder-name").press("Enter")
    folder = chat.sidebar.locator("details.folder")
    expect(folder.locator(".folder-name")).to_have_text(FOLDER[lang])
    menu_action(chat, alpha, "folder")
    item(chat, alpha).locator(".menu select").select_option(label=FOLDER[lang])
    expect(item(chat, alpha, "details.folder")).to_be_visible()
    expect(item(chat, alpha, '[data-list="recent"]')).to_have_count(0)

    # Pinned chats come first.
    menu_action(chat, bravo, "pin")
    expect(item(chat, bravo, '[data-list="pinned"]')).to_be_visible()
    ids = chat.sidebar.locator(".conversation-item").evaluate_all(
        "items => items.map(i => Number(i.dataset.id))"
    )
    assert ids[0] == bravo

    # Archived chats leave the main list for the Archived view, and come back.
    menu_action(chat, alpha, "archive")
    expect(item(chat, alpha, "details.folder")).to_have_count(0)
    archived = chat.sidebar.locator("details.archived-view")
    archived.locator("> summary").click()
    expect(item(chat, alpha, '[data-list="archived"]')).to_be_visible()
    menu_action(chat, alpha, "unarchive")
    expect(item(chat, alpha, "details.folder")).to_be_visible()
    expect(chat.sidebar.locator("details.archived-view")).to_have_count(0)

    # Bulk archive: select mode, two chats, one button.
    chat.sidebar.locator('label[for="sidebar-select-mode"]').click()
    item(chat, bravo).locator(".select-box").check()
    item(chat, charlie).locator(".select-box").check()
    chat.sidebar.locator('#sidebar-bulk button[value="archive"]').click()
    archived = chat.sidebar.locator("details.archived-view")
    expect(archived).to_be_visible()
    expect(archived).to_have_js_property("open", True)  # it stayed open since it was opened
    for conversation_id in (bravo, charlie):
        expect(item(chat, conversation_id, '[data-list="archived"]')).to_be_visible()

    # Bulk delete asks first; declining keeps everything.
    chat.sidebar.locator('label[for="sidebar-select-mode"]').click()
    item(chat, bravo).locator(".select-box").check()
    item(chat, alpha).locator(".select-box").check()
    lang_page.once("dialog", lambda dialog: dialog.dismiss())
    chat.sidebar.locator('#sidebar-bulk button[value="delete"]').click()
    expect(item(chat, alpha)).to_be_visible()
    questions = []

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    lang_page.once("dialog", accept)
    chat.sidebar.locator('#sidebar-bulk button[value="delete"]').click()
    expect(item(chat, alpha)).to_have_count(0)
    expect(item(chat, bravo)).to_have_count(0)
    expect(item(chat, charlie, '[data-list="archived"]')).to_be_visible()
    assert questions and "2" in questions[0]
    # The chat on screen (the last one made) is still there: no reload was needed.
    assert lang_page.url.endswith(f"/c/{charlie}/") and not_reloaded(lang_page)


def test_deleting_the_chat_on_screen_goes_to_a_new_chat(page, sign_up):
    chat = ChatPage(sign_up(page))
    first = new_chat(chat, "First chat")
    second = new_chat(chat, "Second chat")

    chat.sidebar.locator('label[for="sidebar-select-mode"]').click()
    item(chat, first).locator(".select-box").check()
    item(chat, second).locator(".select-box").check()
    page.once("dialog", lambda dialog: dialog.accept())
    chat.sidebar.locator('#sidebar-bulk button[value="delete"]').click()

    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    expect(chat.sidebar.locator(".conversation-item")).to_have_count(0)


def test_without_javascript_the_forms_still_organise(new_context, sign_up):
    chat = ChatPage(sign_up(new_context().new_page()))
    conversation_id = new_chat(chat, "Plain forms")
    plain = new_context(java_script_enabled=False, storage_state=chat.page.context.storage_state())
    page = plain.new_page()
    page.goto(f"/c/{conversation_id}/")
    sidebar = ChatPage(page).sidebar

    sidebar.locator(".new-folder > summary").click()
    sidebar.locator("#new-folder-name").fill("Plain")
    sidebar.locator(".new-folder button[type=submit]").click()
    expect(sidebar.locator(".folder-name")).to_have_text("Plain")
    row = item(ChatPage(page), conversation_id)
    row.locator(".item-menu > summary").click()
    row.locator("a.move-link").click()
    page.select_option("#id_folder", label="Plain")
    page.click("button.primary")
    page.wait_for_url(f"**/c/{conversation_id}/")  # back where it came from
    expect(item(ChatPage(page), conversation_id, "details.folder")).to_be_visible()

    row.locator(".item-menu > summary").click()
    row.locator('.menu [formaction$="/archive/"]').click()
    page.wait_for_url(f"**/c/{conversation_id}/")
    expect(item(ChatPage(page), conversation_id, '[data-list="archived"]')).to_be_attached()


def test_a_refresh_of_the_list_keeps_what_the_member_was_doing(page, sign_up, artifacts):
    chat = ChatPage(sign_up(page))
    first = new_chat(chat, "Keep my place")
    chat.sidebar.locator(".new-folder > summary").click()
    chat.sidebar.locator("#new-folder-name").fill("Half typed")
    chat.sidebar.locator('label[for="sidebar-select-mode"]').click()
    item(chat, first).locator(".select-box").check()

    page.evaluate("document.querySelector('.sidebar-organise').dataset.stale = '1'")
    page.evaluate("window.htmx.trigger(document.body, 'chat:sidebar')")
    expect(chat.sidebar.locator(".sidebar-organise[data-stale]")).to_have_count(0)  # swapped

    expect(chat.sidebar.locator("#new-folder-name")).to_have_value("Half typed")
    expect(item(chat, first).locator(".select-box")).to_be_checked()
    page.screenshot(path=str(artifacts / "organise-sidebar.png"))


def test_without_javascript_bulk_delete_asks_on_a_page(new_context, sign_up):
    chat = ChatPage(sign_up(new_context().new_page()))
    gone = new_chat(chat, "Delete me")
    kept = new_chat(chat, "Keep me")
    plain = new_context(java_script_enabled=False, storage_state=chat.page.context.storage_state())
    page = plain.new_page()
    page.goto(f"/c/{kept}/")
    sidebar = ChatPage(page)

    page.locator('label[for="sidebar-select-mode"]').click()  # :has() shows the boxes
    item(sidebar, gone).locator(".select-box").check()
    page.locator('#sidebar-bulk button[value="delete"]').click()
    expect(page.locator("main")).to_contain_text("Delete me")
    page.locator("main button.danger").click()

    page.wait_for_url(f"**/c/{kept}/")
    expect(item(sidebar, gone)).to_have_count(0)
    expect(item(sidebar, kept)).to_be_visible()
