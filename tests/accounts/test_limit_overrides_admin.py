"""An admin overrides a user's sending limits in the quota admin and in the user's inline."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Quota
from conversations.services import sending_limits_for

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def alice(settings) -> User:
    settings.CHAT_SENDS_PER_MINUTE = 20
    settings.CHAT_MAX_CONCURRENT_REPLIES = 5
    user = User.objects.create_user("alice", password="x")
    Quota.objects.create(user=user, period="month")
    return user


def test_blank_overrides_mean_the_site_defaults(alice):
    limits = sending_limits_for(alice)

    assert (limits.sends_per_minute, limits.max_concurrent_replies) == (20, 5)


def test_quota_admin_saves_the_sending_overrides(admin_client, alice):
    url = f"/admin/accounts/quota/{alice.pk}/change/"
    form = {"period": "month", "cost_limit": "", "token_limit": ""}

    response = admin_client.post(
        url, form | {"sends_per_minute": "3", "max_concurrent_replies": "1"}
    )

    assert response.status_code == 302
    limits = sending_limits_for(alice)
    assert (limits.sends_per_minute, limits.max_concurrent_replies) == (3, 1)


def test_user_inline_shows_the_sending_overrides(admin_client, alice):
    page = admin_client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()

    assert 'name="quota-0-sends_per_minute"' in page
    assert 'name="quota-0-max_concurrent_replies"' in page
