"""What goes upstream for attachments: blocks, scaling, orientation, history, limits, charges.

Each test drives the real path: services.send_message, the runner, the client, the fake
upstream over loopback, which checks the blocks as the API does and reports the tokens.
"""

import base64
import io
import socket
import threading

import pytest
from asgiref.sync import sync_to_async
from PIL import Image

from accounts.models import LedgerEntry
from conversations import attachments, services
from conversations.errors import ChatError
from conversations.fake_upstream import count_input_tokens
from conversations.models import Attachment, CatalogModel, Message

from .attachment_files import PYTHON, jpeg, pdf, png

pytestmark = [pytest.mark.django_db(transaction=True)]


class HitCounter:
    """A loopback listener that counts every connection made to it (it must see none)."""

    def __init__(self) -> None:
        self.hits = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.hits += 1
            connection.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def image_host():
    counter = HitCounter()
    yield counter
    counter.close()


@pytest.fixture(autouse=True)
def _many_sends(settings):
    settings.CHAT_SENDS_PER_MINUTE = 0  # a script, not a person


def upload(user, name: str, data: bytes) -> int:
    return attachments.store_file(user, name, data).pk


def upload_url(user, url: str) -> int:
    return attachments.register_url(user, url).pk


async def reply_to(runner, user, text, ids=(), conversation_id=None, model_id=None) -> Message:
    result = await sync_to_async(services.send_message)(
        user, conversation_id, text, list(ids), model_id=model_id
    )
    runner.start(result.reply.pk, result.conversation.pk, result.request, result.call.pk)
    await runner.wait(result.reply.pk)
    return await Message.objects.aget(pk=result.reply.pk)


def charges_of(user) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(user=user, kind=LedgerEntry.Kind.CHARGE).order_by("id"))


def decoded(block: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(block["source"]["data"])))


def check_rich_user_turn(blocks: list[dict], host_port: int) -> None:
    assert len(blocks) == 6 and blocks[5]["type"] == "text"  # the files first, then the words
    kinds = [(b["type"], b["source"]["type"]) for b in blocks[:5]]
    assert kinds == [
        ("image", "base64"),
        ("image", "base64"),
        ("document", "base64"),
        ("document", "text"),
        ("image", "url"),
    ]
    big, turned, paper, code, by_url = blocks[:5]
    assert big["source"]["media_type"] == "image/png"
    assert decoded(big).size == (1568, 1045)  # 3000 × 2000 scaled to the long edge
    assert turned["source"]["media_type"] == "image/jpeg"
    upright = decoded(turned)
    assert upright.size == (30, 40)  # EXIF orientation 6 applied: 40 × 30 stood up
    assert not upright.getexif()  # metadata stripped
    assert paper["source"]["media_type"] == "application/pdf" and paper["title"] == "paper.pdf"
    assert base64.b64decode(paper["source"]["data"]) == pdf(2)
    assert code["source"]["data"] == PYTHON.decode() and code["title"] == "greet.py"
    assert by_url["source"] == {"type": "url", "url": f"https://127.0.0.1:{host_port}/cat.png"}
    assert not any("_bound" in b for b in blocks)


async def test_attachments_go_upstream_scaled_upright_and_again_on_a_later_turn(
    upstream, runner, alice, image_host
):
    ids = [
        await sync_to_async(upload)(alice, "big.png", png(3000, 2000)),
        await sync_to_async(upload)(alice, "turned.jpg", jpeg(40, 30, orientation=6)),
        await sync_to_async(upload)(alice, "paper.pdf", pdf(2)),
        await sync_to_async(upload)(alice, "greet.py", PYTHON),
        await sync_to_async(upload_url)(alice, f"https://127.0.0.1:{image_host.port}/cat.png"),
    ]
    first = await reply_to(runner, alice, "What are these? !tokens=3", ids)
    assert first.status == "complete", first.error
    assert first.text.startswith("Received 3 images, 1 PDF, 1 text file.\n\n")
    body = upstream.message_bodies()[-1]
    check_rich_user_turn(body["messages"][-1]["content"], image_host.port)

    later = await reply_to(runner, alice, "And now? !tokens=2", (), first.conversation_id)
    assert later.status == "complete", later.error
    assert later.text.startswith("Received 3 images, 1 PDF, 1 text file.\n\n")
    again = upstream.message_bodies()[-1]
    assert [m["role"] for m in again["messages"]] == ["user", "assistant", "user"]
    check_rich_user_turn(again["messages"][0]["content"], image_host.port)
    # The images make the prompt long enough to cache (decision 81): the question is marked.
    marked = {"type": "text", "text": "And now? !tokens=2", "cache_control": {"type": "ephemeral"}}
    assert again["messages"][-1]["content"] == [marked]

    charges = await sync_to_async(charges_of)(alice)
    bodies = upstream.message_bodies()[-2:]
    prompts = [
        c.input_tokens + c.cache_creation_input_tokens + c.cache_read_input_tokens for c in charges
    ]
    assert prompts == [count_input_tokens(b) for b in bodies]
    assert prompts[0] > 1568 * 1045 // 750  # the images are charged
    assert image_host.hits == 0  # the URL went upstream; this server never fetched it


async def test_past_the_apis_image_limit_the_oldest_are_left_out_with_a_note(
    upstream, runner, alice
):
    conversation_id, first_ids = None, []
    for turn in range(11):  # 110 images: the API takes 100 in one request
        ids = [
            await sync_to_async(upload)(alice, f"t{turn}-{i}.png", png(20 + turn, 20 + i))
            for i in range(10)
        ]
        first_ids = first_ids or ids
        reply = await reply_to(runner, alice, f"turn {turn} !tokens=1", ids, conversation_id)
        assert reply.status == "complete", reply.error
        conversation_id = reply.conversation_id
    assert reply.text.startswith("Received 100 images.\n\n")
    assert sorted(reply.attachments_left_out) == sorted(first_ids)
    oldest_turn = upstream.message_bodies()[-1]["messages"][0]["content"]
    notes = [b["text"] for b in oldest_turn if b["type"] == "text" and "left out" in b["text"]]
    assert len(notes) == 10 and "t0-0.png" in notes[0]


async def test_past_the_apis_pdf_page_limit_the_oldest_pdf_is_left_out(upstream, runner, alice):
    old = await sync_to_async(upload)(alice, "old.pdf", pdf(60))
    first = await reply_to(runner, alice, "read !tokens=1", [old])
    new = await sync_to_async(upload)(alice, "new.pdf", pdf(60))
    second = await reply_to(runner, alice, "and this !tokens=1", [new], first.conversation_id)
    assert second.status == "complete", second.error
    assert second.text.startswith("Received 1 PDF.\n\n")
    assert second.attachments_left_out == [old]


async def test_after_a_switch_to_a_model_without_vision_earlier_images_are_a_placeholder(
    upstream, runner, alice
):
    await CatalogModel.objects.filter(model_id="claude-haiku-4-5-20251001").aupdate(
        enabled=True, supports_vision=False, supports_pdf=False
    )
    image = await sync_to_async(upload)(alice, "shot.png", png())
    paper = await sync_to_async(upload)(alice, "paper.pdf", pdf(1))
    first = await reply_to(runner, alice, "see !tokens=1", [image, paper])
    later = await reply_to(
        runner, alice, "go on !tokens=1", (), first.conversation_id, "claude-haiku-4-5-20251001"
    )
    assert later.status == "complete", later.error
    earlier = upstream.message_bodies()[-1]["messages"][0]["content"]
    assert [b["type"] for b in earlier] == ["text", "text", "text"]
    assert "shot.png" in earlier[0]["text"] and "does not read images" in earlier[0]["text"]
    assert "paper.pdf" in earlier[1]["text"]
    assert not later.text.startswith("Received")


async def test_an_image_on_a_model_without_vision_is_refused_before_any_charge(
    upstream, runner, alice
):
    await CatalogModel.objects.filter(model_id=upstream_model()).aupdate(supports_vision=False)
    image = await sync_to_async(upload)(alice, "shot.png", png())
    with pytest.raises(ChatError) as refused:
        await sync_to_async(services.send_message)(alice, None, "see", [image])
    assert refused.value.code == "attachment_unsupported" and "shot.png" in refused.value.detail
    assert not await Message.objects.aexists()
    assert not await LedgerEntry.objects.filter(user=alice).aexists()
    assert upstream.message_bodies() == []
    assert (await Attachment.objects.aget(pk=image)).message_id is None


async def test_one_attachment_more_than_the_per_message_limit_is_refused(upstream, runner, alice):
    ids = [await sync_to_async(upload)(alice, f"{i}.txt", b"line %d\n" % i) for i in range(11)]
    with pytest.raises(ChatError) as refused:
        await sync_to_async(services.send_message)(alice, None, "read", ids)
    assert refused.value.code == "too_many_attachments"
    assert not await Message.objects.aexists()
    assert not await LedgerEntry.objects.filter(user=alice).aexists()
    assert upstream.message_bodies() == []


def upstream_model() -> str:
    from django.conf import settings

    return settings.CHAT_MODEL


def limit_tokens(user, tokens: int) -> None:
    from django.core.management import call_command

    call_command("set_quota", user.username, "--token-limit", str(tokens), "--cost-limit", "none")


@pytest.mark.parametrize(
    "attach",
    [
        lambda user: upload(user, "big.png", png(3000, 2000)),  # ~1,600 tokens once scaled
        lambda user: upload_url(user, "https://images.example/cat.png"),  # the largest image
    ],
    ids=["image", "image_url"],
)
async def test_the_quota_hold_counts_an_attachment_before_anything_is_sent(
    upstream, runner, alice, attach
):
    await sync_to_async(limit_tokens)(alice, 1200)
    image = await sync_to_async(attach)(alice)
    with pytest.raises(ChatError) as refused:
        await sync_to_async(services.send_message)(alice, None, "see", [image])
    assert refused.value.code == "quota_exceeded"
    assert upstream.message_bodies() == []
    text_only = await reply_to(runner, alice, "hello !tokens=1")
    assert text_only.status == "complete"  # the same quota takes the words alone


async def test_a_small_image_is_held_at_its_measured_size_not_the_largest(upstream, runner, alice):
    await sync_to_async(limit_tokens)(alice, 1200)
    image = await sync_to_async(upload)(alice, "small.png", png(40, 30))
    reply = await reply_to(runner, alice, "see !tokens=1", [image])
    assert reply.status == "complete" and reply.text.startswith("Received 1 image.")
