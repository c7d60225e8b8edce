"""The per-user balance row: moved with every ledger entry, read (locked) by admission.

Admission used to sum the period's entries under the quota row's lock; it now reads one row,
`PeriodBalance`, under its own lock (decision 94). Every writer of the ledger moves the row
in the entry's transaction with one UPDATE that always matches the user's row, whatever
period it is for: the UPDATE takes the row's lock, so a writer and an admission that
(re)computes the row from the entries are ordered one after the other, and neither misses
the other's entries. Held amounts move always (an open hold counts whatever period it was
made in); spent amounts move only when the entry's time falls in the row's period, a CASE in
the same statement, so a late settlement of last period's hold does not count this period.
"""

from datetime import datetime
from decimal import Decimal

from django.db import connection

from .models import LedgerEntry, MoneyField, PeriodBalance, Quota, UpstreamCall
from .prepared import Prepared

Kind = LedgerEntry.Kind
_money = MoneyField()
_TABLE = PeriodBalance._meta.db_table
_ENTRIES = LedgerEntry._meta.db_table
_CALLS = UpstreamCall._meta.db_table
_ZERO = (Decimal(0), 0)


def entry_sums(user_id: int, starts_at: datetime | None, resets_at: datetime | None) -> dict:
    """The entries' sums a row must equal: spent and grants in [starts_at, resets_at), every
    open hold, and the replies running."""
    return period_sums(user_id, starts_at, resets_at, with_running=True)


_SUMS = ("spent_cost", "spent_tokens", "grants_cost", "grants_tokens", "held_cost", "held_tokens")


def period_sums(
    user_id: int,
    starts_at: datetime | None,
    resets_at: datetime | None,
    *,
    with_running: bool = False,
) -> dict:
    """Spent and granted cost and tokens in [starts_at, resets_at) (either end open when None),
    and what every open hold holds: the one query both the row and `ledger.balance` sum with
    (with `with_running`, the replies running too, in the same statement). Grants stay as
    stored: negative, since they take spend off.

    Written as SQL: the ORM's aggregate with six filters took longer to build than to run
    (a user's first send of a period computes it: docs/performance.md)."""
    spent, params = "e.kind IN (%s, %s, %s)", [Kind.CHARGE, Kind.GRANT, Kind.ADJUSTMENT]
    for bound, operator in ((starts_at, ">="), (resets_at, "<")):
        if bound is not None:
            spent += f" AND e.created_at {operator} %s"
            params.append(connection.ops.adapt_datetimefield_value(bound))
    # Only holds are ever settled (by a release and a charge naming them).
    held = f"e.kind = %s AND NOT EXISTS (SELECT 1 FROM {_ENTRIES} s WHERE s.hold_id = e.id)"
    grants = f"{spent} AND e.kind = %s"
    columns, select_params = [], []
    for column, condition, condition_params in (
        ("cost", spent, params),
        ("tokens", spent, params),
        ("cost", grants, [*params, Kind.GRANT]),
        ("tokens", grants, [*params, Kind.GRANT]),
        ("cost", held, [Kind.HOLD]),
        ("tokens", held, [Kind.HOLD]),
    ):
        columns.append(f"COALESCE(SUM(e.{column}) FILTER (WHERE {condition}), 0)")
        select_params += condition_params
    if with_running:
        columns.append(
            f"(SELECT COUNT(*) FROM {_CALLS} c WHERE c.user_id = %s AND c.status = %s "
            "AND c.source <> %s)"
        )
        select_params += [user_id, UpstreamCall.Status.RUNNING, UpstreamCall.Source.TITLE]
    sql = (
        f"SELECT {', '.join(columns)} FROM {_ENTRIES} e "
        f"WHERE e.user_id = %s AND (({spent}) OR ({held}))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*select_params, user_id, *params, Kind.HOLD])
        row = cursor.fetchone()
    found = {
        name: Decimal(value) / MoneyField.SCALE if name.endswith("cost") else int(value)
        for name, value in zip(_SUMS, row, strict=False)
    }
    if with_running:
        found["replies_running"] = int(row[-1])
    return found


def counts_as_reply(source: str) -> int:
    return 0 if source == UpstreamCall.Source.TITLE else 1


def locked_row(user_id: int) -> PeriodBalance | None:
    """The user's row with its quota, row-locked (FOR UPDATE on PostgreSQL; SQLite's
    IMMEDIATE transaction holds the write lock already); None if there is none yet."""
    found = _LOCKED_ROW(user_id)
    return found[0] if found else None


_LOCKED_ROW = Prepared(
    lambda user_id: (
        PeriodBalance.objects.select_related("quota")
        .select_for_update(of=("self",))
        .filter(quota_id=user_id)
        .order_by()[:1]
    )
)


def current_row(user, make_quota, period_bounds, now: datetime) -> PeriodBalance:
    """The user's row for the period containing `now`, locked, computed from the entries when
    it is new, of an earlier period or of another period length (the quota changed).

    `make_quota` (makes the user's quota from the defaults unless there is one) and
    `period_bounds` are the ledger's (passed in: the ledger imports this).
    """
    row = locked_row(user.pk)
    if row is None:
        make_quota(user)
        _insert_blank(user.pk)
        row = locked_row(user.pk)
    starts_at, resets_at = period_bounds(row.quota.period, now)
    if row.period != row.quota.period or row.starts_at != starts_at:
        sums = entry_sums(user.pk, starts_at, resets_at)
        row.period, row.starts_at, row.resets_at = row.quota.period, starts_at, resets_at
        for name, value in sums.items():
            setattr(row, name, value)
        row.save()
    return row


def _insert_blank(user_id: int) -> None:
    """A row to be computed (empty period), unless one exists; waits for a racing insert."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} (quota_id, period, spent_cost, spent_tokens, grants_cost, "
            "grants_tokens, held_cost, held_tokens, replies_running) "
            f"SELECT user_id, '', 0, 0, 0, 0, 0, 0, 0 FROM {Quota._meta.db_table} "
            "WHERE user_id = %s ON CONFLICT DO NOTHING",
            [user_id],
        )


def move(user_id: int, at: datetime, **amounts) -> None:
    """Move the user's row by an entry made at `at` (inside the entry's transaction);
    `amounts` as `move_statement` takes them.

    With no row yet, a blank one is made (if the user has a quota), so that an admission
    computing the row now waits for this transaction rather than missing its entry.
    """
    sql, params = move_statement(user_id, at, **amounts)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not cursor.rowcount:
            _insert_blank(user_id)
            cursor.execute(sql, params)


def move_statement(
    user_id: int,
    at: datetime,
    *,
    spent: tuple[Decimal, int] = _ZERO,
    grants: tuple[Decimal, int] = _ZERO,
    held: tuple[Decimal, int] = _ZERO,
    running: int = 0,
) -> tuple[str, list]:
    """The UPDATE that moves the user's row (as `move`), for a caller that sends it with other
    writes (accounts/write_batch.py); it matches no row when the user has none yet."""
    when = connection.ops.adapt_datetimefield_value(at)
    in_period = "(starts_at IS NULL OR starts_at <= %s) AND (resets_at IS NULL OR resets_at > %s)"

    def moved(column: str) -> str:
        return f"{column} = CASE WHEN {in_period} THEN {column} + %s ELSE {column} END"

    sql = (
        f"UPDATE {_TABLE} SET held_cost = held_cost + %s, held_tokens = held_tokens + %s, "
        "replies_running = replies_running + %s, "
        f"{moved('spent_cost')}, {moved('spent_tokens')}, "
        f"{moved('grants_cost')}, {moved('grants_tokens')} WHERE quota_id = %s"
    )
    params = [_money.get_prep_value(held[0]), held[1], running]
    for amount in (_money.get_prep_value(spent[0]), spent[1]):
        params += [when, when, amount]
    for amount in (_money.get_prep_value(grants[0]), grants[1]):
        params += [when, when, amount]
    return sql, [*params, user_id]


def rows_not_matching_entries() -> list[str]:
    """Every computed row whose amounts differ from its entries' sums, one line each."""
    found = []
    for row in PeriodBalance.objects.exclude(period="").order_by("quota_id"):
        sums = entry_sums(row.quota_id, row.starts_at, row.resets_at)
        wrong = [
            f"{name} {getattr(row, name)} != {value}"
            for name, value in sums.items()
            if getattr(row, name) != value
        ]
        if wrong:
            found.append(
                f"balance row of user {row.quota_id} ({row.period} from {row.starts_at}): "
                + ", ".join(wrong)
                + " from its entries"
            )
    return found
