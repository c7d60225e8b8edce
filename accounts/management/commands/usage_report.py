"""`manage.py usage_report [--user U] [--since YYYY-MM-DD] [--until YYYY-MM-DD]`: CSV to stdout."""

from argparse import ArgumentParser
from datetime import date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.reports import EARLIEST_DAY, LATEST_DAY, is_report_day, usage_rows, write_csv


def parse_day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(
            _("%(option)s must be a date written YYYY-MM-DD, not “%(value)s”.")
            % {"option": option, "value": value}
        ) from None
    if not is_report_day(day):
        raise CommandError(
            _("%(option)s must be a date from %(earliest)s to %(latest)s, not “%(value)s”.")
            % {
                "option": option,
                "earliest": EARLIEST_DAY.isoformat(),
                "latest": LATEST_DAY.isoformat(),
                "value": value,
            }
        )
    return day


class Command(BaseCommand):
    @property
    def help(self) -> str:  # argparse needs a real str, not a lazy one
        return _(
            "Print usage (charges only) as CSV, one row per user and model. "
            "Dates are inclusive, in the server's time zone."
        )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--user", metavar="U", help=_("Only this username."))
        parser.add_argument("--since", metavar="YYYY-MM-DD", help=_("First day included."))
        parser.add_argument("--until", metavar="YYYY-MM-DD", help=_("Last day included."))

    def handle(self, *args: Any, **options: Any) -> None:
        since = parse_day("--since", options["since"])
        until = parse_day("--until", options["until"])
        if since and until and since > until:
            raise CommandError(_("--since must not be after --until."))
        username = options["user"]
        if username is not None and not User.objects.filter(username=username).exists():
            raise CommandError(_("No user named “%s”.") % username)
        rows = usage_rows(user=username, since=since, until=until, by=("user", "model"))
        write_csv(rows, self.stdout)
