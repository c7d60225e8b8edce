"""Bad frames: each gets an `error` frame naming the problem, and the socket stays open."""

import json

import pytest
from django.conf import settings

from conversations.models import Conversation, Message

from .wsclient import ChatSocket

pytestmark = [pytest.mark.django_db(transaction=True)]


def send(**fields) -> dict:
    return {"type": "send", "conversation": None, "text": "Hi", "attachments": [], **fields}


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
