"""Which catalog models a user may chat with: enabled ones, narrowed by their quota."""

import pytest

from accounts import ledger
from conversations import services
from conversations.models import CatalogModel
from conversations.selectors import available_models, default_model_for

pytestmark = pytest.mark.django_db

HAIKU, SONNET = "claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"


@pytest.fixture
def with_key(settings):
    settings.DEMO_MODE = False


def ids(user) -> set[str]:
    return set(available_models(user).values_list("model_id", flat=True))


def test_every_enabled_model_but_the_demo_one_when_nothing_is_ticked(with_key, make_user):
    user = make_user()
    CatalogModel.objects.filter(model_id=HAIKU).update(enabled=False)
    assert SONNET in ids(user) and HAIKU not in ids(user) and "chatsite-demo" not in ids(user)


def test_allowed_models_narrow_the_choice_and_the_default(with_key, make_user):
    user = make_user()
    quota = ledger.quota_for(user)
    quota.allowed_models.set(CatalogModel.objects.filter(model_id=HAIKU))

    assert ids(user) == {HAIKU}
    assert default_model_for(user).model_id == HAIKU  # the catalog default is not allowed
    with pytest.raises(services.ChatError) as refused:
        services.send_message(user, None, "hi", model_id=SONNET)
    assert refused.value.code == "model_unavailable" and SONNET in refused.value.detail
    assert services.send_message(user, None, "hi", model_id=HAIKU).reply.model == HAIKU


def test_demo_mode_offers_only_the_demo_model(settings, make_user):
    settings.DEMO_MODE = True
    assert ids(make_user()) == {"chatsite-demo"}
