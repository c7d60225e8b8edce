"""The retry frame: a new reply after one that ended badly, without the bad one as history."""

import pytest

from conversations.models import Message

from .conftest import API_KEY
from .wsclient import ChatSocket, created, text_of

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_retry_after_failed_reply_streams_a_new_reply(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Hello there !tokens=4")
    first = await socket.receive_until("message.completed")
    conversation_id = first[0]["conversation"]["id"]

    upstream.api_key = "sk-ant-another-key"  # the next request is refused: the reply fails
    try:
        await socket.send_text("And now? !tokens=3", conversation=conversation_id)
        failing = await socket.receive_until("message.completed")
    finally:
        upstream.api_key = API_KEY
    failed = created(failing, "assistant")
    assert failing[-1]["status"] == "failed"

    await socket.send({"type": "retry", "message": failed["id"], "client_id": "again"})
    frames = await socket.receive_until("message.completed")

    assert [f["type"] for f in frames if f["type"] != "message.delta"] == [
        "conversation.branch",
        "message.created",
        "message.completed",
    ], "a retry creates only the new reply, no user message"
    # The new reply is a new version of the failed one, which every tab sets aside.
    branch = [m["id"] for m in frames[0]["messages"]]
    assert failed["id"] not in branch and branch[-1] == failed["parent"]
    reply = created(frames, "assistant")
    assert reply["id"] > failed["id"] and frames[1]["client_id"] == "again"
    assert reply["versions"] == {"index": 1, "count": 2, "ids": [failed["id"], reply["id"]]}
    assert reply["status"] == "streaming"
    assert frames[-1]["status"] == "complete"
    assert text_of(frames, reply["id"]) == "w1 w2 w3 "
    stored = await Message.objects.aget(pk=reply["id"])
    assert stored.status == "complete" and stored.text == "w1 w2 w3 "
    assert (await Message.objects.aget(pk=failed["id"])).status == "failed"
    assert upstream.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello there !tokens=4"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "w1 w2 w3 w4"}]},
        {"role": "user", "content": [{"type": "text", "text": "And now? !tokens=3"}]},
    ]
    await socket.close()


async def test_failed_partial_reply_is_not_sent_upstream_as_history(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Break midway !fault=error_mid !tokens=20")
    frames = await socket.receive_until("message.completed")
    failed = created(frames, "assistant")
    assert frames[-1]["status"] == "failed" and text_of(frames, failed["id"])

    await socket.send({"type": "retry", "message": failed["id"]})
    await socket.receive_until("message.completed")  # the same directive fails it again

    sent = upstream.requests[-1]["body"]["messages"]
    assert sent == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Break midway !fault=error_mid !tokens=20"}],
        }
    ]
    await socket.close()


async def test_retry_of_complete_or_earlier_reply_is_refused(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("One !tokens=2")
    first = await socket.receive_until("message.completed")
    conversation_id = first[0]["conversation"]["id"]
    await socket.send_text("Two !tokens=2", conversation=conversation_id)
    second = await socket.receive_until("message.completed")
    count = await Message.objects.acount()

    refused = {
        "complete last reply": created(second, "assistant")["id"],
        "earlier reply": created(first, "assistant")["id"],
        "user message": created(second, "user")["id"],
    }
    for name, message_id in refused.items():
        await socket.send({"type": "retry", "message": message_id, "client_id": name})
        frame = await socket.receive()
        assert (frame["type"], frame["client_id"]) == ("error", name)
        assert frame["code"] == "invalid_frame", name
    assert await socket.receive_nothing(0.1)
    assert await Message.objects.acount() == count, "a refused retry stores nothing"
    await socket.close()


async def test_retry_of_a_failed_but_not_last_reply_is_refused(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Fails !fault=401")
    first = await socket.receive_until("message.completed")
    failed = created(first, "assistant")
    await socket.send_text("Moving on !tokens=2", conversation=first[0]["conversation"]["id"])
    await socket.receive_until("message.completed")

    await socket.send({"type": "retry", "message": failed["id"], "client_id": "old"})
    frame = await socket.receive()
    assert (frame["type"], frame["code"], frame["client_id"]) == ("error", "invalid_frame", "old")
    await socket.close()
