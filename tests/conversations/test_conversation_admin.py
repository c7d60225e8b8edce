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
    prefixes = ("messages", "attachments")
    inlines = {f"{prefix}-{k}": v for prefix in prefixes for k, v in management.items()}
    return data | inlines | fields


def test_a_title_edited_in_the_admin_is_tidied_like_a_rename(admin_browser, make_user):
    conversation = Conversation.objects.create(user=make_user("alice"), title="Plans")
    url = f"/admin/conversations/conversation/{conversation.pk}/change/"

    response = admin_browser.post(
        url, change_form(conversation, title="  Offsite\n plans  ", system_prompt="Be brief.")
    )

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Offsite plans" and conversation.system_prompt == "Be brief."
    assert conversation.title_source == Conversation.TitleSource.RENAMED, "no title replaces it"


def test_a_shared_link_cannot_be_deleted_in_the_admin_only_revoked(admin_browser, make_user):
    conversation = Conversation.objects.create(user=make_user("alice"), title="Plans")
    share = shares.create_share(conversation.user, conversation.pk)

    page = admin_browser.get(f"/admin/conversations/share/{share.pk}/delete/")

    assert page.status_code == 403
    assert Share.objects.filter(pk=share.pk).exists()


def test_staff_download_a_members_attachment_from_the_admin_only(admin_browser, make_user):
    from conversations import attachments

    from .attachment_files import png
    from .test_views import add_message

    alice = make_user("alice")
    conversation = Conversation.objects.create(user=alice, title="Plans")
    image = attachments.store_file(alice, "shot.png", png())
    attachments.link_to_message([image], add_message(conversation, "see"))
    page = admin_browser.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
    url = f"/admin/conversations/attachment/{image.pk}/file/"
    assert url in page.content.decode()
    response = admin_browser.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert admin_browser.get(image.get_absolute_url()).status_code == 404  # not the member's URL
    detail = admin_browser.get(f"/admin/conversations/attachment/{image.pk}/change/")
    assert detail.status_code == 200 and url in detail.content.decode()
    member = Client()
    member.force_login(make_user("bob"))
    assert member.get(url).status_code == 302  # to the admin's sign-in
