"""Ledger actions: admit a request under the quota, settle it into a charge, grant, adjust."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import balance_rows
from .balance import Balance
from .models import LedgerEntry, Quota, UpstreamCall, User
from .pricing import Priced
from .request_bound import REQUEST_OVERHEAD_TOKENS
from .settling import (  # noqa: F401  (the ledger's actions, as callers know them)
    MAX_USAGE_COUNT,
    settle,
    settle_call,
    settlement_usage,
)
from .usage import USAGE_FIELDS  # noqa: F401  (callers read the usage fields here)
from .write_batch import Ref, WriteBatch

Kind = LedgerEntry.Kind
# A reply shorter than this is not worth sending: below it the quota counts as exhausted.
MIN_REPLY_TOKENS = 16
PROMPT_OVERHEAD_TOKENS = REQUEST_OVERHEAD_TOKENS


class QuotaExceeded(Exception):
    """The request does not fit what is left of the user's quota this period."""

    def __init__(self, balance: "Balance") -> None:
        super().__init__("quota exceeded")
        self.balance = balance


def is_exhausted(current: Balance, model: Priced | None = None) -> bool:
    """Nothing useful can be sent any more this period (with `model`, the shortest message)."""
    cost, tokens = current.remaining_cost, current.remaining_tokens
    smallest = PROMPT_OVERHEAD_TOKENS + MIN_REPLY_TOKENS
    if tokens is not None and tokens < smallest:
        return True
    if cost is None:
        return False
    if model is None:
        return cost <= 0
    return cost < model.pricing().worst_case_cost(PROMPT_OVERHEAD_TOKENS, MIN_REPLY_TOKENS)


def period_bounds(
    period: str, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """Start and reset time of the period containing `now`, in the server's time zone."""
    if period == Quota.Period.NONE:
        return None, None
    local = timezone.localtime(now or timezone.now())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Quota.Period.DAY:
        return start, start + timedelta(days=1)
    if period == Quota.Period.WEEK:
        start -= timedelta(days=start.weekday())
        return start, start + timedelta(days=7)
    start = start.replace(day=1)
    reset = (start + timedelta(days=32)).replace(day=1)
    return start, reset


def default_quota_values(user: User) -> dict:
    if user.is_staff:
        return {"period": settings.QUOTA_DEFAULT_PERIOD, "cost_limit": None, "token_limit": None}
    return {
        "period": settings.QUOTA_DEFAULT_PERIOD,
        "cost_limit": settings.QUOTA_DEFAULT_COST_LIMIT,
        "token_limit": settings.QUOTA_DEFAULT_TOKEN_LIMIT,
    }


def quota_for(user: User, *, lock: bool = False) -> Quota:
    """The user's quota row (made from the defaults on first use), row-locked if asked."""
    queryset = Quota.objects.select_for_update() if lock else Quota.objects
    quota = queryset.filter(user=user).first()
    if quota is None:
        # Read again after creating: when racing first sends lose the INSERT, get_or_create
        # returns the winner's row unlocked, and they would all be admitted together.
        Quota.objects.get_or_create(user=user, defaults=default_quota_values(user))
        quota = queryset.get(user=user)
    return quota


def make_quota(user: User) -> None:
    """The user's quota from the defaults, unless they have one: one INSERT that a racing
    insert leaves alone (no savepoint, no read: `quota_for` reads)."""
    Quota.objects.bulk_create(
        [Quota(user=user, **default_quota_values(user))], ignore_conflicts=True
    )


def locked_balance(user: User, now: datetime | None = None) -> Balance:
    """The user's balance from their balance row, row-locked until the transaction ends:
    admission's one read (decision 94). Equal to `balance()`, which sums the entries."""
    now = now or timezone.now()
    row = balance_rows.current_row(user, make_quota, period_bounds, now)
    quota = row.quota
    return Balance(
        period=quota.period,
        starts_at=row.starts_at,
        resets_at=row.resets_at,
        cost_limit=quota.cost_limit,
        token_limit=quota.token_limit,
        spent_cost=row.spent_cost,
        spent_tokens=row.spent_tokens,
        held_cost=row.held_cost,
        held_tokens=row.held_tokens,
        granted_cost=-row.grants_cost,
        granted_tokens=-row.grants_tokens,
        replies_running=row.replies_running,
    )


def balance(user: User, quota: Quota | None = None, now: datetime | None = None) -> Balance:
    quota = quota or quota_for(user)
    starts_at, resets_at = period_bounds(quota.period, now)
    sums = balance_rows.period_sums(user.pk, starts_at, None)
    return Balance(
        period=quota.period,
        starts_at=starts_at,
        resets_at=resets_at,
        cost_limit=quota.cost_limit,
        token_limit=quota.token_limit,
        spent_cost=sums["spent_cost"],
        spent_tokens=sums["spent_tokens"],
        held_cost=sums["held_cost"],
        held_tokens=sums["held_tokens"],
        # Grants are stored negative (they take spend off); shown as positive room.
        granted_cost=-sums["grants_cost"],
        granted_tokens=-sums["grants_tokens"],
    )


@dataclass(frozen=True)
class Admission:
    """An admitted upstream call: its anchor in the ledger and the max_tokens it may use."""

    call: UpstreamCall
    max_tokens: int


def admit(
    user: User,
    model: Priced,
    prompt_tokens: int,
    max_tokens: int,
    *,
    source: str,
    message=None,
    input_estimate: int = 0,
    api_key=None,
    current: Balance | None = None,
) -> Admission:
    """Open an upstream call with a hold on its worst case; lower max_tokens to what fits.

    Call inside the transaction that stores what the call is for. The user's balance row is
    locked (select_for_update on PostgreSQL; SQLite's IMMEDIATE transaction already holds the
    write lock), so concurrent calls of one user are admitted one after another and cannot
    overspend together; `current` is that row as this transaction already read it (locked).
    `prompt_tokens` is an upper bound of the whole request (`request_token_bound`);
    `input_estimate` the likely figure, charged when a call that reached the model ends with
    no usage reported; `api_key` the personal key of a gateway call (source "gateway"),
    recorded on the call. The hold records the model's prices: the call is charged at them,
    whatever the catalog says by the time it ends (decision 47).
    """
    allowed = admission_room(user, model, prompt_tokens, max_tokens, current=current)
    return open_call(
        user,
        model,
        prompt_tokens,
        allowed,
        source=source,
        message=message,
        input_estimate=input_estimate,
        api_key=api_key,
    )


def admission_room(
    user: User, model: Priced, prompt_tokens: int, max_tokens: int, *, current=None
) -> int:
    """The max_tokens a call may use, lowered to what the locked balance leaves, or
    QuotaExceeded: admission's check, before `open_call` writes anything."""
    current = current or locked_balance(user)
    room = output_room(current, model, prompt_tokens)
    allowed = max_tokens if room is None else min(max_tokens, room)
    if allowed < min(MIN_REPLY_TOKENS, max_tokens):
        raise QuotaExceeded(current)
    return allowed


def open_call(
    user: User,
    model: Priced,
    prompt_tokens: int,
    allowed: int,
    *,
    source: str,
    message=None,
    input_estimate: int = 0,
    api_key=None,
    batch: WriteBatch | None = None,
) -> Admission:
    """The call and its hold for `allowed` output tokens (from `admission_room`, in the same
    transaction), and the balance row moved by the hold.

    `batch`: writes of the caller's to send with these (an unsaved `message` is inserted in
    it, named "message", and the call and hold name its id)."""
    prices = model.pricing()
    now = timezone.now()
    call = UpstreamCall(
        user=user,
        source=source,
        message=message,
        api_key=api_key,
        model=model.model_id,
        worker=settings.WORKER_ID,
        heartbeat_at=now,
        created_at=now,
        input_estimate=min(input_estimate, prompt_tokens),
    )
    hold = LedgerEntry(
        user=user,
        kind=Kind.HOLD,
        model=model.model_id,
        call=call,
        message=message,
        created_at=now,
        input_tokens=prompt_tokens,
        output_tokens=allowed,
        tokens=prompt_tokens + allowed,
        cost=prices.worst_case_cost(prompt_tokens, allowed),
        prices=prices.snapshot(),
        estimated=True,
    )
    running = balance_rows.counts_as_reply(source)
    moved = {"held": (hold.cost, hold.tokens), "running": running}
    # The call, its hold and the row's move: one statement on PostgreSQL (decision 100).
    batch = batch or WriteBatch()
    unsaved = message is not None and message.pk is None
    of_message = {"message_id": Ref("message")} if unsaved else {}
    batch.insert("call", call, **of_message)
    batch.insert("hold", hold, call_id=Ref("call"), **of_message)
    batch.update(*balance_rows.move_statement(user.pk, now, **moved), name="moved")
    if not batch.run()["moved"]:
        balance_rows.move(user.pk, now, **moved)  # no row yet: made blank, then moved
    return Admission(call, allowed)


def output_room(current: Balance, model: Priced, prompt_tokens: int) -> int | None:
    """The output tokens the balance still covers after a prompt of `prompt_tokens` (negative
    when even the prompt does not fit), or None when no limit applies."""
    prices = model.pricing()
    room = None
    if current.remaining_cost is not None:
        left = current.remaining_cost - prices.worst_case_cost(prompt_tokens, 0)
        per_token = prices.output_price_per_token(prompt_tokens)
        if left < 0:
            room = -1
        elif per_token > 0:
            room = int(left / per_token)
    if current.remaining_tokens is not None:
        by_tokens = current.remaining_tokens - prompt_tokens
        room = by_tokens if room is None else min(room, by_tokens)
    return room


def estimate_tokens(text: str) -> int:
    """A rough token count for text whose usage was never reported (marked estimated)."""
    return math.ceil(len(text) / 3) if text else 0


def estimate_prompt_tokens(request: dict) -> int:
    """The likely prompt tokens of a request, from its text, for a call that ends unreported.

    Three characters a token, as `estimate_tokens`, plus the request overhead; far below the
    admission bound, which counts every byte as a token.
    """
    chars = 0
    system = request.get("system") or ""
    texts = [system] if isinstance(system, str) else [b.get("text", "") for b in system]
    for message in request.get("messages", []):
        content = message.get("content", [])
        if isinstance(content, str):
            texts.append(content)
            continue
        texts.extend(str(b.get("text", "")) for b in content if isinstance(b, dict))
    chars = sum(len(t) for t in texts if isinstance(t, str))
    return math.ceil(chars / 3) + PROMPT_OVERHEAD_TOKENS


def grant(
    user: User,
    *,
    cost: Decimal | None = None,
    tokens: int | None = None,
    reason: str = "",
    by: User | None = None,
) -> LedgerEntry:
    """Give a user more room this period (an entry that takes cost and tokens off)."""
    if (cost or 0) < 0 or (tokens or 0) < 0:
        raise ValueError("a grant gives room; use adjust() to take it")
    with transaction.atomic(savepoint=False):
        entry = LedgerEntry.objects.create(
            user=user,
            kind=Kind.GRANT,
            cost=-(cost or Decimal(0)),
            tokens=-(tokens or 0),
            reason=reason,
            created_by=by,
        )
        amounts = (entry.cost, entry.tokens)
        balance_rows.move(user.pk, entry.created_at, spent=amounts, grants=amounts)
    return entry


def adjust(
    user: User, *, cost: Decimal = Decimal(0), tokens: int = 0, reason: str, by: User | None = None
) -> LedgerEntry:
    """Correct a user's spend by a signed amount (positive adds spend), with a reason."""
    with transaction.atomic(savepoint=False):
        entry = LedgerEntry.objects.create(
            user=user, kind=Kind.ADJUSTMENT, cost=cost, tokens=tokens, reason=reason, created_by=by
        )
        balance_rows.move(user.pk, entry.created_at, spent=(entry.cost, entry.tokens))
    return entry
