"""The catalog and model access are cached per process, and an admin's edit is seen by the next
send: in this process through the save's signal, in another through the Redis version."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Quota
from conversations import model_cache, services
from conversations.errors import ChatError
from conversations.models import CatalogModel
from conversations.selectors import usable_model
from tests.accounts.html_forms import form_data
from tests.redis_server import redis_server

pytestmark = pytest.mark.django_db
CATALOG_URL = "/admin/conversations/catalogmodel/"
HAIKU, SONNET = "claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"


@pytest.fixture
def with_key(settings):
    settings.DEMO_MODE = False
    settings.CHAT_SENDS_PER_MINUTE = 0


def catalog_reads(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "conversations_catalogmodel" in q["sql"]]


def test_a_second_send_reads_no_catalog_row(with_key, make_user):
    alice = make_user("alice")
    services.send_message(alice, None, "hello", model_id=HAIKU)

    with CaptureQueriesContext(connection) as queries:
        services.send_message(alice, None, "again", model_id=HAIKU)

    assert catalog_reads(queries) == []


def test_an_admin_disabling_a_model_refuses_the_next_send(with_key, make_user, admin_client):
    alice = make_user("alice")
    services.send_message(alice, None, "hello", model_id=HAIKU)
    haiku = CatalogModel.objects.get(model_id=HAIKU)
    url = f"{CATALOG_URL}{haiku.pk}/change/"
    page = admin_client.get(url).content.decode()
    data = form_data(page, "catalogmodel_form", _save="Save")
    data.pop("enabled", None)  # the box unticked

    assert admin_client.post(url, data).status_code == 302

    with pytest.raises(ChatError) as refused:
        services.send_message(alice, None, "again", model_id=HAIKU)
    assert refused.value.code == "model_unavailable"


def test_a_price_change_reaches_the_next_admission(with_key, make_user):
    alice = make_user("alice")
    assert (
        usable_model(alice, HAIKU).price_output
        == CatalogModel.objects.get(model_id=HAIKU).price_output
    )
    haiku = CatalogModel.objects.get(model_id=HAIKU)
    haiku.price_output = haiku.price_output * 2
    haiku.save()

    assert usable_model(alice, HAIKU).price_output == haiku.price_output


def test_narrowing_a_users_models_is_seen_at_once(with_key, make_user):
    alice = make_user("alice")
    assert usable_model(alice, SONNET) is not None
    quota, _ = Quota.objects.get_or_create(user=alice)

    quota.allowed_models.set([CatalogModel.objects.get(model_id=HAIKU)])

    assert usable_model(alice, SONNET) is None
    assert usable_model(alice, HAIKU) is not None


def test_another_process_edit_is_seen_through_the_redis_version(with_key, make_user, settings):
    alice = make_user("alice")
    with redis_server() as url:
        settings.REDIS_URL = url
        assert usable_model(alice, HAIKU) is not None
        # Another process's edit: the rows change with no signal here, and its save bumps the
        # shared version (as model_cache.changed does there).
        CatalogModel.objects.filter(model_id=HAIKU).update(enabled=False)
        assert usable_model(alice, HAIKU) is not None  # cached: this process saw no signal
        model_cache._redis(url).incr(model_cache.REDIS_KEY)

        assert usable_model(alice, HAIKU) is None


def test_without_an_answer_from_redis_the_database_decides(with_key, make_user, settings):
    alice = make_user("alice")
    settings.REDIS_URL = "redis://127.0.0.1:18919/0"  # nothing listens there
    CatalogModel.objects.filter(model_id=HAIKU).update(enabled=False)

    assert usable_model(alice, HAIKU) is None
    assert usable_model(alice, SONNET) is not None
