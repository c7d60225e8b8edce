"""The admin panel for users, quotas and the ledger, as a staff member uses it."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import LedgerEntry, Quota

from .html_forms import form_data

User = get_user_model()
Kind = LedgerEntry.Kind
USERS_URL = "/admin/accounts/user/"
LEDGER_URL = "/admin/accounts/ledgerentry/"

# Hand-made charges and holds (no upstream call) test the arithmetic of lists and reports.
pytestmark = [pytest.mark.django_db, pytest.mark.ledger_unchecked]


def member(username: str, *, cost_limit=None, token_limit=None, period="month") -> User:
    user = User.objects.create(username=username)
    Quota.objects.create(user=user, period=period, cost_limit=cost_limit, token_limit=token_limit)
    return user


def charge(user, cost: str, tokens: int = 1000, **fields) -> LedgerEntry:
    return LedgerEntry.objects.create(
        user=user,
        kind=Kind.CHARGE,
        model="claude-haiku-4-5-20251001",
        input_tokens=tokens // 2,
        output_tokens=tokens - tokens // 2,
        tokens=tokens,
        cost=Decimal(cost),
        **fields,
    )


def run_action(admin_client, action: str, users, **form):
    """Post an action the way the changelist does, then its confirm form if fields are given."""
    selected = [user.pk for user in users]
    data = {"action": action, "_selected_action": selected}
    if not form:
        return admin_client.post(USERS_URL, {**data, "index": 0})
    return admin_client.post(USERS_URL, {**data, "apply": "yes", **form})


def test_changelist_shows_limit_spent_and_remaining(admin_client):
    alice = member("alice", cost_limit=Decimal("10"))
    charge(alice, "2.5", tokens=1200)
    member("bob", token_limit=50_000, period="day")

    page = admin_client.get(USERS_URL).content.decode()

    alice_row, bob_row = row_of(page, "alice"), row_of(page, "bob")
    assert '<td class="field-limit">$10.00 per month</td>' in alice_row
    assert '<td class="field-spent">$2.50 + 1,200 tokens</td>' in alice_row
    assert '<td class="field-remaining">$7.50</td>' in alice_row
    assert '<td class="field-limit">50,000 tokens per day</td>' in bob_row
    assert '<td class="field-remaining">50,000 tokens</td>' in bob_row
    assert '<td class="field-limit">unlimited</td>' in row_of(page, "admin")  # staff default


def test_user_without_quota_row_shows_the_default_limit(admin_client, settings):
    settings.QUOTA_DEFAULT_COST_LIMIT = Decimal("3")
    settings.QUOTA_DEFAULT_PERIOD = "week"
    User.objects.create(username="newcomer")

    page = admin_client.get(USERS_URL).content.decode()

    assert "$3.00 per week" in page
    assert not Quota.objects.filter(user__username="newcomer").exists()


def test_open_holds_count_against_remaining(admin_client):
    alice = member("alice", cost_limit=Decimal("10"))
    LedgerEntry.objects.create(user=alice, kind=Kind.HOLD, tokens=500, cost=Decimal("4"))

    page = admin_client.get(USERS_URL).content.decode()

    assert "($4.00 + 500 tokens held)" in page
    assert "$6.00" in page


def row_of(page: str, username: str) -> str:
    """The changelist row of one user, tags and all."""
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    return next(row for row in rows if f">{username}</a>" in row)


def test_charges_of_an_earlier_period_are_not_spent_this_period(admin_client):
    alice = member("alice", cost_limit=Decimal("10"), period="day")
    old = charge(alice, "9")
    LedgerEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))

    row = row_of(admin_client.get(USERS_URL).content.decode(), "alice")

    assert '<td class="field-spent">$0.00 + 0 tokens</td>' in row
    assert '<td class="field-remaining">$10.00</td>' in row


def _changelist_queries(admin_client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(USERS_URL).status_code == 200
    return len(queries)


def test_changelist_query_count_does_not_grow_with_users(
    admin_client, django_assert_max_num_queries
):
    def add_users(start: int, stop: int) -> None:
        for n in range(start, stop):
            user = member(f"user{n}", cost_limit=Decimal("5")) if n % 2 else None
            user = user or User.objects.create(username=f"user{n}")
            charge(user, "0.01")

    add_users(0, 5)
    with django_assert_max_num_queries(10):
        few = _changelist_queries(admin_client)
    add_users(5, 30)
    with django_assert_max_num_queries(10):
        many = _changelist_queries(admin_client)

    assert few == many


def set_quota_page(admin_client, users) -> str:
    page = run_action(admin_client, "set_quota", users)
    assert page.status_code == 200
    return page.content.decode()


def submit_set_quota(admin_client, users, **changes):
    """Open the Set quota form for `users`, change only `changes`, submit it as a browser would."""
    data = form_data(set_quota_page(admin_client, users), "set_quota-form", **changes)
    return admin_client.post(USERS_URL, data)


def limits(user) -> tuple:
    quota = Quota.objects.get(user=user)
    return (quota.period, quota.cost_limit, quota.token_limit)


def test_set_quota_through_the_intermediate_form(admin_client):
    alice, bob = member("alice", cost_limit=Decimal("10")), User.objects.create(username="bob")

    page = set_quota_page(admin_client, [alice, bob])
    assert 'name="cost_limit"' in page and "csrfmiddlewaretoken" in page

    done = submit_set_quota(
        admin_client,
        [alice, bob],
        period="week",
        cost_limit_choice="limit",
        cost_limit="5",
        token_limit_choice="none",
    )

    assert done.status_code == 302
    assert limits(alice) == limits(bob) == ("week", Decimal(5), None)


def test_set_quota_for_one_user_starts_from_their_quota(admin_client):
    alice = member("alice", cost_limit=Decimal("10"), token_limit=None, period="day")

    form = set_quota_page(admin_client, [alice])

    assert form_data(form, "set_quota-form", csrfmiddlewaretoken="") == {
        "csrfmiddlewaretoken": "",
        "period": "day",
        "cost_limit_choice": "limit",
        "cost_limit": "10.0000",
        "token_limit_choice": "none",
        "token_limit": "",
        "_selected_action": str(alice.pk),
        "action": "set_quota",
        "apply": "yes",
    }


def test_changing_only_the_period_keeps_the_limits(admin_client):
    alice = member("alice", cost_limit=Decimal("10"), token_limit=50_000, period="month")

    done = submit_set_quota(admin_client, [alice], period="week")

    assert done.status_code == 302
    assert limits(alice) == ("week", Decimal(10), 50_000)


def test_changing_only_the_period_of_several_users_keeps_each_ones_limits(admin_client):
    alice = member("alice", cost_limit=Decimal("10"), period="month")
    bob = member("bob", token_limit=50_000, period="day")

    page = set_quota_page(admin_client, [alice, bob])
    assert "Keep each user&#x27;s current limit" in page
    done = submit_set_quota(admin_client, [alice, bob], period="week")

    assert done.status_code == 302
    assert limits(alice) == ("week", Decimal(10), None)
    assert limits(bob) == ("week", None, 50_000)


def test_a_user_without_a_quota_row_starts_from_the_defaults(admin_client, settings):
    settings.QUOTA_DEFAULT_COST_LIMIT = Decimal("3")
    settings.QUOTA_DEFAULT_PERIOD = "week"
    newcomer = User.objects.create(username="newcomer")

    submit_set_quota(admin_client, [newcomer], period="day")

    assert limits(newcomer) == ("day", Decimal(3), None)


def test_a_limit_is_removed_only_by_choosing_no_limit(admin_client):
    alice = member("alice", cost_limit=Decimal("10"), token_limit=500)

    submit_set_quota(admin_client, [alice], cost_limit_choice="none")

    assert limits(alice) == ("month", None, 500)


def test_an_empty_amount_is_an_error_not_unlimited(admin_client):
    alice = member("alice", cost_limit=Decimal("10"))

    page = submit_set_quota(admin_client, [alice], cost_limit="")

    assert page.status_code == 200
    assert "Enter a limit, or choose “No limit” above." in page.content.decode()
    assert limits(alice) == ("month", Decimal(10), None)


def test_an_amount_typed_while_keeping_each_users_limit_is_an_error(admin_client):
    alice, bob = member("alice", cost_limit=Decimal("10")), member("bob")

    page = submit_set_quota(admin_client, [alice, bob], cost_limit="1")

    assert page.status_code == 200
    assert "To apply this value" in page.content.decode()
    assert limits(alice) == ("month", Decimal(10), None)


@pytest.mark.parametrize("field", ["cost_limit", "token_limit"])
def test_set_quota_refuses_a_negative_limit(admin_client, field):
    alice = member("alice", cost_limit=Decimal("10"), token_limit=500)

    page = submit_set_quota(admin_client, [alice], **{field: "-1"})

    assert "Ensure this value is greater than or equal to 0." in page.content.decode()
    assert limits(alice) == ("month", Decimal(10), 500)


def test_keeping_everything_changes_nothing_and_says_so(admin_client):
    alice, bob = member("alice", cost_limit=Decimal("10")), member("bob")

    done = submit_set_quota(admin_client, [alice, bob])

    assert done.status_code == 302
    assert "Nothing changed" in admin_client.get(done["Location"]).content.decode()
    assert limits(alice) == ("month", Decimal(10), None)


def test_grant_creates_grant_entries_made_by_the_admin(admin_client, admin_user):
    alice, bob = member("alice"), member("bob")

    done = run_action(
        admin_client, "grant", [alice, bob], cost="3", tokens="1000", reason="hackathon"
    )

    assert done.status_code == 302
    grants = LedgerEntry.objects.filter(kind=Kind.GRANT)
    assert {g.user for g in grants} == {alice, bob}
    for entry in grants:
        assert (entry.cost, entry.tokens) == (Decimal(-3), -1000)
        assert (entry.reason, entry.created_by) == ("hackathon", admin_user)


def test_grant_needs_a_reason_and_an_amount(admin_client):
    alice = member("alice")

    no_reason = run_action(admin_client, "grant", [alice], cost="3", tokens="", reason="")
    no_amount = run_action(admin_client, "grant", [alice], cost="", tokens="", reason="why")

    assert no_reason.status_code == no_amount.status_code == 200
    assert b"errornote" in no_reason.content
    assert "Give an amount in USD, in tokens, or both." in no_amount.content.decode()
    assert not LedgerEntry.objects.exists()


def test_adjust_records_a_signed_correction(admin_client, admin_user):
    alice = member("alice")

    run_action(admin_client, "adjust", [alice], cost="-1.25", tokens="200", reason="refund")

    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.cost, entry.tokens) == (Kind.ADJUSTMENT, Decimal("-1.25"), 200)
    assert (entry.reason, entry.created_by) == ("refund", admin_user)


def test_deactivate_spares_the_admin_themself(admin_client, admin_user):
    alice = member("alice")

    admin_client.post(
        USERS_URL, {"action": "deactivate", "_selected_action": [alice.pk, admin_user.pk]}
    )

    alice.refresh_from_db()
    admin_user.refresh_from_db()
    assert not alice.is_active
    assert admin_user.is_active


def test_user_change_page_has_the_quota_inline(admin_client):
    alice = member("alice", cost_limit=Decimal("10"))

    page = admin_client.get(f"{USERS_URL}{alice.pk}/change/")

    assert page.status_code == 200
    assert b'name="quota-0-cost_limit"' in page.content
    assert b'name="quota-0-allowed_models"' in page.content


def test_quota_admin_lists_quotas(admin_client):
    member("alice", cost_limit=Decimal("10"))

    page = admin_client.get("/admin/accounts/quota/")

    assert page.status_code == 200
    assert b"alice" in page.content


def test_ledger_entries_cannot_be_added_changed_or_deleted(admin_client):
    entry = charge(member("alice"), "1")
    url = f"{LEDGER_URL}{entry.pk}/"

    assert admin_client.get(LEDGER_URL).status_code == 200
    assert admin_client.get(f"{url}change/").status_code == 200  # read-only view
    assert admin_client.get(f"{LEDGER_URL}add/").status_code == 403
    assert admin_client.post(f"{url}change/", {"cost": "0"}).status_code == 403
    assert admin_client.get(f"{url}delete/").status_code == 403
    assert admin_client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.cost == Decimal(1)


def test_csv_export_honours_the_kind_filter(admin_client, admin_user):
    alice = member("alice")
    charge(alice, "1")
    LedgerEntry.objects.create(
        user=alice, kind=Kind.GRANT, cost=Decimal(-2), reason="=cmd()", created_by=admin_user
    )

    listing = admin_client.get(LEDGER_URL, {"kind__exact": "grant"}).content.decode()
    assert "/admin/accounts/ledgerentry/export/?kind__exact=grant" in listing

    response = admin_client.get(f"{LEDGER_URL}export/", {"kind__exact": "grant"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["kind"] for row in rows] == ["grant"]
    assert rows[0]["user"] == "alice" and rows[0]["created_by"] == "admin"
    assert rows[0]["reason"] == "'=cmd()"  # never a spreadsheet formula


def test_csv_export_keeps_negative_amounts_as_numbers(admin_client, admin_user):
    alice = member("alice")
    LedgerEntry.objects.create(
        user=alice, kind=Kind.GRANT, cost=Decimal("-2.5"), tokens=-1000, reason="-5 refund"
    )

    response = admin_client.get(f"{LEDGER_URL}export/")

    [row] = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert (row["cost_usd"], row["tokens"]) == ("-2.5", "-1000")
    assert row["reason"] == "'-5 refund"


def test_csv_export_is_for_staff_only(client):
    client.force_login(User.objects.create(username="alice"))

    response = client.get(f"{LEDGER_URL}export/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


QUOTA_URL = "/admin/accounts/quota/"


def _quota_change_form(admin_client, quota, field, value):
    url = f"{QUOTA_URL}{quota.pk}/change/"
    page = admin_client.get(url).content.decode()
    return admin_client.post(url, form_data(page, "quota_form", _save="Save", **{field: value}))


def _quota_list_editing(admin_client, quota, field, value):
    page = admin_client.get(QUOTA_URL).content.decode()
    data = form_data(page, "changelist-form", _save="Save", **{f"form-0-{field}": value})
    return admin_client.post(QUOTA_URL, data)


def _user_inline(admin_client, quota, field, value):
    url = f"{USERS_URL}{quota.user.pk}/change/"
    page = admin_client.get(url).content.decode()
    return admin_client.post(url, form_data(page, "user_form", **{f"quota-0-{field}": value}))


@pytest.mark.parametrize("form", [_quota_change_form, _quota_list_editing, _user_inline])
@pytest.mark.parametrize("field", ["cost_limit", "token_limit"])
def test_every_quota_form_refuses_a_negative_limit(admin_client, form, field):
    quota = Quota.objects.get(user=member("alice", cost_limit=Decimal(10), token_limit=500))

    response = form(admin_client, quota, field, "-1")

    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 0." in response.content.decode()
    quota.refresh_from_db()
    assert (quota.cost_limit, quota.token_limit) == (Decimal(10), 500)


@pytest.mark.parametrize("form", [_quota_change_form, _quota_list_editing, _user_inline])
def test_every_quota_form_saves_a_valid_limit(admin_client, form):
    """The other half of the test above: the same posts, valid, do save."""
    quota = Quota.objects.get(user=member("alice", cost_limit=Decimal(10), token_limit=500))

    response = form(admin_client, quota, "cost_limit", "2.5")

    assert response.status_code == 302
    quota.refresh_from_db()
    assert (quota.cost_limit, quota.token_limit) == (Decimal("2.5"), 500)
