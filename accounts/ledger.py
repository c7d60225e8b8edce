"""Ledger actions: admit a request under the quota, settle it into a charge, grant, adjust."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from conversations.models import CatalogModel

from .models import LedgerEntry, Quota, User

Kind = LedgerEntry.Kind
# A reply shorter than this is not worth sending: below it the quota counts as exhausted.
MIN_REPLY_TOKENS = 16
# Role markers, the request frame and hidden system text the API adds to every prompt.
PROMPT_OVERHEAD_TOKENS = 64
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class QuotaExceeded(Exception):
    """The request does not fit what is left of the user's quota this period."""

    def __init__(self, balance: "Balance") -> None:
        super().__init__("quota exceeded")
        self.balance = balance


@dataclass(frozen=True)
class Balance:
    """A user's standing in the current period, computed from ledger entries."""

    period: str
    starts_at: datetime | None
    resets_at: datetime | None
    cost_limit: Decimal | None
    token_limit: int | None
    spent_cost: Decimal
    spent_tokens: int
    held_cost: Decimal
    held_tokens: int

    @property
    def unlimited(self) -> bool:
        return self.cost_limit is None and self.token_limit is None

    @property
    def remaining_cost(self) -> Decimal | None:
        if self.cost_limit is None:
            return None
        return max(Decimal(0), self.cost_limit - self.spent_cost - self.held_cost)

    @property
    def remaining_tokens(self) -> int | None:
        if self.token_limit is None:
            return None
        return max(0, self.token_limit - self.spent_tokens - self.held_tokens)

    @property
    def used_fraction(self) -> float:
        """How much of the tighter limit is used, 0..1 (0 when unlimited)."""
        fractions = [0.0]
        if self.cost_limit:
            fractions.append(float((self.spent_cost + self.held_cost) / self.cost_limit))
        elif self.cost_limit == 0:
            fractions.append(1.0)
        if self.token_limit:
            fractions.append((self.spent_tokens + self.held_tokens) / self.token_limit)
        elif self.token_limit == 0:
            fractions.append(1.0)
        return min(1.0, max(fractions))


def is_exhausted(current: Balance, model=None) -> bool:
    """Nothing useful can be sent any more this period (with `model`, the shortest message)."""
    cost, tokens = current.remaining_cost, current.remaining_tokens
    smallest = PROMPT_OVERHEAD_TOKENS + MIN_REPLY_TOKENS
    if tokens is not None and tokens < smallest:
        return True
    if cost is None:
        return False
    if model is None:
        return cost <= 0
    return cost < model.worst_case_cost(PROMPT_OVERHEAD_TOKENS, MIN_REPLY_TOKENS)


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


def balance(user: User, quota: Quota | None = None, now: datetime | None = None) -> Balance:
    quota = quota or quota_for(user)
    starts_at, resets_at = period_bounds(quota.period, now)
    spent_q = Q(kind__in=[Kind.CHARGE, Kind.GRANT, Kind.ADJUSTMENT])
    if starts_at is not None:
        spent_q &= Q(created_at__gte=starts_at)
    # Only holds are ever settled, so the join to their settlements adds no row to the sums.
    held_q = Q(kind=Kind.HOLD, settled_by__isnull=True)
    sums = (
        LedgerEntry.objects.filter(user=user)
        .filter(spent_q | held_q)
        .aggregate(
            spent_cost=Sum("cost", filter=spent_q),
            spent_tokens=Sum("tokens", filter=spent_q),
            held_cost=Sum("cost", filter=held_q),
            held_tokens=Sum("tokens", filter=held_q),
        )
    )
    return Balance(
        period=quota.period,
        starts_at=starts_at,
        resets_at=resets_at,
        cost_limit=quota.cost_limit,
        token_limit=quota.token_limit,
        spent_cost=sums["spent_cost"] or Decimal(0),
        spent_tokens=sums["spent_tokens"] or 0,
        held_cost=sums["held_cost"] or Decimal(0),
        held_tokens=sums["held_tokens"] or 0,
    )


def prompt_token_bound(request: dict) -> int:
    """An upper bound on a request's prompt tokens: a token is never shorter than one byte."""
    size = len(str(request.get("system", "")).encode())
    for message in request.get("messages", []):
        for block in message.get("content", []):
            size += len(str(block.get("text", "")).encode()) + 8
    return size + PROMPT_OVERHEAD_TOKENS


def admit(user: User, message, model, prompt_tokens: int, max_tokens: int) -> int:
    """Place a hold for a reply and return the max_tokens it may use.

    Call inside the send transaction. The quota row is locked (select_for_update on
    PostgreSQL; SQLite's IMMEDIATE transaction already holds the write lock), so concurrent
    sends of one user are admitted one after another and cannot overspend together.
    """
    quota = quota_for(user, lock=True)
    current = balance(user, quota)
    allowed = max_tokens
    if current.remaining_cost is not None:
        prompt_cost = model.worst_case_cost(prompt_tokens, 0)
        per_token = model.output_price_per_token(prompt_tokens)
        left = current.remaining_cost - prompt_cost
        if left < 0:
            raise QuotaExceeded(current)
        if per_token > 0:
            allowed = min(allowed, int(left / per_token))
    if current.remaining_tokens is not None:
        allowed = min(allowed, current.remaining_tokens - prompt_tokens)
    if allowed < min(MIN_REPLY_TOKENS, max_tokens):
        raise QuotaExceeded(current)
    LedgerEntry.objects.create(
        user=user,
        kind=Kind.HOLD,
        model=model.model_id,
        message=message,
        input_tokens=prompt_tokens,
        output_tokens=allowed,
        tokens=prompt_tokens + allowed,
        cost=model.worst_case_cost(prompt_tokens, allowed),
        prices=model.price_list(),  # so the reply can be priced even if the model goes
        estimated=True,
    )
    return allowed


def estimate_tokens(text: str) -> int:
    """A rough token count for text whose usage was never reported (marked estimated)."""
    return math.ceil(len(text) / 3) if text else 0


def settlement_usage(reported: dict, text: str, complete: bool) -> tuple[dict, bool]:
    """The usage to charge: the reported figures, or an estimate where the stream ended early."""
    usage = {field: int(reported.get(field) or 0) for field in USAGE_FIELDS}
    if complete or (not text and not any(usage.values())):
        return usage, False  # exact, or nothing reached the model
    usage["output_tokens"] = max(usage["output_tokens"], estimate_tokens(text))
    return usage, True


def settle(message, model, usage: dict, *, estimated: bool) -> LedgerEntry | None:
    """Close a reply's hold and charge its usage, once; None if it was settled already."""
    hold = LedgerEntry.objects.filter(kind=Kind.HOLD, message=message).first()
    if hold is None:
        return None
    user_id = hold.user_id
    if model is None and hold.prices:
        # Removed from the catalog mid-reply: charge at the prices it was admitted at.
        model = CatalogModel.from_price_list(hold.model, hold.prices)
    if model is None:
        cost, prices = Decimal(0), {}
    else:
        cost, prices = model.cost(usage)
    try:
        with transaction.atomic():
            LedgerEntry.objects.create(
                user_id=user_id,
                kind=Kind.RELEASE,
                model=hold.model,
                message=message,
                hold=hold,
                tokens=-hold.tokens,
                cost=-hold.cost,
            )
            return LedgerEntry.objects.create(
                user_id=user_id,
                kind=Kind.CHARGE,
                model=hold.model,
                message=message,
                hold=hold,
                tokens=sum(usage.get(f, 0) for f in USAGE_FIELDS),
                cost=cost,
                prices=prices,
                estimated=estimated,
                **{f: usage.get(f, 0) for f in USAGE_FIELDS},
            )
    except IntegrityError:
        return None  # another process settled it first


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
    return LedgerEntry.objects.create(
        user=user,
        kind=Kind.GRANT,
        cost=-(cost or Decimal(0)),
        tokens=-(tokens or 0),
        reason=reason,
        created_by=by,
    )


def adjust(
    user: User, *, cost: Decimal = Decimal(0), tokens: int = 0, reason: str, by: User | None = None
) -> LedgerEntry:
    """Correct a user's spend by a signed amount (positive adds spend), with a reason."""
    return LedgerEntry.objects.create(
        user=user, kind=Kind.ADJUSTMENT, cost=cost, tokens=tokens, reason=reason, created_by=by
    )
