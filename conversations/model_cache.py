"""The catalog, each user's model access and sending limits, cached per process for the send
path.

Every send asked the database which catalog row its model is and whether the user may use it;
the catalog changes only when an admin saves it (decision 95). The cache is keyed by a
version: this process's own counter, bumped by the signals of a catalog row, a quota's
allowed models or a quota's deletion, and, with REDIS_URL (the only way to run several
processes: the channel layer needs it), a Redis counter every process bumps the same way and
reads once per lookup (one GET, no database statement). Bumped both at the save and at its
commit, so no process keeps what it read between the two. Without an answer from Redis the
lookup goes to the database, as before.

The rows handed out are shared by the threads of this process: read them, never save them.
"""

import logging
import threading
from functools import cache

from django.conf import settings
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.models import Quota

from .models import CatalogModel

log = logging.getLogger(__name__)
REDIS_KEY = "chatsite:catalog-version"
REDIS_TIMEOUT_SECONDS = 1.0
UNKNOWN = object()  # the cache cannot answer: ask the database

_lock = threading.Lock()
_local_version = 0
_cached: dict = {"key": None, "models": None, "allowed": {}, "limits": {}}


def usable_model(user, model_id: str, snapshot: dict | None = None):
    """The catalog row `model_id` if this user may use it now, None if not, or UNKNOWN."""
    snapshot = snapshot or _snapshot()
    if snapshot is None:
        return UNKNOWN
    model = _models(snapshot).get(model_id)
    if model is None or not model.enabled:
        return None
    if settings.DEMO_MODE:
        return model if model_id == settings.DEMO_MODEL else None
    if model_id == settings.DEMO_MODEL:
        return None
    allowed = _allowed(snapshot, user.pk)
    return model if allowed is None or model.pk in allowed else None


def default_model(user):
    """The catalog default if this user may use it, else CHAT_MODEL, else the first allowed
    model by name (as `selectors.default_model_for`); None, or UNKNOWN."""
    snapshot = _snapshot()
    if snapshot is None:
        return UNKNOWN
    usable = [m for m in _models(snapshot).values() if usable_model(user, m.model_id, snapshot)]
    return (
        next((m for m in usable if m.is_default), None)
        or next((m for m in usable if m.model_id == settings.CHAT_MODEL), None)
        or (usable[0] if usable else None)
    )


def quota_overrides(user_id: int):
    """(sends_per_minute, max_concurrent_replies) of the user's quota, None where it follows
    the settings (no quota row: both None); or UNKNOWN."""
    snapshot = _snapshot()
    if snapshot is None:
        return UNKNOWN
    limits = snapshot["limits"]
    if user_id not in limits:
        row = Quota.objects.filter(user_id=user_id)
        found = row.values_list("sends_per_minute", "max_concurrent_replies").first()
        limits[user_id] = found or (None, None)
    return limits[user_id]


def _allowed(snapshot: dict, user_id: int) -> frozenset | None:
    """The catalog ids this user's quota allows (None: every enabled model)."""
    allowed = snapshot["allowed"]
    if user_id not in allowed:
        through = Quota.allowed_models.through.objects.filter(quota_id=user_id)
        ids = frozenset(through.values_list("catalogmodel_id", flat=True))
        allowed[user_id] = ids or None
    return allowed[user_id]


def _snapshot() -> dict | None:
    global _cached
    shared = _shared_version()
    if shared is None:
        return None
    # The key is read before the rows: a change landing meanwhile makes the next lookup reload.
    key = (_local_version, shared, settings.DEMO_MODE, settings.DEMO_MODEL)
    current = _cached
    if current["key"] == key:
        return current
    fresh = {"key": key, "models": None, "allowed": {}, "limits": {}}
    with _lock:
        _cached = fresh
    return fresh


def _models(snapshot: dict) -> dict:
    """The catalog's rows by model id, by name: read once per version, when first asked."""
    if snapshot["models"] is None:
        snapshot["models"] = {m.model_id: m for m in CatalogModel.objects.all()}
    return snapshot["models"]


def _shared_version() -> int | None:
    if not settings.REDIS_URL:
        return 0
    try:
        return int(_redis(settings.REDIS_URL).get(REDIS_KEY) or 0)
    except Exception:  # a dead Redis must not stop sends: the database answers instead
        log.warning("reading the catalog version from Redis failed", exc_info=True)
        return None


@cache
def _redis(url: str):
    import redis

    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


def forget() -> None:
    """Drop what this process and (with Redis) every process has cached."""
    global _local_version
    with _lock:
        _local_version += 1
    if settings.REDIS_URL:
        try:
            _redis(settings.REDIS_URL).incr(REDIS_KEY)
        except Exception:
            log.warning("bumping the catalog version in Redis failed", exc_info=True)


def _forget_now_and_at_commit() -> None:
    forget()
    transaction.on_commit(forget)


# By label, so that the migrations' historical models (which seed the catalog) count too.
_CATALOG = CatalogModel._meta.label_lower
_QUOTA = Quota._meta.label_lower
# A quota's deletion takes its allowed models with it (a cascade sends no m2m_changed).
_DELETED = {_CATALOG, _QUOTA}


def saved(sender, created: bool = False, **kwargs) -> None:
    """A catalog row was saved (an admin's edit, a sync, the seed), or a quota changed. A new
    quota (a first send makes one) has no overrides and no allowed models: what the cache
    already answers for a user without one, so it changes nothing."""
    label = sender._meta.label_lower
    if label == _CATALOG or (label == _QUOTA and not created):
        _forget_now_and_at_commit()


def deleted(sender, **kwargs) -> None:
    if sender._meta.label_lower in _DELETED:
        _forget_now_and_at_commit()


def access_changed(sender, **kwargs) -> None:
    """A quota's allowed models were changed."""
    _forget_now_and_at_commit()


def connect() -> None:
    """Called once from the app's ready()."""
    post_save.connect(saved, dispatch_uid="model_cache_saved")
    post_delete.connect(deleted, dispatch_uid="model_cache_deleted")
    m2m_changed.connect(
        access_changed, sender=Quota.allowed_models.through, dispatch_uid="model_cache_m2m"
    )
