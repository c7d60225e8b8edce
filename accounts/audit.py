"""The audit trail's one writer: `record()` a change of money or access, its changed fields only."""

import datetime
from decimal import Decimal

from django.db import models

from .models import AuditEntry, User

Action = AuditEntry.Action
_ABSENT = object()


def plain(value: object) -> object:
    """A value as the trail keeps it: JSON types, money as an exact string without padding."""
    if isinstance(value, Decimal):
        # "5.0000" from the database and "5" from a form are the same limit.
        return format(value.normalize(), "f")
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(item) for item in value]
        # Sets (many-to-many ids) compare as sets: sort them, so an unchanged set is equal.
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return value


def field_values(instance: models.Model | None, fields: list[str] | tuple[str, ...]) -> dict:
    """The named fields of a row (an absent row has none), ready to compare with `record`."""
    if instance is None:
        return {}
    return {name: getattr(instance, name) for name in fields}


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """The fields whose values differ, as (before, after); a field absent on one side is left
    out of that side (a creation has an empty before, a deletion an empty after)."""
    old, new = {}, {}
    for name in [*before, *(k for k in after if k not in before)]:
        was, now = plain(before.get(name, _ABSENT)), plain(after.get(name, _ABSENT))
        if was == now:
            continue
        if was is not _ABSENT:
            old[name] = was
        if now is not _ABSENT:
            new[name] = now
    return old, new


def record(
    actor: User | str | None,
    action: str,
    target: models.Model,
    before: dict,
    after: dict,
    reason: str = "",
) -> AuditEntry | None:
    """Write one entry for a change of `target`, keeping only the fields that changed.

    Call it inside the transaction that makes the change, so the change and its entry land
    or roll back together. `actor` is the user who acted, or a text naming what acted when no
    user did (a management command); None stands for an unnamed command. Returns None, and
    writes nothing, when no field changed.
    """
    old, new = changes(before, after)
    if not old and not new:
        return None
    if isinstance(actor, User):
        actor_user, actor_name = actor, actor.get_username()
    else:
        actor_user, actor_name = None, actor or "manage.py"
    return AuditEntry.objects.create(
        actor=actor_user,
        actor_name=actor_name[:150],
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=str(target)[:200],
        before=old,
        after=new,
        reason=reason[:300],
    )
