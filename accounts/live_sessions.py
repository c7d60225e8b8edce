"""Open sockets and their accounts: is a socket's session still signed in; tell sockets to check."""

import logging
from functools import partial
from importlib import import_module

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import connections, router, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

log = logging.getLogger(__name__)

CHECK_EVENT = "account.check"  # handled by ChatConsumer.account_check
_DATABASE_ENGINES = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}
# A sign-in saves last_login: that changes nothing an open socket relies on.
_HARMLESS_FIELDS = frozenset({"last_login"})


def user_group(user_id: int) -> str:
    """The channel-layer group every open socket of the user joins, on every worker."""
    return f"sockets.user.{user_id}"


def session_tag(session_key: str) -> str:
    """Stands for a session key in channel-layer events: the key itself is a credential."""
    return salted_hmac("chatsite.accounts.live_sessions", session_key).hexdigest()


def still_signed_in(user_id: int, session_key: str | None) -> bool:
    """Whether this session still signs this user in, by the rules of a page load.

    The user exists and is active; the session exists, has not expired, names the user and
    carries the hash of the user's current password (django.contrib.auth's HASH_SESSION_KEY;
    the SECRET_KEY_FALLBACKS hashes count too). One query with the database session engines:
    this runs before every frame that acts.
    """
    if not session_key:
        return False
    engine = import_module(settings.SESSION_ENGINE)
    if settings.SESSION_ENGINE in _DATABASE_ENGINES:
        row = _user_and_session(user_id, session_key, engine.SessionStore.get_model_class())
        if row is None or row[1] is None:
            return False
        password, data = row[0], engine.SessionStore().decode(row[1])
    else:
        users = get_user_model().objects.filter(pk=user_id, is_active=True)
        password = users.values_list("password", flat=True).first()
        if password is None:
            return False
        data = engine.SessionStore(session_key).load()
    return _session_matches(data, user_id, password)


def _user_and_session(user_id: int, session_key: str, session_model) -> tuple | None:
    """(password, session_data or None) of an active user, in one statement.

    Plain SQL: building the same query with the ORM cost ten times its run time (about 1 ms
    against 0.1 ms on SQLite), on every frame.
    """
    user_model = get_user_model()
    connection = connections[router.db_for_read(user_model)]
    quote = connection.ops.quote_name
    users, sessions = user_model._meta, session_model._meta
    sql = (
        f"SELECT u.{quote(users.get_field('password').column)}, s.{quote('session_data')}"
        f" FROM {quote(users.db_table)} u LEFT JOIN {quote(sessions.db_table)} s"
        f" ON s.{quote('session_key')} = %s AND s.{quote('expire_date')} > %s"
        f" WHERE u.{quote(users.pk.column)} = %s AND u.{quote('is_active')} = %s"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_key, now, user_id, True])
        return cursor.fetchone()


def _session_matches(data: dict, user_id: int, password: str) -> bool:
    stored = data.get(HASH_SESSION_KEY)
    if str(data.get(SESSION_KEY)) != str(user_id) or not stored:
        return False
    user = get_user_model()(pk=user_id, password=password)
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(stored, expected) for expected in hashes)


def tell_sockets(user_id: int, ended_session: str | None = None) -> None:
    """Ask every open socket of the user, on every worker, to check its session again.

    With `ended_session` (a session key), the sockets of that session close without a check.
    """
    event = {"type": CHECK_EVENT}
    if ended_session:
        event["ended_session"] = session_tag(ended_session)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(user_group(user_id), event)
    except Exception:
        # Still safe: every frame that acts checks the session first. Only the close is late.
        log.warning("could not tell the sockets of user %s to check", user_id, exc_info=True)


def tell_sockets_after_commit(user_id: int) -> None:
    """tell_sockets once the change is visible: a socket checking earlier would see the old row."""
    transaction.on_commit(partial(tell_sockets, user_id))


def _user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    # Any save may deactivate the user or change the password (the admin's change form and
    # list editing, set_password() then save(), changepassword): check, rather than compare.
    if created or (update_fields is not None and set(update_fields) <= _HARMLESS_FIELDS):
        return
    tell_sockets_after_commit(instance.pk)


def _user_deleted(sender, instance, **kwargs) -> None:
    tell_sockets_after_commit(instance.pk)


def _signed_out(sender, request, user, **kwargs) -> None:
    # Sent before logout() flushes the session: a check now would still find it, so the
    # event names the session instead.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        tell_sockets(user.pk, ended_session=session_key)


def connect_signals() -> None:
    """Called once from AccountsConfig.ready(). QuerySet.update() sends no signal: bulk
    changes call tell_sockets_after_commit() themselves (accounts.services.deactivate_users)."""
    user_model = settings.AUTH_USER_MODEL
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="live_sessions.saved")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="live_sessions.deleted")
    user_logged_out.connect(_signed_out, dispatch_uid="live_sessions.signed_out")
