"""Template filters for money: the formats of accounts/money.py, by name."""

from django import template

from accounts import money

register = template.Library()
register.filter("usd", money.usd)
register.filter("usd_exact", money.usd_exact)
