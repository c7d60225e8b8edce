"""While a reply streams, its cost so far grows under it and beside the meter, then the charge
replaces it, in English and Japanese (issue 16, item 6)."""

import re

import pytest
from playwright.sync_api import Page, expect

from .chat_page import ChatPage

pytestmark = pytest.mark.browser

AMOUNT = re.compile(r"\$(\d+\.\d{2,4})")


def amount(text: str | None) -> float:
    match = AMOUNT.search(text or "")
    assert match, f"no dollar amount in {text!r}"
    return float(match.group(1))


MID_STREAM = """(reply) => ({
    status: reply.dataset.status,
    footer: reply.querySelector(".message-actions .live-cost")?.textContent,
    header: document.getElementById("live-cost").textContent,
    bar: document.querySelector("#quota-meter meter").value,
    estimates: [
        document.getElementById("live-cost").dataset.estimate,
        reply.querySelector(".message-actions .live-cost")?.dataset.estimate,
    ],
})"""


def meter_value(page: Page) -> float:
    """The quota meter's bar (new users have the default cost limit)."""
    return page.locator("#quota-meter meter").evaluate("(bar) => bar.value")


def translated(page: Page, msgid: str, cost: str) -> str:
    """The page's own words for `msgid` with `cost`: the JS catalog of the page's language."""
    return page.evaluate(
        "([msgid, cost]) => interpolate(gettext(msgid), { cost }, true)", [msgid, cost]
    )


def test_the_cost_grows_while_a_reply_streams_and_the_charge_replaces_it(lang_page, sign_up):
    chat = ChatPage(sign_up(lang_page))
    expect(lang_page.locator("html")).to_have_attribute("lang", lang_page.lang)
    reply = chat.send("Count !tokens=150 !delay=60")
    footer = reply.locator(".message-actions .live-cost")
    header = lang_page.locator("#live-cost")

    expect(footer).to_contain_text(AMOUNT)
    early, early_bar = amount(footer.text_content()), meter_value(lang_page)
    ChatPage.wait_for_word(reply, "w90")
    # Mid-stream, in one look at the page: the reply is still being written, and the estimate
    # under it, beside the meter and in the meter's bar has grown with it.
    mid = reply.evaluate(MID_STREAM)
    assert mid["status"] == "streaming"
    mid_footer, mid_header, mid_bar = mid["footer"], mid["header"], mid["bar"]
    assert amount(mid_footer) > early
    assert mid_bar > early_bar, "the quota meter's bar moves with the estimate"
    shown = AMOUNT.search(mid_header).group(0)
    assert mid_header == translated(lang_page, "This reply: about %(cost)s so far", shown)
    assert mid["estimates"] == ["true", "true"], "both say they are estimates"

    ChatPage.wait_for_status(reply, "complete")
    # The charge, to the hundredth of a cent, under the reply and beside the meter.
    expect(footer).to_have_count(0)
    meta = reply.locator(".message-meta")
    expect(meta).to_contain_text(AMOUNT)
    charged = AMOUNT.search(meta.text_content()).group(0)
    expect(header).to_have_text(translated(lang_page, "This reply: %(cost)s", charged))
    assert header.get_attribute("data-estimate") == "false"
    assert amount(charged) >= amount(mid_footer) * 0.5, "the estimate was of the right size"


def test_a_reply_joined_mid_stream_has_no_estimate_but_shows_its_charge(page, sign_up):
    """A reload mid-stream gets the reply's snapshot, without prices: nothing is guessed."""
    chat = ChatPage(sign_up(page))
    reply = chat.send("Count !tokens=60 !delay=60")
    ChatPage.wait_for_word(reply, "w10")
    chat.conversation_id()
    page.reload()
    reply = chat.replies.first
    ChatPage.wait_for_status(reply, "complete")
    expect(reply.locator(".live-cost")).to_have_count(0)
    expect(reply.locator(".message-meta")).to_contain_text(AMOUNT)
    expect(page.locator("#live-cost")).to_be_hidden()
