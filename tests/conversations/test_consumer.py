"""The WebSocket consumer against the fake upstream: contract v1 frames end to end."""

import pytest
from asgiref.sync import sync_to_async

from conversations.fake_upstream import count_input_tokens
from conversations.models import Conversation, Message

from .wsclient import ChatSocket, created, deltas, text_of

pytestmark = [pytest.mark.django_db(transaction=True)]


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
    return sync_to_async(fn)


async def test_send_streams_frames_in_contract_order_and_stores_usage(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Cache me !tokens=12 !cache=300,1200", client_id="first")
    frames = await socket.receive_until("message.completed")

    kinds = [f["type"] for f in frames]
    assert kinds[:3] == ["conversation.created", "message.created", "message.created"]
    assert set(kinds[3:-1]) == {"message.delta"} and kinds[-1] == "message.completed"
    conversation = frames[0]["conversation"]
    assert conversation["title"] == "Cache me !tokens=12 !cache=300,1200"
    assert conversation["url"] == f"/c/{conversation['id']}/"
    user_msg, reply = frames[1]["message"], frames[2]["message"]
    assert [frames[1]["client_id"], frames[2]["client_id"]] == ["first", "first"]
    assert (user_msg["role"], user_msg["status"]) == ("user", "complete")
    assert user_msg["content"] == [{"type": "text", "text": "Cache me !tokens=12 !cache=300,1200"}]
    assert (reply["role"], reply["status"], reply["content"]) == ("assistant", "streaming", [])
    assert user_msg["conversation"] == reply["conversation"] == conversation["id"]

    seqs = [f["seq"] for f in deltas(frames)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert {(f["message"], f["block"], f["kind"]) for f in deltas(frames)} == {
        (reply["id"], 0, "text")
    }
    expected_text = "".join(f"w{i} " for i in range(1, 13))
    assert text_of(frames, reply["id"]) == expected_text

    completed = frames[-1]
    input_tokens = count_input_tokens(upstream.requests[-1]["body"])
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": 12,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 1200,
    }
    assert completed["message"] == reply["id"]
    assert (completed["status"], completed["stop_reason"], completed["error"]) == (
        "complete",
        "end_turn",
        None,
    )
    assert completed["usage"] == usage

    stored = await Message.objects.aget(pk=reply["id"])
    assert (stored.status, stored.stop_reason, stored.error) == ("complete", "end_turn", None)
    assert stored.text == expected_text and stored.usage == usage
    assert stored.seq == seqs[-1] and stored.heartbeat_at is None
    await socket.close()


async def test_send_to_existing_conversation_sends_earlier_turns_upstream(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("First question !tokens=3")
    first = await socket.receive_until("message.completed")
    conversation_id = first[0]["conversation"]["id"]

    await socket.send_text("Second question !tokens=2", conversation=conversation_id)
    second = await socket.receive_until("message.completed")

    assert second[0]["type"] == "message.created"  # no new conversation.created
    assert second[-1]["status"] == "complete"
    sent = upstream.requests[-1]["body"]
    assert sent["stream"] is True and sent["model"] == "claude-sonnet-4-5-20250929"
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "First question !tokens=3"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "w1 w2 w3"}]},
        {"role": "user", "content": [{"type": "text", "text": "Second question !tokens=2"}]},
    ]
    assert await Message.objects.filter(conversation_id=conversation_id).acount() == 4
    await socket.close()


async def test_upstream_user_id_is_opaque_and_stable_per_user(upstream, alice, bob, runner):
    alice.email = "alice@example.com"
    await alice.asave()
    ids = []
    for user in (alice, alice, bob):
        socket = await ChatSocket.open(user)
        await socket.send_text("Who am I? !tokens=1")
        await socket.receive_until("message.completed")
        ids.append(upstream.requests[-1]["body"]["metadata"]["user_id"])
        await socket.close()

    alice_id, alice_again, bob_id = ids
    assert isinstance(alice_id, str) and len(alice_id) >= 16
    assert alice_id == alice_again, "stable for a user across sockets and conversations"
    assert alice_id != bob_id
    for revealing in ("alice", "alice@example.com"):
        assert revealing not in alice_id.lower()
    assert alice_id not in (str(alice.pk), f"user:{alice.pk}") and not alice_id.isdigit()


async def test_send_while_reply_streams_is_refused_as_busy(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Long answer !tokens=400 !delay=10")
    frames = await socket.receive_deltas(1)
    conversation_id = frames[0]["conversation"]["id"]
    reply = created(frames, "assistant")

    await socket.send_text("Interrupting", conversation=conversation_id, client_id="second")
    while (frame := await socket.receive())["type"] == "message.delta":
        pass
    assert frame["type"] == "error"
    assert (frame["code"], frame["client_id"]) == ("busy", "second")
    assert frame["detail"]
    texts = await sync_to_async(
        lambda: [m.text for m in Message.objects.filter(conversation_id=conversation_id)]
    )()
    assert texts[0] == "Long answer !tokens=400 !delay=10" and len(texts) == 2
    assert "Interrupting" not in texts

    # Once the reply has ended, the conversation takes messages again.
    await socket.send({"type": "stop", "message": reply["id"]})
    await socket.receive_until("message.completed")
    await socket.send_text("Now it fits !tokens=1", conversation=conversation_id)
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    assert await Conversation.objects.acount() == 1
    await socket.close()


async def test_fast_reply_is_coalesced_into_few_frames(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Quickly !tokens=2000")
    frames = await socket.receive_until("message.completed", timeout=20)

    reply = created(frames, "assistant")
    sent = deltas(frames, reply["id"])
    assert text_of(frames, reply["id"]) == "".join(f"w{i} " for i in range(1, 2001))
    assert sent[0]["text"] == "w1 ", "the first delta goes out at once, alone"
    assert len(sent) < 200, f"{len(sent)} delta frames for 2000 tokens: not coalesced"
    assert [f["seq"] for f in sent] == list(range(1, len(sent) + 1))
    await socket.close()


async def test_a_server_failure_answers_internal_and_keeps_the_socket(
    upstream, alice, runner, monkeypatch
):
    from django.db import OperationalError

    from conversations import services

    real_send = services.send_message

    def failing_once(*args, **kwargs):
        monkeypatch.setattr(services, "send_message", real_send)
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "send_message", failing_once)
    socket = await ChatSocket.open(alice)
    await socket.send_text("hello", client_id="x1")
    error = await socket.receive()
    assert (error["type"], error["code"], error["client_id"]) == ("error", "internal", "x1")
    assert "locked" not in error["detail"]  # no internals in what people read

    await socket.send_text("again !tokens=1", client_id="x2")
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    await socket.close()
