"""`manage.py backup DIRECTORY`: a new dated backup of the database and the generated key."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.backups import BackupError, backup


class Command(BaseCommand):
    @property
    def help(self) -> str:  # argparse needs a real str, not a lazy one
        return _(
            "Back up the database (SQLite's online backup, or pg_dump) and the generated secret "
            "key into a new directory chatsite-<UTC time> (mode 0700) under DIRECTORY; print "
            "its path."
        )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("directory", type=Path, help=_("Where backups are kept."))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            made = backup(options["directory"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(made))
