"""The admin's Set quota action as a stranger uses it: changing the period keeps the limits."""

import pytest
from playwright.sync_api import Page, expect

from .conftest import _sign_up, unique_username

pytestmark = pytest.mark.browser


def open_set_quota(admin: Page, *usernames: str, search: str = "") -> None:
    admin.goto(f"/admin/accounts/user/?q={search or usernames[0]}")
    for username in usernames:
        row = admin.locator("#result_list tr", has=admin.get_by_role("link", name=username))
        row.locator("input[name=_selected_action]").check()
    admin.select_option("select[name=action]", "set_quota")
    admin.click("button[name=index]")
    expect(admin.locator("#set_quota-form")).to_be_visible()


def quota_on_user_page(admin: Page, username: str) -> tuple[str, str, str]:
    admin.goto(f"/admin/accounts/user/?q={username}")
    admin.get_by_role("link", name=username, exact=True).click()
    return (
        admin.locator("#id_quota-0-period").input_value(),
        admin.locator("#id_quota-0-cost_limit").input_value(),
        admin.locator("#id_quota-0-token_limit").input_value(),
    )


def test_set_quota_starts_from_the_current_limits_and_keeps_them(
    new_context, first_account, artifacts
):
    username = unique_username("period")
    _sign_up(new_context().new_page(), username)
    admin = new_context(storage_state=first_account["storage_state"]).new_page()

    # Give the user both limits through the action.
    open_set_quota(admin, username)
    admin.get_by_label("Limit to the amount below").check()
    admin.get_by_label("limit in USD").fill("5")
    admin.get_by_label("Limit to the number of tokens below").check()
    admin.get_by_label("limit in tokens").fill("1000")
    admin.click("#set_quota-form input[type=submit].default")
    expect(admin.locator(".messagelist")).to_contain_text("Set the quota of 1 user.")

    # Open it again: it shows what the user has; change only the period.
    open_set_quota(admin, username)
    expect(admin.get_by_label("limit in USD")).to_have_value("5.0000")
    expect(admin.get_by_label("Limit to the amount below")).to_be_checked()
    expect(admin.get_by_label("limit in tokens")).to_have_value("1000")
    admin.screenshot(path=str(artifacts / "admin-set-quota-one-user.png"), full_page=True)
    admin.get_by_label("period").select_option("week")
    admin.click("#set_quota-form input[type=submit].default")
    expect(admin.locator(".messagelist")).to_contain_text("Set the quota of 1 user.")

    assert quota_on_user_page(admin, username) == ("week", "5.0000", "1000")

    # Removing a limit is a choice of its own; an emptied box is an error, not "unlimited".
    open_set_quota(admin, username)
    admin.get_by_label("limit in USD").fill("")
    admin.click("#set_quota-form input[type=submit].default")
    expect(admin.locator(".errorlist")).to_contain_text("Enter a limit, or choose")
    admin.get_by_label("No cost limit").check()
    admin.click("#set_quota-form input[type=submit].default")
    expect(admin.locator(".messagelist")).to_be_visible()

    assert quota_on_user_page(admin, username) == ("week", "", "1000")


def test_set_quota_for_several_users_keeps_each_ones_limits_by_default(
    new_context, first_account, artifacts
):
    team = unique_username("team")
    names = [f"{team}-{n}" for n in range(2)]
    for name in names:
        _sign_up(new_context().new_page(), name)
    admin = new_context(storage_state=first_account["storage_state"]).new_page()
    open_set_quota(admin, names[0])
    admin.get_by_label("Limit to the amount below").check()
    admin.get_by_label("limit in USD").fill("7")
    admin.click("#set_quota-form input[type=submit].default")
    expect(admin.locator(".messagelist")).to_be_visible()
    before = [quota_on_user_page(admin, name) for name in names]

    open_set_quota(admin, *names, search=team)
    expect(admin.get_by_label("Keep each user's current limit").first).to_be_checked()
    admin.screenshot(path=str(artifacts / "admin-set-quota-two-users.png"), full_page=True)
    admin.get_by_label("period").select_option("day")
    admin.click("#set_quota-form input[type=submit].default")
    expect(admin.locator(".messagelist")).to_contain_text("Set the quotas of 2 users.")

    after = [quota_on_user_page(admin, name) for name in names]
    assert after == [("day", cost, tokens) for _period, cost, tokens in before]
    assert after[0][1] == "7.0000"
