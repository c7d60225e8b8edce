"""A reply's usage and cost are the sum of its calls' charges: on the page, in the frames and in
the admin, whatever the stream reported (issue 15, rough edge 1)."""

import importlib

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps

from accounts.models import LedgerEntry
from conversations import services, settlement
from conversations.models import Conversation, Message

from .test_views import make_conversation
from .wsclient import ChatSocket, created

pytestmark = [pytest.mark.django_db(transaction=True)]
USAGE = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


async def charges_of(message_id: int) -> list[LedgerEntry]:
    entries = LedgerEntry.objects.filter(message_id=message_id, kind=LedgerEntry.Kind.CHARGE)
    return [entry async for entry in entries.order_by("id")]


def summed(charges: list[LedgerEntry]) -> dict:
    return {field: sum(getattr(c, field) for c in charges) for field in USAGE}


async def test_a_stopped_reply_shows_what_the_ledger_charged_not_the_streams_count(
    upstream, alice, runner, async_client, django_user_model
):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Long !tokens=400 !delay=20")
    frames = await socket.receive_deltas(3)
    reply = created(frames, "assistant")
    await socket.send({"type": "stop", "message": reply["id"]})
    completed = (await socket.receive_until("message.completed"))[-1]

    [charge] = await charges_of(reply["id"])
    assert charge.estimated and charge.output_tokens > 1, "estimated from the text streamed"
    assert completed["status"] == "stopped"
    assert completed["usage"] == summed([charge]), "the frame says what was charged"
    assert completed["cost"] == format(charge.cost.normalize(), "f")
    stored = await Message.objects.aget(pk=reply["id"])
    assert stored.usage == summed([charge]) and stored.cost == charge.cost

    root = await sync_to_async(django_user_model.objects.create_superuser)("root", "r@x.y", "pw")
    await async_client.aforce_login(root)
    url = f"/admin/conversations/conversation/{reply['conversation']}/change/"
    page = (await async_client.get(url)).content.decode()
    assert f"&quot;output_tokens&quot;: {charge.output_tokens}" in page, "the admin agrees"
    await socket.close()


async def test_a_continued_reply_shows_the_sum_of_its_calls(upstream, alice, runner, async_client):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Count !tokens=10 !cut=4")
    frames = await socket.receive_until("message.completed")
    reply = created(frames, "assistant")
    assert frames[-1]["usage"]["output_tokens"] == 4
    await socket.send({"type": "continue", "message": reply["id"]})
    completed = (await socket.receive_until("message.completed"))[-1]

    charges = await charges_of(reply["id"])
    assert len(charges) == 2
    assert completed["usage"] == summed(charges) and completed["usage"]["output_tokens"] == 8
    assert completed["cost"] == format(sum(c.cost for c in charges).normalize(), "f")
    await async_client.aforce_login(alice)
    page = (await async_client.get(f"/c/{frames[0]['conversation']['id']}/")).content.decode()
    assert '"output_tokens": 8' in page and f'"cost": "{completed["cost"]}"' in page
    await socket.close()


async def test_user_messages_have_no_cost(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Hi !tokens=2")
    frames = await socket.receive_until("message.completed")
    assert created(frames, "user")["cost"] is None
    assert created(frames, "assistant")["cost"] is None, "nothing charged yet"
    assert frames[-1]["cost"] is not None
    await socket.close()


def test_the_migration_links_older_conversations_into_one_branch(django_user_model):
    """Each reply follows its question (a retried reply and the failed one become versions),
    each question the message before it; the last message ends the visible branch."""
    user = django_user_model.objects.create_user("carol")
    conversation = make_conversation(user)

    def add(role: str, status: str = Message.Status.COMPLETE) -> Message:
        return Message.objects.create(conversation=conversation, role=role, status=status)

    first, failed, retried = add("user"), add("assistant", "failed"), add("assistant")
    second, answer = add("user"), add("assistant")
    migration = importlib.import_module(
        "conversations.migrations.0011_branches_titles_and_reply_cost"
    )
    migration.link_messages(apps, None)

    parents = dict(Message.objects.values_list("id", "parent_id"))
    assert parents == {
        first.pk: None,
        failed.pk: first.pk,
        retried.pk: first.pk,
        second.pk: retried.pk,
        answer.pk: second.pk,
    }
    assert Conversation.objects.get(pk=conversation.pk).leaf_id == answer.pk


def test_an_interrupted_reply_shows_what_the_reaper_charged(upstream, chat_model, make_user):
    user = make_user("dave")
    result = services.send_message(user, None, "Long question")
    text = "An answer cut off by a dying worker " * 10
    Message.objects.filter(pk=result.reply.pk).update(
        content=[{"type": "text", "text": text}], usage={"input_tokens": 12, "output_tokens": 1}
    )

    [reaped] = settlement.reap_interrupted(all_streaming=True)

    [charge] = LedgerEntry.objects.filter(message=reaped, kind=LedgerEntry.Kind.CHARGE)
    assert charge.output_tokens > 1 and charge.estimated
    stored = Message.objects.get(pk=reaped.pk)
    assert stored.status == "interrupted" and stored.usage == summed([charge])
    assert stored.cost == charge.cost
