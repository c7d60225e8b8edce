"""A reply's state while it streams: stop, join mid-stream, checkpoints, shutdown, DB writes."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async

from conversations import services, settlement
from conversations.models import Message
from tests.waiting import eventually

from .wsclient import ChatSocket, created, deltas, text_of

pytestmark = [pytest.mark.django_db(transaction=True)]

SLOW = "Tell me a long story !tokens=400 !delay=20"


async def test_stop_mid_stream_keeps_the_partial_text_the_socket_saw(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text(SLOW)
    frames = await socket.receive_deltas(3)
    reply = created(frames, "assistant")

    await socket.send({"type": "stop", "message": reply["id"], "client_id": "stop"})
    frames += await socket.receive_until("message.completed")

    completed = frames[-1]
    assert completed["message"] == reply["id"]
    assert completed["status"] == "stopped" and completed["error"] is None
    seen = text_of(frames, reply["id"])
    assert seen.startswith("w1 w2 w3 ") and len(seen.split()) < 400
    stored = await Message.objects.aget(pk=reply["id"])
    assert stored.status == "stopped"
    assert stored.text == seen, "the stored partial reply is what the reader saw"
    assert stored.seq == deltas(frames)[-1]["seq"] == completed["seq"]
    assert stored.heartbeat_at is None
    assert await socket.receive_nothing(0.2), "no frames after message.completed"
    await socket.close()


async def test_stop_of_a_finished_reply_changes_nothing(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Short !tokens=2")
    frames = await socket.receive_until("message.completed")
    reply = created(frames, "assistant")
    await socket.send({"type": "stop", "message": reply["id"]})
    assert await socket.receive_nothing(0.2)
    assert (await Message.objects.aget(pk=reply["id"])).status == "complete"
    await socket.close()


async def test_second_tab_joins_mid_stream_at_the_exact_seq(upstream, alice, runner):
    first = await ChatSocket.open(alice)
    await first.send_text("Join me !tokens=80 !delay=15")
    first_frames = await first.receive_deltas(3)
    conversation_id = first_frames[0]["conversation"]["id"]
    reply_id = created(first_frames, "assistant")["id"]

    second = await ChatSocket.open(alice)
    await second.send({"type": "subscribe", "conversation": conversation_id, "client_id": "s"})
    snapshot_frame = await second.receive()
    assert snapshot_frame["type"] == "message.created", "the snapshot comes before any delta"
    snapshot = snapshot_frame["message"]
    assert (snapshot["id"], snapshot["status"]) == (reply_id, "streaming")
    assert snapshot_frame["client_id"] == "s"
    assert snapshot["seq"] >= 1
    snapshot_text = "".join(b.get("text", "") for b in snapshot["content"])
    assert snapshot_text.startswith("w1 ")

    later = await second.receive_deltas(1)
    # Closing the tab that sent the message does not stop the reply.
    await first.close()
    later += await second.receive_until("message.completed")

    later_seqs = [f["seq"] for f in deltas(later, reply_id)]
    assert later_seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(later_seqs)))
    completed = later[-1]
    assert completed["status"] == "complete"
    final = "".join(f"w{i} " for i in range(1, 81))
    assert snapshot_text + text_of(later, reply_id) == final
    stored = await Message.objects.aget(pk=reply_id)
    assert stored.status == "complete" and stored.text == final
    await second.close()


async def test_subscribe_to_a_quiet_conversation_sends_nothing(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Done quickly !tokens=2")
    frames = await socket.receive_until("message.completed")
    other = await ChatSocket.open(alice)
    await other.send({"type": "subscribe", "conversation": frames[0]["conversation"]["id"]})
    assert await other.receive_nothing(0.2)
    await other.close()
    await socket.close()


async def test_partial_reply_is_checkpointed_while_streaming(upstream, alice, runner):
    runner.checkpoint_every = 0.2  # STREAM_CHECKPOINT_SECONDS, read when the runner is made
    socket = await ChatSocket.open(alice)
    await socket.send_text("Slowly !tokens=100 !delay=20")
    frames = await socket.receive_deltas(2)
    reply_id = created(frames, "assistant")["id"]

    def checkpointed() -> bool:
        message = Message.objects.get(pk=reply_id)
        return message.status == "streaming" and message.seq > 0 and message.text != ""

    await eventually(sync_to_async(checkpointed), timeout=3, what="a checkpoint")
    stored = await Message.objects.aget(pk=reply_id)
    assert stored.text.startswith("w1 ") and stored.usage.get("input_tokens", 0) > 0
    await socket.send({"type": "stop", "message": reply_id})
    await socket.receive_until("message.completed")
    await socket.close()


async def test_shutdown_mid_reply_stores_it_interrupted_with_partial_text(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text(SLOW)
    frames = await socket.receive_deltas(3)
    reply_id = created(frames, "assistant")["id"]

    await runner.shutdown()

    frames += [f for f in [await _maybe_receive(socket)] if f]
    stored = await Message.objects.aget(pk=reply_id)
    assert stored.status == "interrupted"
    assert stored.text == text_of(frames, reply_id) and stored.text.startswith("w1 w2 w3 ")
    assert stored.heartbeat_at is None
    assert stored.error is not None and stored.error.get("code") == "interrupted", (
        "the reader is told why the reply ended"
    )
    await socket.close()


async def _maybe_receive(socket: ChatSocket) -> dict | None:
    try:
        frame = await socket.receive(timeout=0.2)
    except TimeoutError:
        return None
    return frame if frame["type"] == "message.delta" else None


async def _writes_for_reply(socket: ChatSocket, runner, counter, text: str) -> list[str]:
    counter.start()
    await socket.send_text(text)
    frames = await socket.receive_until("message.completed", timeout=20)
    assert frames[-1]["status"] == "complete"
    # The frame goes out before the reply's task has quite ended: count its last statements.
    await asyncio.wait_for(runner.wait(created(frames, "assistant")["id"]), 5)
    return counter.stop()


async def test_database_writes_per_reply_do_not_grow_with_its_length(
    upstream, alice, runner, write_counter
):
    # The once-a-second checkpoint is bounded by time, not tokens; on a loaded machine the long
    # reply would outlast a second and write one. Counted here: writes per delta.
    runner.checkpoint_every = 60.0
    socket = await ChatSocket.open(alice)
    await socket.send_text("Warm up !tokens=1")
    await socket.receive_until("message.completed")

    short = await _writes_for_reply(socket, runner, write_counter, "Short one !tokens=20")
    long = await _writes_for_reply(socket, runner, write_counter, "Long one !tokens=2000")

    assert any("INSERT" in sql.upper() for sql in short), "the counter sees the runner's writes"
    assert len(long) == len(short), (
        f"{len(short)} writes for 20 tokens but {len(long)} for 2000:\n" + "\n".join(long)
    )
    await socket.close()


class Collector:
    def __init__(self) -> None:
        self.frames: list[dict] = []

    async def deliver(self, text: str) -> None:
        self.frames.append(json.loads(text))


async def test_stop_while_the_reply_is_being_stored_changes_nothing(
    upstream, alice, runner, monkeypatch
):
    original = settlement.finish_reply
    stop_sent = threading.Event()

    def slow_finish(*args, **kwargs):
        stop_sent.wait(5)  # the final write is under way when the stop arrives
        return original(*args, **kwargs)

    monkeypatch.setattr(settlement, "finish_reply", slow_finish)
    result = await sync_to_async(services.send_message)(alice, None, "hi !tokens=3")
    reader = Collector()
    await runner.join(result.conversation.pk, reader)
    runner.start(result.reply.pk, result.conversation.pk, result.request)
    await eventually(lambda: runner.generations[result.reply.pk].finishing, what="finishing")

    assert runner.stop(result.reply.pk) is False
    stop_sent.set()
    await runner.wait(result.reply.pk)

    completed = [f for f in reader.frames if f["type"] == "message.completed"]
    assert [f["status"] for f in completed] == ["complete"]
    stored = await Message.objects.aget(pk=result.reply.pk)
    assert stored.status == "complete" and stored.text == "w1 w2 w3 "


async def test_a_tab_coming_back_learns_what_ended_and_what_was_sent_meanwhile(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    await socket.send_text("first !tokens=3", client_id="away")
    frames = await socket.receive_until("message.completed")
    conversation = frames[0]["conversation"]["id"]
    first_reply = created(frames, "assistant")["id"]
    # Meanwhile, another tab sent a second message and got its reply.
    await socket.send_text("second !tokens=2", conversation, client_id="other-tab")
    later = await socket.receive_until("message.completed")
    await socket.close()

    # The tab was away while its reply streamed: it still thinks it is streaming.
    back = await ChatSocket.open(alice)
    await back.send(
        {
            "type": "subscribe",
            "conversation": conversation,
            "messages": [first_reply],
            "after": first_reply,
        }
    )
    completed = await back.receive()
    assert completed["type"] == "message.completed" and completed["message"] == first_reply
    assert completed["status"] == "complete" and completed["content"][0]["text"] == "w1 w2 w3 "
    new = [await back.receive(), await back.receive()]
    assert [f["message"]["role"] for f in new] == ["user", "assistant"]
    assert new[0]["client_id"] == "other-tab"
    assert new[1]["message"]["id"] == created(later, "assistant")["id"]
    assert await back.receive_nothing(0.1)
    await back.close()


@pytest.mark.parametrize("field", [{"messages": "1"}, {"messages": [True]}, {"after": "x"}])
async def test_subscribe_with_malformed_knowledge_is_refused(upstream, alice, runner, field):
    socket = await ChatSocket.open(alice)
    await socket.send_text("hi !tokens=1")
    frames = await socket.receive_until("message.completed")
    conversation = frames[0]["conversation"]["id"]
    await socket.send({"type": "subscribe", "conversation": conversation, **field})
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == "invalid_frame"
    await socket.close()
