"""Account actions that change state: registering users, using invites, quotas, access."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import audit, ledger
from .ledger import quota_for
from .live_sessions import tell_sockets_after_commit
from .models import Invite, LedgerEntry, Quota, User

Action = audit.Action
QUOTA_FIELDS = ("period", "cost_limit", "token_limit", "sends_per_minute", "max_concurrent_replies")
ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser")


class SignupClosed(Exception):
    """Sign-up is not possible with the current mode and the given invite."""


def signup_allowed(invite: Invite | None) -> bool:
    """Whether a new account may be made now, with this invite if any."""
    if not User.objects.exists():
        return True  # the first account always: it becomes the admin
    if settings.SIGNUP_MODE == "open":
        return True
    if settings.SIGNUP_MODE == "invite":
        return invite is not None and invite.is_usable()
    return False


@transaction.atomic
def register_user(username: str, password: str, invite_token: str | None = None) -> User:
    """Create an account; the first one on an empty database becomes staff and superuser."""
    invite = None
    if invite_token:
        invite = Invite.objects.select_for_update().filter(token=invite_token).first()
    if not signup_allowed(invite):
        raise SignupClosed
    is_first = not User.objects.exists()
    user = User.objects.create_user(username=username, password=password)
    if is_first:
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    if invite is not None and settings.SIGNUP_MODE == "invite" and not is_first:
        invite.used_by, invite.used_at = user, timezone.now()
        invite.save(update_fields=["used_by", "used_at"])
    return user


def begin_quota_edit(user: User) -> dict:
    """An admin form is about to change `user`'s quota, inside the admin's transaction: take the
    row lock admission takes (held until that transaction ends, so no admission reads a half-
    saved quota) and return the values the audit entry will compare with."""
    Quota.objects.select_for_update().filter(user=user).first()
    return quota_values(user)


def quota_values(user: User) -> dict:
    """What the user's quota is now, as the audit trail compares it: without a row, the
    defaults they run on; `allowed_models` as a set of API model ids (empty: every model)."""
    quota = Quota.objects.filter(user=user).first()
    if quota is None:
        values = {**dict.fromkeys(QUOTA_FIELDS), **ledger.default_quota_values(user)}
        return {**values, "allowed_models": set()}
    values = audit.field_values(quota, QUOTA_FIELDS)
    return {
        **values,
        "allowed_models": set(quota.allowed_models.values_list("model_id", flat=True)),
    }


def record_quota_change(by: User | str | None, user: User, before: dict, after: dict) -> None:
    """Audit a quota edit: its limits as one entry, its model access as another."""
    allowed = ("allowed_models",)
    limits = [name for name in before if name not in allowed]
    audit.record(by, Action.QUOTA, user, _only(before, limits), _only(after, limits))
    audit.record(by, Action.MODEL_ACCESS, user, _only(before, allowed), _only(after, allowed))


def _only(values: dict, names: list[str] | tuple[str, ...]) -> dict:
    return {name: values[name] for name in names if name in values}


def change_quota(user: User, by: User | str | None = None, **changes: object) -> Quota:
    """Set the given quota fields (period, cost_limit, token_limit) and leave the others.

    Called by `manage.py set_quota` and the admin's Set quota action alike; takes the row lock
    admission takes, so a change never lands in the middle of an admission. `by` is who acts,
    for the audit trail (a command passes its name).
    """
    with transaction.atomic():
        quota = quota_for(user, lock=True)
        before = quota_values(user)  # after the lock: no admission or edit between the two
        for field, value in changes.items():
            setattr(quota, field, value)
        if changes:
            quota.save(update_fields=[*changes, "updated_at"])
        record_quota_change(by, user, before, {**before, **changes})
    return quota


def grant(user: User, *, cost: Decimal, tokens: int, reason: str, by: User | None) -> LedgerEntry:
    """The admin's Grant: a ledger grant and its audit entry, in one transaction."""
    return _audited_entry(ledger.grant, Action.GRANT, user, cost, tokens, reason, by)


def adjust(user: User, *, cost: Decimal, tokens: int, reason: str, by: User | None) -> LedgerEntry:
    """The admin's Adjust: a signed ledger adjustment and its audit entry, in one transaction."""
    return _audited_entry(ledger.adjust, Action.ADJUSTMENT, user, cost, tokens, reason, by)


def _audited_entry(write, action: str, user: User, cost, tokens, reason, by) -> LedgerEntry:
    with transaction.atomic():
        entry = write(user, cost=cost, tokens=tokens, reason=reason, by=by)
        after = {"cost": cost, "tokens": tokens, "ledger_entry": entry.pk}
        audit.record(by, action, user, {}, after, reason=reason)
    return entry


def access_values(user_id: int) -> dict:
    """A user's access as stored (not as a form has set it in memory): the flags, group names
    and permissions as "app_label.codename"."""
    values = User.objects.filter(pk=user_id).values(*ACCESS_FIELDS).first() or {}
    groups = User.groups.through.objects.filter(user_id=user_id)
    permissions = User.user_permissions.through.objects.filter(user_id=user_id)
    app_codenames = permissions.values_list(
        "permission__content_type__app_label", "permission__codename"
    )
    return {
        **values,
        "groups": set(groups.values_list("group__name", flat=True)),
        "user_permissions": {f"{app}.{codename}" for app, codename in app_codenames},
    }


def record_access_change(by: User | None, user: User, before: dict) -> None:
    """Audit an edit of a user's flags, groups or permissions made since `before` was read."""
    audit.record(by, Action.USER_ACCESS, user, before, access_values(user.pk))


def deactivate_users(users: QuerySet[User], by: User | str | None = None) -> int:
    """Deactivate users in bulk and close their open sockets; returns how many.

    QuerySet.update() sends no post_save, so the sockets are told here. Each user who was
    active gets an audit entry.
    """
    with transaction.atomic():
        ids = list(users.values_list("pk", flat=True))
        active = list(User.objects.select_for_update().filter(pk__in=ids, is_active=True))
        count = User.objects.filter(pk__in=ids).update(is_active=False)
        for user in active:
            audit.record(by, Action.DEACTIVATION, user, {"is_active": True}, {"is_active": False})
    for user_id in ids:
        tell_sockets_after_commit(user_id)
    return count
