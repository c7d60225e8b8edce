"""Prefill and Continue: the reply's text goes upstream as the final assistant message, and
the new text joins it; each call of a continued reply is held and charged on its own."""

import pytest

from accounts.models import LedgerEntry, Quota, UpstreamCall
from conversations.models import Conversation, Message

from .wsclient import ChatSocket, created, deltas, text_of

pytestmark = [pytest.mark.django_db(transaction=True)]


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(1, n + 1))


def question(text: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def answer(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


async def test_a_prefill_starts_the_reply_and_goes_upstream_without_trailing_space(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    await socket.send(
        {
            "type": "send",
            "conversation": None,
            "text": "Write to Bob !tokens=3",
            "prefill": "Dear Bob,  \n",
            "client_id": "p",
        }
    )
    frames = await socket.receive_until("message.completed")

    assert upstream.requests[-1]["body"]["messages"] == [
        question("Write to Bob !tokens=3"),
        answer("Dear Bob,"),
    ]
    reply = created(frames, "assistant")
    assert reply["content"] == [{"type": "text", "text": "Dear Bob,"}], "shown at once"
    assert {f["block"] for f in deltas(frames)} == {0}, "the answer goes on in the same block"
    stored = await Message.objects.aget(pk=reply["id"])
    assert stored.content == [{"type": "text", "text": "Dear Bob, w1 w2 w3 "}]
    assert frames[-1]["content"] == stored.content
    await socket.close()


async def test_a_prefill_that_is_not_text_is_refused(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send(
        {"type": "send", "conversation": None, "text": "Hi", "prefill": 3, "client_id": "p"}
    )
    frame = await socket.receive()
    assert frame["type"] == "error" and frame["code"] == "invalid_frame"
    assert await Message.objects.acount() == 0 and upstream.requests == []
    await socket.close()


async def cut_reply(socket, text: str = "Count !tokens=10 !cut=4") -> tuple[dict, list[dict]]:
    await socket.send_text(text)
    frames = await socket.receive_until("message.completed")
    return created(frames, "assistant"), frames


async def test_continue_sends_the_text_as_prefill_and_joins_the_new_text(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    reply, frames = await cut_reply(socket)
    assert frames[-1]["stop_reason"] == "max_tokens"
    first_seq = frames[-1]["seq"]

    await socket.send({"type": "continue", "message": reply["id"], "client_id": "more"})
    more = await socket.receive_until("message.completed")

    assert upstream.requests[-1]["body"]["messages"] == [
        question("Count !tokens=10 !cut=4"),
        answer("w1 w2 w3 w4"),
    ]
    continued = more[0]
    assert continued["type"] == "message.continued" and continued["client_id"] == "more"
    assert continued["message"]["id"] == reply["id"]
    assert continued["message"]["status"] == "streaming"
    assert continued["message"]["seq"] == first_seq
    seqs = [f["seq"] for f in deltas(more)]
    assert seqs == list(range(first_seq + 1, first_seq + 1 + len(seqs))), "seq keeps counting"
    assert {f["block"] for f in deltas(more)} == {0}
    assert text_of(more) == " w5 w6 w7 w8 "
    assert continued["message"]["content"] == [{"type": "text", "text": "w1 w2 w3 w4"}]
    assert more[-1]["content"] == [{"type": "text", "text": "w1 w2 w3 w4 w5 w6 w7 w8 "}]

    await socket.send({"type": "continue", "message": reply["id"]})
    last = await socket.receive_until("message.completed")
    assert last[-1]["status"] == "complete" and last[-1]["stop_reason"] == "end_turn"
    stored = await Message.objects.aget(pk=reply["id"])
    assert stored.text == "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 ", "one seamless answer"
    assert stored.seq == last[-1]["seq"]
    assert await Message.objects.acount() == 2, "no new message: the same reply went on"
    await socket.close()


async def test_each_call_of_a_continued_reply_is_held_and_charged_once(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    reply, _ = await cut_reply(socket)
    await socket.send({"type": "continue", "message": reply["id"]})
    await socket.receive_until("message.completed")

    calls = [c async for c in UpstreamCall.objects.filter(message_id=reply["id"]).order_by("id")]
    assert len(calls) == 2
    assert all(c.status == UpstreamCall.Status.SETTLED for c in calls)
    charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE, call__in=calls)
    assert [c.output_tokens async for c in charges.order_by("id")] == [4, 4]
    assert await LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD).acount() == 2
    await socket.close()


async def test_an_interrupted_reply_can_be_continued(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    reply, _ = await cut_reply(socket, "Count !tokens=6 !cut=3")
    await Message.objects.filter(pk=reply["id"]).aupdate(
        status="interrupted", stop_reason="", error={"code": "interrupted", "detail": "x"}
    )
    await socket.send({"type": "continue", "message": reply["id"]})
    frames = await socket.receive_until("message.completed")

    assert frames[-1]["status"] == "complete" and frames[-1]["error"] is None
    assert (await Message.objects.aget(pk=reply["id"])).text == "w1 w2 w3 w4 w5 w6 "
    await socket.close()


async def refused(socket, message_id: int) -> dict:
    await socket.send({"type": "continue", "message": message_id, "client_id": "no"})
    frame = await socket.receive()
    assert frame["type"] == "error" and frame["client_id"] == "no"
    return frame


async def test_a_reply_that_ended_by_itself_is_not_continuable(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    reply, _ = await cut_reply(socket, "Count !tokens=2")
    frame = await refused(socket, reply["id"])
    assert frame["code"] == "not_continuable" and "cut short" in frame["detail"]
    assert len(upstream.requests) == 1
    await socket.close()


async def test_only_the_last_reply_can_be_continued(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    reply, frames = await cut_reply(socket)
    conversation = frames[0]["conversation"]["id"]
    await socket.send_text("Next !tokens=2", conversation=conversation)
    await socket.receive_until("message.completed")

    frame = await refused(socket, reply["id"])
    assert frame["code"] == "invalid_frame" and "last reply" in frame["detail"]
    await socket.close()


async def test_someone_elses_reply_is_not_found(upstream, alice, bob, runner):
    socket = await ChatSocket.open(alice)
    reply, _ = await cut_reply(socket)
    other = await ChatSocket.open(bob)
    assert (await refused(other, reply["id"]))["code"] == "not_found"
    await socket.close()
    await other.close()


async def test_a_continue_while_the_reply_streams_is_refused_as_busy(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Slow !tokens=200 !delay=20")
    frames = await socket.receive_deltas(1)
    reply = created(frames, "assistant")
    frame = await refused(socket, reply["id"])
    assert frame["code"] == "busy"
    await socket.send({"type": "stop", "message": reply["id"]})
    await socket.receive_until("message.completed")
    await socket.close()


async def test_a_continue_over_quota_is_refused_and_the_reply_stays_as_it_was(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    reply, _ = await cut_reply(socket)
    before = await Message.objects.aget(pk=reply["id"])
    await Quota.objects.aupdate_or_create(user=alice, defaults={"token_limit": 1})

    frame = await refused(socket, reply["id"])

    assert frame["code"] == "quota_exceeded"
    after = await Message.objects.aget(pk=reply["id"])
    assert (after.status, after.content, after.seq, after.stop_reason) == (
        before.status,
        before.content,
        before.seq,
        before.stop_reason,
    )
    assert await UpstreamCall.objects.acount() == 1 and len(upstream.requests) == 1
    await socket.close()


async def test_with_thinking_on_continue_asks_for_the_rest_in_a_new_turn(upstream, alice, runner):
    conversation = await Conversation.objects.acreate(
        user=alice,
        model="claude-sonnet-4-5-20250929",
        settings={"thinking": {"enabled": True, "budget_tokens": 1024}},
    )
    socket = await ChatSocket.open(alice)
    # The thinking block takes 13 pieces: the cut falls in the answer.
    await socket.send_text("Count !tokens=10 !cut=16", conversation=conversation.pk)
    first = await socket.receive_until("message.completed")
    assert first[-1]["stop_reason"] == "max_tokens"
    reply = created(first, "assistant")

    await socket.send({"type": "continue", "message": reply["id"], "client_id": "turn"})
    frames = await socket.receive_until("message.completed")

    asked = created(frames, "user")
    assert asked["content"] == [{"type": "text", "text": "Continue from where you stopped."}]
    new_reply = created(frames, "assistant")
    assert new_reply["id"] > reply["id"]
    body = upstream.requests[-1]["body"]
    assert body["messages"][-1]["role"] == "user", "no prefill with thinking on"
    assert body["thinking"]["type"] == "enabled"
    await socket.close()


async def test_a_prefill_that_looks_like_a_secret_is_refused_until_confirmed(
    upstream, alice, runner
):
    key = "sk-ant-api03-" + "a" * 93
    socket = await ChatSocket.open(alice)
    frame = {"type": "send", "conversation": None, "text": "Hi", "prefill": key, "client_id": "s"}
    await socket.send(frame)
    refused_frame = await socket.receive()
    assert refused_frame["code"] == "secret_detected"
    assert await Message.objects.acount() == 0
    await socket.close()


async def test_a_socket_joining_during_a_continue_sees_one_answer_at_the_right_seq(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    reply, frames = await cut_reply(socket, "Count !tokens=40 !cut=20 !delay=20")
    conversation = frames[0]["conversation"]["id"]
    await socket.send({"type": "continue", "message": reply["id"]})
    await socket.receive_deltas(3)

    other = await ChatSocket.open(alice)
    await other.send({"type": "subscribe", "conversation": conversation})
    joined = await other.receive_until("message.completed")

    snapshot = next(f["message"] for f in joined if f["type"] == "message.created")
    assert snapshot["content"][0]["text"].startswith(words(21))
    later = deltas(joined)
    assert later and later[0]["seq"] == snapshot["seq"] + 1
    rebuilt = snapshot["content"][0]["text"] + "".join(d["text"] for d in later)
    assert rebuilt == joined[-1]["content"][0]["text"] == words(40) + " "
    await socket.close()
    await other.close()


async def test_a_continuation_stopped_midway_keeps_both_parts_and_charges_each_call(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    reply, _ = await cut_reply(socket, "Count !tokens=200 !cut=6 !delay=150")
    await socket.send({"type": "continue", "message": reply["id"]})
    await socket.receive_deltas(2)
    await socket.send({"type": "stop", "message": reply["id"]})
    frames = await socket.receive_until("message.completed")

    assert frames[-1]["status"] == "stopped"
    stored = await Message.objects.aget(pk=reply["id"])
    assert stored.text.startswith("w1 w2 w3 w4 w5 w6 w7 w8")
    assert not stored.text.startswith("w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12"), "stopped"
    assert stored.content == frames[-1]["content"] and len(stored.content) == 1
    calls = UpstreamCall.objects.filter(message_id=reply["id"])
    assert [c.status async for c in calls] == [UpstreamCall.Status.SETTLED] * 2
    await socket.close()
