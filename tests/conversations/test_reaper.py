"""The reaper: replies left streaming by a dead process become interrupted, text kept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import settlement
from conversations.lifecycle import StartupReaper
from conversations.models import Conversation, Message


def streaming_reply(user, text: str, heartbeat_age: float | None) -> Message:
    """A reply some process was writing, last heard from `heartbeat_age` seconds ago."""
    conversation = Conversation.objects.create(user=user, model="claude-sonnet-4-5-20250929")
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.USER,
        content=[{"type": "text", "text": "Question"}],
    )
    heartbeat = None
    if heartbeat_age is not None:
        heartbeat = timezone.now() - timedelta(seconds=heartbeat_age)
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content=[{"type": "text", "text": text}],
        seq=7,
        heartbeat_at=heartbeat,
        worker="worker.gone.1.abcd",
        model="claude-sonnet-4-5-20250929",
    )


@pytest.fixture
def user(make_user):
    return make_user("carol")


@pytest.mark.django_db
def test_reply_with_stale_heartbeat_becomes_interrupted_keeping_its_text(user, settings):
    stale = streaming_reply(user, "Half an ans", settings.STREAM_HEARTBEAT_TIMEOUT + 5)

    settlement.reap_interrupted()

    stale.refresh_from_db()
    assert stale.status == Message.Status.INTERRUPTED
    assert stale.text == "Half an ans" and stale.seq == 7
    assert stale.error["code"] == "interrupted" and stale.error["detail"]
    assert stale.heartbeat_at is None


@pytest.mark.django_db
def test_reply_with_fresh_heartbeat_is_left_streaming(user, settings):
    fresh = streaming_reply(user, "Still going", settings.STREAM_HEARTBEAT_TIMEOUT - 10)
    finished = streaming_reply(user, "Done", settings.STREAM_HEARTBEAT_TIMEOUT + 5)
    Message.objects.filter(pk=finished.pk).update(status=Message.Status.COMPLETE)

    settlement.reap_interrupted()

    fresh.refresh_from_db()
    finished.refresh_from_db()
    assert fresh.status == Message.Status.STREAMING and fresh.error is None
    assert fresh.heartbeat_at is not None and fresh.text == "Still going"
    assert finished.status == Message.Status.COMPLETE and finished.error is None


@pytest.mark.django_db
def test_reap_all_streaming_takes_every_streaming_reply(user, settings):
    fresh = streaming_reply(user, "Fresh", 0)
    stale = streaming_reply(user, "Stale", settings.STREAM_HEARTBEAT_TIMEOUT + 5)
    silent = streaming_reply(user, "Never beat", None)

    settlement.reap_interrupted(all_streaming=True)

    for reply, text in ((fresh, "Fresh"), (stale, "Stale"), (silent, "Never beat")):
        reply.refresh_from_db()
        assert reply.status == Message.Status.INTERRUPTED, text
        assert reply.text == text and reply.error["code"] == "interrupted"
    assert not Message.objects.filter(status=Message.Status.STREAMING).exists()


@pytest.mark.django_db(transaction=True)
async def test_first_request_of_a_process_reaps_every_orphaned_reply(user, runner):
    from asgiref.sync import sync_to_async

    orphan = await sync_to_async(streaming_reply)(user, "Cut short", 0)
    served = []

    async def app(scope, receive, send):
        served.append(scope["type"])

    reaper = StartupReaper(app)
    await reaper({"type": "http"}, None, None)
    await reaper({"type": "http"}, None, None)

    assert served == ["http", "http"]
    await orphan.arefresh_from_db()
    assert orphan.status == Message.Status.INTERRUPTED and orphan.text == "Cut short"
    assert orphan.error["code"] == "interrupted"
