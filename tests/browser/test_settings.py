"""The chat settings panel: a preset, temperature and a stop sequence reach the model and the
stop shows in the thread; refused settings are explained beside their field. English, Japanese."""

import re

import pytest
from playwright.sync_api import Page, expect

from .chat_page import ChatPage
from .test_i18n import assert_japanese

pytestmark = pytest.mark.browser

THINKING_MODEL = "claude-sonnet-4-5-20250929-thinking"


def ja_context(new_context):
    return new_context(locale="ja-JP", extra_http_headers={"Accept-Language": "ja"})


def open_settings(page: Page) -> None:
    if page.locator("#settings-panel").is_hidden():
        page.locator("#settings-toggle").click()
    expect(page.locator("#settings-panel")).to_be_visible()


def field_error(page: Page, name: str):
    return page.locator(f'#settings-panel .field[data-field="{name}"] .field-error')


def add_stop_sequence(page: Page, text: str) -> None:
    page.locator("#add-stop-sequence").click()
    page.locator("#stop-sequences input").last.fill(text)


def save_a_preset(page: Page, name: str) -> None:
    """Temperature 0.4 and the stop sequence "w3", saved under `name`."""
    open_settings(page)
    page.locator("#setting-temperature").fill("0.4")
    add_stop_sequence(page, "w3")
    page.locator("#preset-name").fill(name)
    page.locator("#preset-save").click()
    expect(page.locator("#preset-list")).to_contain_text(name)


def choose_the_preset_change_temperature_and_send(page: Page, name: str, upstream) -> ChatPage:
    page.goto("/")
    chat = ChatPage(page)
    chat.wait_until_connected()
    page.locator("#preset-select").select_option(label=name)
    open_settings(page)
    expect(page.locator("#setting-temperature")).to_have_value("0.4")
    expect(page.locator("#stop-sequences input")).to_have_value("w3")
    page.locator("#setting-temperature").fill("0.5")
    reply = chat.send("Count for me !tokens=6")
    ChatPage.wait_for_status(reply, "complete")
    assert ChatPage.text_of(reply) == "w1 w2"
    sent = upstream.requests[-1]["body"]
    assert (sent["temperature"], sent["stop_sequences"]) == (0.5, ["w3"])
    return chat


def test_a_preset_a_temperature_and_a_stop_sequence_end_the_reply_with_a_notice(
    page, sign_up, browser_upstream, artifacts
):
    sign_up(page)
    save_a_preset(page, "Short answers")
    chat = choose_the_preset_change_temperature_and_send(page, "Short answers", browser_upstream)
    note = chat.replies.nth(0).locator(".stop-note")
    expect(note).to_have_text("Stopped at the stop sequence “w3”.")
    page.screenshot(path=str(artifacts / "settings-stop-sequence.png"), full_page=True)

    # Saved with the conversation: a reload shows them, and the notice, again.
    page.reload()
    open_settings(page)
    expect(page.locator("#setting-temperature")).to_have_value("0.5")
    expect(chat.replies.nth(0).locator(".stop-note")).to_have_text(
        "Stopped at the stop sequence “w3”."
    )
    cut = chat.send("Go on !tokens=2 !maxtokens")
    ChatPage.wait_for_status(cut, "complete")
    expect(cut.locator(".stop-note")).to_have_text("Cut short: the reply reached its length limit.")


def test_staff_publish_a_team_preset_that_a_member_starts_a_chat_from(
    new_context, first_account, sign_up, browser_upstream, artifacts
):
    admin = new_context(storage_state=first_account["storage_state"]).new_page()
    admin.goto("/")
    open_settings(admin)
    admin.locator("#setting-system_prompt").fill("You answer for ACME support.")
    admin.locator("#preset-name").fill("ACME support")
    admin.locator("#preset-team").check()
    admin.locator("#preset-save").click()
    expect(admin.locator("#preset-list li", has_text="ACME support")).to_contain_text("Team")

    page = new_context().new_page()
    chat = ChatPage(sign_up(page))
    chat.wait_until_connected()
    page.locator("#preset-select").select_option(label="ACME support")
    open_settings(page)
    expect(page.locator("#team-prompt")).to_contain_text("You answer for ACME support.")
    expect(
        page.locator("#preset-list li", has_text="ACME support").get_by_role("button")
    ).to_have_count(0)
    page.locator("#setting-system_prompt").fill("Call me Ann.")
    page.screenshot(path=str(artifacts / "settings-team-preset.png"), full_page=True)
    ChatPage.wait_for_status(chat.send("Hello !tokens=2"), "complete")
    assert browser_upstream.requests[-1]["body"]["system"] == [
        {"type": "text", "text": "You answer for ACME support."},
        {"type": "text", "text": "Call me Ann."},
    ]


def test_a_fifth_stop_sequence_and_temperature_with_thinking_are_refused(
    page, sign_up, browser_upstream, artifacts, browser_problems
):
    browser_problems.allow("status of 400")  # the refusal itself, shown beside its field
    chat = ChatPage(sign_up(page))
    chat.wait_until_connected()
    open_settings(page)
    # Sonnet 4.5 may think: the switch is there, off until the member turns it on.
    expect(page.locator("#thinking-field")).to_be_visible()
    expect(page.locator("#setting-thinking")).not_to_be_checked()
    for text in ["a", "b", "c", "d", "e"]:
        add_stop_sequence(page, text)
    page.locator("#settings-save").click()
    expect(field_error(page, "stop_sequences")).to_have_text(
        "At most 4 stop sequences are allowed (you have 5)."
    )
    page.locator("#stop-sequences .stop-sequence").last.get_by_role("button").click()

    page.locator("#model-select").select_option(THINKING_MODEL)
    expect(page.locator("#thinking-field")).to_be_visible()
    page.locator("#setting-thinking").check()
    page.locator("#setting-temperature").fill("0.5")
    requests = len(browser_upstream.requests)
    chat.input.fill("Think about it !tokens=3")
    chat.input.press("Enter")
    error = field_error(page, "temperature")
    expect(error).to_contain_text("With extended thinking on, the temperature cannot be changed")
    expect(field_error(page, "stop_sequences")).to_be_hidden()
    expect(chat.input).to_have_value("Think about it !tokens=3")  # the words are kept
    expect(chat.user_messages).to_have_count(0)
    assert len(browser_upstream.requests) == requests, "nothing went upstream"
    page.screenshot(path=str(artifacts / "settings-refused.png"), full_page=True)

    page.locator("#setting-temperature").fill("")
    chat.input.press("Enter")
    ChatPage.wait_for_status(chat.replies.nth(0), "complete")
    sent = browser_upstream.requests[-1]["body"]
    assert "temperature" not in sent and sent["stop_sequences"] == ["a", "b", "c", "d"]


def test_settings_presets_and_refusals_in_japanese(
    new_context, sign_up, browser_upstream, artifacts, browser_problems
):
    browser_problems.allow("status of 400")
    page = ja_context(new_context).new_page()
    sign_up(page)
    open_settings(page)
    assert_japanese(page.locator("#settings-heading").inner_text(), "the settings heading")
    assert_japanese(page.locator("#settings-save").inner_text(), "the save button")
    save_a_preset(page, "短く")
    chat = choose_the_preset_change_temperature_and_send(page, "短く", browser_upstream)
    note = chat.replies.nth(0).locator(".stop-note")
    expect(note).to_contain_text("w3")
    assert_japanese(note.inner_text(), "the stop-sequence notice")

    page.goto("/")
    chat.wait_until_connected()
    open_settings(page)
    for text in ["a", "b", "c", "d", "e"]:
        add_stop_sequence(page, text)
    page.locator("#model-select").select_option(THINKING_MODEL)
    page.locator("#setting-thinking").check()
    page.locator("#setting-temperature").fill("0.5")
    page.locator("#settings-save").click()
    for name in ("stop_sequences", "temperature"):
        expect(field_error(page, name)).to_be_visible()
        assert_japanese(field_error(page, name).inner_text(), f"the {name} error")
        assert not re.search(r"\b(stop sequences|thinking)\b", field_error(page, name).inner_text())
    page.screenshot(path=str(artifacts / "settings-refused-ja.png"), full_page=True)
