"""Sign-in brute-force throttle: failed sign-ins counted per account and per client address.

Used by the app's and the admin's login forms (accounts/forms.py). Once either count reaches
its limit, further attempts are refused before any password is checked, until the window ends
or an admin runs `manage.py reset_login_throttle`.
"""

from django.conf import settings
from django.http import HttpRequest

from . import limits


def account_key(username: str) -> str:
    # Case-folded: a backend or database that matches usernames without case must not
    # give an attacker a fresh count per spelling.
    return "login:account:" + username.casefold()


def address_key(address: str) -> str:
    return "login:address:" + address


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the last address in CLIENT_ADDRESS_HEADER when a trusted proxy sets it.

    The last one: a proxy appends the address it saw (X-Forwarded-For); what comes before it
    was written by the client and proves nothing.
    """
    header = settings.CLIENT_ADDRESS_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        last = value.rsplit(",", 1)[-1].strip()
        if last:
            return last[:100]
    return request.META.get("REMOTE_ADDR", "")[:100] or "unknown"


def _limits(username: str, address: str) -> list[tuple[str, int]]:
    checks = []
    if username and settings.LOGIN_FAILURES_PER_ACCOUNT:
        checks.append((account_key(username), settings.LOGIN_FAILURES_PER_ACCOUNT))
    if settings.LOGIN_FAILURES_PER_ADDRESS:
        checks.append((address_key(address), settings.LOGIN_FAILURES_PER_ADDRESS))
    return checks


def locked_out(username: str, address: str) -> float | None:
    """Seconds until this account or address may try again, or None if it may now."""
    waits = [limits.peek(key, limit) for key, limit in _limits(username, address)]
    return max((w for w in waits if w is not None), default=None)


def record_failure(username: str, address: str) -> None:
    for key, limit in _limits(username, address):
        limits.hit(key, limit, settings.LOGIN_FAILURE_WINDOW)


def record_success(username: str) -> None:
    """The account's failures are forgotten; the address's are not (an attacker with an
    account of their own could otherwise clear their count between guesses)."""
    if settings.LOGIN_FAILURES_PER_ACCOUNT:
        limits.reset(account_key(username))


def reset(target: str) -> None:
    """Lift the lock-out of a username or an address (both are tried: a name may be either)."""
    limits.reset(account_key(target))
    limits.reset(address_key(target))
