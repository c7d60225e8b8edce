"""Personal API keys for the team gateway: made, found from what a client sends, revoked.

A key reads `chatsite_<public_id>_<secret>`: the recognisable `chatsite_` start lets secret
scanners (and the chat's own warning) find a leaked one; the public id finds the row without a
scan; only the SHA-256 of the whole key is stored, compared in constant time.
"""

import hashlib
import hmac
import re
import secrets
import string
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .models import ApiKey, User

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


def create_key(
    user: User, name: str, *, expires_at: datetime | None = None, envelope: bool = False
) -> tuple[ApiKey, str]:
    """A new key for `user`: the row, and the key itself (shown once, never stored)."""
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


def revoke(key: ApiKey) -> bool:
    """Revoke a key at once; False if it already was."""
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    key.refresh_from_db(fields=["revoked_at"])
    return bool(updated)
