"""Reads of a user's standing that pages of other apps show: the quota meter."""

from . import ledger
from .models import User
from .pricing import Priced


def quota_meter(user: User, model: Priced | None) -> dict:
    """The meter's context: this period's balance, and whether it is used up.

    `model` is the one the user would send with: used up means even the shortest message on
    it no longer fits (without one, that no money is left).
    """
    current = ledger.balance(user)
    return {"balance": current, "exhausted": ledger.is_exhausted(current, model)}
