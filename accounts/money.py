"""US dollar amounts as people and files read them: every money format of the app is here."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDREDTH_CENT = Decimal("0.0001")


def decimal_text(value: Decimal) -> str:
    """The exact amount as plain decimal text, trailing zeros trimmed: never a float, never
    "1E-7" notation (CSV cells, command output, chart widths)."""
    return format(Decimal(value).normalize(), "f")


def usd(value: Decimal | None) -> str:
    """$1.23, or $0.0042 under a cent (small budgets must not read as $0.00)."""
    if value is None:
        return ""
    value = Decimal(value)
    if Decimal(0) < abs(value) < CENT:
        if abs(value) < HUNDREDTH_CENT:
            return "<$0.0001"
        return f"${value.quantize(HUNDREDTH_CENT, rounding=ROUND_HALF_UP)}"
    return f"${value.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def usd_exact(value: Decimal | None) -> str:
    """The exact amount the ledger holds, trailing zeros trimmed (for tables of charges)."""
    if value is None:
        return ""
    return f"${decimal_text(value)}"


def usd_to_hundredth_cent(value: Decimal) -> str:
    """Whole cents, or four places when the amount has fractions of a cent ($1,234.50,
    $123.4567): limits and balances in the admin, where a rounded spend would mislead."""
    places = 2 if value == value.quantize(CENT) else 4
    return f"${value:,.{places}f}"
