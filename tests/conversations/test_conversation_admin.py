"""The admin changes conversations and shared links only through the services."""

import pytest
from django.test import Client

from conversations import shares
from conversations.models import Conversation, Share

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(django_user_model) -> Client:
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-12345")
    client = Client()
    client.force_login(admin)
    return client


def change_form(conversation: Conversation, **fields) -> dict:
    data = {"title": conversation.title, "system_prompt": conversation.system_prompt}
    management = {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0, "MIN_NUM_FORMS": 0, "MAX_NUM_FORMS": 0}
    return data | {f"messages-{k}": v for k, v in management.items()} | fields


def test_a_title_edited_in_the_admin_is_tidied_like_a_rename(admin_browser, make_user):
    conversation = Conversation.objects.create(user=make_user("alice"), title="Plans")
    url = f"/admin/conversations/conversation/{conversation.pk}/change/"

    response = admin_browser.post(
        url, change_form(conversation, title="  Offsite\n plans  ", system_prompt="Be brief.")
    )

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Offsite plans" and conversation.system_prompt == "Be brief."


def test_a_shared_link_cannot_be_deleted_in_the_admin_only_revoked(admin_browser, make_user):
    conversation = Conversation.objects.create(user=make_user("alice"), title="Plans")
    share = shares.create_share(conversation.user, conversation.pk)

    page = admin_browser.get(f"/admin/conversations/share/{share.pk}/delete/")

    assert page.status_code == 403
    assert Share.objects.filter(pk=share.pk).exists()
