"""Template filters for money: US dollars shown to people, never floats."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()
CENT = Decimal("0.01")


@register.filter
def usd(value: Decimal | None) -> str:
    """$1.23; amounts under a cent show as <$0.01 rather than $0.00."""
    if value is None:
        return ""
    value = Decimal(value)
    if Decimal(0) < value < CENT:
        return "<$0.01"
    return f"${value.quantize(CENT, rounding=ROUND_HALF_UP):,}"


@register.filter
def usd_exact(value: Decimal | None) -> str:
    """The exact amount the ledger holds, trailing zeros trimmed (for tables of charges)."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return f"${text}"
