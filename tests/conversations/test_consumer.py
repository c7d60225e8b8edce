"""The WebSocket consumer against the fake upstream: contract v1 frames end to end."""

import pytest

from conversations.models import Message
from conversations.runner import get_runner

from .wsclient import ChatSocket

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
async def runner():
    runner = get_runner()
    yield runner
    await runner.shutdown()


def text_of(frames, message_id):
    return "".join(
        f["text"] for f in frames if f["type"] == "message.delta" and f["message"] == message_id
    )


async def test_send_creates_conversation_and_streams_reply(upstream, make_user, runner):
    user = await sync(make_user)()
    socket = await ChatSocket.open(user)
    await socket.send(
        {
            "type": "send",
            "conversation": None,
            "text": "hello !tokens=5",
            "attachments": [],
            "client_id": "c1",
        }
    )
    frames = await socket.receive_until("message.completed")
    created = frames[0]
    assert created["type"] == "conversation.created" and created["client_id"] == "c1"
    user_msg, reply = [f["message"] for f in frames if f["type"] == "message.created"]
    assert (
        user_msg["role"] == "user"
        and reply["role"] == "assistant"
        and reply["status"] == "streaming"
    )
    completed = frames[-1]
    assert completed["status"] == "complete" and completed["stop_reason"] == "end_turn"
    assert text_of(frames, reply["id"]) == "w1 w2 w3 w4 w5 "
    seqs = [f["seq"] for f in frames if f["type"] == "message.delta"]
    assert seqs == list(range(1, len(seqs) + 1))
    stored = await Message.objects.aget(pk=reply["id"])
    assert stored.status == "complete" and stored.text == "w1 w2 w3 w4 w5 "
    assert stored.usage["output_tokens"] == 5
    await socket.close()


def sync(fn):
    from asgiref.sync import sync_to_async

    return sync_to_async(fn)
