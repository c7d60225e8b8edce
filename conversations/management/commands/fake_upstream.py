"""`manage.py fake_upstream`: run the fake Anthropic Messages API in the foreground."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from conversations.fake_upstream.command import add_cli_arguments, run


class Command(BaseCommand):
    help = "Serve a fake Anthropic Messages API (scripted replies, faults) for tests and demos."
    # It serves no Django code, so it should start even while the project fails its checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_cli_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        run(
            options["host"],
            options["port"],
            options["ttft_ms"],
            options["token_delay_ms"],
            api_key=options["api_key"],
            verbose=options["verbose"],
        )
