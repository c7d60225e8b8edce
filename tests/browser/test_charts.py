"""The usage charts and the admin as people see them: English and Japanese, light and dark, a
desktop and a phone (decisions 92 and 93)."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, _manage, _sign_up, unique_username
from .test_turns import screenshot_dir

pytestmark = pytest.mark.browser

HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-5-20250929"
DAYS = 6
# The README's pictures (docs/screenshots/ with UPDATE_SCREENSHOTS=1); the others stay in
# test-artifacts/.
README_PICTURES = {
    "charts-en-light",
    "charts-ja-dark",
    "admin-report-en-1280-dark",
    "admin-report-ja-375-light",
    "admin-users-en-1280-light",
}
LANGS = {"en": {}, "ja": {"locale": "ja-JP", "extra_http_headers": {"Accept-Language": "ja"}}}


def give_usage(env: dict, username: str) -> None:
    """Charges on the last DAYS days for two models, with cache figures, written straight to
    the ledger (the charts read charges; how they were made is the ledger's tests' business)."""
    code = f"""
from datetime import datetime, time, timedelta
from decimal import Decimal
from django.utils import timezone
from accounts.models import LedgerEntry, Quota, User
user = User.objects.get(username={username!r})
# A quota that never resets: the page charts all of it, whatever today's date in the month.
Quota.objects.update_or_create(user=user, defaults={{"period": "none"}})
rates = {{"input": "3", "output": "15", "cache_write": "3.75", "cache_read": "0.3"}}
today = timezone.localdate()
for n in range({DAYS}):
    day = timezone.make_aware(datetime.combine(today - timedelta(days=n), time(12)))
    for model, scale in (({HAIKU!r}, 1), ({SONNET!r}, 3)):
        LedgerEntry.objects.create(
            user=user, kind="charge", model=model, created_at=day, prices=rates,
            cost=Decimal("0.01") * scale * (n + 1), input_tokens=1000 * scale * (n + 1),
            output_tokens=200 * scale, cache_read_input_tokens=5000 * (n % 3),
            cache_creation_input_tokens=8000 if n == 4 else 0,
        )
"""
    _manage(env, "shell", "--no-imports", "-c", code)


@pytest.fixture(scope="module")
def member(chatsite_server, first_account, browser) -> dict:
    """A member with a week of usage, signed in once; its storage state for each context."""
    context = browser.new_context(base_url=chatsite_server.url)
    try:
        username = unique_username("charts")
        _sign_up(context.new_page(), username)
        give_usage(chatsite_server.env, username)
        return {"username": username, "storage_state": context.storage_state()}
    finally:
        context.close()


# The widest elements that stick out of the window, to say what to fix when one does.
WIDE_ELEMENTS = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.body.querySelectorAll("*")]
    .filter((e) => e.getBoundingClientRect().right > width + 1)
    .slice(0, 8)
    .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className.baseVal ?? e.className}`);
}"""


def picture(name: str) -> str:
    folder = screenshot_dir(ARTIFACTS) if name in README_PICTURES else ARTIFACTS
    return str(folder / f"{name}.png")


def no_page_overflow(page: Page) -> None:
    sizes = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert sizes[0] <= sizes[1], (
        f"the page is {sizes[0]}px wide in a {sizes[1]}px window: {page.evaluate(WIDE_ELEMENTS)}"
    )


def fill_of(page: Page, selector: str) -> str:
    return page.locator(selector).first.evaluate("(e) => getComputedStyle(e).fill")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_usage_page_charts_a_week_in_light_and_dark(new_context, member, lang):
    fills = {}
    for scheme in ("light", "dark"):
        # Tall enough for the three charts: the page scrolls inside .page, which would clip
        # a picture of them.
        context = new_context(
            storage_state=member["storage_state"],
            color_scheme=scheme,
            viewport={"width": 1100, "height": 1900},
            **LANGS[lang],
        )
        page = context.new_page()
        page.goto("/accounts/usage/")

        spend = page.locator("#chart-spend")
        expect(spend.locator("rect.chart-bar")).to_have_count(DAYS * 2)
        expect(page.locator("#chart-tokens rect.chart-bar")).to_have_count(DAYS * 2)
        # Days 0 to 5 read 0, 5,000 and 10,000 tokens in turn; day 4 also writes 8,000.
        expect(page.locator("#chart-caching rect.chart-bar")).to_have_count(4)
        with translation.override(lang):
            title = translation.gettext("Spend per day, by model")
            saved = translation.gettext("Saved by prompt caching")
        expect(spend.locator("figcaption")).to_have_text(title)
        expect(spend.locator(".chart-legend")).to_contain_text(HAIKU)
        expect(page.locator("#chart-caching .chart-legend")).to_have_text(saved)
        yesterday = timezone.localdate() - timedelta(days=1)
        bar = spend.locator(f'rect[data-day="{yesterday:%Y-%m-%d}"][data-series="{SONNET}"]')
        expect(bar.locator("title")).to_contain_text("$0.06")
        if lang == "ja":
            expect(bar.locator("title")).to_contain_text(f"{yesterday.month}月{yesterday.day}日")
        fills[scheme] = fill_of(page, "#chart-spend rect.chart-series-0")
        page.locator("section.charts").screenshot(path=picture(f"charts-{lang}-{scheme}"))
    # Dark mode is a palette swap: the same class draws another colour.
    assert fills["light"] != fills["dark"]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_usage_page_fits_a_phone_and_opens_its_charts_on_the_latest_days(
    new_context, member, lang
):
    context = new_context(
        storage_state=member["storage_state"], viewport={"width": 375, "height": 800}, **LANGS[lang]
    )
    page = context.new_page()
    page.goto("/accounts/usage/")

    no_page_overflow(page)
    today = timezone.localdate()
    latest = page.locator(f'#chart-spend rect[data-day="{today:%Y-%m-%d}"]').first
    box, scroller = latest.bounding_box(), page.locator("#chart-spend .chart-scroll").bounding_box()
    assert (
        scroller["x"] <= box["x"] and box["x"] + box["width"] <= scroller["x"] + scroller["width"]
    )
    page.locator("#chart-spend").screenshot(path=picture(f"chart-phone-{lang}"))


def test_a_member_without_usage_reads_no_usage_yet(new_context, first_account):
    page = _sign_up(new_context(**LANGS["ja"]).new_page(), unique_username("empty"))

    page.goto("/accounts/usage/")

    with translation.override("ja"):
        empty = translation.gettext("No usage yet")
    expect(page.locator("#chart-spend .chart-empty")).to_have_text(empty)
    expect(page.locator("svg.chart-svg")).to_have_count(0)


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_admins_users_list_and_usage_report_fit_the_window(
    new_context, first_account, member, lang, width, scheme
):
    context = new_context(
        storage_state=first_account["storage_state"],
        viewport={"width": width, "height": 900},
        color_scheme=scheme,
        **LANGS[lang],
    )
    page = context.new_page()

    page.goto("/admin/accounts/user/")
    expect(page.locator("#result_list")).to_be_visible()
    no_page_overflow(page)
    page.screenshot(path=picture(f"admin-users-{lang}-{width}-{scheme}"))

    page.goto("/admin/reports/usage/?group_by=model")
    expect(page.locator("#usage-report")).to_be_visible()
    expect(page.locator("#chart-spend rect.chart-bar")).not_to_have_count(0)
    no_page_overflow(page)
    page.screenshot(path=picture(f"admin-report-{lang}-{width}-{scheme}"), full_page=True)


def test_the_admins_theme_switch_recolours_the_admin_and_its_charts(
    new_context, first_account, member
):
    context = new_context(storage_state=first_account["storage_state"], color_scheme="dark")
    page = context.new_page()
    page.goto("/admin/reports/usage/?group_by=model")
    bar = "#chart-spend rect.chart-series-0"
    background = "() => getComputedStyle(document.body).backgroundColor"
    dark = (fill_of(page, bar), page.evaluate(background))

    # What the admin's toggle does (theme.js): the page's choice wins over the system's.
    page.evaluate("() => { document.documentElement.dataset.theme = 'light'; }")

    light = (fill_of(page, bar), page.evaluate(background))
    assert light[1] == "rgb(255, 255, 255)"
    assert dark[0] != light[0] and dark[1] != light[1]
