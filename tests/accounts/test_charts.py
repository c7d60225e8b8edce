"""Usage charts: spend, tokens and caching savings per day by model, on the usage page and the
admin report, drawn as SVG without a style attribute (decision 92)."""

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format

from accounts import charts
from accounts.models import LedgerEntry
from accounts.pricing import caching_saved
from accounts.reports import caching_savings, regroup, usage_rows
from tests.pg import ROOT, is_postgresql_run, pytest_on_postgresql

HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-5-20250929"
RATES = {"input": "3", "output": "15", "cache_write": "3.75", "cache_read": "0.3"}
REPORT_URL = "/admin/reports/usage/"

# Hand-made charges at chosen days and rates: the charts' arithmetic, not the ledger's.
pytestmark = [pytest.mark.django_db, pytest.mark.ledger_unchecked]


@pytest.fixture(autouse=True)
def _quota_never_resets(settings):
    # The usage page charts the member's period: "never" makes it start at the first charge.
    settings.QUOTA_DEFAULT_PERIOD = "none"


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


def charge(user, day: date, model: str = HAIKU, *, cost: str = "0.01", rates=None, **usage):
    at = timezone.make_aware(datetime.combine(day, time(12)))
    return LedgerEntry.objects.create(
        user=user,
        kind=LedgerEntry.Kind.CHARGE,
        model=model,
        created_at=at,
        cost=Decimal(cost),
        tokens=sum(usage.values()),
        prices=RATES if rates is None else rates,
        **usage,
    )


def english_date(day: date) -> str:
    with translation.override("en"):
        return date_format(day, "DATE_FORMAT")


def bars(page: str, chart: str) -> list[dict]:
    """The bars of one chart on a page: day, series and value of each <rect>."""
    figure = page.split(f'id="chart-{chart}"')[1].split("</figure>")[0]
    found = re.findall(
        r'<rect class="chart-bar[^"]*" data-day="([^"]+)" data-series="([^"]+)" '
        r'data-value="([^"]+)"',
        figure,
    )
    return [{"day": d, "series": s, "value": v} for d, s, v in found]


def staff(make_user):
    boss = make_user("boss")
    boss.is_staff = True
    boss.save()
    boss.user_permissions.add(Permission.objects.get(codename="view_usage_report"))
    return boss


def test_the_usage_page_has_one_spend_and_one_token_bar_per_day_and_model(client, make_user):
    kim = make_user("kim")
    charge(kim, days_ago(2), HAIKU, cost="0.25", input_tokens=100, output_tokens=20)
    charge(kim, days_ago(2), HAIKU, cost="0.5", input_tokens=1, output_tokens=2)
    charge(kim, days_ago(2), SONNET, cost="1.5", input_tokens=1000, cache_read_input_tokens=500)
    charge(kim, days_ago(0), SONNET, cost="0.125", output_tokens=7)
    charge(make_user("lee"), days_ago(1), HAIKU, cost="9", input_tokens=9)  # not kim's
    client.force_login(kim)

    page = client.get(reverse("usage")).content.decode()

    first, today = days_ago(2).isoformat(), days_ago(0).isoformat()
    assert sorted(bars(page, "spend"), key=lambda b: (b["day"], b["series"])) == [
        {"day": first, "series": HAIKU, "value": "0.75"},
        {"day": first, "series": SONNET, "value": "1.5"},
        {"day": today, "series": SONNET, "value": "0.125"},
    ]
    assert sorted(bars(page, "tokens"), key=lambda b: (b["day"], b["series"])) == [
        {"day": first, "series": HAIKU, "value": "123"},
        {"day": first, "series": SONNET, "value": "1500"},
        {"day": today, "series": SONNET, "value": "7"},
    ]


def test_each_bar_has_a_hover_title_with_its_day_model_and_amount(client, make_user):
    kim = make_user("kim")
    charge(kim, days_ago(1), SONNET, cost="1.5")
    client.force_login(kim)

    page = client.get(reverse("usage")).content.decode()

    expected = f"{english_date(days_ago(1))} · {SONNET}: $1.50"
    assert f"<title>{expected}</title>" in page.split('id="chart-spend"')[1]


def test_the_caching_chart_shows_each_days_savings_and_losses(client, make_user):
    kim = make_user("kim")
    charge(kim, days_ago(3), cache_read_input_tokens=1_000_000)  # saves $2.70
    charge(kim, days_ago(3), cache_creation_input_tokens=200_000)  # costs $0.15 more
    charge(kim, days_ago(1), cache_creation_input_tokens=1_000_000)  # written, never read
    charge(kim, days_ago(0), input_tokens=10)  # no caching: no bar
    client.force_login(kim)

    page = client.get(reverse("usage")).content.decode()

    assert [(b["day"], b["value"]) for b in bars(page, "caching")] == [
        (days_ago(3).isoformat(), "2.55"),
        (days_ago(1).isoformat(), "-0.75"),
    ]


def test_no_usage_shows_no_usage_yet_in_the_members_language(client, make_user):
    client.force_login(make_user("kim"))

    for lang in ("en", "ja"):
        page = client.get(reverse("usage"), HTTP_ACCEPT_LANGUAGE=lang).content.decode()

        assert f'<html lang="{lang}">' in page
        with translation.override(lang):
            empty = translation.gettext("No usage yet")
        figure = page.split('id="chart-spend"')[1].split("</figure>")[0]
        assert f'<p class="chart-empty muted">{empty}</p>' in figure
        assert "<svg" not in figure


def test_japanese_charts_write_days_the_japanese_way(client, make_user):
    kim = make_user("kim")
    charge(kim, days_ago(1), SONNET, cost="1.5")
    client.force_login(kim)

    page = client.get(reverse("usage"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()

    day = days_ago(1)
    assert f"<title>{day.year}年{day.month}月{day.day}日 · {SONNET}: $1.50</title>" in page


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_no_style_attribute_on_the_usage_page_or_the_admin_report(client, make_user, lang):
    kim = make_user("kim")
    charge(kim, days_ago(1), SONNET, cost="1.5", cache_read_input_tokens=1000)
    boss = staff(make_user)
    charge(boss, days_ago(0), HAIKU, cache_creation_input_tokens=5000)

    for user, url in ((kim, reverse("usage")), (boss, REPORT_URL)):
        client.force_login(user)
        page = client.get(url, HTTP_ACCEPT_LANGUAGE=lang).content.decode()

        assert 'id="chart-spend"' in page
        assert not re.search(r"\sstyle\s*=", page, re.IGNORECASE)


def test_the_chart_has_a_table_of_the_same_figures_for_screen_readers(client, make_user):
    kim = make_user("kim")
    charge(kim, days_ago(1), HAIKU, cost="0.25")
    charge(kim, days_ago(1), SONNET, cost="1.5")
    client.force_login(kim)

    page = client.get(reverse("usage")).content.decode()

    figure = page.split('id="chart-spend"')[1].split("</figure>")[0]
    table = figure.split('<div class="chart-data">')[1]
    cells = re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", table)
    assert cells[-4:] == [english_date(days_ago(1)), "$1.50", "$0.25", "$1.75"]


def test_the_usage_page_makes_the_same_queries_for_one_day_or_thirty(
    client, make_user, django_assert_max_num_queries
):
    kim = make_user("kim")
    charge(kim, days_ago(0), HAIKU, cache_read_input_tokens=10)
    client.force_login(kim)
    with CaptureQueriesContext(connection) as one_day:
        client.get(reverse("usage"))
    for n in range(30):
        for model in (HAIKU, SONNET, "claude-opus-4-1"):
            charge(kim, days_ago(n), model, cache_read_input_tokens=10 + n)

    with django_assert_max_num_queries(len(one_day)):
        page = client.get(reverse("usage")).content.decode()

    assert len(bars(page, "spend")) == 90
    assert len(bars(page, "caching")) == 30


def test_the_admin_report_charts_everyones_usage_in_its_range(client, make_user):
    charge(make_user("kim"), date(2026, 3, 2), HAIKU, cost="0.25", cache_read_input_tokens=10)
    charge(make_user("lee"), date(2026, 3, 2), HAIKU, cost="0.5")
    charge(make_user("max"), date(2026, 3, 9), SONNET, cost="2")  # after the range
    client.force_login(staff(make_user))

    response = client.get(REPORT_URL, {"since": "2026-03-01", "until": "2026-03-05"})

    page = response.content.decode()
    assert bars(page, "spend") == [{"day": "2026-03-02", "series": HAIKU, "value": "0.75"}]
    assert [b["value"] for b in bars(page, "caching")] == ["0.000027"]
    spend = response.context["charts"][0]
    assert spend.days == [date(2026, 3, d) for d in range(1, 6)]


def test_a_range_longer_than_the_chart_shows_its_last_days_and_says_so(client, make_user):
    charge(make_user("kim"), date(2026, 1, 1), HAIKU, cost="0.25")
    charge(make_user("lee"), date(2026, 12, 31), HAIKU, cost="0.5")
    client.force_login(staff(make_user))

    response = client.get(REPORT_URL, {"since": "2026-01-01", "until": "2026-12-31"})

    spend = response.context["charts"][0]
    assert len(spend.days) == charts.MAX_DAYS
    assert spend.days[-1] == date(2026, 12, 31)
    assert bars(response.content.decode(), "spend") == [
        {"day": "2026-12-31", "series": HAIKU, "value": "0.5"}
    ]
    assert f"(the last {charts.MAX_DAYS} days)" in response.content.decode()


def test_value_ticks_are_round_and_reach_the_tallest_bar():
    day = date(2026, 3, 2)
    chart = charts.bar_chart(
        key="spend",
        title="Spend",
        unit="USD",
        days=[day],
        values={(day, HAIKU): Decimal("0.7"), (day, SONNET): Decimal("0.6")},
        fmt=str,
    )

    assert [tick.label for tick in chart.value_ticks] == ["0", "0.5", "1.0", "1.5"]
    # The stack fills from the baseline (y 224) up 1.3 of the plot's 1.5 (from y 28).
    top = min(float(bar.y) for bar in chart.bars)
    assert top == pytest.approx(28 + 196 * (0.2 / 1.5), abs=0.1)


def test_token_ticks_are_whole_numbers():
    day = date(2026, 3, 2)
    chart = charts.bar_chart(
        key="tokens",
        title="Tokens",
        unit="Tokens",
        days=[day],
        values={(day, HAIKU): 9},
        fmt=str,
        least_step=Decimal(1),
    )

    assert [tick.label for tick in chart.value_ticks] == ["0", "3", "6", "9"]


def test_negative_savings_hang_below_the_axis():
    day, other = date(2026, 3, 2), date(2026, 3, 3)
    chart = charts.bar_chart(
        key="caching",
        title="Saved",
        unit="USD",
        days=[day, other],
        values={(day, "saved"): Decimal("-0.5"), (other, "saved"): Decimal("1")},
        fmt=str,
    )

    below, above = chart.bars
    assert chart.value_ticks[0].label == "-0.5"
    assert float(below.y) == pytest.approx(float(chart.baseline), abs=0.1)
    assert float(above.y) + float(above.height) == pytest.approx(float(chart.baseline), abs=0.1)


@pytest.mark.parametrize(
    "rates",
    [
        RATES,
        {"input": "6", "output": "22.5", "cache_write": "7.5", "cache_read": "0.6"},
        {"input": "0.800001", "cache_write": "1.000002", "cache_read": "0.080003"},
        {"input": 3, "cache_write": 3.75, "cache_read": 0.3},  # numbers, not strings
        {"input": "3"},  # prices missing: priced at 0
        {},  # a charge recorded without prices
    ],
)
def test_the_databases_savings_sum_equals_the_python_formula(make_user, rates):
    kim = make_user("kim")
    usages = [
        {"cache_read_input_tokens": 123_457, "cache_creation_input_tokens": 9_999},
        {"cache_read_input_tokens": 1, "cache_creation_input_tokens": 0},
        {"cache_read_input_tokens": 0, "cache_creation_input_tokens": 777_777},
    ]
    for usage in usages:
        charge(kim, days_ago(0), rates=rates, **usage)

    # A JSON number is read as the decimal it spells (3.75), as Decimal(str(...)) does.
    exact = {name: str(rate) for name, rate in rates.items()}
    expected = sum((caching_saved(usage, exact) for usage in usages), Decimal(0))
    assert caching_savings(user=kim) == expected
    [today] = usage_rows(user=kim, by=("day",), with_savings=True)
    assert today["caching_saved"] == expected


def test_tables_regrouped_from_days_and_models_equal_their_own_queries(make_user):
    kim = make_user("kim")
    for n, model in enumerate([HAIKU, SONNET, HAIKU, "", SONNET]):
        charge(kim, days_ago(n % 3), model, cost=f"0.0{n + 1}", input_tokens=n, output_tokens=7)
    both = usage_rows(user=kim, by=("day", "model"))

    for key in ("day", "model"):
        assert regroup(both, key) == usage_rows(user=kim, by=(key,))


def test_the_charts_and_the_savings_sum_on_postgresql():
    """This module's database tests again on PostgreSQL: the savings read JSON prices in SQL,
    and days are truncated in the database's own time zone functions."""
    if is_postgresql_run():
        return  # this is the PostgreSQL run itself
    module = str(Path(__file__).relative_to(ROOT))
    done = pytest_on_postgresql(module, "-k", "not postgresql")
    assert done.returncode == 0, f"the PostgreSQL run failed:\n{done.stdout}\n{done.stderr}"
    ran = re.search(r"(\d+) passed", done.stdout)
    assert ran and int(ran.group(1)) >= 17, done.stdout
