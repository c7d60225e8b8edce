"""A grant reads as more allowance for the period, on the meter, the usage page and the admin.

Display only: the ledger keeps a grant as a negative entry that the period's sum takes off
(decision 15); these pages show it added to the limit instead of subtracted from the spend
(decision 76).
"""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts import ledger
from accounts.models import LedgerEntry, Quota

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def amy(make_user):
    """A member who used up a $0.01 monthly limit, then was granted $0.05."""
    user = make_user("amy")
    Quota.objects.create(user=user, period="month", cost_limit=Decimal("0.01"))
    LedgerEntry.objects.create(
        user=user, kind=LedgerEntry.Kind.ADJUSTMENT, cost=Decimal("0.01"), reason="spent"
    )
    ledger.grant(user, cost=Decimal("0.05"), reason="deadline week")
    return user


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_meter_counts_a_grant_into_the_allowance(client, amy):
    client.force_login(amy)

    meter = text_of(client.get(reverse("usage_meter")).content.decode())

    assert "$0.05 left of $0.06" in meter  # it read "$0.05 left of $0.01"


def test_the_meter_says_where_the_larger_allowance_comes_from(client, amy):
    client.force_login(amy)

    meter = client.get(reverse("usage_meter")).content.decode()

    assert 'title="Your limit of $0.01 plus $0.05 granted for this period"' in meter


def test_the_usage_page_shows_spend_without_the_grant_and_the_limit_with_it(client, amy):
    client.force_login(amy)

    page = text_of(client.get(reverse("usage")).content.decode())

    summary = page.split("By model")[0]
    assert "Spent $0.01" in summary  # it read "$-0.04"
    assert "Limit $0.06 $0.01 limit + $0.05 granted" in summary
    assert "Left $0.05" in summary


def test_the_admin_user_list_shows_a_grant_as_allowance_not_negative_spend(admin_client, amy):
    page = admin_client.get("/admin/accounts/user/?q=amy").content.decode()

    row = next(r for r in re.findall(r"<tr>.*?</tr>", page, re.S) if ">amy</a>" in r)
    assert '<td class="field-limit">$0.06 per month ($0.05 granted)</td>' in row
    assert '<td class="field-spent">$0.01 + 0 tokens</td>' in row  # it read "$-0.04"
    assert '<td class="field-remaining">$0.05</td>' in row


def test_a_token_grant_raises_the_token_allowance(client, make_user):
    user = make_user("tom")
    Quota.objects.create(user=user, period="day", token_limit=1000)
    ledger.grant(user, tokens=500, reason="more")
    client.force_login(user)

    meter = text_of(client.get(reverse("usage_meter")).content.decode())

    assert "1500 of 1500 tokens left" in meter


def test_the_balance_keeps_the_ledgers_sum_for_admission(amy):
    """The grant still counts the way decision 15 says: the net spend is what admits."""
    current = ledger.balance(amy)

    assert current.spent_cost == Decimal("-0.04")
    assert current.used_cost == Decimal("0.01")
    assert current.granted_cost == Decimal("0.05")
    assert current.allowance_cost == Decimal("0.06")
    assert current.remaining_cost == Decimal("0.05")
    assert current.used_fraction == pytest.approx(0.01 / 0.06)
