"""The fake upstream's attachment blocks: checked as the API checks them, counted, reported."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conversations.attachment_files import jpeg, pdf, png

from .test_fake_upstream import body, final_delta, parse_sse, text_of


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image(data: bytes, media_type: str = "image/png") -> dict:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": b64(data)},
    }


def raw(kind: str, media_type: str, data: str) -> dict:
    return {"type": kind, "source": {"type": "base64", "media_type": media_type, "data": data}}


def pdf_block(pages: int = 2) -> dict:
    source = {"type": "base64", "media_type": "application/pdf", "data": b64(pdf(pages))}
    return {"type": "document", "source": source, "title": "paper.pdf"}


def text_block(text: str = "print('hi')\n") -> dict:
    source = {"type": "text", "media_type": "text/plain", "data": text}
    return {"type": "document", "source": source, "title": "hi.py"}


def post(api: httpx.Client, content: list[dict]) -> httpx.Response:
    return api.post("/v1/messages", json=body(content))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (image(b"not an image"), "does not match"),
        (raw("image", "image/png", "@@"), "invalid base64"),
        (image(png(), "image/svg+xml"), "media_type"),
        (image(jpeg(), "image/png"), "does not match"),
        (image(b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024 + 1)), "5 MB"),
        (raw("document", "application/pdf", b64(b"hello")), "not valid"),
        (raw("document", "text/html", b64(pdf())), "application/pdf"),
    ],
)  # fmt: skip
def test_a_malformed_attachment_block_is_the_apis_400(api, block, message):
    response = post(api, [block, {"type": "text", "text": "look"}])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and message in error["message"]


def test_a_request_over_32_mb_is_refused_with_413(api):
    response = post(api, [{"type": "text", "text": "x" * 32_000_001}])
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def test_the_reply_says_what_it_received_and_input_tokens_grow_with_it(api):
    plain = parse_sse(post(api, [{"type": "text", "text": "look !tokens=2"}]).text)
    content = [
        image(png(800, 600)),
        pdf_block(2),
        text_block(),
        {"type": "text", "text": "look !tokens=2"},
    ]
    rich = parse_sse(post(api, content).text)
    assert text_of(rich).startswith("Received 1 image, 1 PDF, 1 text file.\n\n")
    assert text_of(plain) == "w1 w2 "
    grown = final_delta(rich)["usage"]["input_tokens"] - final_delta(plain)["usage"]["input_tokens"]
    assert grown >= 800 * 600 // 750 + 2 * 1000


def test_an_image_url_is_counted_and_never_fetched_by_the_fake(api):
    source = {"type": "url", "url": "https://127.0.0.1:9/never.png"}
    events = parse_sse(
        post(api, [{"type": "image", "source": source}, {"type": "text", "text": "hi"}]).text
    )
    assert text_of(events).startswith("Received 1 image.\n\n")


def test_message_bodies_lists_what_tests_inspect(api, fake):
    post(api, [image(png()), {"type": "text", "text": "hi"}])
    assert fake.message_bodies()[-1]["messages"][0]["content"][0]["type"] == "image"
