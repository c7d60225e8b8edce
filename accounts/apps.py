"""App config for accounts: users, sign-up modes and invites."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from . import live_sessions

        live_sessions.connect_signals()
