"""Personal API keys for the team gateway: made, found from what a client sends, revoked.

Every change (made, revoked, envelope switched) is written here with its audit entry, whoever
asks: the member's key page, the admin, or a management command.

A key reads `chatsite_<public_id>_<secret>`: the recognisable `chatsite_` start lets secret
scanners (and the chat's own warning) find a leaked one; the public id finds the row without a
scan; only the SHA-256 of the whole key is stored, compared in constant time.
"""

import hashlib
import hmac
import re
import secrets
import string
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from . import audit
from .models import ApiKey, User

Action = audit.Action

KEY_START = "chatsite_"
_PUBLIC_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
PUBLIC_ID_LENGTH = 10
SECRET_LENGTH = 40
# The whole key, for the secret scanner and for parsing (a public id has no underscore).
KEY_PATTERN = re.compile(
    rf"{KEY_START}([a-z0-9]{{{PUBLIC_ID_LENGTH}}})_([A-Za-z0-9]{{{SECRET_LENGTH}}})"
)
LAST_USED_EVERY = timedelta(minutes=1)  # one write per key per minute at most, not per call


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class KeyStatus(models.TextChoices):
    # A context of their own: "revoked" alone is already the revocation time's field label.
    ACTIVE = "active", pgettext_lazy("API key status", "active")
    REVOKED = "revoked", pgettext_lazy("API key status", "revoked")
    EXPIRED = "expired", pgettext_lazy("API key status", "expired")
    USER_INACTIVE = "user_inactive", pgettext_lazy("API key status", "account deactivated")


def status_of(key: ApiKey, now: datetime | None = None) -> KeyStatus:
    """Why a key works or not, as pages show it (revoked wins over expired)."""
    now = now or timezone.now()
    if key.revoked_at is not None:
        return KeyStatus.REVOKED
    if key.expires_at is not None and key.expires_at <= now:
        return KeyStatus.EXPIRED
    if not key.user.is_active:
        return KeyStatus.USER_INACTIVE
    return KeyStatus.ACTIVE


class TooManyKeys(Exception):
    """The user already has API_KEYS_PER_USER active keys (neither revoked nor expired)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} active API keys per user")
        self.limit = limit


def end_of_day(day: date) -> datetime:
    """The expiry of a key whose last day is `day`: valid through it, in the server's zone."""
    return timezone.make_aware(datetime.combine(day, time.max))


def active_keys(user: User, now: datetime | None = None) -> QuerySet[ApiKey]:
    """The user's keys that are neither revoked nor expired (what the limit counts)."""
    now = now or timezone.now()
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).exclude(expires_at__lte=now)


def create_key(
    user: User,
    name: str,
    *,
    expires_at: datetime | None = None,
    envelope: bool = False,
    by: User | str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for `user`: the row, and the key itself (shown once, never stored).

    Raises TooManyKeys when the user already has API_KEYS_PER_USER active keys (0: no limit).
    `by` is who acts, for the audit trail (a command passes its name).
    """
    limit = settings.API_KEYS_PER_USER
    with transaction.atomic():
        # The user's row lock makes two creations at once count one after the other.
        User.objects.select_for_update().filter(pk=user.pk).first()
        if limit and active_keys(user).count() >= limit:
            raise TooManyKeys(limit)
        while True:
            public_id = _random(_PUBLIC_ALPHABET, PUBLIC_ID_LENGTH)
            if not ApiKey.objects.filter(public_id=public_id).exists():
                break
        raw = f"{KEY_START}{public_id}_{_random(_SECRET_ALPHABET, SECRET_LENGTH)}"
        key = ApiKey.objects.create(
            user=user,
            name=name.strip()[:100] or "API key",
            public_id=public_id,
            key_hash=key_hash(raw),
            expires_at=expires_at,
            envelope=envelope,
        )
        after = {
            "user": user.get_username(),
            "prefix": key.prefix,
            "name": key.name,
            "expires_at": expires_at,
            "envelope": envelope,
        }
        audit.record(by, Action.API_KEY_CREATED, key, {}, after)
    return key, raw


def authenticate(raw: str | None) -> ApiKey | None:
    """The usable key this text is (its user active, not revoked, not expired), or None."""
    match = KEY_PATTERN.fullmatch((raw or "").strip())
    if match is None:
        return None
    key = ApiKey.objects.select_related("user").filter(public_id=match.group(1)).first()
    if key is None or not hmac.compare_digest(key.key_hash, key_hash(match.group(0))):
        return None
    return key if key.is_usable() else None


def touch(key: ApiKey) -> None:
    """Record that the key was used now (at most once a minute, so calls do not all write)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def find_by_prefix(prefix: str) -> ApiKey | None:
    """The key a shown prefix (`chatsite_<public_id>`) names, or None."""
    public_id = prefix.strip().removeprefix(KEY_START)
    return ApiKey.objects.filter(public_id=public_id).first() if public_id else None


def revoke(key: ApiKey, by: User | str | None = None) -> bool:
    """Revoke a key at once; False if it already was (and then nothing is audited)."""
    now = timezone.now()
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
        if updated:
            audit.record(by, Action.API_KEY_REVOKED, key, {"revoked_at": None}, {"revoked_at": now})
    key.refresh_from_db(fields=["revoked_at"])
    return bool(updated)


def set_envelope(key: ApiKey, envelope: bool, by: User | str | None = None) -> None:
    """Switch the gateway envelope of a key on or off (a no-op, unaudited, if it already is)."""
    with transaction.atomic():
        before = (
            ApiKey.objects.select_for_update().values_list("envelope", flat=True).get(pk=key.pk)
        )
        ApiKey.objects.filter(pk=key.pk).update(envelope=envelope)
        key.envelope = envelope
        record_envelope_change(by, key, before)


def record_envelope_change(by: User | str | None, key: ApiKey, before: bool) -> None:
    """Audit an envelope switch already saved (the admin's form saves it itself)."""
    # One action for both directions: before and after say which way it went.
    audit.record(by, Action.API_KEY_ENVELOPE, key, {"envelope": before}, {"envelope": key.envelope})
