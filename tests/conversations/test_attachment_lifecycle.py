"""Stored files live while a row names them: deleting conversations, purging unsent uploads."""

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from conversations import attachments, services
from conversations.models import Attachment

from .attachment_files import png
from .test_views import add_message, make_conversation

pytestmark = pytest.mark.django_db


def sent(user, name: str, data: bytes):
    conversation = make_conversation(user)
    attachment = attachments.store_file(user, name, data)
    attachments.link_to_message([attachment], add_message(conversation, "see"))
    return conversation, attachment


def test_deleting_a_conversation_deletes_files_no_row_names_any_more(
    alice, django_capture_on_commit_callbacks
):
    conversation, attachment = sent(alice, "a.png", png(10, 10))
    path = attachment.file.name
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_conversation(alice, conversation.pk)
    assert not Attachment.objects.exists()
    assert not default_storage.exists(path)


def test_a_file_another_row_still_names_is_kept(alice, django_capture_on_commit_callbacks):
    conversation, attachment = sent(alice, "a.png", png(10, 10))
    again = attachments.store_file(alice, "same.png", png(10, 10))  # the same bytes, unsent
    assert again.file.name == attachment.file.name
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_conversation(alice, conversation.pk)
    assert default_storage.exists(again.file.name)


def test_a_file_is_kept_until_the_deleting_transaction_commits(alice):
    conversation, attachment = sent(alice, "a.png", png(10, 10))
    services.delete_conversation(alice, conversation.pk)  # inside the test's transaction
    assert default_storage.exists(attachment.file.name)


def age(attachment: Attachment, hours: float) -> None:
    then = timezone.now() - timedelta(hours=hours)
    Attachment.objects.filter(pk=attachment.pk).update(created_at=then)


def test_purge_removes_uploads_never_sent_after_a_day(alice, django_capture_on_commit_callbacks):
    stale = attachments.store_file(alice, "old.png", png(11, 11))
    fresh = attachments.store_file(alice, "new.png", png(12, 12))
    _, kept = sent(alice, "sent.png", png(13, 13))
    age(stale, 25)
    age(kept, 48)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_attachments", stdout=out)
    assert "Deleted 1 unsent attachment(s)." in out.getvalue()
    assert set(Attachment.objects.values_list("pk", flat=True)) == {fresh.pk, kept.pk}
    assert not default_storage.exists(stale.file.name)
    assert default_storage.exists(fresh.file.name) and default_storage.exists(kept.file.name)


def test_purge_twice_is_harmless_and_honours_the_setting(alice, settings):
    settings.ATTACHMENT_UNSENT_HOURS = 1
    stale = attachments.store_file(alice, "old.png", png(11, 11))
    age(stale, 2)
    call_command("purge_attachments", stdout=io.StringIO())
    out = io.StringIO()
    call_command("purge_attachments", stdout=out)
    assert "Deleted 0" in out.getvalue()
    assert not Attachment.objects.exists()
