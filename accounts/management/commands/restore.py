"""`manage.py restore BACKUP`: put a backup's database (and generated key) in place."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.backups import BackupError, restore


class Command(BaseCommand):
    @property
    def help(self) -> str:  # argparse needs a real str, not a lazy one
        return _(
            "Replace the configured database, and the generated secret key if the backup holds "
            "one, with those of a backup made by `manage.py backup`. Stop every worker first; "
            "run `manage.py migrate` and `manage.py check_ledger` after."
        )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("backup", type=Path, help=_("A chatsite-<UTC time> directory."))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            restored = restore(options["backup"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        for line in restored:
            self.stdout.write(_("Restored %s.") % line)
