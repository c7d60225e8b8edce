"""manage.py reset_login_throttle USERNAME|ADDRESS: lift a sign-in lock-out before it expires."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import login_throttle


class Command(BaseCommand):
    help = gettext_lazy(
        "Forget the failed sign-ins of a username or a client address (lifts its lock-out)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("target", nargs="+", help=_("a username or a client IP address"))

    def handle(self, *args, target: list[str], **options) -> None:
        for name in target:
            login_throttle.reset(name)
            self.stdout.write(_("Reset the sign-in throttle of %(target)s.") % {"target": name})
