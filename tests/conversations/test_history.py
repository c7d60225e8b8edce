"""The history sent upstream: a question left unanswered is not asked again with the next one
(conversations/prompt.py, decision 40)."""

import pytest

from conversations.models import Message
from conversations.prompt import history

from .wsclient import ChatSocket, created, text_of

pytestmark = [pytest.mark.django_db(transaction=True)]

SLOW = "Tell me a long story !tokens=400 !delay=20"


def user_turn(text: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def assistant_turn(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def sent_messages(upstream) -> list[dict]:
    return upstream.requests[-1]["body"]["messages"]


async def start(socket: ChatSocket, text: str, conversation: int | None = None) -> list[dict]:
    await socket.send_text(text, conversation=conversation)
    return await socket.receive_until("message.completed")


async def test_new_message_after_a_failed_turn_sends_only_the_new_question(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    first = await start(socket, "Hello !tokens=2")
    conversation = first[0]["conversation"]["id"]
    failing = await start(socket, "Break it !fault=error_mid !tokens=20", conversation)
    assert failing[-1]["status"] == "failed"

    frames = await start(socket, "Something else !tokens=3", conversation)

    # Before: the failed question went again, merged into this turn, and its fault with it.
    assert frames[-1]["status"] == "complete"
    assert sent_messages(upstream) == [
        user_turn("Hello !tokens=2"),
        assistant_turn("w1 w2"),
        user_turn("Something else !tokens=3"),
    ]
    later = await start(socket, "And later !tokens=2", conversation)
    assert later[-1]["status"] == "complete", "the failed question stays out for good"
    assert "Break it" not in repr(sent_messages(upstream))
    await socket.close()


async def test_retry_after_a_failed_turn_resends_its_question(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    first = await start(socket, "Hello !tokens=2")
    conversation = first[0]["conversation"]["id"]
    failing = await start(socket, "Fails once !fault=401", conversation)
    failed = created(failing, "assistant")

    await socket.send({"type": "retry", "message": failed["id"]})
    await socket.receive_until("message.completed")

    assert sent_messages(upstream) == [
        user_turn("Hello !tokens=2"),
        assistant_turn("w1 w2"),
        user_turn("Fails once !fault=401"),
    ]
    await socket.close()


async def test_new_message_after_an_interrupted_turn_sends_only_the_new_question(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    await socket.send_text(SLOW)
    frames = await socket.receive_deltas(3)
    conversation = frames[0]["conversation"]["id"]
    reply = created(frames, "assistant")
    await runner.shutdown()  # the process "dies": the reply is stored interrupted
    assert (await Message.objects.aget(pk=reply["id"])).status == "interrupted"
    await socket.close()

    socket = await ChatSocket.open(alice)
    done = await start(socket, "Never mind !tokens=2", conversation)

    assert done[-1]["status"] == "complete"
    assert sent_messages(upstream) == [user_turn("Never mind !tokens=2")]
    await socket.close()


async def test_retry_after_an_interrupted_turn_resends_its_question(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Interrupt me !tokens=400 !delay=20")
    frames = await socket.receive_deltas(3)
    reply = created(frames, "assistant")
    await runner.shutdown()
    await socket.close()

    socket = await ChatSocket.open(alice)
    await socket.send({"type": "retry", "message": reply["id"]})
    await socket.receive_deltas(1)

    assert sent_messages(upstream) == [user_turn("Interrupt me !tokens=400 !delay=20")]
    await socket.close()


async def test_stopped_reply_and_its_question_stay_in_the_history(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text(SLOW)
    frames = await socket.receive_deltas(3)
    conversation = frames[0]["conversation"]["id"]
    reply = created(frames, "assistant")
    await socket.send({"type": "stop", "message": reply["id"]})
    frames += await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "stopped"
    kept = text_of(frames, reply["id"]).rstrip()

    await start(socket, "Go on !tokens=2", conversation)

    assert sent_messages(upstream) == [
        user_turn(SLOW),
        assistant_turn(kept),
        user_turn("Go on !tokens=2"),
    ]
    await socket.close()


# The table's rows on stored messages, without the upstream.


def _message(role: str, text: str, status: str = Message.Status.COMPLETE) -> Message:
    content = [{"type": "text", "text": text}] if text else []
    return Message(role=role, status=status, content=content)


def ask(text: str) -> Message:
    return _message(Message.Role.USER, text)


def answer(text: str, status: str = Message.Status.COMPLETE) -> Message:
    return _message(Message.Role.ASSISTANT, text, status)


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_question_whose_replies_all_ended_badly_is_left_out_once_another_follows(status):
    earlier = [ask("one"), answer("partial", status), answer("", status), ask("two")]

    assert history(earlier) == [user_turn("two")]


def test_question_answered_after_a_retry_keeps_the_answer_that_completed():
    earlier = [ask("one"), answer("broken", "failed"), answer("fine"), ask("two")]

    assert history(earlier) == [user_turn("one"), assistant_turn("fine"), user_turn("two")]


def test_question_being_answered_is_sent_after_its_failed_replies():
    earlier = [ask("one"), answer("fine"), ask("two"), answer("x", "failed"), answer("y", "failed")]

    assert history(earlier) == [user_turn("one"), assistant_turn("fine"), user_turn("two")]


def test_stopped_reply_with_text_is_an_answer():
    earlier = [ask("one"), answer("half an ans ", Message.Status.STOPPED), ask("two")]

    assert history(earlier) == [
        user_turn("one"),
        assistant_turn("half an ans"),
        user_turn("two"),
    ]


@pytest.mark.parametrize("status", ["complete", "stopped"])
def test_answer_with_no_text_keeps_its_question_joined_to_the_next(status):
    earlier = [ask("one"), answer("", status), ask("two")]

    assert history(earlier) == [
        {"role": "user", "content": [{"type": "text", "text": t} for t in ("one", "two")]}
    ]
