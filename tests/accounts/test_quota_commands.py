"""`manage.py set_quota` and `manage.py usage_report`: the contract scripts rely on."""

import csv
from datetime import datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count, Sum

from accounts import ledger
from accounts.models import LedgerEntry, Quota
from conversations.models import CatalogModel, Conversation, Message

HEADER = (
    "user,model,calls,input_tokens,output_tokens,cache_creation_input_tokens,"
    "cache_read_input_tokens,cost_usd,estimated_calls"
)
HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-5-20250929"
TOKYO = ZoneInfo("Asia/Tokyo")

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def reply(user, model_id: str, usage: dict) -> Message:
    """A reply admitted under the quota and settled into a charge."""
    model = CatalogModel.objects.get(model_id=model_id)
    message = Message.objects.create(
        conversation=Conversation.objects.create(user=user, model=model_id),
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
    )
    with transaction.atomic():
        admission = ledger.admit(user, model, 100, 500, source="chat", message=message)
    ledger.settle(admission.call, usage, estimated=False)
    return message


def admit(user, prompt_tokens: int = 1000, max_tokens: int = 1000) -> int:
    message = Message.objects.create(
        conversation=Conversation.objects.create(user=user, model=HAIKU),
        role=Message.Role.ASSISTANT,
    )
    model = CatalogModel.objects.get(model_id=HAIKU)
    with transaction.atomic():
        return ledger.admit(
            user, model, prompt_tokens, max_tokens, source="chat", message=message
        ).max_tokens


# usage_report


def test_usage_report_prints_the_contract_header_and_one_row_per_user_and_model(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    reply(alice, HAIKU, {"input_tokens": 100, "output_tokens": 40})
    reply(alice, HAIKU, {"input_tokens": 50, "output_tokens": 10, "cache_read_input_tokens": 9})
    reply(alice, SONNET, {"input_tokens": 3, "output_tokens": 7})
    reply(bob, HAIKU, {"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 5})
    ledger.grant(bob, cost=Decimal(1), reason="not usage")

    output = run("usage_report")

    lines = output.splitlines()
    assert lines[0] == HEADER
    rows = list(csv.DictReader(StringIO(output)))
    assert [(row["user"], row["model"], row["calls"]) for row in rows] == [
        ("alice", HAIKU, "2"),
        ("alice", SONNET, "1"),
        ("bob", HAIKU, "1"),
    ]
    charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).aggregate(
        calls=Count("id"),
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        cache_creation_input_tokens=Sum("cache_creation_input_tokens"),
        cache_read_input_tokens=Sum("cache_read_input_tokens"),
        cost=Sum("cost"),
    )
    for column in HEADER.split(",")[2:7]:
        assert sum(int(row[column]) for row in rows) == charges[column]
    assert sum(Decimal(row["cost_usd"]) for row in rows) == charges["cost"]


@pytest.mark.ledger_unchecked  # hand-made charges at chosen times
def test_usage_report_filters_by_user_and_inclusive_local_dates(make_user, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    alice, bob = make_user("alice"), make_user("bob")
    for user, day, hour, cost in [
        (alice, 9, 23, "1"),
        (alice, 10, 0, "2"),
        (alice, 11, 23, "4"),
        (alice, 12, 0, "8"),
        (bob, 10, 12, "16"),
    ]:
        LedgerEntry.objects.create(
            user=user,
            kind=LedgerEntry.Kind.CHARGE,
            model=HAIKU,
            cost=Decimal(cost),
            created_at=datetime(2025, 3, day, hour, 59 if hour == 23 else 0, tzinfo=TOKYO),
        )

    output = run(
        "usage_report", "--user", "alice", "--since", "2025-03-10", "--until", "2025-03-11"
    )

    assert output.splitlines() == [HEADER, f"alice,{HAIKU},2,0,0,0,0,6,0"]


def test_usage_report_with_no_charges_prints_only_the_header():
    assert run("usage_report") == HEADER + "\n"


@pytest.mark.parametrize("option", ["--since", "--until"])
@pytest.mark.parametrize("value", ["2025-13-01", "yesterday", "10/03/2025"])
def test_usage_report_refuses_bad_dates(option, value):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run("usage_report", option, value)


@pytest.mark.parametrize("option", ["--since", "--until"])
@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "1999-12-31", "3000-01-01"])
def test_usage_report_refuses_days_outside_the_report_range(option, value):
    with pytest.raises(CommandError, match="from 2000-01-01 to 2999-12-31"):
        run("usage_report", option, value)


@pytest.mark.ledger_unchecked  # a hand-made charge with a formula-like model id
def test_usage_report_escapes_cells_a_spreadsheet_would_run(make_user):
    LedgerEntry.objects.create(
        user=make_user("@alice"), kind=LedgerEntry.Kind.CHARGE, model="=2+5", cost=Decimal("1")
    )

    output = run("usage_report")

    assert output.splitlines() == [HEADER, "'@alice,'=2+5,1,0,0,0,0,1,0"]


def test_usage_report_refuses_a_start_after_the_end():
    with pytest.raises(CommandError, match="after"):
        run("usage_report", "--since", "2025-03-02", "--until", "2025-03-01")


def test_usage_report_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="No user named"):
        run("usage_report", "--user", "nobody")


# set_quota


def test_set_quota_creates_the_quota_from_the_defaults_and_changes_only_what_is_given(
    make_user, settings
):
    settings.QUOTA_DEFAULT_PERIOD = "month"
    settings.QUOTA_DEFAULT_COST_LIMIT = Decimal(10)
    settings.QUOTA_DEFAULT_TOKEN_LIMIT = None
    alice = make_user("alice")
    assert not Quota.objects.filter(user=alice).exists()

    output = run("set_quota", "alice", "--token-limit", "50000")

    quota = Quota.objects.get(user=alice)
    assert (quota.period, quota.cost_limit, quota.token_limit) == ("month", Decimal(10), 50000)
    assert output == ("Quota for alice: cost limit 10 USD, token limit 50000, period month.\n")


def test_set_quota_sets_each_option(make_user):
    alice = make_user("alice")

    run("set_quota", "alice", "--cost-limit", "2.5")
    run("set_quota", "alice", "--period", "week")
    output = run("set_quota", "alice", "--token-limit", "1234")

    quota = Quota.objects.get(user=alice)
    assert (quota.cost_limit, quota.token_limit, quota.period) == (Decimal("2.5"), 1234, "week")
    assert output.strip() == "Quota for alice: cost limit 2.5 USD, token limit 1234, period week."


def test_set_quota_none_clears_limits_and_the_period(make_user):
    alice = make_user("alice")
    run("set_quota", "alice", "--cost-limit", "5", "--token-limit", "100", "--period", "day")

    output = run("set_quota", "alice", "--cost-limit", "none", "--token-limit", "NONE")
    run("set_quota", "alice", "--period", "none")

    quota = Quota.objects.get(user=alice)
    assert (quota.cost_limit, quota.token_limit, quota.period) == (None, None, "none")
    assert quota.unlimited
    assert "cost limit unlimited, token limit unlimited" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cost-limit", "-1"], "cannot be negative"),
        (["--cost-limit", "five"], "amount in US dollars"),
        (["--cost-limit", "NaN"], "amount in US dollars"),
        (["--cost-limit", "0.00001"], "4 decimal places"),
        (["--token-limit", "-5"], "cannot be negative"),
        (["--token-limit", "1.5"], "whole number"),
        (["--token-limit", "lots"], "whole number"),
        (["--period", "year"], "invalid choice"),
    ],
)
def test_set_quota_refuses_bad_values_and_changes_nothing(make_user, args, message):
    alice = make_user("alice")
    run("set_quota", "alice", "--cost-limit", "3", "--token-limit", "300", "--period", "day")

    with pytest.raises(CommandError, match=message):
        run("set_quota", "alice", "--period", "week", *args)

    quota = Quota.objects.get(user=alice)
    assert (quota.cost_limit, quota.token_limit, quota.period) == (Decimal(3), 300, "day")


def test_set_quota_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="No user named “nobody”"):
        run("set_quota", "nobody", "--cost-limit", "1")


def test_a_tiny_cost_limit_refuses_the_next_send(make_user):
    alice = make_user("alice")
    assert admit(alice) == 1000

    run("set_quota", "alice", "--cost-limit", "0.0001")

    with pytest.raises(ledger.QuotaExceeded):
        admit(alice)


def test_a_token_limit_lowers_the_next_reply_and_none_lifts_it(make_user):
    alice = make_user("alice")
    run("set_quota", "alice", "--cost-limit", "none", "--token-limit", "1300", "--period", "day")

    assert admit(alice, prompt_tokens=1000, max_tokens=1000) == 300
    with pytest.raises(ledger.QuotaExceeded):
        admit(alice, prompt_tokens=1000, max_tokens=1000)  # the first hold is still open

    run("set_quota", "alice", "--token-limit", "none")

    assert admit(alice, prompt_tokens=1000, max_tokens=1000) == 1000
    assert ledger.balance(alice).unlimited


@pytest.mark.parametrize(
    ("name", "options"),
    [("set_quota", ["--cost-limit", "--token-limit", "--period"]), ("usage_report", ["--user"])],
)
def test_help_lists_the_contract_options(name, options):
    command = load_command_class("accounts", name)

    text = command.create_parser("manage.py", name).format_help()

    assert all(option in text for option in options)
