"""Who may use the socket: the signed-in owner only, from an allowed origin."""

import pytest

from conversations.models import Message

from .wsclient import ChatSocket, created, deltas

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_other_users_conversation_is_not_found_and_socket_stays_open(
    upstream, alice, bob, runner
):
    bobs = await ChatSocket.open(bob)
    await bobs.send_text("Bob's secret plan !tokens=60 !delay=10")
    bob_frames = await bobs.receive_deltas(1)
    conversation_id = bob_frames[0]["conversation"]["id"]
    bob_reply = created(bob_frames, "assistant")["id"]
    bob_question = created(bob_frames, "user")["id"]

    alices = await ChatSocket.open(alice)
    attempts = [
        {"type": "subscribe", "conversation": conversation_id, "client_id": "sub"},
        {
            "type": "send",
            "conversation": conversation_id,
            "text": "Hijack",
            "attachments": [],
            "client_id": "send",
        },
        {"type": "stop", "message": bob_reply, "client_id": "stop"},
        {"type": "stop", "message": bob_question, "client_id": "stop-user"},
        {"type": "retry", "message": bob_reply, "client_id": "retry"},
    ]
    for attempt in attempts:
        await alices.send(attempt)
        frame = await alices.receive()
        assert frame["type"] == "error", attempt
        assert (frame["code"], frame["client_id"]) == ("not_found", attempt["client_id"])
        assert "secret" not in frame["detail"]

    # Bob's reply went on untouched, and none of it reached Alice.
    bob_frames += await bobs.receive_until("message.completed")
    assert bob_frames[-1]["status"] == "complete"
    assert await alices.receive_nothing(0.2)
    assert await Message.objects.filter(conversation_id=conversation_id).acount() == 2

    # Alice's socket is still open and serves her own requests.
    await alices.send_text("My own question !tokens=2")
    frames = await alices.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    assert all(f["message"] != bob_reply for f in deltas(frames))
    await alices.close()
    await bobs.close()


async def test_anonymous_socket_is_closed_with_4401(upstream, runner):
    socket = await ChatSocket.open(None)
    assert await socket.receive_close() == 4401
    await socket.close()


async def test_socket_from_foreign_origin_is_refused(upstream, alice, runner):
    socket = await ChatSocket.open(alice, origin="https://evil.example")
    assert socket.connected is False
    await socket.close()


async def test_socket_without_origin_is_refused(upstream, alice, runner):
    socket = await ChatSocket.open(alice, origin=None)
    assert socket.connected is False
    await socket.close()
