"""Sending attachments over the socket: ids claimed, blocks sent upstream, payloads list them."""

import pytest
from asgiref.sync import sync_to_async

from conversations import attachments
from conversations.models import Attachment, Message

from .attachment_files import PYTHON, png
from .wsclient import ChatSocket

pytestmark = [pytest.mark.django_db(transaction=True)]


def stored(user, name: str, data: bytes) -> Attachment:
    return attachments.store_file(user, name, data)


async def send(socket: ChatSocket, text: str, ids: list[int], conversation=None) -> list[dict]:
    await socket.send(
        {
            "type": "send",
            "conversation": conversation,
            "text": text,
            "attachments": ids,
            "client_id": "c1",
        }
    )
    frames = []
    while not frames or frames[-1]["type"] not in ("message.completed", "error"):
        frames.append(await socket.receive(10))
    return frames


async def test_sent_attachments_join_the_user_message_and_its_payload(upstream, alice, runner):
    image = await sync_to_async(stored)(alice, "shot.png", png(40, 30))
    code = await sync_to_async(stored)(alice, "greet.py", PYTHON)
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "Look !tokens=3", [image.pk, code.pk])
    user_payload = next(
        f["message"]
        for f in frames
        if f["type"] == "message.created" and f["message"]["role"] == "user"
    )
    assert [a["id"] for a in user_payload["attachments"]] == [image.pk, code.pk]
    assert user_payload["attachments"][0]["url"] == f"/attachments/{image.pk}/"
    assert frames[-1]["type"] == "message.completed" and frames[-1]["status"] == "complete"
    await image.arefresh_from_db()
    message = await Message.objects.aget(pk=user_payload["id"])
    assert image.message_id == message.pk and image.conversation_id == message.conversation_id
    blocks = upstream.requests[-1]["body"]["messages"][-1]["content"]
    assert [b["type"] for b in blocks] == ["image", "document", "text"]
    assert blocks[0]["source"]["media_type"] == "image/png" and blocks[0]["source"]["data"]
    text_source = {"type": "text", "media_type": "text/plain", "data": PYTHON.decode()}
    assert blocks[1]["source"] == text_source
    assert blocks[1]["title"] == "greet.py"
    assert "_bound" not in blocks[0]
    await socket.close()


async def test_an_attachment_id_of_another_user_is_not_found(upstream, alice, bob, runner):
    theirs = await sync_to_async(stored)(bob, "shot.png", png())
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "Look", [theirs.pk])
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "not_found"
    assert not await Message.objects.filter(conversation__user=alice).aexists()
    assert upstream.requests == []
    await theirs.arefresh_from_db()
    assert theirs.message_id is None
    await socket.close()


async def test_an_attachment_already_sent_cannot_be_sent_again(upstream, alice, runner):
    image = await sync_to_async(stored)(alice, "shot.png", png())
    socket = await ChatSocket.open(alice)
    first = await send(socket, "Look !tokens=2", [image.pk])
    assert first[-1]["type"] == "message.completed"
    again = await send(socket, "Again", [image.pk], conversation=first[0]["conversation"]["id"])
    assert again[-1]["type"] == "error" and again[-1]["code"] == "not_found"
    await socket.close()


async def test_an_image_for_a_model_without_vision_is_an_error_frame(upstream, alice, runner):
    from conversations.models import CatalogModel

    await CatalogModel.objects.filter(model_id=upstream_model()).aupdate(supports_vision=False)
    image = await sync_to_async(stored)(alice, "shot.png", png())
    socket = await ChatSocket.open(alice, lang="ja")
    frames = await send(socket, "Look", [image.pk])
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "attachment_unsupported"
    assert "shot.png" in frames[-1]["detail"] and frames[-1]["client_id"] == "c1"
    assert upstream.requests == []
    await socket.close()


async def test_attachments_alone_may_be_sent_without_words(upstream, alice, runner):
    image = await sync_to_async(stored)(alice, "shot.png", png())
    socket = await ChatSocket.open(alice)
    await socket.send({"type": "send", "attachments": [image.pk], "client_id": "c1"})
    frames = []
    while not frames or frames[-1]["type"] not in ("message.completed", "error"):
        frames.append(await socket.receive(10))
    assert frames[-1]["type"] == "message.completed", frames[-1]
    assert frames[0]["conversation"]["title"] == "shot.png"
    blocks = upstream.message_bodies()[-1]["messages"][-1]["content"]
    assert [b["type"] for b in blocks] == ["image"]
    await socket.close()


def upstream_model() -> str:
    from django.conf import settings

    return settings.CHAT_MODEL
