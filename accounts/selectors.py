"""Reads of a user's standing that pages show: the quota meter, the user's own API keys."""

from django.db.models import QuerySet

from . import ledger
from .models import ApiKey, User
from .pricing import Priced


def quota_meter(user: User, model: Priced | None) -> dict:
    """The meter's context: this period's balance, and whether it is used up.

    `model` is the one the user would send with: used up means even the shortest message on
    it no longer fits (without one, that no money is left).
    """
    current = ledger.balance(user)
    return {"balance": current, "exhausted": ledger.is_exhausted(current, model)}


def output_tokens_left(user: User, models: list[Priced]) -> dict[str, int | None]:
    """For each model, about how many output tokens the quota covers now after a short
    message (a long conversation leaves fewer); None when no limit applies."""
    current = ledger.balance(user)
    left = {}
    for model in models:
        room = ledger.output_room(current, model, ledger.PROMPT_OVERHEAD_TOKENS)
        left[model.model_id] = None if room is None else max(0, room)
    return left


def api_keys_for(user: User) -> QuerySet[ApiKey]:
    """The user's own keys, newest first: the one scope every key page looks them up in."""
    return ApiKey.objects.filter(user=user).select_related("user")
