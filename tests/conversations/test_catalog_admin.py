"""The model catalog in the admin: editing, and the sync from the gateway's model list."""

from decimal import Decimal

import pytest

from accounts.models import AuditEntry, Quota
from conversations.catalog import sync_catalog
from conversations.models import CatalogModel
from tests.accounts.html_forms import form_data

CATALOG_URL = "/admin/conversations/catalogmodel/"
SYNC_URL = f"{CATALOG_URL}sync/"
HAIKU = "claude-haiku-4-5-20251001"

pytestmark = pytest.mark.django_db


def test_sync_catalog_adds_unknown_ids_disabled_and_unpriced():
    added = sync_catalog(
        [
            {"type": "model", "id": "claude-new-5", "display_name": "Claude New 5"},
            {"type": "model", "id": HAIKU, "display_name": "Renamed upstream"},
        ]
    )

    assert [model.model_id for model in added] == ["claude-new-5"]
    new = CatalogModel.objects.get(model_id="claude-new-5")
    assert new.display_name == "Claude New 5"
    assert not new.enabled and not new.is_default
    prices = [new.price_input, new.price_output, new.price_cache_write, new.price_cache_read]
    assert prices == [Decimal(0)] * 4


def test_sync_catalog_leaves_existing_models_alone():
    before = CatalogModel.objects.get(model_id=HAIKU)

    assert sync_catalog([{"id": HAIKU, "display_name": "Something else"}]) == []

    after = CatalogModel.objects.get(model_id=HAIKU)
    assert (after.display_name, after.enabled, after.price_input) == (
        before.display_name,
        before.enabled,
        before.price_input,
    )


def test_sync_catalog_skips_entries_no_row_can_hold():
    listed = [{}, "claude-x", {"id": ""}, {"id": 7}, {"id": "m" * 101}, {"id": "ok"}, {"id": "ok"}]

    added = sync_catalog(listed)

    assert [model.model_id for model in added] == ["ok"]
    assert added[0].display_name == "ok"


def test_catalog_changelist_edits_enabled_and_offers_the_sync(admin_client):
    page = admin_client.get(CATALOG_URL).content.decode()

    assert "Claude Haiku 4.5" in page
    assert f'action="{SYNC_URL}"' in page
    assert "csrfmiddlewaretoken" in page
    assert 'name="form-0-enabled"' in page


def test_catalog_change_form_has_the_long_prompt_tier(admin_client):
    model = CatalogModel.objects.get(model_id="claude-sonnet-4-5-20250929")

    page = admin_client.get(f"{CATALOG_URL}{model.pk}/change/").content.decode()

    assert "Long-prompt tier" in page
    assert 'name="long_prompt_threshold"' in page


def test_sync_view_adds_the_gateways_unknown_models(admin_client, upstream):
    CatalogModel.objects.filter(model_id=HAIKU).delete()

    response = admin_client.post(SYNC_URL, follow=True)

    assert response.redirect_chain[-1][0] == CATALOG_URL
    assert f"Added 1 model, disabled until an admin prices it: {HAIKU}." in (
        response.content.decode()
    )
    haiku = CatalogModel.objects.get(model_id=HAIKU)
    assert not haiku.enabled and haiku.price_output == 0
    assert any(r["path"] == "/v1/models" for r in upstream.requests)


def test_sync_view_with_nothing_new_says_so(admin_client, upstream):
    response = admin_client.post(SYNC_URL, follow=True)

    assert "The catalog already has every model the gateway lists." in response.content.decode()


def test_sync_view_failure_shows_the_error_but_never_the_key(admin_client, upstream, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-wrong-KEY-123"
    settings.ANTHROPIC_MAX_RETRIES = 0
    count = CatalogModel.objects.count()

    page = admin_client.post(SYNC_URL, follow=True).content.decode()

    assert "Could not list the gateway&#x27;s models" in page
    assert "sk-ant-wrong-KEY-123" not in page
    assert CatalogModel.objects.count() == count


def test_sync_view_refuses_get(admin_client, upstream):
    assert admin_client.get(SYNC_URL).status_code == 405
    assert not upstream.requests


def test_sync_view_is_for_staff_only(client, django_user_model, upstream):
    client.force_login(django_user_model.objects.create(username="alice"))

    response = client.post(SYNC_URL)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not upstream.requests


# The audit trail: every edit of prices, switches and limits, and every model added.


def catalog_trail() -> list[tuple]:
    entries = AuditEntry.objects.order_by("created_at", "id")
    return [(e.actor_name, e.action, e.target_label, e.before, e.after) for e in entries]


def post_page_form(client, url: str, form_id: str, **changes):
    page = client.get(url).content.decode()
    return client.post(url, form_data(page, form_id, **changes))


def test_catalog_change_form_records_only_the_price_changed(admin_client):
    model = CatalogModel.objects.get(model_id=HAIKU)
    old = format(model.price_output.normalize(), "f")

    post_page_form(
        admin_client, f"{CATALOG_URL}{model.pk}/change/", "catalogmodel_form", price_output="7.5"
    )

    assert catalog_trail() == [
        (
            "admin",
            "catalog_changed",
            model.display_name,
            {"price_output": old},
            {"price_output": "7.5"},
        )
    ]


def test_catalog_change_form_saved_unchanged_records_nothing(admin_client):
    model = CatalogModel.objects.get(model_id=HAIKU)

    response = post_page_form(admin_client, f"{CATALOG_URL}{model.pk}/change/", "catalogmodel_form")

    assert response.status_code == 302
    assert catalog_trail() == []


def test_catalog_list_editing_records_the_switch(admin_client):
    first = CatalogModel.objects.order_by("display_name").first()
    CatalogModel.objects.filter(pk=first.pk).update(enabled=False, is_default=False)
    changes = {"form-0-enabled": "on", "_save": "Save"}

    post_page_form(admin_client, CATALOG_URL, "changelist-form", **changes)

    assert catalog_trail() == [
        ("admin", "catalog_changed", first.display_name, {"enabled": False}, {"enabled": True})
    ]


def test_sync_view_records_each_model_it_adds(admin_client, upstream):
    CatalogModel.objects.filter(model_id=HAIKU).delete()

    admin_client.post(SYNC_URL)

    [(actor, action, label, before, after)] = catalog_trail()
    assert (actor, action, label, before) == ("admin", "catalog_added", after["display_name"], {})
    assert (after["model_id"], after["enabled"], after["price_input"]) == (HAIKU, False, "0")


def test_deleting_a_catalog_model_records_what_it_was(admin_client):
    model = CatalogModel.objects.get(model_id=HAIKU)

    admin_client.post(f"{CATALOG_URL}{model.pk}/delete/", {"post": "yes"})

    [(actor, action, label, before, after)] = catalog_trail()
    assert (actor, action, label, after) == ("admin", "catalog_deleted", model.display_name, {})
    assert before["model_id"] == HAIKU


def test_deleting_a_model_records_the_model_access_it_takes_away(admin_client, django_user_model):
    haiku = CatalogModel.objects.get(model_id=HAIKU)
    sonnet = CatalogModel.objects.get(model_id="claude-sonnet-4-5-20250929")
    alice = django_user_model.objects.create(username="alice")
    Quota.objects.create(user=alice).allowed_models.set([haiku, sonnet])

    admin_client.post(f"{CATALOG_URL}{haiku.pk}/delete/", {"post": "yes"})

    assert [entry[1:] for entry in catalog_trail()][1:] == [
        (
            "model_access",
            "alice",
            {"allowed_models": sorted([HAIKU, sonnet.model_id])},
            {"allowed_models": [sonnet.model_id]},
        )
    ]


@pytest.mark.parametrize("bulk", [False, True])
def test_a_users_only_allowed_model_cannot_be_deleted(admin_client, django_user_model, bulk):
    # An emptied list means "every enabled model": the delete would give alice more.
    haiku = CatalogModel.objects.get(model_id=HAIKU)
    alice = django_user_model.objects.create(username="alice")
    Quota.objects.create(user=alice).allowed_models.set([haiku])

    if bulk:
        data = {"action": "delete_selected", "_selected_action": [haiku.pk], "post": "yes"}
        response = admin_client.post(CATALOG_URL, data, follow=True)
    else:
        response = admin_client.post(
            f"{CATALOG_URL}{haiku.pk}/delete/", {"post": "yes"}, follow=True
        )

    assert "the only model alice may use" in response.content.decode()
    assert CatalogModel.objects.filter(pk=haiku.pk).exists()
    assert list(Quota.objects.get(user=alice).allowed_models.all()) == [haiku]


def test_pointing_a_thinking_variant_at_a_gateway_is_an_audited_admin_edit(admin_client):
    variant = CatalogModel.objects.get(model_id="claude-sonnet-4-5-20250929-thinking")
    assert (variant.upstream_model_id, variant.thinking_budget) == (
        "claude-sonnet-4-5-20250929",
        2048,
    ), "seeded for the official API"

    post_page_form(
        admin_client,
        f"{CATALOG_URL}{variant.pk}/change/",
        "catalogmodel_form",
        upstream_model_id="",
        thinking_budget="0",
    )

    variant.refresh_from_db()
    assert variant.upstream_id == variant.model_id and variant.thinking_budget == 0
    assert catalog_trail() == [
        (
            "admin",
            "catalog_changed",
            variant.display_name,
            {"upstream_model_id": "claude-sonnet-4-5-20250929", "thinking_budget": 2048},
            {"upstream_model_id": "", "thinking_budget": 0},
        )
    ]


def test_a_thinking_budget_below_the_apis_floor_is_refused_in_the_form(admin_client):
    variant = CatalogModel.objects.get(model_id="claude-sonnet-4-5-20250929-thinking")
    response = post_page_form(
        admin_client,
        f"{CATALOG_URL}{variant.pk}/change/",
        "catalogmodel_form",
        thinking_budget="500",
    )
    assert response.status_code == 200 and "at least 1024" in response.content.decode()
    variant.refresh_from_db()
    assert variant.thinking_budget == 2048 and catalog_trail() == []
