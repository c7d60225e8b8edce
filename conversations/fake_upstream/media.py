"""The fake upstream's attachments: block checks as the API makes them, token costs, counts."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from accounts.media_size import image_size, pdf_page_count

IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
_MAGIC = {
    "image/jpeg": lambda d: d.startswith(b"\xff\xd8\xff"),
    "image/png": lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda d: d[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP",
}
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # "maximum allowed size is 5 MB" per image (API)
MAX_IMAGE_EDGE = 8000
MAX_IMAGES = 100
MAX_PDF_PAGES = 100
URL_IMAGE_TOKENS = 1600
PDF_PAGE_TOKENS = 2500
LONG_EDGE, MAX_PIXELS = 1568, 1568 * 784


def _blocks(body: dict) -> list[dict]:
    found = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            found += [b for b in content if isinstance(b, dict)]
    return found


def _decode(data: Any) -> bytes | None:
    if not isinstance(data, str) or not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def validate(body: dict) -> str | None:
    """The API's 400 message for a malformed image or document block, or None."""
    images = pages = 0
    for index, block in enumerate(_blocks(body)):
        kind = block.get("type")
        where = f"messages: content block {index}"
        if kind == "image":
            images += 1
            problem = _image_problem(block.get("source"))
        elif kind == "document":
            problem, counted = _document_problem(block.get("source"))
            pages += counted
        else:
            continue
        if problem:
            return f"{where}: {problem}"
    if images > MAX_IMAGES:
        return f"messages: too many images (maximum {MAX_IMAGES})"
    if pages > MAX_PDF_PAGES:
        return f"messages: a maximum of {MAX_PDF_PAGES} PDF pages may be provided"
    return None


def _image_problem(source: Any) -> str | None:
    if not isinstance(source, dict):
        return "image.source: Field required"
    if source.get("type") == "url":
        url = source.get("url")
        return None if isinstance(url, str) and url.startswith("https://") else "invalid url"
    if source.get("type") != "base64":
        return "image.source.type: Input should be 'base64' or 'url'"
    media_type = source.get("media_type")
    if media_type not in IMAGE_TYPES:
        return f"image.source.media_type: Input should be one of {sorted(IMAGE_TYPES)}"
    data = _decode(source.get("data"))
    if data is None:
        return "image.source.base64: invalid base64 data"
    if len(data) > MAX_IMAGE_BYTES:
        return "image exceeds 5 MB maximum"
    if not _MAGIC[media_type](data):
        return "Image does not match the provided media type " + media_type
    size = image_size(data)
    if size is None or max(size) > MAX_IMAGE_EDGE:
        return "image dimensions exceed max allowed size: 8000 pixels"
    return None


def _document_problem(source: Any) -> tuple[str | None, int]:
    if not isinstance(source, dict):
        return "document.source: Field required", 0
    kind = source.get("type")
    if kind == "text":
        ok = source.get("media_type") == "text/plain" and isinstance(source.get("data"), str)
        return (None if ok else "document.source: text/plain data required"), 0
    if kind == "url":
        return None, 0
    if kind != "base64":
        return "document.source.type: Input should be 'base64', 'text', 'content' or 'url'", 0
    if source.get("media_type") != "application/pdf":
        return "document.source.media_type: Input should be 'application/pdf'", 0
    data = _decode(source.get("data"))
    if data is None:
        return "document.source.base64: invalid base64 data", 0
    pages = pdf_page_count(data)
    if not data.startswith(b"%PDF") or pages is None:
        return "The PDF specified was not valid.", 0
    return None, pages


def _image_tokens(width: int, height: int) -> int:
    scale = min(1.0, LONG_EDGE / max(width, height), math.sqrt(MAX_PIXELS / (width * height)))
    return max(1, math.ceil(int(width * scale) * int(height * scale) / 750))


def attachment_tokens(body: dict) -> int:
    """Tokens of the image and document blocks (text blocks are counted as text)."""
    total = 0
    for block in _blocks(body):
        source = block.get("source") if isinstance(block.get("source"), dict) else {}
        if block.get("type") == "image":
            size = image_size(_decode(source.get("data")) or b"")
            total += _image_tokens(*size) if size else URL_IMAGE_TOKENS
        elif block.get("type") == "document":
            if source.get("type") == "text":
                total += len(str(source.get("data", ""))) // 4
            else:
                data = _decode(source.get("data")) or b""
                total += (pdf_page_count(data) or 1) * PDF_PAGE_TOKENS
    return total


def count_attachments(body: dict) -> dict[str, int]:
    counts = {"images": 0, "pdfs": 0, "texts": 0}
    for block in _blocks(body):
        source = block.get("source") if isinstance(block.get("source"), dict) else {}
        if block.get("type") == "image":
            counts["images"] += 1
        elif block.get("type") == "document":
            counts["texts" if source.get("type") == "text" else "pdfs"] += 1
    return counts


def received_line(counts: dict[str, int]) -> str:
    """ "Received 1 image, 2 PDFs, 1 text file." or "" when the request had none."""
    names = (
        ("images", "image", "images"),
        ("pdfs", "PDF", "PDFs"),
        ("texts", "text file", "text files"),
    )
    parts = [
        f"{counts[key]} {one if counts[key] == 1 else many}"
        for key, one, many in names
        if counts[key]
    ]
    return f"Received {', '.join(parts)}." if parts else ""
