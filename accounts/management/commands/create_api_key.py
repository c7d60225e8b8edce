"""`manage.py create_api_key USERNAME [--name] [--expires YYYY-MM-DD] [--envelope]`: print a key."""

from datetime import date, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.api_keys import TooManyKeys, create_key, end_of_day
from accounts.models import User


def _end_of(day: str) -> datetime:
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise CommandError(f"--expires: {day!r} is not a date (YYYY-MM-DD).") from None
    return end_of_day(parsed)


class Command(BaseCommand):
    help = "Create a personal API key for the team gateway and print it, alone, on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="API key", help="a label for the key")
        parser.add_argument("--expires", help="last day the key works (YYYY-MM-DD)")
        parser.add_argument(
            "--envelope",
            action="store_true",
            help='wrap non-streaming replies and errors as {"code": STATUS, "data": {...}}',
        )

    def handle(self, *args, **options) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"User {user.username!r} is deactivated: a key would not work.")
        expires = _end_of(options["expires"]) if options["expires"] else None
        if expires is not None and expires <= timezone.now():
            raise CommandError("--expires is in the past.")
        try:
            _, raw = create_key(
                user,
                options["name"],
                expires_at=expires,
                envelope=options["envelope"],
                by="manage.py create_api_key",
            )
        except TooManyKeys as exc:
            raise CommandError(
                f"User {user.username!r} already has {exc.limit} active API keys (the most "
                "API_KEYS_PER_USER allows): revoke one first."
            ) from None
        self.stdout.write(raw)
