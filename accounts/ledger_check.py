"""Consistency checks of the ledger, run by `manage.py check_ledger` and after ledger tests."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from . import balance_rows
from .models import LedgerEntry, MoneyField, UpstreamCall
from .pricing import cost_at
from .usage import USAGE_FIELDS

Kind = LedgerEntry.Kind
_money = MoneyField()


def _picodollars(value: Decimal) -> int:
    return _money.get_prep_value(value)


def calls_hold_once() -> Iterator[str]:
    """Every hold belongs to a call, and every call has exactly one hold."""
    for hold_id in LedgerEntry.objects.filter(kind=Kind.HOLD, call__isnull=True).values_list(
        "pk", flat=True
    ):
        yield f"hold {hold_id} belongs to no upstream call"
    calls = UpstreamCall.objects.annotate(holds=Count("entries", filter=Q(entries__kind=Kind.HOLD)))
    for call_id, holds in calls.exclude(holds=1).values_list("pk", "holds"):
        yield f"call {call_id} has {holds} holds, not 1"


def holds_settled_once() -> Iterator[str]:
    """A settled call's hold has one release (its amounts negated) and one charge; a running
    call's hold has neither."""
    holds = LedgerEntry.objects.filter(kind=Kind.HOLD, call__isnull=False).select_related("call")
    releases = {
        e.hold_id: e
        for e in LedgerEntry.objects.filter(kind=Kind.RELEASE).only(
            "hold_id", "call_id", "cost", "tokens"
        )
    }
    settlements = LedgerEntry.objects.filter(hold__isnull=False).values("hold_id", "kind")
    counts: dict[tuple[int, str], int] = {}
    for row in settlements.annotate(n=Count("id")):
        counts[(row["hold_id"], row["kind"])] = row["n"]
    for hold in holds.iterator():
        settled = hold.call.status == UpstreamCall.Status.SETTLED
        expected = 1 if settled else 0
        for kind in (Kind.RELEASE, Kind.CHARGE):
            found = counts.get((hold.pk, kind), 0)
            if found != expected:
                yield (
                    f"hold {hold.pk} of {hold.call.status} call {hold.call_id} has "
                    f"{found} {kind} entries, not {expected}"
                )
        release = releases.get(hold.pk)
        if release is not None and (release.cost, release.tokens) != (-hold.cost, -hold.tokens):
            yield f"release {release.pk} does not repeat hold {hold.pk}'s amounts negated"
    stray = LedgerEntry.objects.filter(
        Q(kind__in=[Kind.RELEASE, Kind.CHARGE], hold__isnull=True)
        | Q(kind__in=[Kind.GRANT, Kind.ADJUSTMENT, Kind.HOLD], hold__isnull=False)
    )
    for entry_id, kind in stray.values_list("pk", "kind"):
        yield f"{kind} {entry_id} is linked to a hold wrongly"


def no_hold_without_a_live_call(grace: float | None = None) -> Iterator[str]:
    """An open hold's call is running on a worker whose heartbeat is fresh."""
    timeout = settings.STREAM_HEARTBEAT_TIMEOUT if grace is None else grace
    cutoff = timezone.now() - timedelta(seconds=timeout)
    stale = UpstreamCall.objects.filter(status=UpstreamCall.Status.RUNNING).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff)
    )
    for call_id, worker in stale.values_list("pk", "worker"):
        yield f"call {call_id} holds quota but no live worker runs it ({worker or 'no worker'})"


def charges_match_their_usage() -> Iterator[str]:
    """A charge's tokens are its usage fields' sum; its cost, that usage at its recorded prices."""
    for charge in LedgerEntry.objects.filter(kind=Kind.CHARGE).iterator():
        usage = {f: getattr(charge, f) for f in USAGE_FIELDS}
        if charge.tokens != sum(usage.values()):
            yield f"charge {charge.pk}: tokens {charge.tokens} != {sum(usage.values())}"
        if charge.prices:
            try:
                expected = cost_at(usage, charge.prices)
            except (KeyError, ArithmeticError, TypeError, ValueError):
                yield f"charge {charge.pk}: its price snapshot is unreadable"
                continue
        else:
            expected = Decimal(0)  # no model and no snapshot: charged nothing
        if _picodollars(charge.cost) != _picodollars(expected):
            yield f"charge {charge.pk}: cost {charge.cost} != {expected} from its usage and prices"


def balance_rows_match_entries() -> Iterator[str]:
    """Each user's balance row (what admission reads) equals the sums of its entries: spent
    and grants of its period, and the open holds (decision 94)."""
    yield from balance_rows.rows_not_matching_entries()


CHECKS: list[Callable[[], Iterator[str]]] = [
    calls_hold_once,
    holds_settled_once,
    no_hold_without_a_live_call,
    charges_match_their_usage,
    balance_rows_match_entries,
]


def problems(grace: float | None = None) -> list[str]:
    """Everything wrong with the ledger, one line each; empty when it is consistent."""
    found: list[str] = []
    for check in CHECKS:
        if check is no_hold_without_a_live_call:
            found.extend(check(grace))
        else:
            found.extend(check())
    return found
