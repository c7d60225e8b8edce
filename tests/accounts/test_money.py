"""Every US dollar amount is formatted by accounts/money.py: what each format shows."""

from decimal import Decimal

from accounts.money import decimal_text, usd, usd_exact, usd_to_hundredth_cent


def test_people_see_cents_and_a_small_amount_is_not_zero():
    assert usd(Decimal("1234.5")) == "$1,234.50"
    assert usd(Decimal("0.00421")) == "$0.0042"
    assert usd(Decimal("0.00001")) == "<$0.0001"
    assert usd(None) == ""


def test_exact_amounts_keep_every_digit_and_no_exponent():
    assert decimal_text(Decimal("0.0000001000")) == "0.0000001"
    assert decimal_text(Decimal("10.00")) == "10"
    assert usd_exact(Decimal("123.456700")) == "$123.4567"


def test_the_admin_shows_fractions_of_a_cent_only_when_there_are_some():
    assert usd_to_hundredth_cent(Decimal("777")) == "$777.00"
    assert usd_to_hundredth_cent(Decimal("123.4567")) == "$123.4567"


def test_the_admin_never_shows_a_tiny_spend_as_zero():
    # A ten-token call on a cheap model costs a thousandth of a cent.
    assert usd_to_hundredth_cent(Decimal("0.00001")) == "<$0.0001"
    assert usd_to_hundredth_cent(Decimal("0.0042")) == "$0.0042"
    assert usd_to_hundredth_cent(Decimal("0")) == "$0.00"


def test_a_negative_amount_puts_its_sign_before_the_dollar():
    assert usd(Decimal("-0.05")) == "-$0.05"
    assert usd(Decimal("-1234.5")) == "-$1,234.50"
    assert usd_exact(Decimal("-0.05")) == "-$0.05"
    assert usd_to_hundredth_cent(Decimal("-5")) == "-$5.00"
