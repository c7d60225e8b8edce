"""Phase 2 of a request: images prepared for the API, kept once, and the final size guard."""

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from conversations import attachments
from conversations.attachment_blocks import (
    API_IMAGE_BYTES,
    block_for,
    materialise,
    prepare_image,
    prepared_name,
)

from .attachment_files import jpeg, png

pytestmark = pytest.mark.django_db


def noise_png(side: int) -> bytes:
    bands = [Image.effect_noise((side, side), 128).convert("L") for _ in range(3)]
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, format="PNG")
    return out.getvalue()


def test_a_small_clean_image_is_sent_as_stored():
    data = png(100, 80)
    assert prepare_image(data) is data


def test_metadata_is_stripped_even_when_nothing_else_changes():
    data = jpeg(40, 30, orientation=1)
    sent = Image.open(io.BytesIO(prepare_image(data)))
    assert sent.format == "JPEG" and sent.size == (40, 30) and not sent.getexif()


def test_an_image_over_the_apis_5_mb_is_scaled_down_until_it_fits_in_its_format():
    data = noise_png(1500)
    assert len(data) > API_IMAGE_BYTES
    sent = prepare_image(data)
    assert len(sent) <= API_IMAGE_BYTES
    assert Image.open(io.BytesIO(sent)).format == "PNG"


def request_with(*blocks: dict) -> dict:
    return {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": list(blocks)}]}


def test_an_image_is_prepared_once_and_read_back_on_later_turns(make_user, monkeypatch):
    user = make_user("alice")
    image = attachments.store_file(user, "big.png", png(2000, 1000))
    first = materialise(request_with(block_for(image, True, True)))
    assert default_storage.exists(prepared_name(image.file.name))

    def fail(*args, **kwargs):
        raise AssertionError("prepared again")

    monkeypatch.setattr("conversations.attachment_blocks.prepare_image", fail)
    again = materialise(request_with(block_for(image, True, True)))
    assert again == first
    assert Image.open(
        io.BytesIO(default_storage.open(prepared_name(image.file.name)).read())
    ).size == (1568, 784)


def test_a_missing_file_becomes_a_note_not_a_failed_reply(make_user):
    user = make_user("alice")
    code = attachments.store_file(user, "a.py", b"print(1)\n")
    default_storage.delete(code.file.name)
    (block,) = materialise(request_with(block_for(code, True, True)))["messages"][0]["content"]
    assert block["type"] == "text" and "a.py" in block["text"]


def test_past_the_size_limit_after_filling_in_the_oldest_become_notes(make_user, settings):
    user = make_user("alice")
    old = attachments.store_file(user, "old.txt", b"a" * 1000 + b"\n")
    new = attachments.store_file(user, "new.txt", b"b" * 1000 + b"\n")
    settings.ATTACHMENT_MAX_REQUEST_BYTES = 1500 * 10 // 9
    request = request_with(block_for(old, True, True), block_for(new, True, True))
    first, second = materialise(request)["messages"][0]["content"]
    assert first["type"] == "text" and "old.txt" in first["text"]
    assert second["type"] == "document" and second["source"]["data"].startswith("b")
    assert "_bound" not in second


def test_a_large_photo_is_scaled_to_the_long_edge_upright(settings):
    data = jpeg(4000, 3000, orientation=6)  # a phone photo, held upright
    sent = Image.open(io.BytesIO(prepare_image(data)))
    assert sent.format == "JPEG" and sent.size == (1176, 1568) and not sent.getexif()
