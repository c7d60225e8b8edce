"""`manage.py set_quota USERNAME [--cost-limit USD|none] [--token-limit N|none] [--period P]`."""

from argparse import ArgumentParser
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.models import Quota, User
from accounts.money import decimal_text
from accounts.services import change_quota

NONE = "none"
# The column's bounds: DecimalField(max_digits=14, decimal_places=4), PositiveBigIntegerField.
COST_PLACES = Decimal("0.0001")
MAX_COST = Decimal(10) ** 10
MAX_TOKENS = 2**63 - 1


def parse_cost_limit(value: str) -> Decimal | None:
    if value.strip().lower() == NONE:
        return None
    try:
        cost = Decimal(value.strip())
    except InvalidOperation:
        cost = None
    if cost is None or not cost.is_finite():
        raise CommandError(
            _("--cost-limit must be an amount in US dollars (such as 2.50) or “none”, not “%s”.")
            % value
        )
    if cost < 0:
        raise CommandError(_("--cost-limit cannot be negative (got %s).") % value)
    if cost >= MAX_COST or cost != cost.quantize(COST_PLACES):
        raise CommandError(
            _("--cost-limit must be below 10000000000 with at most 4 decimal places (got %s).")
            % value
        )
    return cost


def parse_token_limit(value: str) -> int | None:
    if value.strip().lower() == NONE:
        return None
    try:
        tokens = int(value.strip())
    except ValueError:
        raise CommandError(
            _("--token-limit must be a whole number of tokens or “none”, not “%s”.") % value
        ) from None
    if tokens < 0:
        raise CommandError(_("--token-limit cannot be negative (got %s).") % value)
    if tokens > MAX_TOKENS:
        raise CommandError(_("--token-limit is too large (got %s).") % value)
    return tokens


def describe(quota: Quota) -> str:
    """One line: who, the cost limit, the token limit and the period."""
    unlimited = _("unlimited")
    cost = unlimited if quota.cost_limit is None else _("%s USD") % decimal_text(quota.cost_limit)
    tokens = unlimited if quota.token_limit is None else str(quota.token_limit)
    line = _("Quota for %(user)s: cost limit %(cost)s, token limit %(tokens)s, period %(period)s.")
    return line % {
        "user": quota.user.get_username(),
        "cost": cost,
        "tokens": tokens,
        "period": quota.period,
    }


class Command(BaseCommand):
    @property
    def help(self) -> str:  # argparse needs a real str, not a lazy one
        return _(
            "Change a user's quota: only the options given change; “none” removes a limit. "
            "Admission reads the quota on every send, so the change applies to the next message."
        )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username", metavar="USERNAME")
        parser.add_argument(
            "--cost-limit", metavar="USD|none", help=_("Cost limit in US dollars, or none.")
        )
        parser.add_argument(
            "--token-limit", metavar="N|none", help=_("Token limit per period, or none.")
        )
        parser.add_argument(
            "--period",
            choices=list(Quota.Period.values),
            help=_("When the limits reset: day, week, month or none (never)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        changes: dict[str, Any] = {}
        # Parse everything first, so a bad option changes nothing.
        if options["cost_limit"] is not None:
            changes["cost_limit"] = parse_cost_limit(options["cost_limit"])
        if options["token_limit"] is not None:
            changes["token_limit"] = parse_token_limit(options["token_limit"])
        if options["period"] is not None:
            changes["period"] = options["period"]
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(_("No user named “%s”.") % options["username"])
        # No account acts here: the audit trail names the command instead.
        quota = change_quota(user, by="manage.py set_quota", **changes)
        self.stdout.write(describe(quota))
