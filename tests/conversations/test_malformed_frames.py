"""Bad frames: each gets an `error` frame naming the problem, and the socket stays open."""

import json

import pytest
from channels.layers import get_channel_layer
from django.conf import settings

from conversations.consumers import ChatConsumer
from conversations.models import Conversation, Message

from .wsclient import ChatSocket

pytestmark = [pytest.mark.django_db(transaction=True)]


def send(**fields) -> dict:
    return {"type": "send", "conversation": None, "text": "Hi", "attachments": [], **fields}


def raw(**fields: str) -> str:
    """A `send` frame as JSON text, with each field's value given as raw JSON (escapes kept)."""
    values = {"conversation": "null", "text": '"Hi"', "attachments": "[]", "client_id": '"bad"'}
    values |= fields
    return "{" + ",".join(['"type":"send"', *(f'"{k}":{v}' for k, v in values.items())]) + "}"


# (frame, code, echoed client_id); a dict frame carries client_id "bad" unless it says otherwise.
BAD_FRAMES = {
    "non-JSON text": ("this is not json {", "invalid_frame", None),
    "JSON array": ("[1, 2, 3]", "invalid_frame", None),
    "JSON string": ('"send"', "invalid_frame", None),
    "missing type": ({"conversation": None, "text": "Hi"}, "invalid_frame", "bad"),
    "type not a string": ({"type": ["send"]}, "invalid_frame", "bad"),
    "unknown type": ({"type": "shout"}, "invalid_frame", "bad"),
    "send without text": ({"type": "send", "conversation": None}, "invalid_frame", "bad"),
    "send empty text": (send(text=""), "invalid_frame", "bad"),
    "send blank text": (send(text=" \n\t "), "invalid_frame", "bad"),
    "send text not a string": (send(text=42), "invalid_frame", "bad"),
    "send text a list": (send(text=["Hi"]), "invalid_frame", "bad"),
    "send text too long": (None, "too_long", "bad"),  # built from settings in the test
    "conversation abc": (send(conversation="abc"), "invalid_frame", "bad"),
    "conversation -1": (send(conversation=-1), "invalid_frame", "bad"),
    "conversation 0": (send(conversation=0), "invalid_frame", "bad"),
    "conversation 10**30": (send(conversation=10**30), "invalid_frame", "bad"),
    "conversation true": (send(conversation=True), "invalid_frame", "bad"),
    "conversation 1.5": (send(conversation=1.5), "invalid_frame", "bad"),
    "conversation object": (send(conversation={"id": 1}), "invalid_frame", "bad"),
    "conversation unknown": (send(conversation=999_999), "not_found", "bad"),
    "attachments a string": (send(attachments="abc"), "invalid_frame", "bad"),
    "attachments an object": (send(attachments={"id": 1}), "invalid_frame", "bad"),
    "attachments an empty object": (send(attachments={}), "invalid_frame", "bad"),
    "attachments a number": (send(attachments=7), "invalid_frame", "bad"),
    "attachments unknown id": (send(attachments=[999_999]), "not_found", "bad"),
    "subscribe without conversation": ({"type": "subscribe"}, "invalid_frame", "bad"),
    "subscribe conversation abc": (
        {"type": "subscribe", "conversation": "abc"},
        "invalid_frame",
        "bad",
    ),
    "subscribe unknown conversation": (
        {"type": "subscribe", "conversation": 999_999},
        "not_found",
        "bad",
    ),
    "stop without message": ({"type": "stop"}, "invalid_frame", "bad"),
    "stop message true": ({"type": "stop", "message": True}, "invalid_frame", "bad"),
    "stop unknown message": ({"type": "stop", "message": 999_999}, "not_found", "bad"),
    "retry without message": ({"type": "retry"}, "invalid_frame", "bad"),
    "retry unknown message": ({"type": "retry", "message": 999_999}, "not_found", "bad"),
    "binary frame": (b'{"type": "send", "text": "Hi"}', "invalid_frame", None),
    # Frames that once closed the socket with 1011 (issue 8, item 9), and their family.
    "deeply nested array": ("[" * 100_000 + "]" * 100_000, "invalid_frame", None),
    "deeply nested text": (raw(text="[" * 100_000 + "]" * 100_000), "invalid_frame", None),
    "deeply nested object": ('{"a":' * 50_000 + "1" + "}" * 50_000, "invalid_frame", None),
    "client_id a lone surrogate": (raw(client_id=r'"\ud800"'), "invalid_frame", None),
    "client_id a low surrogate": (raw(client_id=r'"x\udfff"'), "invalid_frame", None),
    "client_id with NUL": (raw(client_id=r'"a\u0000"'), "invalid_frame", None),
    "text a lone surrogate": (raw(text=r'"Hi \ud83d"'), "invalid_frame", "bad"),
    "text with NUL": (raw(text=r'"Hi\u0000there"'), "invalid_frame", "bad"),
    "model a lone surrogate": (raw(model=r'"claude\udc00"'), "invalid_frame", "bad"),
    "type a lone surrogate": ('{"type":"\\ud800","client_id":"bad"}', "invalid_frame", "bad"),
    "key a lone surrogate": (raw(**{r"\ud800": "1"}), "invalid_frame", "bad"),
    "surrogate in a nested list": (raw(extra=r'[["\ud800"]]'), "invalid_frame", "bad"),
    "conversation NaN": (raw(conversation="NaN"), "invalid_frame", None),
    "conversation Infinity": (raw(conversation="Infinity"), "invalid_frame", None),
    "conversation -Infinity": (raw(conversation="-Infinity"), "invalid_frame", None),
    "conversation 1e400": (raw(conversation="1e400"), "invalid_frame", "bad"),
    "conversation 7.0": (raw(conversation="7.0"), "invalid_frame", "bad"),
    "conversation 5000 digits": (raw(conversation="9" * 5000), "invalid_frame", None),
    "conversation 5000-digit string": (send(conversation="9" * 5000), "invalid_frame", "bad"),
    "conversation Arabic-Indic digits": (send(conversation="\u0661"), "invalid_frame", "bad"),
    "conversation digits with underscores": (send(conversation="1_0"), "invalid_frame", "bad"),
    "conversation digits with spaces": (send(conversation=" 7 "), "invalid_frame", "bad"),
    "conversation +7": (send(conversation="+7"), "invalid_frame", "bad"),
    "attachments a nested list": (send(attachments=[[1]]), "invalid_frame", "bad"),
    "attachments a float": (send(attachments=[1.5]), "invalid_frame", "bad"),
    "attachments a word": (send(attachments=["abc"]), "invalid_frame", "bad"),
    "attachments true": (send(attachments=[True]), "invalid_frame", "bad"),
    "attachments null": (send(attachments=[None]), "invalid_frame", "bad"),
    "attachments 10**30": (send(attachments=[10**30]), "invalid_frame", "bad"),
    "stop message 10**30": ({"type": "stop", "message": 10**30}, "invalid_frame", "bad"),
    "stop message NaN": ('{"type":"stop","message":NaN,"client_id":"bad"}', "invalid_frame", None),
    "retry message 2.0": ({"type": "retry", "message": 2.0}, "invalid_frame", "bad"),
    "subscribe messages 10**30": (
        {"type": "subscribe", "conversation": 1, "messages": [10**30]},
        "invalid_frame",
        "bad",
    ),
    "subscribe after a float": (
        {"type": "subscribe", "conversation": 1, "after": 1.5},
        "invalid_frame",
        "bad",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FRAMES))
async def test_malformed_frame_gets_error_and_socket_stays_open(upstream, alice, runner, case):
    frame, code, client_id = BAD_FRAMES[case]
    if case == "send text too long":
        frame = send(text="x" * (settings.CHAT_MAX_MESSAGE_CHARS + 1))
    if isinstance(frame, dict):
        frame = {**frame, "client_id": "bad"}
    socket = await ChatSocket.open(alice)

    await socket.send(frame)
    error = await socket.receive()

    assert error["type"] == "error", error
    assert (error["code"], error["client_id"]) == (code, client_id)
    assert isinstance(error["detail"], str) and error["detail"]
    assert await socket.receive_nothing(0.05)
    assert await Message.objects.acount() == 0, "a refused frame stores nothing"
    assert await Conversation.objects.acount() == 0
    # The socket is still open: a valid frame after the bad one is served.
    await socket.send_text("Still there? !tokens=2", client_id="good")
    frames = await socket.receive_until("message.completed")
    assert frames[0]["client_id"] == "good" and frames[-1]["status"] == "complete"
    await socket.close()


async def test_message_at_the_length_limit_is_accepted(upstream, alice, runner, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 200
    socket = await ChatSocket.open(alice)
    await socket.send_text("!tokens=1 " + "x" * 190)
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    await socket.send_text("!tokens=1 " + "x" * 191, conversation=frames[0]["conversation"]["id"])
    error = await socket.receive()
    assert (error["type"], error["code"]) == ("error", "too_long")
    assert "200" in error["detail"]
    await socket.close()


async def test_error_details_follow_the_socket_language(upstream, alice, runner):
    socket = await ChatSocket.open(alice, lang="ja")
    await socket.send(json.dumps({"type": "shout", "client_id": "ja"}))
    english = "Unknown frame type"
    error = await socket.receive()
    assert error["code"] == "invalid_frame" and english not in error["detail"]
    await socket.close()


async def test_a_send_refused_on_the_database_thread_answers_in_the_socket_language(
    upstream, alice, runner
):
    # The send's checks run on the database thread (chatsite/db_hop.py): the socket's language
    # must travel there, or a Japanese reader is refused in English.
    socket = await ChatSocket.open(alice, lang="ja")
    await socket.send(send(text=" \n "))
    error = await socket.receive()
    assert error["code"] == "invalid_frame"
    assert error["detail"] != "The message is empty." and error["detail"].isascii() is False
    await socket.close()


async def test_subscriptions_are_removed_even_when_a_handler_blows_up(
    upstream, alice, runner, monkeypatch
):
    socket = await ChatSocket.open(alice)
    await socket.send_text("!tokens=1", client_id="first")
    frames = await socket.receive_until("message.completed")
    conversation = frames[0]["conversation"]["id"]
    assert runner.subscribers.get(conversation), "the sender follows its conversation"

    async def blow_up(self, text_data=None, bytes_data=None):
        raise RuntimeError("a handler blew up")

    monkeypatch.setattr(ChatConsumer, "receive", blow_up)
    await socket.send({"type": "subscribe", "conversation": conversation})
    with pytest.raises(RuntimeError):
        await socket.communicator.wait(timeout=5)

    assert conversation not in runner.subscribers, "a dead socket must not stay subscribed"
    layer = get_channel_layer()
    assert not any(layer.groups.values()), "nor in any channel-layer group"


async def test_malformed_frames_after_a_subscription_leave_it_working(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("!tokens=1", client_id="first")
    conversation = (await socket.receive_until("message.completed"))[0]["conversation"]["id"]
    for frame in ("[" * 100_000, raw(client_id=r'"\ud800"'), raw(text=r'"\udfff"')):
        await socket.send(frame)
        assert (await socket.receive())["code"] == "invalid_frame"
    await socket.send_text("again !tokens=1", conversation=conversation, client_id="again")
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    await socket.close()
    assert conversation not in runner.subscribers
