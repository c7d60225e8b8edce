"""`manage.py purge_attachments`: delete uploads never sent, and then their unreferenced files."""

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from conversations.attachments import purge_unsent


class Command(BaseCommand):
    help = (
        "Delete attachments uploaded but never sent, older than ATTACHMENT_UNSENT_HOURS "
        "(default 24), and the stored files no attachment names any more. Safe to run from cron."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=None,
            help="Age in hours past which an unsent upload is deleted "
            "(default: ATTACHMENT_UNSENT_HOURS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hours = options["hours"]
        if hours is None:
            hours = settings.ATTACHMENT_UNSENT_HOURS
        if hours < 0:
            raise CommandError("--hours must not be negative.")
        count = purge_unsent(timedelta(hours=hours))
        self.stdout.write(f"Deleted {count} unsent attachment(s).")
