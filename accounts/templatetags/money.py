"""Template filters for money: US dollars shown to people, never floats."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()
CENT = Decimal("0.01")
TENTH_CENT = Decimal("0.001")


@register.filter
def usd(value: Decimal | None) -> str:
    """$1.23, or $0.0042 under a cent (small budgets must not read as $0.00)."""
    if value is None:
        return ""
    value = Decimal(value)
    if Decimal(0) < abs(value) < CENT:
        if abs(value) < TENTH_CENT / 10:
            return "<$0.0001"
        return f"${value.quantize(TENTH_CENT / 10, rounding=ROUND_HALF_UP)}"
    return f"${value.quantize(CENT, rounding=ROUND_HALF_UP):,}"


@register.filter
def usd_exact(value: Decimal | None) -> str:
    """The exact amount the ledger holds, trailing zeros trimmed (for tables of charges)."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return f"${text}"
