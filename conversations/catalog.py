"""Model catalog actions: sync from the upstream's model list."""

from django.db import transaction

from .models import CatalogModel

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


def sync_catalog(models: list[dict]) -> list[CatalogModel]:
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
    return added
