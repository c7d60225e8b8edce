"""Usage reports: charges summed by user, model and local day, and the admin report page."""

import csv
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.urls import include, path
from django.utils import timezone

from accounts import ledger
from accounts.models import LedgerEntry
from accounts.reports import CSV_COLUMNS, totals, usage_rows, write_csv
from chatsite import urls as root_urls
from conversations.models import CatalogModel, Conversation, Message

# The owner mounts accounts.admin_urls at admin/reports/ in chatsite/urls.py; the tests mount
# it themselves so they do not depend on that edit.
urlpatterns = [
    path("admin/reports/", include("accounts.admin_urls")),
    *root_urls.urlpatterns,
]
REPORT_URL = "/admin/reports/usage/"
TOKYO = ZoneInfo("Asia/Tokyo")
HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-5-20250929"

# Hand-made charges and holds (no upstream call) test the arithmetic of lists and reports.
pytestmark = [pytest.mark.django_db, pytest.mark.ledger_unchecked]


@pytest.fixture(autouse=True)
def _tokyo(settings):
    # Nine hours from UTC, so a local day and a UTC day disagree in every test.
    settings.TIME_ZONE = "Asia/Tokyo"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


def charge(user, model: str = HAIKU, *, at: datetime | None = None, cost: str = "0.001", **usage):
    return LedgerEntry.objects.create(
        user=user,
        kind=LedgerEntry.Kind.CHARGE,
        model=model,
        created_at=at or timezone.now(),
        cost=Decimal(cost),
        tokens=sum(usage.values()),
        **usage,
    )


def reply(user, model_id: str, usage: dict, *, estimated: bool = False) -> LedgerEntry:
    """A reply admitted under the quota and settled into a charge, as the runner does it."""
    model = CatalogModel.objects.get(model_id=model_id)
    conversation = Conversation.objects.create(user=user, model=model_id)
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )
    with transaction.atomic():
        admission = ledger.admit(user, model, 200, 1000, source="chat", message=message)
    return ledger.settle(admission.call, usage, estimated=estimated)


def price(model_id: str, usage: dict) -> Decimal:
    return CatalogModel.objects.get(model_id=model_id).pricing().cost(usage)[0]


def test_rows_sum_each_users_charges_per_model_exactly(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    first = {"input_tokens": 120, "output_tokens": 45, "cache_read_input_tokens": 1000}
    second = {"input_tokens": 7, "output_tokens": 333, "cache_creation_input_tokens": 50}
    reply(alice, HAIKU, first)
    reply(alice, HAIKU, second, estimated=True)
    reply(alice, SONNET, first)
    reply(bob, HAIKU, second)

    rows = usage_rows()

    assert [(row["user"], row["model"]) for row in rows] == [
        ("alice", HAIKU),
        ("alice", SONNET),
        ("bob", HAIKU),
    ]
    assert rows[0] == {
        "user": "alice",
        "model": HAIKU,
        "calls": 2,
        "input_tokens": 127,
        "output_tokens": 378,
        "cache_creation_input_tokens": 50,
        "cache_read_input_tokens": 1000,
        "cost_usd": price(HAIKU, first) + price(HAIKU, second),
        "estimated_calls": 1,
    }
    assert rows[1]["cost_usd"] == price(SONNET, first)
    assert rows[2]["cost_usd"] == price(HAIKU, second)


def test_holds_releases_grants_and_adjustments_are_not_usage(make_user):
    alice = make_user("alice")
    reply(alice, HAIKU, {"input_tokens": 10, "output_tokens": 20})  # hold, release, charge
    conversation = Conversation.objects.create(user=alice, model=HAIKU)
    open_reply = Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT)
    haiku = CatalogModel.objects.get(model_id=HAIKU)
    ledger.admit(alice, haiku, 100, 500, source="chat", message=open_reply)  # still held
    ledger.grant(alice, cost=Decimal(5), tokens=1000, reason="bonus")
    ledger.adjust(alice, cost=Decimal("0.5"), tokens=10, reason="correction")

    [row] = usage_rows(user=alice)

    assert row["calls"] == 1
    assert (row["input_tokens"], row["output_tokens"]) == (10, 20)
    assert row["cost_usd"] == price(HAIKU, {"input_tokens": 10, "output_tokens": 20})


def test_until_includes_its_last_local_minute_and_not_the_next_day(make_user):
    alice = make_user("alice")
    charge(alice, at=local(2025, 3, 9, 23, 59), cost="1")
    charge(alice, at=local(2025, 3, 10, 0, 0), cost="2")
    charge(alice, at=local(2025, 3, 10, 23, 59, 59), cost="4")
    charge(alice, at=local(2025, 3, 11, 0, 0), cost="8")  # still March 10th in UTC

    [row] = usage_rows(since=date(2025, 3, 10), until=date(2025, 3, 10))

    assert (row["calls"], row["cost_usd"]) == (2, Decimal(6))


def test_open_ended_bounds(make_user):
    alice = make_user("alice")
    charge(alice, at=local(2025, 3, 9, 12), cost="1")
    charge(alice, at=local(2025, 3, 11, 12), cost="2")

    assert usage_rows(since=date(2025, 3, 10))[0]["cost_usd"] == Decimal(2)
    assert usage_rows(until=date(2025, 3, 10))[0]["cost_usd"] == Decimal(1)
    assert usage_rows(since=date(2025, 3, 12)) == []


def test_days_are_local_calendar_dates(make_user):
    alice = make_user("alice")
    charge(alice, at=local(2025, 3, 10, 23, 30), cost="1")
    charge(alice, at=local(2025, 3, 11, 8, 0), cost="2")  # 2025-03-10 23:00 UTC

    rows = usage_rows(by=("day",))

    assert [(row["day"], row["cost_usd"]) for row in rows] == [
        (date(2025, 3, 10), Decimal(1)),
        (date(2025, 3, 11), Decimal(2)),
    ]
    assert "user" not in rows[0] and "model" not in rows[0]


def test_user_may_be_named_by_username_or_given_as_a_user(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    charge(alice, cost="1")
    charge(bob, cost="2")

    assert [row["user"] for row in usage_rows(user="bob")] == ["bob"]
    assert [row["user"] for row in usage_rows(user=alice)] == ["alice"]
    assert usage_rows(user="nobody") == []


def test_rows_follow_the_order_of_the_keys(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    charge(bob, HAIKU, at=local(2025, 3, 1, 12))
    charge(alice, SONNET, at=local(2025, 3, 2, 12))
    charge(alice, HAIKU, at=local(2025, 3, 2, 12))

    rows = usage_rows(by=("model", "day", "user"))

    assert [(r["model"], r["day"], r["user"]) for r in rows] == [
        (HAIKU, date(2025, 3, 1), "bob"),
        (HAIKU, date(2025, 3, 2), "alice"),
        (SONNET, date(2025, 3, 2), "alice"),
    ]


def test_no_keys_gives_one_total_row(make_user):
    alice = make_user("alice")
    charge(alice, cost="1.25", input_tokens=3)
    charge(alice, SONNET, cost="0.5", input_tokens=4)

    [row] = usage_rows(by=())

    assert (row["calls"], row["input_tokens"], row["cost_usd"]) == (2, 7, Decimal("1.75"))


def test_unknown_or_repeated_keys_are_refused():
    with pytest.raises(ValueError):
        usage_rows(by=("user", "conversation"))
    with pytest.raises(ValueError):
        usage_rows(by=("user", "user"))


def test_one_query_however_many_rows(make_user, django_assert_num_queries):
    users = [make_user(f"user{i}") for i in range(5)]
    for day in range(1, 8):
        for user in users:
            charge(user, at=local(2025, 3, day, 12))
            charge(user, SONNET, at=local(2025, 3, day, 12))

    with django_assert_num_queries(1):
        rows = usage_rows(by=("user", "model", "day"))

    assert len(rows) == 5 * 2 * 7


def test_totals_add_up_the_rows_exactly(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    charge(alice, cost="0.000001", input_tokens=1, output_tokens=2)
    charge(bob, cost="0.1", input_tokens=3, output_tokens=4)

    total = totals(usage_rows())

    assert total["calls"] == 2
    assert (total["input_tokens"], total["output_tokens"]) == (4, 6)
    assert total["cost_usd"] == Decimal("0.100001")
    assert totals([])["cost_usd"] == Decimal(0)


def test_csv_writes_costs_as_plain_decimals():
    stream = StringIO()
    row = {
        "user": "alice",
        "model": HAIKU,
        "calls": 1,
        "input_tokens": 1,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cost_usd": Decimal("0.000000100000"),
        "estimated_calls": 0,
    }

    write_csv([row], stream)

    header, line = stream.getvalue().splitlines()
    assert header == ",".join(CSV_COLUMNS)
    assert line == f"alice,{HAIKU},1,1,0,0,0,0.0000001,0"


def test_csv_escapes_text_a_spreadsheet_would_run_but_keeps_numbers_numbers():
    stream = StringIO()
    texts = ["=1+2", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx", "plain", "a=b", "a\r=b"]
    rows = [
        {"user": text, "model": HAIKU, "calls": -1, "cost_usd": Decimal("-0.5")} for text in texts
    ]

    write_csv(rows, stream)

    parsed = list(csv.DictReader(StringIO(stream.getvalue())))
    assert [row["user"] for row in parsed] == [
        "'=1+2",
        "'+1",
        "'-1+2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "plain",
        "a=b",
        "a\r=b",  # quoted, so the \r starts no row of its own
    ]
    assert {(row["calls"], row["cost_usd"]) for row in parsed} == {("-1", "-0.5")}


@pytest.mark.parametrize("day", [date(1999, 12, 31), date(3000, 1, 1), date.max, date.min])
def test_rows_refuse_days_outside_the_report_range(day):
    with pytest.raises(ValueError, match="between 2000-01-01 and 2999-12-31"):
        usage_rows(until=day)


# The admin report page.


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def staff_client(client, make_user):
    staff = make_user("boss")
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_usage_report"))
    client.force_login(staff)
    return client


@pytest.mark.urls(__name__)
def test_staff_see_a_table_and_bars_for_the_last_30_days(staff_client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    charge(alice, cost="3", input_tokens=10)
    charge(bob, cost="1", input_tokens=5)
    charge(bob, cost="100", at=timezone.now() - timedelta(days=31))  # outside the default

    response = staff_client.get(REPORT_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<table id="usage-report">' in page
    assert [(row["user"], row["cost_usd"]) for row in response.context["rows"]] == [
        ("alice", Decimal(3)),
        ("bob", Decimal(1)),
    ]
    assert response.context["totals"]["cost_usd"] == Decimal(4)
    assert '<meter min="0" max="3" value="3"' in page
    assert '<meter min="0" max="3" value="1"' in page
    assert "Download CSV" in page


@pytest.mark.urls(__name__)
def test_report_groups_by_model_or_day(staff_client, make_user):
    alice = make_user("alice")
    charge(alice, HAIKU, cost="1")
    charge(alice, SONNET, cost="2")
    today = timezone.localdate().isoformat()

    by_model = staff_client.get(REPORT_URL, {"since": today, "until": today, "group_by": "model"})
    by_day = staff_client.get(REPORT_URL, {"since": today, "until": today, "group_by": "day"})

    assert [row["model"] for row in by_model.context["rows"]] == [HAIKU, SONNET]
    assert [row["cost_usd"] for row in by_day.context["rows"]] == [Decimal(3)]


@pytest.mark.urls(__name__)
def test_report_page_has_no_inline_script_or_style(staff_client, make_user):
    charge(make_user("alice"))

    page = staff_client.get(REPORT_URL).content.decode()

    scripts = re.findall(r"<script\b[^>]*>", page)
    assert all(" src=" in tag for tag in scripts)
    assert "<style" not in page
    assert " style=" not in page


@pytest.mark.urls(__name__)
def test_non_staff_are_sent_to_the_admin_login(client, make_user):
    client.force_login(make_user("alice"))

    response = client.get(REPORT_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.urls(__name__)
def test_csv_download_has_the_contract_header(staff_client, make_user):
    charge(make_user("alice"), cost="0.25", input_tokens=9)

    response = staff_client.get(REPORT_URL, {"format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    header, line = body(response).splitlines()
    assert header == ",".join(CSV_COLUMNS)
    assert line == "alice,,1,9,0,0,0,0.25,0"


@pytest.mark.urls(__name__)
def test_csv_grouped_by_day_starts_with_the_day(staff_client, make_user):
    charge(make_user("alice"), cost="0.25")
    today = timezone.localdate()

    response = staff_client.get(
        REPORT_URL, {"since": today, "until": today, "group_by": "day", "format": "csv"}
    )

    header, line = body(response).splitlines()
    assert header == ",".join(["day", *CSV_COLUMNS])
    assert line.startswith(f"{today.isoformat()},,,1,")


@pytest.mark.urls(__name__)
def test_a_start_after_the_end_is_an_error_not_a_report(staff_client):
    response = staff_client.get(
        REPORT_URL, {"since": "2025-03-10", "until": "2025-03-01", "group_by": "user"}
    )

    assert response.status_code == 200
    assert response.context["filters"] is None
    assert "must not be after" in response.content.decode()


@pytest.mark.urls(__name__)
def test_csv_download_escapes_names_that_a_spreadsheet_would_run(staff_client, make_user):
    charge(make_user("-1+2"), model='=HYPERLINK("https://evil.example","x")', cost="0.25")

    by_user = staff_client.get(REPORT_URL, {"format": "csv"})
    by_model = staff_client.get(REPORT_URL, {"format": "csv", "group_by": "model"})

    [user_row] = csv.DictReader(StringIO(body(by_user)))
    [model_row] = csv.DictReader(StringIO(body(by_model)))
    assert (user_row["user"], user_row["cost_usd"]) == ("'-1+2", "0.25")
    assert model_row["model"] == '\'=HYPERLINK("https://evil.example","x")'


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "query",
    [
        {"until": "9999-12-31"},
        {"since": "0001-01-01"},
        {"since": "9999-12-31", "until": "9999-12-31", "format": "csv"},
        {"since": "1999-12-31"},
        {"until": "3000-01-01"},
    ],
)
def test_dates_beyond_the_report_range_are_a_form_error_not_a_500(staff_client, query):
    response = staff_client.get(REPORT_URL, {"group_by": "user", **query})

    assert response.status_code == 200
    assert response.context["filters"] is None
    assert "Enter a date from 2000-01-01 to 2999-12-31." in response.content.decode()


@pytest.mark.urls(__name__)
def test_a_five_digit_year_is_not_a_date(staff_client):
    response = staff_client.get(REPORT_URL, {"until": "10000-01-01", "group_by": "user"})

    assert response.status_code == 200
    assert response.context["filters"] is None
    assert "Enter a valid date." in response.content.decode()
