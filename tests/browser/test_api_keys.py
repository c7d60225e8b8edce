"""The API keys page in a browser: make a key, copy it once, revoke it; English and Japanese;
and a chatsite key pasted into the chat is warned about."""

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.api_keys import KEY_PATTERN

from .chat_page import ChatPage
from .test_i18n import assert_japanese, assert_no_english_ui

pytestmark = pytest.mark.browser
KEYS_PATH = "/accounts/api-keys/"
ENGLISH_KEY_PAGE = ["Your keys", "Make a key", "Copy it now", "Last used", "you will not see"]


def make_key(page: Page, name: str, envelope: bool = False) -> str:
    page.fill("#id_name", name)
    if envelope:
        page.check("#id_envelope")
    page.locator("form.key-form button[type=submit]").click()
    created = page.locator(".key-created")
    expect(created).to_be_visible()
    raw = page.locator("#new-key").input_value()
    assert KEY_PATTERN.fullmatch(raw), raw
    return raw


def key_row(page: Page, raw: str):
    return page.locator(f'tr.api-key[data-prefix="{raw.rsplit("_", 1)[0]}"]')


def test_make_copy_and_revoke_a_key(lang_page, sign_up, artifacts):
    page = sign_up(lang_page)
    page.locator(f'header a[href="{KEYS_PATH}"]').click()
    page.wait_for_url(f"**{KEYS_PATH}")
    if page.lang == "ja":
        assert_japanese(page.locator("h1").inner_text(), "the API keys heading")

    raw = make_key(page, "laptop", envelope=True)
    created = page.locator(".key-created")
    expect(page.locator("#curl-example")).to_contain_text(f"x-api-key: {raw}")
    expect(page.locator("#curl-example")).to_contain_text("/v1/messages")
    page.screenshot(path=str(artifacts / f"api-key-created-{page.lang}.png"), full_page=True)
    if page.lang == "ja":
        main = page.locator("main").inner_text()
        assert_japanese(created.locator(".key-once").inner_text(), "the shown-once note")
        assert_japanese(page.locator("table.api-keys thead").inner_text(), "the table head")
        assert_no_english_ui(main, "the API keys page")
        found = [s for s in ENGLISH_KEY_PAGE if s in main]
        assert not found, f"the API keys page still shows English {found}"
    else:
        expect(created).to_contain_text("you will not see it again")

    copy = created.locator("button.copy-key").first
    copy.click()
    expect(copy).not_to_have_text(re.compile(r"^(Copy|コピー)$"))  # says it was copied
    assert page.evaluate("navigator.clipboard.readText()") == raw

    page.reload()  # posts the form again: no second key, and the key is gone for good
    expect(page.locator(".key-created")).to_have_count(0)
    expect(page.locator("tr.api-key")).to_have_count(1)
    assert raw not in page.content()
    row = key_row(page, raw)
    expect(row.locator(".key-prefix")).to_have_text(raw.rsplit("_", 1)[0] + "…")
    page.screenshot(path=str(artifacts / f"api-keys-list-{page.lang}.png"), full_page=True)

    row.locator("button.envelope-toggle").click()  # it was made with the envelope on
    page.wait_for_url(f"**{KEYS_PATH}")
    expect(key_row(page, raw).locator(".key-envelope")).to_have_text(re.compile("Off|オフ"))

    key_row(page, raw).locator("a.danger-link").click()
    page.wait_for_url(re.compile(r"/revoke/$"))
    if page.lang == "ja":
        assert_japanese(page.locator("main").inner_text(), "the revoke confirmation")
    page.locator("button.danger").click()
    page.wait_for_url(f"**{KEYS_PATH}")
    expect(key_row(page, raw).locator(".key-status")).not_to_have_text(re.compile("Active|有効"))
    expect(key_row(page, raw).locator("a.danger-link")).to_have_count(0)


def test_a_past_expiry_is_refused_on_the_page(lang_page, sign_up):
    page = sign_up(lang_page)
    page.goto(KEYS_PATH)
    page.fill("#id_name", "old")
    page.fill("#id_expires", "2001-01-01")
    page.locator("form.key-form button[type=submit]").click()
    error = page.locator("form.key-form .form-error")
    expect(error).to_be_visible()
    if page.lang == "ja":
        assert_japanese(error.inner_text(), "the past-expiry error")
    else:
        expect(error).to_contain_text("in the past")
    expect(page.locator(".key-created")).to_have_count(0)
    expect(page.locator("#id_name")).to_have_value("old")


def test_a_pasted_chatsite_key_is_warned_about_before_sending(page, sign_up):
    sign_up(page)
    page.goto(KEYS_PATH)
    raw = make_key(page, "pasted")
    page.goto("/")
    chat = ChatPage(page)
    chat.wait_until_connected()
    chat.input.fill(f"Why does this fail? export ANTHROPIC_API_KEY={raw}")
    chat.input.press("Enter")
    warning = page.locator("#secret-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("chatsite API key")
    expect(chat.user_messages).to_have_count(0)  # nothing left the page
