"""Automatic titles: after the first reply a small model names the chat, charged to the member as
a call with no message; skipped when the quota is short or the call fails; never over a rename."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.models import LedgerEntry, Quota, UpstreamCall
from conversations import services, titles
from conversations.models import CatalogModel, Conversation

from .wsclient import ChatSocket

pytestmark = [pytest.mark.django_db(transaction=True)]


async def first_reply(socket: ChatSocket, text: str) -> int:
    await socket.send_text(text)
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    return frames[0]["conversation"]["id"]


def title_calls():
    return UpstreamCall.objects.filter(source=UpstreamCall.Source.TITLE)


async def test_a_title_is_written_after_the_first_reply_and_charged_with_no_message(
    upstream, alice, runner, auto_titles
):
    socket = await ChatSocket.open(alice)
    conversation_id = await first_reply(socket, "Planning a spring trip to Kyoto !tokens=3")

    frame = await socket.receive()

    assert frame == {
        "type": "conversation.updated",
        "conversation": conversation_id,
        "title": "Planning a spring trip to",
    }
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.title == "Planning a spring trip to"
    assert conversation.title_source == Conversation.TitleSource.GENERATED
    [call] = [c async for c in title_calls()]
    assert call.message_id is None and call.status == UpstreamCall.Status.SETTLED
    assert call.model == auto_titles.model_id and call.user_id == alice.pk
    entries = [e async for e in LedgerEntry.objects.filter(call=call).order_by("id")]
    assert [e.kind for e in entries] == ["hold", "release", "charge"], "held, settled once"
    assert entries[-1].cost > 0 and entries[-1].message_id is None and not entries[-1].estimated
    body = upstream.message_bodies()[-1]
    assert body["model"] == auto_titles.model_id and body["system"] == titles.TITLE_SYSTEM
    assert "Planning a spring trip to Kyoto" in body["messages"][0]["content"][0]["text"]
    assert body["metadata"]["user_id"] == upstream.message_bodies()[0]["metadata"]["user_id"]

    await socket.send_text("And in autumn? !tokens=2", conversation=conversation_id)
    await socket.receive_until("message.completed")
    await runner.wait_title(conversation_id)
    assert await title_calls().acount() == 1, "only after the first reply"
    await socket.close()


async def test_no_title_call_when_the_quota_cannot_cover_it(upstream, alice, runner, auto_titles):
    # The chat model is cheap here; the title model's price is beyond the member's quota.
    await CatalogModel.objects.filter(pk=auto_titles.pk).aupdate(
        price_input=Decimal("900000"), price_output=Decimal("900000")
    )
    await Quota.objects.aupdate_or_create(user=alice, defaults={"cost_limit": Decimal("1")})
    socket = await ChatSocket.open(alice)
    conversation_id = await first_reply(socket, "Planning a spring trip !tokens=3")

    await runner.wait_title(conversation_id)

    assert await title_calls().acount() == 0
    assert not await LedgerEntry.objects.filter(message__isnull=True).aexists(), "nothing held"
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.title == "Planning a spring trip !tokens=3", "the first words stay"
    assert await socket.receive_nothing()
    await socket.close()


async def test_a_failed_title_call_keeps_the_first_words_and_is_settled(
    upstream, alice, runner, auto_titles
):
    socket = await ChatSocket.open(alice)
    conversation_id = await first_reply(socket, "Trip ideas !titlefault=400 !tokens=2")

    await runner.wait_title(conversation_id)

    [call] = [c async for c in title_calls()]
    assert call.status == UpstreamCall.Status.SETTLED
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.title == "Trip ideas !titlefault=400 !tokens=2"
    assert conversation.title_source == Conversation.TitleSource.KEPT
    assert await socket.receive_nothing()
    await socket.close()


async def test_a_title_never_replaces_one_the_member_chose(
    upstream, alice, runner, auto_titles, monkeypatch
):
    begin = titles.begin_title

    def renamed_meanwhile(conversation_id: int, reply_id: int):
        call = begin(conversation_id, reply_id)
        services.rename_conversation(alice, conversation_id, "My own name")
        return call

    monkeypatch.setattr(titles, "begin_title", renamed_meanwhile)
    socket = await ChatSocket.open(alice)
    conversation_id = await first_reply(socket, "Planning a spring trip !tokens=3")

    await runner.wait_title(conversation_id)

    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert (conversation.title, conversation.title_source) == ("My own name", "renamed")
    [call] = [c async for c in title_calls()]
    assert call.status == UpstreamCall.Status.SETTLED, "the call made is charged all the same"
    assert await socket.receive_nothing()
    await socket.close()


async def test_a_chat_renamed_before_its_first_reply_ends_gets_no_title_call(
    upstream, alice, runner, auto_titles
):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Slow start !tokens=3 !ttft=300")
    frames = await socket.receive_until("message.created")
    conversation_id = frames[0]["conversation"]["id"]
    await sync_to_async(services.rename_conversation)(alice, conversation_id, "Mine")
    await socket.receive_until("message.completed")

    await runner.wait_title(conversation_id)

    assert await title_calls().acount() == 0
    await socket.close()


async def test_without_a_title_model_chats_keep_their_first_words(
    upstream, alice, runner, auto_titles
):
    await CatalogModel.objects.aupdate(is_title_model=False)
    socket = await ChatSocket.open(alice)
    conversation_id = await first_reply(socket, "Planning a spring trip !tokens=3")
    await runner.wait_title(conversation_id)
    assert await title_calls().acount() == 0
    await socket.close()


def test_titles_are_one_line_without_quotes_or_a_final_period():
    assert titles.clean_title(' "Kyoto in spring."\n') == "Kyoto in spring"
    assert titles.clean_title("Title: 京都の春。") == "京都の春"
    assert len(titles.clean_title("word " * 100)) == titles.TITLE_CHARS


async def test_a_rename_in_the_page_reaches_the_conversations_other_tabs(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    conversation_id = await first_reply(socket, "Planning a spring trip !tokens=3")
    client = Client()
    await sync_to_async(client.force_login)(alice)

    response = await sync_to_async(client.post)(
        f"/c/{conversation_id}/rename/", {"title": "  Kyoto   in April "}
    )

    assert response.status_code == 302
    assert await socket.receive() == {
        "type": "conversation.updated",
        "conversation": conversation_id,
        "title": "Kyoto in April",
    }
    await socket.close()


def test_a_title_model_set_without_signals_is_seen_by_the_next_title(settings):
    """Another process (a shell, a script) may set it with a plain UPDATE: no cache may hide it."""
    title_model = titles.title_model
    settings.DEMO_MODE = False
    CatalogModel.objects.update(is_title_model=False)
    assert title_model() is None
    CatalogModel.objects.filter(model_id="claude-haiku-4-5-20251001").update(is_title_model=True)
    assert title_model().model_id == "claude-haiku-4-5-20251001"
