"""A reply cut short because the quota lowered its max_tokens says so (issue 15, rough edge 2):
`message.completed`, the chat page and a reconnecting socket carry `max_tokens_lowered` and the
admitted `max_tokens`, so the page can say "your quota covered only N tokens" beside Continue."""

import json
import re

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.test import Client

from accounts import ledger
from accounts.request_bound import request_token_bound
from conversations import services
from conversations.models import Message

from .wsclient import ChatSocket, created

pytestmark = [pytest.mark.django_db(transaction=True)]
ROOM = 40  # output tokens the quota leaves after the prompt


class _Rollback(Exception):
    pass


def _prompt_bound(user, text: str) -> int:
    """The admission bound of a first message, found in a transaction rolled back."""
    try:
        with transaction.atomic():
            result = services.send_message(user, None, text)
            raise _Rollback(request_token_bound(result.request))
    except _Rollback as found:
        return found.args[0]


def _leave_room_for(user, text: str, room: int) -> None:
    quota = ledger.quota_for(user)
    quota.token_limit, quota.period = _prompt_bound(user, text) + room, "month"
    quota.save()


def _chat_state(user, conversation_id: int) -> dict:
    client = Client()
    client.force_login(user)
    page = client.get(f"/c/{conversation_id}/").content.decode()
    found = re.search(r'<script id="chat-state" type="application/json">(.*?)</script>', page)
    return json.loads(found.group(1))


async def test_a_reply_cut_by_the_quota_says_so_live_on_reload_and_on_reconnect(
    upstream, alice, runner
):
    text = "Tell me everything !tokens=200"
    await sync_to_async(_leave_room_for)(alice, text, ROOM)
    socket = await ChatSocket.open(alice)

    await socket.send_text(text)
    frames = await socket.receive_until("message.completed")

    completed = frames[-1]
    assert completed["stop_reason"] == "max_tokens"
    assert completed["max_tokens_lowered"] is True
    assert completed["max_tokens"] == ROOM
    assert upstream.requests[-1]["body"]["max_tokens"] == ROOM
    reply = created(frames, "assistant")
    state = await sync_to_async(_chat_state)(alice, reply["conversation"])
    stored = next(m for m in state["messages"] if m["id"] == reply["id"])
    assert stored["max_tokens_lowered"] is True and stored["max_tokens"] == ROOM
    await socket.close()

    # A tab that knew the reply as streaming learns how it ended, quota cut included.
    again = await ChatSocket.open(alice)
    await again.send(
        {"type": "subscribe", "conversation": reply["conversation"], "messages": [reply["id"]]}
    )
    ended = await again.receive_until("message.completed")
    assert ended[-1]["max_tokens_lowered"] is True and ended[-1]["max_tokens"] == ROOM
    await again.close()


async def test_a_reply_cut_at_its_own_length_limit_is_not_blamed_on_the_quota(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)

    await socket.send_text("Count !tokens=10 !cut=4")
    frames = await socket.receive_until("message.completed")

    assert frames[-1]["stop_reason"] == "max_tokens"
    assert frames[-1]["max_tokens_lowered"] is False
    reply = created(frames, "assistant")
    stored = await Message.objects.aget(pk=reply["id"])
    state = await sync_to_async(_chat_state)(alice, stored.conversation_id)
    assert state["messages"][-1]["max_tokens_lowered"] is False
    await socket.close()
