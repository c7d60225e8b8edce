"""The model catalog in the admin: editing, and the sync from the gateway's model list."""

from decimal import Decimal

import pytest

from conversations.catalog import sync_catalog
from conversations.models import CatalogModel

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
