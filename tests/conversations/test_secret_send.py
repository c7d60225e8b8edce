"""A send that looks like it carries a credential: refused unless confirmed, and never logged."""

import logging

import pytest
from asgiref.sync import sync_to_async

from accounts.api_keys import create_key
from conversations.models import Conversation, Message

from .wsclient import ChatSocket, created

pytestmark = [pytest.mark.django_db(transaction=True)]

# A fake GitHub token, in two parts so the source holds no key-shaped string.
FAKE_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xYz123"
TEXT = f"Why does `git push` fail with {FAKE_TOKEN}? !tokens=3"


def send_frame(text: str = TEXT, client_id: str = "c1", **extra) -> dict:
    frame = {"type": "send", "conversation": None, "text": text, "attachments": []}
    return frame | {"client_id": client_id} | extra


async def test_send_with_a_key_is_refused_and_nothing_is_stored(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send(send_frame())
    error = await socket.receive()
    assert (error["type"], error["code"], error["client_id"]) == ("error", "secret_detected", "c1")
    assert error["kinds"] == ["github_token"]
    assert "GitHub token" in error["detail"] and FAKE_TOKEN not in error["detail"]
    assert await Conversation.objects.acount() == 0 and await Message.objects.acount() == 0
    assert upstream.requests == []
    await socket.close()


async def test_send_with_a_key_to_a_conversation_stores_nothing_in_it(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("hello !tokens=2")
    conversation = (await socket.receive_until("message.completed"))[0]["conversation"]["id"]
    await socket.send(send_frame(conversation=conversation, client_id="c2"))
    error = await socket.receive()
    assert error["code"] == "secret_detected"
    assert await Message.objects.filter(conversation_id=conversation).acount() == 2
    await socket.close()


async def test_confirmed_send_with_a_key_is_stored_and_answered(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send(send_frame(allow_secrets=True))
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    stored = await Message.objects.aget(pk=created(frames, "user")["id"])
    assert stored.text == TEXT
    await socket.close()


async def test_allow_secrets_false_is_the_same_as_absent(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send(send_frame(allow_secrets=False))
    assert (await socket.receive())["code"] == "secret_detected"
    await socket.close()


@pytest.mark.parametrize("value", ["true", 1, None, [True]])
async def test_allow_secrets_that_is_not_a_boolean_is_a_malformed_frame(
    upstream, alice, runner, value
):
    socket = await ChatSocket.open(alice)
    await socket.send(send_frame(allow_secrets=value))
    error = await socket.receive()
    assert error["code"] == "invalid_frame"
    assert await Message.objects.acount() == 0
    await socket.close()


async def test_a_refused_send_does_not_use_up_the_minutes_sends(upstream, alice, runner, settings):
    settings.CHAT_SENDS_PER_MINUTE = 1
    socket = await ChatSocket.open(alice)
    await socket.send(send_frame())
    assert (await socket.receive())["code"] == "secret_detected"
    await socket.send(send_frame(allow_secrets=True, client_id="c2"))
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    await socket.close()


async def test_ordinary_text_is_sent_without_the_field(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send(send_frame("What does the sk- prefix mean? AKIA? !tokens=2"))
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete"
    await socket.close()


async def test_a_key_is_never_logged_refused_or_confirmed(upstream, alice, runner, caplog):
    caplog.set_level(logging.DEBUG)
    socket = await ChatSocket.open(alice)
    await socket.send(send_frame())
    assert (await socket.receive())["code"] == "secret_detected"
    await socket.send(send_frame(allow_secrets=True, client_id="c2"))
    await socket.receive_until("message.completed")
    await socket.close()
    # The app's loggers reach caplog (none is cut off from the root), so a leak would show.
    logging.getLogger("conversations.consumers").debug("probe")
    assert "probe" in caplog.text
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert FAKE_TOKEN not in logged and FAKE_TOKEN[4:20] not in logged


async def test_a_chatsite_api_key_of_the_member_is_refused_like_any_credential(
    upstream, alice, runner
):
    _key, raw = await sync_to_async(create_key)(alice, "laptop")
    socket = await ChatSocket.open(alice)
    await socket.send(send_frame(text=f"export ANTHROPIC_API_KEY={raw}\nwhy 401?"))
    error = await socket.receive()
    assert (error["code"], error["kinds"]) == ("secret_detected", ["chatsite_api_key"])
    assert "chatsite API key" in error["detail"] and raw not in error["detail"]
    assert await Message.objects.acount() == 0 and upstream.requests == []
    await socket.close()
