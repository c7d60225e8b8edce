"""The per-user balance row admission reads: moved with every entry, equal to the entries'
sums (`check_ledger` says so, or names the row), rebased when the period rolls over."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import balance_rows, ledger
from accounts.ledger_check import problems
from accounts.models import LedgerEntry, PeriodBalance, Quota
from conversations.models import CatalogModel

pytestmark = pytest.mark.django_db
HAIKU = "claude-haiku-4-5-20251001"


def admit(user, prompt: int = 300, max_tokens: int = 1000, source="chat") -> ledger.Admission:
    model = CatalogModel.objects.get(model_id=HAIKU)
    with transaction.atomic():
        return ledger.admit(user, model, prompt, max_tokens, source=source)


def row_of(user) -> PeriodBalance:
    return PeriodBalance.objects.get(quota_id=user.pk)


def limited(user, cost: str | None = "1", tokens: int | None = None, period: str = "day"):
    Quota.objects.update_or_create(
        user=user, defaults={"period": period, "cost_limit": cost, "token_limit": tokens}
    )


def test_every_kind_of_entry_moves_the_row_to_the_entries_sums(make_user):
    alice = make_user("alice")
    limited(alice, cost="5", tokens=100_000)
    first = admit(alice)
    second = admit(alice)
    ledger.settle_call(first.call.pk, {"input_tokens": 200, "output_tokens": 50}, 0, complete=True)
    ledger.grant(alice, cost=Decimal("2"), tokens=1000, reason="bonus")
    ledger.adjust(alice, cost=Decimal("0.5"), tokens=-10, reason="correction")

    row = row_of(alice)
    sums = balance_rows.entry_sums(alice.pk, row.starts_at, row.resets_at)
    assert {name: getattr(row, name) for name in sums} == sums
    assert row.held_tokens == 300 + second.max_tokens  # the open hold only
    assert row.grants_cost == Decimal("-2") and row.grants_tokens == -1000
    assert problems() == []


def test_admission_reads_the_same_balance_as_the_entries_give(make_user):
    alice = make_user("alice")
    limited(alice, cost="5", tokens=100_000)
    call = admit(alice).call
    ledger.settle_call(call.pk, {"input_tokens": 200, "output_tokens": 50}, 0, complete=True)
    ledger.grant(alice, cost=Decimal("1"), reason="bonus")
    admit(alice)

    with transaction.atomic():
        from_row = ledger.locked_balance(alice)
    assert from_row == ledger.balance(alice)


def test_admission_reads_one_row_instead_of_summing_the_entries(make_user):
    alice = make_user("alice")
    limited(alice, cost="5")
    for _ in range(3):
        admit(alice)

    with CaptureQueriesContext(connection) as queries:
        admit(alice)

    sums = [q["sql"] for q in queries.captured_queries if "SUM(" in q["sql"].upper()]
    assert sums == []


def test_admission_still_lowers_max_tokens_to_what_the_row_leaves(make_user):
    alice = make_user("alice")
    limited(alice, cost=None, tokens=2_000)
    admit(alice, prompt=300, max_tokens=1000)  # holds 1300

    second = admit(alice, prompt=300, max_tokens=1000)

    assert second.max_tokens == 2_000 - 1_300 - 300
    with pytest.raises(ledger.QuotaExceeded):
        admit(alice, prompt=300, max_tokens=1000)


def test_a_new_period_rebases_the_row_keeping_open_holds(make_user):
    alice = make_user("alice")
    limited(alice, cost="5", period="day")
    call = admit(alice).call
    ledger.settle_call(call.pk, {"input_tokens": 200, "output_tokens": 50}, 0, complete=True)
    held = admit(alice)  # still open when the day ends
    yesterday = row_of(alice)
    assert yesterday.spent_tokens == 250

    tomorrow = timezone.now() + timedelta(days=1)
    with transaction.atomic():
        current = ledger.locked_balance(alice, tomorrow)

    row = row_of(alice)
    assert row.starts_at == yesterday.resets_at
    assert (row.spent_cost, row.spent_tokens) == (Decimal(0), 0)  # yesterday's charge is gone
    assert row.held_tokens == 300 + held.max_tokens  # the open hold still counts
    assert current.remaining_cost == Decimal(5) - row.held_cost


def test_a_changed_quota_period_rebases_the_row(make_user):
    alice = make_user("alice")
    limited(alice, cost="5", period="day")
    admit(alice)
    limited(alice, cost="5", period="none")

    admit(alice)

    row = row_of(alice)
    assert (row.period, row.starts_at, row.resets_at) == ("none", None, None)
    assert problems() == []


def test_a_grant_before_any_admission_is_counted_once_the_row_is_computed(make_user):
    alice = make_user("alice")
    limited(alice, cost="1")
    ledger.grant(alice, cost=Decimal("3"), reason="welcome")
    assert row_of(alice).period == ""  # made blank by the grant, computed by admission

    with transaction.atomic():
        current = ledger.locked_balance(alice)

    assert current.remaining_cost == Decimal("4")
    assert row_of(alice).grants_cost == Decimal("-3")


@pytest.mark.ledger_unchecked
@pytest.mark.parametrize(
    "field, value",
    [
        ("spent_cost", Decimal("0.01")),
        ("held_tokens", 7),
        ("grants_tokens", -1),
        ("replies_running", 2),
    ],
)
def test_check_ledger_reports_a_tampered_balance_row(make_user, field, value):
    alice = make_user("alice")
    limited(alice, cost="5")
    call = admit(alice).call
    ledger.settle_call(call.pk, {"input_tokens": 10, "output_tokens": 5}, 0, complete=True)
    assert problems() == []

    PeriodBalance.objects.filter(quota_id=alice.pk).update(**{field: value})

    assert any(p.startswith(f"balance row of user {alice.pk}") for p in problems())
    with pytest.raises(CommandError, match="problems"):
        call_command("check_ledger", stderr=io.StringIO())


@pytest.mark.ledger_unchecked
def test_check_ledger_reports_an_entry_written_past_the_row(make_user):
    alice = make_user("alice")
    limited(alice, cost="5")
    admit(alice)

    LedgerEntry.objects.create(user=alice, kind=LedgerEntry.Kind.ADJUSTMENT, cost=Decimal(1))

    assert [p for p in problems() if "balance row" in p]


def test_the_row_counts_running_replies_but_not_titles(make_user):
    alice = make_user("alice")
    chat = admit(alice)
    admit(alice, source="gateway")
    admit(alice, source="title")
    assert row_of(alice).replies_running == 2

    ledger.settle_call(chat.call.pk, {"input_tokens": 10, "output_tokens": 5}, 0, complete=True)

    assert row_of(alice).replies_running == 1
    assert problems() == []
