"""Attachments in a request: placeholders from stored metadata, then the bytes after commit.

Phase 1 (`block_for`, `fit_to_limits`, inside the send transaction): each attachment becomes
its API block with an empty source and an `AttachmentHint` under `_bound`, so the admission
bound counts it from what the upload measured, and the oldest are left out with a note when
the request would pass the API's per-request limits. Phase 2 (`materialise`, after commit, in a
thread): the files are read, images scaled and re-encoded, the sources filled in and the hints
stripped. `prompt.build_request` stays the one place that decides the request's shape.
"""

import base64
import io
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import ExifTags, Image, ImageOps

from accounts.request_bound import BOUND_HINT_KEY, BoundHint, strip_bound_hints

from .attachment_checks import open_image
from .models import Attachment

log = logging.getLogger(__name__)
ORIENTATION = ExifTags.Base.Orientation
# Metadata keys Pillow reads into `info` that the re-encoded image must not carry.
_METADATA_KEYS = {"exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile", "photoshop"}
_SAVE_OPTIONS = {"JPEG": {"quality": 90}, "WEBP": {"quality": 90}}
API_IMAGE_BYTES = 5 * 1024 * 1024  # the API refuses a larger image


@dataclass(frozen=True)
class AttachmentHint(BoundHint):
    """What phase 2 needs to fill the block in, and what the bound and the limits count."""

    attachment_id: int = 0
    kind: str = ""
    name: str = ""
    file_name: str = ""
    media_type: str = ""
    sent_bytes: int = 0  # an estimate of the encoded size, for the request-size limit


def sent_bytes_estimate(attachment: Attachment) -> int:
    """How many request bytes the attachment takes once encoded (images before scaling)."""
    if attachment.kind == Attachment.Kind.IMAGE_URL:
        return len(attachment.source_url) + 64
    if attachment.kind == Attachment.Kind.TEXT:
        return attachment.size * 2 + 64  # JSON escapes at worst double it (mostly)
    return (attachment.size + 2) // 3 * 4 + 64


def _hint(attachment: Attachment) -> AttachmentHint:
    return AttachmentHint(
        width=attachment.width,
        height=attachment.height,
        pages=attachment.pages,
        text_bytes=attachment.size if attachment.kind == Attachment.Kind.TEXT else None,
        attachment_id=attachment.pk,
        kind=attachment.kind,
        name=attachment.name,
        file_name=attachment.file.name or "",
        media_type=attachment.media_type,
        sent_bytes=sent_bytes_estimate(attachment),
    )


def note_block(text: str) -> dict:
    return {"type": "text", "text": text}


def block_for(attachment: Attachment, vision: bool, pdf: bool) -> dict:
    """The API block of an attachment, its source empty until `materialise` (phase 1).

    A kind the model cannot read becomes a short note (the model was switched after it was
    sent: the send itself refuses such attachments).
    """
    hint = _hint(attachment)
    kind = attachment.kind
    if kind in (Attachment.Kind.IMAGE, Attachment.Kind.IMAGE_URL) and not vision:
        return note_block(f"[Image {attachment.name}: not shown, this model does not read images.]")
    if kind == Attachment.Kind.PDF and not pdf:
        return note_block(f"[PDF {attachment.name}: not shown, this model does not read PDFs.]")
    if kind == Attachment.Kind.IMAGE_URL:
        # Counted at the largest image cost by the bound (it cannot see a URL's size).
        source = {"type": "url", "url": attachment.source_url}
        return {"type": "image", "source": source, BOUND_HINT_KEY: hint}
    if kind == Attachment.Kind.IMAGE:
        source = {"type": "base64", "media_type": attachment.media_type, "data": ""}
        return {"type": "image", "source": source, BOUND_HINT_KEY: hint}
    if kind == Attachment.Kind.PDF:
        source = {"type": "base64", "media_type": "application/pdf", "data": ""}
    else:
        source = {"type": "text", "media_type": "text/plain", "data": ""}
    return {"type": "document", "source": source, "title": attachment.name, BOUND_HINT_KEY: hint}


def _hint_of(block: object) -> AttachmentHint | None:
    hint = block.get(BOUND_HINT_KEY) if isinstance(block, dict) else None
    return hint if isinstance(hint, AttachmentHint) else None


def _attachment_slots(messages: list[dict]) -> list[tuple[list, int, AttachmentHint]]:
    """Every attachment block of the request, oldest first: (its content list, index, hint)."""
    slots = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for index, block in enumerate(content):
                hint = _hint_of(block)
                if hint is not None:
                    slots.append((content, index, hint))
    return slots


def fit_to_limits(messages: list[dict]) -> list[int]:
    """Leave out the oldest attachments past the API's per-request limits; returns their ids.

    Newest first, each attachment is kept while the request's images, PDF pages and encoded
    bytes stay within the settings; one left out becomes a note telling the model.
    """
    images = pages = encoded = 0
    max_pages = settings.ATTACHMENT_MAX_PDF_PAGES_PER_REQUEST
    left_out: list[int] = []
    for content, index, hint in reversed(_attachment_slots(messages)):
        is_image = hint.kind in (Attachment.Kind.IMAGE, Attachment.Kind.IMAGE_URL)
        is_pdf = hint.kind == Attachment.Kind.PDF
        over = (
            (is_image and images + 1 > settings.ATTACHMENT_MAX_IMAGES_PER_REQUEST)
            or (is_pdf and pages + (hint.pages or 0) > max_pages)
            or encoded + hint.sent_bytes > settings.ATTACHMENT_MAX_REQUEST_BYTES * 9 // 10
        )
        if over:
            content[index] = note_block(
                f"[Attachment {hint.name} from an earlier message is left out of this request: "
                "the request would pass the API's limits. Ask the user to attach it again if "
                "you need it.]"
            )
            left_out.append(hint.attachment_id)
            continue
        images += is_image
        pages += hint.pages or 0 if is_pdf else 0
        encoded += hint.sent_bytes
    return left_out


def has_attachments(request: dict) -> bool:
    messages = request.get("messages")
    return isinstance(messages, list) and bool(_attachment_slots(messages))


def materialise(request: dict) -> dict:
    """The request with its attachments' bytes filled in and the hints stripped (phase 2).

    Blocking (storage reads, Pillow): run it in a thread, after the send has committed. A
    file that cannot be read becomes a note; the reply goes on. Should the filled-in request
    still pass the API's size limit (an estimate at send was short), the oldest files become
    notes too.
    """
    messages, filled = [], []
    for message in request["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            content = list(content)
            for index, block in enumerate(content):
                hint = _hint_of(block)
                if hint is not None:
                    content[index] = _filled(block, hint)
                    filled.append((content, index, hint))
            message = message | {"content": content}
        messages.append(message)
    _fit_bytes(filled)
    return strip_bound_hints(request | {"messages": messages})


def _source_bytes(block: dict) -> int:
    source = block.get("source")
    data = source.get("data") if isinstance(source, dict) else None
    return len(data.encode("utf-8")) if isinstance(data, str) else 0


def _fit_bytes(filled: list[tuple[list, int, AttachmentHint]]) -> None:
    limit = settings.ATTACHMENT_MAX_REQUEST_BYTES * 9 // 10
    total = sum(_source_bytes(content[index]) for content, index, _hint in filled)
    for content, index, hint in filled:  # oldest first
        if total <= limit:
            return
        total -= _source_bytes(content[index])
        content[index] = note_block(
            f"[Attachment {hint.name} is left out of this request: the request would pass the "
            "API's size limit.]"
        )


def _filled(block: dict, hint: AttachmentHint) -> dict:
    if hint.kind == Attachment.Kind.IMAGE_URL:
        return block
    try:
        with default_storage.open(hint.file_name, "rb") as handle:
            data = handle.read()
    except (OSError, ValueError):
        log.warning("attachment %s: its file cannot be read", hint.attachment_id, exc_info=True)
        return note_block(f"[Attachment {hint.name}: its file is no longer available.]")
    source = dict(block["source"])
    if hint.kind == Attachment.Kind.TEXT:
        source["data"] = data.decode("utf-8-sig", errors="replace")
    elif hint.kind == Attachment.Kind.IMAGE:
        data = _prepared_image(hint, data)
        source["data"] = base64.b64encode(data).decode("ascii")
    else:
        source["data"] = base64.b64encode(data).decode("ascii")
    return block | {"source": source}


def prepared_name(file_name: str) -> str:
    """Where the image as sent upstream is kept, beside the stored file (one per long edge)."""
    return f"{file_name}.{settings.ATTACHMENT_IMAGE_LONG_EDGE}px"


def _prepared_image(hint: AttachmentHint, data: bytes) -> bytes:
    """The image as sent, prepared once: later turns resend it without decoding it again."""
    name = prepared_name(hint.file_name)
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except (OSError, ValueError):
        pass  # not prepared yet
    prepared = prepare_image(data, hint.media_type)
    if prepared is not data:
        try:
            saved = default_storage.save(name, ContentFile(prepared))
            if saved != name:  # another worker prepared it meanwhile: keep one copy
                default_storage.delete(saved)
        except OSError:  # a cache: the reply goes on without it
            log.warning("attachment %s: prepared image not kept", hint.attachment_id)
    return prepared


def prepare_image(data: bytes, media_type: str = "", long_edge: int | None = None) -> bytes:
    """The image as it goes upstream: upright, at most `long_edge` pixels, without metadata,
    and within the API's 5 MB per image (scaled down further if it must be).

    Kept in its format (every format accepted at upload is one the API takes); an image that
    needs none of this is sent as stored (`data` itself is returned).
    """
    long_edge = long_edge or settings.ATTACHMENT_IMAGE_LONG_EDGE
    with open_image(data) as image:
        image_format = image.format or "PNG"
        orientation = image.getexif().get(ORIENTATION, 1)
        has_metadata = any(key in image.info for key in _METADATA_KEYS) or bool(
            getattr(image, "text", None)
        )
        small = max(image.size) <= long_edge and len(data) <= API_IMAGE_BYTES
        if small and orientation in (None, 1) and not has_metadata:
            return data
        if image_format == "JPEG" and max(image.size) >= 2 * long_edge:
            # The JPEG decoder scales by 1/2, 1/4 or 1/8 as it decodes (never below the box):
            # a 12-megapixel photo then costs a quarter of the decoding and resizing.
            image.draft(image.mode, (long_edge, long_edge))
        upright = ImageOps.exif_transpose(image) or image
        if image_format == "JPEG" and upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        upright.info = {}  # no EXIF, XMP, comments or profiles in the copy sent upstream
        edge = long_edge
        for _attempt in range(6):
            copy = upright.copy()
            copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            copy.save(out, format=image_format, **_SAVE_OPTIONS.get(image_format, {}))
            if out.tell() <= API_IMAGE_BYTES:
                break
            # Noise-like PNGs can pass 5 MB even at 1568 px: smaller until they fit.
            edge = int(min(edge, max(copy.size)) * 0.7)
    return out.getvalue()
