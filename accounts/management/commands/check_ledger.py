"""`manage.py check_ledger [--grace SECONDS]`: prove the ledger consistent, or list what is not."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.ledger_check import problems


class Command(BaseCommand):
    @property
    def help(self) -> str:  # argparse needs a real str, not a lazy one
        return _(
            "Check the ledger: every hold released exactly once, no hold open without a live "
            "call, every charge equal to its usage at its recorded prices."
        )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--grace",
            type=float,
            metavar="SECONDS",
            help=_("How old a running call's heartbeat may be (default STREAM_HEARTBEAT_TIMEOUT)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        found = problems(options["grace"])
        for line in found:
            self.stderr.write(line)
        if found:
            raise CommandError(
                _("The ledger has %(count)d problems.") % {"count": len(found)}, returncode=1
            )
        self.stdout.write(_("The ledger is consistent."))
