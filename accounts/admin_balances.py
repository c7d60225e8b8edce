"""The user list's balances: this period's sums per user as subqueries, for a whole page."""

from datetime import UTC, datetime

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Case,
    DateTimeField,
    F,
    Max,
    OuterRef,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest

from . import ledger
from .models import LedgerEntry, MoneyField, Quota

Kind = LedgerEntry.Kind
Period = Quota.Period
COST = MoneyField()  # sums of picodollars, read back as Decimal dollars
# Stands in for "no period start" so one SQL comparison covers every period.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ledger_sum(field: str, output_field, **filters) -> Coalesce:
    """A per-user sum over ledger entries, as a subquery (no GROUP BY on the user list)."""
    entries = (
        LedgerEntry.objects.filter(user=OuterRef("pk"), **filters)
        .order_by()
        .values("user")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(
        Subquery(entries, output_field=output_field), Value(0), output_field=output_field
    )


MONEY_ANNOTATIONS = {
    "period_start",
    "spent_cost",
    "spent_tokens",
    "held_cost",
    "held_tokens",
    "granted_cost",
    "granted_tokens",
    "used_cost",
}


def annotate_balances(queryset, now: datetime | None = None):
    """Users with this period's spend, open holds and last activity, in the same query.

    The same sums as `ledger.balance()`, for a whole page of users at once; each user's
    period start comes from their quota (or the default period when they have no row yet).
    """
    starts = {p: ledger.period_bounds(p, now)[0] or EPOCH for p in Period.values}
    period_start = Case(
        *[When(quota__period=p, then=Value(start)) for p, start in starts.items()],
        default=Value(starts.get(settings.QUOTA_DEFAULT_PERIOD, EPOCH)),
        output_field=DateTimeField(),
    )
    last_entry = (
        LedgerEntry.objects.filter(user=OuterRef("pk"))
        .order_by()
        .values("user")
        .annotate(last=Max("created_at"))
        .values("last")
    )
    spent = {"kind__in": [Kind.CHARGE, Kind.GRANT, Kind.ADJUSTMENT]}
    spent["created_at__gte"] = OuterRef("period_start")
    held = {"kind": Kind.HOLD, "settled_by__isnull": True}
    granted = {"kind": Kind.GRANT, "created_at__gte": OuterRef("period_start")}
    return queryset.annotate(
        period_start=period_start,
        spent_cost=_ledger_sum("cost", COST, **spent),
        spent_tokens=_ledger_sum("tokens", BigIntegerField(), **spent),
        held_cost=_ledger_sum("cost", COST, **held),
        held_tokens=_ledger_sum("tokens", BigIntegerField(), **held),
        # Grants are negative entries; the list shows them as allowance, not as spend.
        granted_cost=_ledger_sum("cost", COST, **granted),
        granted_tokens=_ledger_sum("tokens", BigIntegerField(), **granted),
        used_cost=F("spent_cost") - F("granted_cost"),
        last_entry_at=Subquery(last_entry, output_field=DateTimeField()),
        # Both arguments coalesced: GREATEST is NULL if either is NULL on SQLite.
        last_active=Greatest(
            Coalesce("last_login", "last_entry_at"), Coalesce("last_entry_at", "last_login")
        ),
    )
