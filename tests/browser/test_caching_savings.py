"""The usage page shows what prompt caching saved, in English and Japanese (decision 82)."""

import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from .chat_page import ChatPage
from .conftest import _sign_up, unique_username

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _admin_signed_up_first(first_account) -> None:
    """The first sign-up becomes the admin: it must not be one of these tests' members."""


def long_question(username: str, turn: int) -> str:
    """About 1,500 tokens: above Sonnet's minimum, so the prompt is cached from turn 1. The
    username keeps another test's conversation out of this one's cache."""
    words = " ".join(f"line {i} of the quarterly report for {username}." for i in range(150))
    return f"Turn {turn}: {words} Summarise it. !tokens=20"


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_usage_page_shows_what_caching_saved(new_context, lang):
    username = unique_username("cache")
    page = _sign_up(new_context(locale=lang).new_page(), username)
    chat = ChatPage(page)
    ChatPage.wait_for_status(chat.send(long_question(username, 1)), "complete")
    # The second turn reads the first turn's prompt back from the cache.
    ChatPage.wait_for_status(chat.send(long_question(username, 2)), "complete")

    page.goto("/accounts/usage/")

    with translation.override(lang):
        label = translation.gettext("Saved by prompt caching")
    saved = page.locator("#usage-caching-saved")
    expect(saved.locator("dt")).to_have_text(label)
    # Reads of ~1,500 tokens at $2.70 a million under the input price, less the writes'
    # $0.75 a million: a few tenths of a cent, never nothing and never negative.
    expect(saved.locator("dd").first).to_have_text(re.compile(r"^\$0\.00[1-9]\d*$"))
