"""Sign-up journeys in the browser: who becomes the administrator."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_first_account_becomes_admin(first_account, new_context):
    page = new_context(storage_state=first_account["storage_state"]).new_page()
    page.goto("/")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    expect(page.locator("#composer-input")).to_be_visible()


def test_later_accounts_are_not_admin(page, sign_up):
    sign_up(page)
    expect(page.locator("#composer-input")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
