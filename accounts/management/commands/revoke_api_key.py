"""`manage.py revoke_api_key PREFIX`: stop a personal API key at once."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.api_keys import find_by_prefix, revoke


class Command(BaseCommand):
    help = "Revoke a personal API key by its shown prefix (chatsite_…)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args, **options) -> None:
        key = find_by_prefix(options["prefix"])
        if key is None:
            raise CommandError(f"No API key with the prefix {options['prefix']!r}.")
        if revoke(key, by="manage.py revoke_api_key"):
            self.stdout.write(f"Revoked {key.prefix} ({key.name}) of {key.user.username}.")
        else:
            self.stdout.write(f"{key.prefix} was already revoked.")
