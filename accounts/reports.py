"""Usage reports: the one place charges are aggregated (commands, admin report, usage page)."""

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TextIO

from django.db.models import (
    BigIntegerField,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Round, TruncDate
from django.utils import timezone

from . import exports
from .models import ApiKey, LedgerEntry, MoneyField, UpstreamCall, User
from .usage import USAGE_FIELDS

# usage_report's header: a contract (docs/quotas.md).
CSV_COLUMNS = ["user", "model", "calls", *USAGE_FIELDS, "cost_usd", "estimated_calls"]
GROUP_KEYS = ("user", "model", "day", "source", "api_key")
SUM_FIELDS = ("calls", *USAGE_FIELDS, "cost_usd", "estimated_calls")
# The days a report may start or end on. Far wider than any ledger, yet far enough from the ends
# of Python's calendar that a day's midnight converts to UTC and the day after it exists: the
# report answered 9999-12-31 (or 0001-01-01 east of UTC) with a 500.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)


def is_report_day(day: date) -> bool:
    return EARLIEST_DAY <= day <= LATEST_DAY


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the current (by default the server's) time zone."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _group_expressions() -> dict:
    # Aliases differ from the output keys: "user" and "model" would clash with model fields.
    return {
        "user": ("r_user", F("user__username")),
        "model": ("r_model", F("model")),
        "day": ("r_day", TruncDate("created_at", tzinfo=timezone.get_current_timezone())),
        # What made the call (chat reply, title, gateway key) and the gateway's key, through
        # the charge's call; a charge without one (none is written so) groups under None.
        "source": ("r_source", F("call__source")),
        "api_key": ("r_api_key", F("call__api_key")),
    }


def _sums(with_savings: bool) -> dict:
    # The savings come first: the sums below take the usage fields' names, and an F() after
    # them would read the sum, not the charge's own count.
    sums = {"saved_picodollars": Sum(_saved_picodollars())} if with_savings else {}
    return {
        **sums,
        "calls": Count("id"),
        **{field: Sum(field) for field in USAGE_FIELDS},
        "cost_usd": Sum("cost"),
        "estimated_calls": Count("id", filter=Q(estimated=True)),
    }


def _clean_row(row: dict) -> dict:
    for field in USAGE_FIELDS:
        row[field] = row[field] or 0
    row["cost_usd"] = row["cost_usd"] if row["cost_usd"] is not None else Decimal(0)
    if "saved_picodollars" in row:
        row["caching_saved"] = Decimal(row.pop("saved_picodollars") or 0) / MoneyField.SCALE
    return row


def usage_rows(
    *,
    user: User | str | None = None,
    since: date | None = None,
    until: date | None = None,
    by: tuple[str, ...] = ("user", "model"),
    with_savings: bool = False,
) -> list[dict]:
    """Charges summed per group, sorted by the group keys, in one query.

    `since` and `until` are inclusive local calendar dates within `EARLIEST_DAY` and
    `LATEST_DAY` (callers check them first and say so to the user). Holds, releases, grants and
    adjustments are bookkeeping, not usage, so only charges count. `with_savings` adds
    `caching_saved`, what caching saved on the group's charges (`caching_savings`).
    """
    unknown = [key for key in by if key not in GROUP_KEYS]
    if unknown or len(set(by)) != len(by):
        raise ValueError(f"group by any of {GROUP_KEYS} once each, not {by!r}")
    for day in (since, until):
        if day is not None and not is_report_day(day):
            raise ValueError(f"{day} is not between {EARLIEST_DAY} and {LATEST_DAY}")
    charges = _charges(user, since, until)
    if not by:
        total = _clean_row(charges.aggregate(**_sums(with_savings)))
        return [total] if total["calls"] else []
    expressions = _group_expressions()
    aliases = [expressions[key][0] for key in by]
    grouped = (
        charges.annotate(**{expressions[key][0]: expressions[key][1] for key in by})
        .values(*aliases)
        .annotate(**_sums(with_savings))
        .order_by(*aliases)
    )
    rows = []
    for values in grouped:
        row = {key: values.pop(expressions[key][0]) for key in by}
        rows.append(_clean_row({**row, **values}))
    if "source" in by:
        for row in rows:
            row["source_label"] = source_label(row["source"])
    if "api_key" in by:
        _name_keys(rows)
    return rows


def _charges(user: User | str | None, since: date | None, until: date | None) -> QuerySet:
    charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE)
    if isinstance(user, str):
        charges = charges.filter(user__username=user)
    elif user is not None:
        charges = charges.filter(user=user)
    if since is not None:
        charges = charges.filter(created_at__gte=day_start(since))
    if until is not None:
        charges = charges.filter(created_at__lt=day_start(until + timedelta(days=1)))
    return charges


def caching_savings(
    *, user: User | str | None = None, since: date | None = None, until: date | None = None
) -> Decimal:
    """What prompt caching saved on the charges `usage_rows` would sum (docs/quotas.md): each
    charge's cache reads at its input price less their price, less its writes' surcharge, at
    the rates the charge recorded. One query, summed by the database."""
    picodollars = _cached_charges(user, since, until).aggregate(saved=Sum(_saved_picodollars()))
    return Decimal(picodollars["saved"] or 0) / MoneyField.SCALE


def _cached_charges(user: User | str | None, since: date | None, until: date | None) -> QuerySet:
    return _charges(user, since, until).filter(
        Q(cache_read_input_tokens__gt=0) | Q(cache_creation_input_tokens__gt=0)
    )


def _micro_rate(name: str) -> Cast:
    """A recorded price per million tokens in millionths of a dollar, as an integer: prices
    have at most 6 decimals, so this is exact, and integer sums are exact on SQLite too (its
    decimals are floats)."""
    price = Cast(KT(f"prices__{name}"), FloatField())
    return Cast(Round(Coalesce(price, Value(0.0)) * Value(1_000_000.0)), BigIntegerField())


def _saved_picodollars() -> ExpressionWrapper:
    """`pricing.caching_saved` of one charge in picodollars (10^-12 USD), as SQL: tokens times
    millionths of a dollar per million tokens. A test checks the two agree."""
    rate_in, rate_write, rate_read = (
        _micro_rate(n) for n in ("input", "cache_write", "cache_read")
    )
    read = F("cache_read_input_tokens") * (rate_in - rate_read)
    written = F("cache_creation_input_tokens") * (rate_write - rate_in)
    return ExpressionWrapper(read - written, output_field=BigIntegerField())


def regroup(rows: Iterable[dict], key: str) -> list[dict]:
    """Rows of `usage_rows` summed again by one of their keys ("day" or "model" of a
    day-and-model report), sorted by it: in Python, as a second query would read the period's
    charges again (on SQLite each row's local day is a Python function call)."""
    fields = [*SUM_FIELDS, "caching_saved"]
    grouped: dict = {}
    for row in rows:
        into = grouped.setdefault(row[key], {key: row[key]})
        for field in fields:
            if field in row:
                into[field] = into.get(field, 0) + row[field]
    return [grouped[value] for value in sorted(grouped)]


def source_label(source: str | None) -> str:
    """A call source as people read it ("chat reply", "title", "gateway key")."""
    if source in UpstreamCall.Source.values:
        return str(UpstreamCall.Source(source).label)
    return "-"


def _name_keys(rows: list[dict]) -> None:
    """Key ids become the key's shown prefix (`api_key`) and name (`api_key_name`), and a
    row without a user column gets the key's owner; a row of charges made without a key (the
    chat's) has None for both."""
    ids = {row["api_key"] for row in rows if row["api_key"] is not None}
    keys = {key.pk: key for key in ApiKey.objects.filter(pk__in=ids).select_related("user")}
    for row in rows:
        key = keys.get(row["api_key"])
        row["api_key"] = key.prefix if key else None
        row["api_key_name"] = key.name if key else None
        if "user" not in row:
            row["user"] = key.user.username if key else None


def totals(rows: Iterable[dict]) -> dict:
    """The sums of the numeric columns over `rows` (cost stays an exact Decimal)."""
    result: dict = {field: 0 for field in SUM_FIELDS}
    result["cost_usd"] = Decimal(0)
    for row in rows:
        for field in SUM_FIELDS:
            result[field] += row[field]
    return result


def write_csv(rows: Iterable[dict], stream: TextIO, columns: Sequence[str] = CSV_COLUMNS) -> None:
    """Write a header and one line per row; columns a row lacks are left empty."""
    exports.write_csv(stream, columns, csv_rows(rows, columns))


def csv_rows(rows: Iterable[dict], columns: Sequence[str]) -> Iterator[list]:
    """Report rows as lists of cells in the order of `columns`, for `accounts.exports`."""
    return ([row.get(column) for column in columns] for row in rows)
