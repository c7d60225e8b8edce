"""What a call costs: prices per million tokens applied to usage, the one home of that arithmetic.

Plain values only, no Django: the catalog builds a `PriceList` from its fields, a hold records
one as a snapshot, and the ledger prices a charge from that snapshot.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

MILLION = Decimal(1_000_000)
PRICE_FIELDS = ("input", "output", "cache_write", "cache_read")
# The usage field each price applies to.
PRICED_FIELD = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_write": "cache_creation_input_tokens",
    "cache_read": "cache_read_input_tokens",
}
# A snapshot names each price as the catalog's fields do, so a catalog entry and the snapshot
# a hold recorded of it read back as the same prices.
SNAPSHOT_FIELDS = (
    *(f"price_{f}" for f in PRICE_FIELDS),
    *(f"long_price_{f}" for f in PRICE_FIELDS),
    "long_prompt_threshold",
)


def prompt_tokens_of(usage: Mapping[str, int]) -> int:
    """The prompt's size as billed: input plus cache writes and reads."""
    return sum(usage.get(PRICED_FIELD[f], 0) for f in ("input", "cache_write", "cache_read"))


def cost_at(usage: Mapping[str, int], rates: Mapping[str, Decimal | str]) -> Decimal:
    """What `usage` costs at `rates` (dollars per million tokens, one per PRICE_FIELDS)."""
    total = sum(
        (
            usage.get(token_field, 0) * Decimal(rates[price])
            for price, token_field in PRICED_FIELD.items()
        ),
        Decimal(0),
    )
    return total / MILLION


def caching_saved(usage: Mapping[str, int], rates: Mapping[str, Decimal | str]) -> Decimal:
    """What prompt caching saved on one call: its cache reads at the input price less what they
    cost, less the writes' surcharge over the input price (negative for writes never read)."""
    rate = {f: Decimal(rates.get(f) or 0) for f in ("input", "cache_write", "cache_read")}
    read = usage.get(PRICED_FIELD["cache_read"], 0) * (rate["input"] - rate["cache_read"])
    written = usage.get(PRICED_FIELD["cache_write"], 0) * (rate["cache_write"] - rate["input"])
    return (read - written) / MILLION


def _decimal(value: object, default: Decimal | None = None) -> Decimal | None:
    return default if value is None else Decimal(str(value))


@dataclass(frozen=True)
class PriceList:
    """A model's prices per million tokens, with the long-prompt tier some models have."""

    base: Mapping[str, Decimal]
    long_prompt_threshold: int | None = None
    long: Mapping[str, Decimal | None] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, object]) -> "PriceList":
        """Prices named as in SNAPSHOT_FIELDS (Decimals or strings); a missing price is 0."""
        threshold = snapshot.get("long_prompt_threshold")
        return cls(
            base={f: _decimal(snapshot.get(f"price_{f}"), Decimal(0)) for f in PRICE_FIELDS},
            long_prompt_threshold=None if threshold is None else int(threshold),
            long={f: _decimal(snapshot.get(f"long_price_{f}")) for f in PRICE_FIELDS},
        )

    def snapshot(self) -> dict[str, str | None]:
        """Every price and the threshold as strings, for a hold to record and price from later."""
        values: dict[str, object] = {f"price_{f}": self.base[f] for f in PRICE_FIELDS}
        values |= {f"long_price_{f}": self.long.get(f) for f in PRICE_FIELDS}
        values["long_prompt_threshold"] = self.long_prompt_threshold
        return {k: None if v is None else str(v) for k, v in values.items()}

    def rates(self, prompt_tokens: int = 0) -> dict[str, Decimal]:
        """The prices that apply to a request whose prompt has `prompt_tokens` tokens."""
        threshold = self.long_prompt_threshold
        if threshold is not None and prompt_tokens > threshold:
            # Every token of such a request is billed at the tier; a price left blank keeps
            # the base one.
            return {f: self.long.get(f) or self.base[f] for f in PRICE_FIELDS}
        return dict(self.base)

    def cost(self, usage: Mapping[str, int]) -> tuple[Decimal, dict[str, str]]:
        """The exact cost of a call's usage, and the rates it used (the charge records them)."""
        rates = self.rates(prompt_tokens_of(usage))
        return cost_at(usage, rates), {k: str(v) for k, v in rates.items()}

    def worst_case_cost(self, prompt_tokens: int, max_tokens: int) -> Decimal:
        """An upper bound for a request: the prompt at the dearest input rate, full output."""
        rates = self.rates(prompt_tokens)
        prompt_rate = max(rates["input"], rates["cache_write"], rates["cache_read"])
        return (prompt_tokens * prompt_rate + max_tokens * rates["output"]) / MILLION

    def output_price_per_token(self, prompt_tokens: int) -> Decimal:
        return self.rates(prompt_tokens)["output"] / MILLION


class Priced(Protocol):
    """What the ledger needs of a model: its API id and its prices (a catalog entry has both)."""

    model_id: str

    def pricing(self) -> PriceList: ...
