"""Model catalog actions: sync from the upstream's model list, audit an admin's edits."""

from django.db import transaction
from django.db.models import Count

from accounts import audit
from accounts.models import Quota, User
from accounts.services import quota_values, record_quota_change

from .models import CatalogModel

# Every field an admin edits: prices, switches and limits all decide what a reply may cost.
AUDITED_FIELDS = tuple(
    field.name
    for field in CatalogModel._meta.concrete_fields
    if field.editable and field.name not in {"id", "updated_at"}
)

_MODEL_ID_MAX = CatalogModel._meta.get_field("model_id").max_length
_NAME_MAX = CatalogModel._meta.get_field("display_name").max_length


def _listed_models(models: list[dict]) -> dict[str, str]:
    """Model id -> display name from an upstream list, skipping entries no row could hold."""
    listed: dict[str, str] = {}
    for item in models:
        if not isinstance(item, dict):
            continue
        model_id = item.get("id")
        if not isinstance(model_id, str) or not model_id.strip():
            continue
        model_id = model_id.strip()
        if len(model_id) > _MODEL_ID_MAX:
            continue
        name = item.get("display_name")
        name = name.strip() if isinstance(name, str) and name.strip() else model_id
        listed.setdefault(model_id, name[:_NAME_MAX])
    return listed


def catalog_values(model: CatalogModel | None) -> dict:
    """A catalog row's audited fields as stored (an absent row has none)."""
    stored = CatalogModel.objects.filter(pk=model.pk).first() if model and model.pk else None
    return audit.field_values(stored, AUDITED_FIELDS)


def record_catalog_change(
    by: User | None, model: CatalogModel, before: dict, after: dict | None = None
) -> None:
    """Audit an admin's edit of `model` made since `before` was read: an addition, a change,
    or a deletion (recorded just before it, with `after` empty, while the row has its id)."""
    after = catalog_values(model) if after is None else after
    action = audit.Action.CATALOG_CHANGED
    if not before:
        action = audit.Action.CATALOG_ADDED
    elif not after:
        action = audit.Action.CATALOG_DELETED
    audit.record(by, action, model, before, after)


class SoleAllowedModel(Exception):
    """Deleting this model would empty some users' allowed models, which means "every model"."""

    def __init__(self, usernames: list[str]) -> None:
        super().__init__(", ".join(usernames))
        self.usernames = usernames


def users_only_allowed(model: CatalogModel) -> list[str]:
    """Usernames whose allowed models are this one alone."""
    # Counted before filtering: the filter's join would count only this model.
    quotas = Quota.objects.annotate(models=Count("allowed_models", distinct=True))
    quotas = quotas.filter(models=1, allowed_models=model)
    return sorted(quotas.values_list("user__username", flat=True))


def delete_catalog_model(model: CatalogModel, by: User | None = None) -> None:
    """Delete a catalog row (the admin's delete), auditing it and every quota whose allowed
    models lose it. Refused (SoleAllowedModel) when it is some user's only allowed model: an
    emptied list would mean "every enabled model", giving them more, not less."""
    if sole := users_only_allowed(model):
        raise SoleAllowedModel(sole)
    with transaction.atomic():
        users = list(User.objects.filter(quota__allowed_models=model))
        before = {user.pk: quota_values(user) for user in users}
        # Recorded first, while the row still has its id; the same transaction either way.
        record_catalog_change(by, model, catalog_values(model), after={})
        model.delete()
        for user in users:
            record_quota_change(by, user, before[user.pk], quota_values(user))


def sync_catalog(models: list[dict], by: User | None = None) -> list[CatalogModel]:
    """Add the ids of an upstream model list that the catalog lacks; return the new rows.

    New rows are disabled with zero prices: nobody can chat with a model, and run up
    charges at a price of zero, until an admin has priced and enabled it. Rows the catalog
    already has are left alone, so an admin's prices, names and switches always win.
    """
    listed = _listed_models(models)
    known = set(CatalogModel.objects.filter(model_id__in=listed).values_list("model_id", flat=True))
    added: list[CatalogModel] = []
    with transaction.atomic():
        for model_id, name in listed.items():
            if model_id in known:
                continue
            # get_or_create: a sync running at the same time may have added it already.
            model, created = CatalogModel.objects.get_or_create(
                model_id=model_id, defaults={"display_name": name, "enabled": False}
            )
            if created:
                added.append(model)
                audit.record(by, audit.Action.CATALOG_ADDED, model, {}, catalog_values(model))
    return added
