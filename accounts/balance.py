"""A user's standing in the current period, as the ledger's sums give it (a value, no queries)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Balance:
    """A user's standing in the current period, computed from ledger entries.

    `spent_*` is the ledger's net sum (charges, adjustments and grants, which are negative);
    admission and `remaining_*` use it. `granted_*` is the grants' part of it, as a positive
    amount, so pages can show a grant as a higher allowance rather than negative spend
    (display only: decision 15's rule is unchanged, decision 76).
    """

    period: str
    starts_at: datetime | None
    resets_at: datetime | None
    cost_limit: Decimal | None
    token_limit: int | None
    spent_cost: Decimal
    spent_tokens: int
    held_cost: Decimal
    held_tokens: int
    granted_cost: Decimal = Decimal(0)
    granted_tokens: int = 0
    # Running calls but titles, when read from the balance row (admission's read); else None.
    replies_running: int | None = field(default=None, compare=False)

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
    def used_cost(self) -> Decimal:
        """What the period's charges and adjustments add up to, grants left out."""
        return self.spent_cost + self.granted_cost

    @property
    def used_tokens(self) -> int:
        return self.spent_tokens + self.granted_tokens

    @property
    def allowance_cost(self) -> Decimal | None:
        """The cost limit plus this period's grants: what the period allows in all."""
        return None if self.cost_limit is None else self.cost_limit + self.granted_cost

    @property
    def allowance_tokens(self) -> int | None:
        return None if self.token_limit is None else self.token_limit + self.granted_tokens

    @property
    def used_fraction(self) -> float:
        """How much of the tighter allowance is used, 0..1 (0 when unlimited)."""
        fractions = [0.0]
        cost, tokens = self.allowance_cost, self.allowance_tokens
        if cost:
            fractions.append(float((self.used_cost + self.held_cost) / cost))
        elif cost is not None:
            fractions.append(1.0)
        if tokens:
            fractions.append((self.used_tokens + self.held_tokens) / tokens)
        elif tokens is not None:
            fractions.append(1.0)
        return min(1.0, max(fractions))
