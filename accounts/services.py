"""Account actions that change state: registering users, using invites, changing quotas."""

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .ledger import quota_for
from .live_sessions import tell_sockets_after_commit
from .models import Invite, Quota, User


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


def change_quota(user: User, **changes: object) -> Quota:
    """Set the given quota fields (period, cost_limit, token_limit) and leave the others.

    Called by `manage.py set_quota` and the admin's Set quota action alike; takes the row lock
    admission takes, so a change never lands in the middle of an admission.
    """
    with transaction.atomic():
        quota = quota_for(user, lock=True)
        for field, value in changes.items():
            setattr(quota, field, value)
        if changes:
            quota.save(update_fields=[*changes, "updated_at"])
    return quota


def deactivate_users(users: QuerySet[User]) -> int:
    """Deactivate users in bulk and close their open sockets; returns how many.

    QuerySet.update() sends no post_save, so the sockets are told here.
    """
    ids = list(users.values_list("pk", flat=True))
    count = User.objects.filter(pk__in=ids).update(is_active=False)
    for user_id in ids:
        tell_sockets_after_commit(user_id)
    return count
