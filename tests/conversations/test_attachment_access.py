"""Who may fetch an attachment: the owner, and a live share that includes attachments; and forks."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations import attachments, shares
from conversations.models import Attachment, Conversation, Message, Share

from .attachment_files import PYTHON, png
from .test_views import add_message, make_conversation

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def chat(alice):
    """A conversation whose first message carries an image and a text file."""
    conversation = make_conversation(alice, title="Screenshots")
    message = add_message(conversation, "What is wrong here?")
    files = [
        attachments.store_file(alice, "shot.png", png()),
        attachments.store_file(alice, "greet.py", PYTHON),
    ]
    attachments.link_to_message(files, message)
    add_message(conversation, "A typo.", role=Message.Role.ASSISTANT)
    return conversation


def image_of(conversation) -> Attachment:
    return conversation.attachments.get(name="shot.png")


def test_a_share_with_attachments_lists_them_on_its_own_route_and_serves_them(chat):
    share = shares.create_share(chat.user, chat.pk, include_attachments=True)
    image = image_of(chat)
    url = f"/s/{share.token}/attachments/{image.pk}/"
    listed = share.snapshot_messages[0]["attachments"]
    assert [a["name"] for a in listed] == ["shot.png", "greet.py"]
    assert listed[0]["url"] == url and listed[0]["kind"] == "image"
    assert [a["id"] for a in share.snapshot_attachments] == [a["id"] for a in listed]
    response = Client().get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == png()
    download = Client().get(f"/s/{share.token}/attachments/{listed[1]['id']}/")
    assert download["Content-Disposition"].startswith("attachment")


def test_the_shared_page_state_lists_each_messages_attachments(chat):
    from .test_shares import share_state

    share = shares.create_share(chat.user, chat.pk, include_attachments=True)
    state = share_state(Client().get(share.get_absolute_url()).content.decode())
    assert [a["name"] for a in state["messages"][0]["attachments"]] == ["shot.png", "greet.py"]
    assert state["messages"][1]["attachments"] == []


def test_another_user_and_an_anonymous_visitor_get_404_for_the_owners_url(chat, bob):
    url = image_of(chat).get_absolute_url()
    assert client_of(chat.user).get(url).status_code == 200
    assert client_of(bob).get(url).status_code == 404
    assert Client().get(url).status_code == 404


def shared_url(share: Share, attachment: Attachment) -> str:
    return f"/s/{share.token}/attachments/{attachment.pk}/"


def test_a_share_without_attachments_gives_404(chat):
    share = shares.create_share(chat.user, chat.pk)
    assert share.snapshot_messages[0]["attachments"] == []
    assert Client().get(shared_url(share, image_of(chat))).status_code == 404


def test_a_revoked_share_gives_404(chat):
    share = shares.create_share(chat.user, chat.pk, include_attachments=True)
    url = shared_url(share, image_of(chat))
    assert Client().get(url).status_code == 200
    shares.revoke_share(chat.user, share.pk)
    assert Client().get(url).status_code == 404


def test_an_expired_share_gives_404(chat):
    share = shares.create_share(chat.user, chat.pk, include_attachments=True)
    url = shared_url(share, image_of(chat))
    Share.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(url).status_code == 404


def test_a_share_cannot_serve_another_conversations_attachment(chat, alice):
    other = make_conversation(alice, title="Other")
    message = add_message(other, "secret")
    secret = attachments.store_file(alice, "secret.png", png(9, 9))
    attachments.link_to_message([secret], message)
    share = shares.create_share(alice, chat.pk, include_attachments=True)
    # Even listed in a tampered snapshot, the row must belong to the shared conversation.
    snapshot = share.snapshot | {"attachments": [{"id": secret.pk}]}
    Share.objects.filter(pk=share.pk).update(snapshot=snapshot)
    assert Client().get(shared_url(share, secret)).status_code == 404


def test_a_members_only_share_gives_anonymous_visitors_404_for_files(chat, bob):
    share = shares.create_share(
        chat.user, chat.pk, include_attachments=True, visibility=Share.Visibility.MEMBERS
    )
    url = shared_url(share, image_of(chat))
    assert Client().get(url).status_code == 404
    assert client_of(bob).get(url).status_code == 200


def test_forking_a_share_makes_new_rows_on_the_same_stored_files(chat, bob):
    share = shares.create_share(chat.user, chat.pk, include_attachments=True)
    response = client_of(bob).post(f"/s/{share.token}/continue/")
    fork = Conversation.objects.get(user=bob)
    assert response.status_code == 302
    copies = list(fork.attachments.order_by("id"))
    originals = list(chat.attachments.order_by("id"))
    assert [c.name for c in copies] == ["shot.png", "greet.py"]
    assert [c.file.name for c in copies] == [o.file.name for o in originals]
    assert {c.pk for c in copies}.isdisjoint({o.pk for o in originals})
    first = fork.messages.order_by("id").first()
    assert all(c.user == bob and c.message == first for c in copies)
    assert client_of(bob).get(copies[0].get_absolute_url()).status_code == 200


def test_forking_a_share_without_attachments_copies_none(chat, bob):
    share = shares.create_share(chat.user, chat.pk)
    client_of(bob).post(f"/s/{share.token}/continue/")
    assert not Attachment.objects.filter(user=bob).exists()


def test_the_chat_page_state_lists_a_messages_attachments_for_a_reload(chat):
    import json

    from .test_views import PageAudit

    client = client_of(chat.user)
    page = client.get(f"/c/{chat.pk}/").content.decode()
    state = json.loads(PageAudit(page).chat_state_text)
    first, reply = state["messages"]
    assert [a["name"] for a in first["attachments"]] == ["shot.png", "greet.py"]
    assert first["attachments"][0]["url"] == image_of(chat).get_absolute_url()
    assert reply["attachments"] == [] and reply["attachments_left_out"] == []
