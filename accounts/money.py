"""US dollar amounts as people and files read them: every money format of the app is here."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDREDTH_CENT = Decimal("0.0001")


def decimal_text(value: Decimal) -> str:
    """The exact amount as plain decimal text, trailing zeros trimmed: never a float, never
    "1E-7" notation (CSV cells, command output, chart widths)."""
    return format(Decimal(value).normalize(), "f")


def _signed(value: Decimal, text: str) -> str:
    """The sign before the dollar: -$0.05, not $-0.05 (a grant, a correction)."""
    return f"-${text}" if value < 0 else f"${text}"


def usd(value: Decimal | None) -> str:
    """$1.23, or $0.0042 under a cent (small budgets must not read as $0.00)."""
    if value is None:
        return ""
    value = Decimal(value)
    size = abs(value)
    if Decimal(0) < size < CENT:
        if size < HUNDREDTH_CENT:
            return "<$0.0001" if value > 0 else ">-$0.0001"
        return _signed(value, f"{size.quantize(HUNDREDTH_CENT, rounding=ROUND_HALF_UP)}")
    return _signed(value, f"{size.quantize(CENT, rounding=ROUND_HALF_UP):,}")


def usd_exact(value: Decimal | None) -> str:
    """The exact amount the ledger holds, trailing zeros trimmed (for tables of charges)."""
    if value is None:
        return ""
    return _signed(Decimal(value), decimal_text(abs(Decimal(value))))


def usd_to_hundredth_cent(value: Decimal) -> str:
    """Whole cents, or four places when the amount has fractions of a cent ($1,234.50,
    $123.4567): limits and balances in the admin, where a rounded spend would mislead. Under
    a hundredth of a cent it says so rather than show $0.0000."""
    size = abs(value)
    if Decimal(0) < size < HUNDREDTH_CENT:
        return "<$0.0001" if value > 0 else ">-$0.0001"
    places = 2 if value == value.quantize(CENT) else 4
    return _signed(value, f"{size:,.{places}f}")
