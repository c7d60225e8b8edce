"""A tool step in the browser, English and Japanese: switched on in the settings panel, its
input streams into an open fold, which folds when the result arrives (decision 78)."""

import re

import pytest
from playwright.sync_api import expect

from .chat_page import ChatPage
from .test_i18n import assert_japanese
from .test_settings import open_settings

pytestmark = pytest.mark.browser


def test_a_tool_step_streams_in_open_and_folds_with_its_result(lang_page, sign_up, artifacts):
    chat = ChatPage(sign_up(lang_page))
    chat.wait_until_connected()
    open_settings(lang_page)
    lang_page.locator('.tool-switch[value="calculator"]').check()
    lang_page.screenshot(path=str(artifacts / f"tools-switch-{lang_page.lang}.png"))
    lang_page.locator("#settings-close").click()
    reply = chat.send("Add them !usetool=calculator !expr=6*7 !delay=250")

    step = reply.locator("details.block.tool_use")
    expect(step).to_have_attribute("open", "", timeout=15_000)
    expect(step.locator("pre").first).to_contain_text("6*7")
    expect(step.locator("summary")).to_contain_text("calculator")
    lang_page.screenshot(path=str(artifacts / f"tool-step-open-{lang_page.lang}.png"))
    if lang_page.lang == "ja":
        assert_japanese(step.locator("summary").inner_text(), "the tool step's summary")

    expect(step).not_to_have_attribute("open", re.compile(".*"), timeout=15_000)
    expect(reply).to_have_attribute("data-status", "streaming")  # folded by its result
    ChatPage.wait_for_status(reply, "complete")
    expect(reply.locator(".block.text").last).to_contain_text("42")
    step.locator("summary").click()
    expect(step.locator(".tool-result-label")).to_be_visible()
    expect(step.locator("pre").last).to_contain_text('"value": 42')
    expect(reply.locator("details.block.tool_result")).to_be_hidden()
    lang_page.screenshot(path=str(artifacts / f"tool-step-result-{lang_page.lang}.png"))

    lang_page.reload()
    stored = chat.replies.last
    expect(stored.locator("details.block.tool_use")).to_have_count(1)
    expect(stored.locator("details.block.tool_use")).not_to_have_attribute("open", re.compile(".*"))
    open_settings(lang_page)
    expect(lang_page.locator('.tool-switch[value="calculator"]')).to_be_checked()


def test_the_tool_use_choice_offers_only_the_tools_switched_on(lang_page, sign_up):
    chat = ChatPage(sign_up(lang_page))
    chat.wait_until_connected()
    open_settings(lang_page)
    choice = lang_page.locator("#setting-tool_choice")
    expect(choice).to_be_disabled()  # no tool on: nothing to choose

    lang_page.locator('.tool-switch[value="calculator"]').check()
    expect(choice).to_be_enabled()
    expect(choice.locator('option[value="tool:calculator"]')).to_be_enabled()
    expect(choice.locator('option[value="tool:current_time"]')).to_be_disabled()
    choice.select_option("tool:calculator")

    lang_page.locator('.tool-switch[value="calculator"]').uncheck()
    expect(choice).to_be_disabled()
    expect(choice).to_have_value("auto")  # never a forced choice of a tool that is off
