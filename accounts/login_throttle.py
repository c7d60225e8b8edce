"""Sign-in brute-force throttle: attempts counted per account and address, account, and address.

Used by the app's and the admin's login forms (accounts/forms.py). Every attempt is counted
before its password is checked and given back when the password was right; once a count
passes its limit, attempts are refused without checking the password, until the window ends or
an admin runs `manage.py reset_login_throttle`.
"""

import hashlib
import ipaddress

from django.conf import settings
from django.http import HttpRequest

from . import limits


def account_key(username: str) -> str:
    # Case-folded: a backend or database that matches usernames without case must not
    # give an attacker a fresh count per spelling.
    return "login:account:" + username.casefold()


def address_key(address: str) -> str:
    return "login:address:" + counted_address(address)


def counted_address(address: str) -> str:
    """The address as the throttle counts it: an IPv6 address by its /64.

    One IPv6 subscriber is routed a whole /64 (and often more): counting each address would
    give an attacker 2^64 fresh counts. IPv4 addresses count one by one.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 client
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


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
    """The counts one attempt adds to, with their limits: this account from this address,
    this account from anywhere (a looser limit, against guesses spread over many addresses),
    and this address whatever the account."""
    checks = []
    per_account = settings.LOGIN_FAILURES_PER_ACCOUNT
    if username and per_account:
        checks.append((pair_key(username, address), per_account))
        total = settings.LOGIN_FAILURES_PER_ACCOUNT_TOTAL
        if total:
            checks.append((account_key(username), total))
    if settings.LOGIN_FAILURES_PER_ADDRESS:
        checks.append((address_key(address), settings.LOGIN_FAILURES_PER_ADDRESS))
    return checks


def pair_key(username: str, address: str) -> str:
    # The account first, hashed to a fixed length, so that its keys share a short prefix.
    return pair_prefix(username) + counted_address(address)


def pair_prefix(username: str) -> str:
    digest = hashlib.sha256(username.casefold().encode()).hexdigest()[:24]
    return f"login:pair:{digest}:"


def begin_attempt(username: str, address: str) -> float | None:
    """Count an attempt before its password is checked; the seconds to wait if it is refused.

    Counted first, so parallel guesses cannot all pass a check made before any of them was
    counted; an attempt whose password turns out right gives its counts back (`succeeded`).
    """
    waits = [
        limits.hit(key, limit, settings.LOGIN_FAILURE_WINDOW)
        for key, limit in _limits(username, address)
    ]
    return max((w for w in waits if w is not None), default=None)


def succeeded(username: str, address: str) -> None:
    """The password was right: the account's failures are forgotten (from this address and in
    all), and this attempt's count on the address is given back. The address's other failures
    stay: an attacker with an account of their own could otherwise clear them between guesses.
    """
    for key, _limit in _limits(username, address):
        if key == address_key(address):
            limits.refund(key)
        else:
            limits.reset(key)


def reset(target: str) -> None:
    """Lift the lock-out of a username or an address (both are tried: a name may be either)."""
    limits.reset(account_key(target))
    limits.reset_prefix(pair_prefix(target))
    limits.reset(address_key(target))
