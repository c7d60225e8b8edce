"""What an uploaded file is, found from its bytes alone: the checks every file that enters passes.

The name is only shown, and the browser's content type is never read. A file is an image
(JPEG, PNG, GIF, WebP: Pillow reads its header), a PDF (its pages counted), or UTF-8 text (it
decodes); anything else is refused, and so is a file whose extension names another kind.
"""

import io
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from accounts.media_size import pdf_page_count

# Pillow format name -> media type the API takes, and the extensions that may name it.
IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", {"jpg", "jpeg", "jpe", "jfif"}),
    "PNG": ("image/png", {"png"}),
    "GIF": ("image/gif", {"gif"}),
    "WEBP": ("image/webp", {"webp"}),
}
PDF_EXTENSIONS = {"pdf"}
# Extensions that never name a text file we accept, whatever the bytes decode to.
REFUSED_EXTENSIONS = {
    "html", "htm", "xhtml", "shtml", "svg", "svgz", "exe", "dll", "so", "dylib", "bin", "msi",
    "com", "bat", "cmd", "scr", "zip", "gz", "tgz", "bz2", "xz", "7z", "rar", "tar", "jar",
    "apk", "dmg", "iso", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "tif", "tiff", "bmp",
    "ico", "heic", "heif", "avif",
}  # fmt: skip
IMAGE_EXTENSIONS = set().union(*(extensions for _type, extensions in IMAGE_FORMATS.values()))
# Markup a browser would run: refused even when it decodes as text.
_MARKUP_STARTS = ("<!doctype html", "<html", "<svg", "<head", "<body", "<script", "<iframe")
MAX_URL_CHARS = 2000
MAX_NAME_CHARS = 255


class AttachmentRefused(Exception):
    """A file refused, with the code and translated message the upload answers with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Checked:
    """What the bytes are."""

    kind: str  # "image", "pdf" or "text"
    media_type: str
    width: int | None = None
    height: int | None = None
    pages: int | None = None


def clean_name(name: object) -> str:
    """The shown name: its last path part, without control characters, at most 255 characters."""
    text = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    if len(text) > MAX_NAME_CHARS:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: MAX_NAME_CHARS - len(ext) - 1] + dot + ext) if dot else text[:255]
    return text or "file"


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def too_large(size: int, limit: int) -> AttachmentRefused:
    return AttachmentRefused(
        "too_large",
        _("The file is too large (%(size)s; the limit is %(limit)s).")
        % {"size": _megabytes(size), "limit": _megabytes(limit)},
        status=413,
    )


def _megabytes(size: int) -> str:
    return _("%(mb).1f MB") % {"mb": size / (1024 * 1024)}


def check_file(name: str, data: bytes) -> Checked:
    """What `data` is, or AttachmentRefused saying why it may not be attached."""
    if not data:
        raise AttachmentRefused("empty", _("The file is empty."))
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise too_large(len(data), settings.ATTACHMENT_MAX_BYTES)
    ext = extension(name)
    if data.startswith(b"%PDF-"):
        return _check_pdf(ext, data)
    image_format = _image_magic(data)
    if image_format:
        return _check_image(ext, data, image_format)
    return _check_text(ext, data)


def _mismatch(ext: str) -> AttachmentRefused:
    return AttachmentRefused(
        "type_mismatch",
        _("The file's contents do not match its extension (.%(ext)s).") % {"ext": ext},
    )


def _unsupported() -> AttachmentRefused:
    return AttachmentRefused(
        "unsupported_type",
        _(
            "This kind of file cannot be attached. Attach a JPEG, PNG, GIF or WebP image, "
            "a PDF, or a UTF-8 text file."
        ),
    )


def _image_magic(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _check_pdf(ext: str, data: bytes) -> Checked:
    if ext and ext not in PDF_EXTENSIONS:
        raise _mismatch(ext)
    pages = pdf_page_count(data)
    if pages is None:
        raise AttachmentRefused(
            "unreadable",
            _("The PDF's pages cannot be counted (it may be encrypted or damaged)."),
        )
    if pages > settings.ATTACHMENT_MAX_PDF_PAGES:
        raise AttachmentRefused(
            "too_many_pages",
            _("The PDF has %(pages)d pages; the limit is %(limit)d.")
            % {"pages": pages, "limit": settings.ATTACHMENT_MAX_PDF_PAGES},
        )
    return Checked("pdf", "application/pdf", pages=pages)


def _too_many_pixels(width: int, height: int) -> AttachmentRefused:
    return AttachmentRefused(
        "too_many_pixels",
        _(
            "The image is too large (%(width)d × %(height)d pixels; at most %(edge)d pixels "
            "on a side and %(pixels)d megapixels)."
        )
        % {
            "width": width,
            "height": height,
            "edge": settings.ATTACHMENT_MAX_IMAGE_EDGE,
            "pixels": settings.ATTACHMENT_MAX_PIXELS // 1_000_000,
        },
    )


def open_image(data: bytes, formats: list[str] | None = None) -> Image.Image:
    """Pillow's image over `data`, its header read but no pixel decoded.

    Pillow's own guard is set from our limit, so a bomb far over it is refused by Image.open
    itself; `check_image_size` refuses the rest before anything is decoded.
    """
    Image.MAX_IMAGE_PIXELS = settings.ATTACHMENT_MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
        return Image.open(io.BytesIO(data), formats=formats or list(IMAGE_FORMATS))


def _check_image(ext: str, data: bytes, image_format: str) -> Checked:
    media_type, extensions = IMAGE_FORMATS[image_format]
    if ext and ext not in extensions:
        raise _mismatch(ext)
    try:
        with open_image(data, [image_format]) as image:
            width, height = image.size
            if (
                width * height > settings.ATTACHMENT_MAX_PIXELS
                or max(width, height) > settings.ATTACHMENT_MAX_IMAGE_EDGE
            ):
                raise _too_many_pixels(width, height)
            image.verify()  # structure and checksums, without keeping the pixels
    except Image.DecompressionBombError:
        raise AttachmentRefused(
            "too_many_pixels", _("The image has too many pixels to be read safely.")
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise AttachmentRefused(
            "unreadable", _("The image is damaged or cannot be read.")
        ) from None
    return Checked("image", media_type, width=width, height=height)


def _check_text(ext: str, data: bytes) -> Checked:
    if ext in IMAGE_EXTENSIONS or ext in PDF_EXTENSIONS:
        raise _mismatch(ext)
    if ext in REFUSED_EXTENSIONS:
        raise _unsupported()
    if len(data) > settings.ATTACHMENT_MAX_TEXT_BYTES:
        raise too_large(len(data), settings.ATTACHMENT_MAX_TEXT_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unsupported() from None
    if "\x00" in text:  # UTF-16 and binary formats decode, but carry NULs
        raise _unsupported()
    head = text[:4096].lstrip().lower()
    if head.startswith(_MARKUP_STARTS) or (head.startswith("<?xml") and "<svg" in head):
        raise AttachmentRefused("unsupported_type", _("HTML and SVG files cannot be attached."))
    return Checked("text", "text/plain")


def check_image_url(url: object) -> str:
    """An https:// URL with a host, as given: it is sent upstream, never fetched here."""
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        raise AttachmentRefused("invalid_url", _("Give an https:// address of an image."))
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme != "https"
        or not parts.hostname
        or parts.username
        or parts.password
        or any(ch.isspace() or not ch.isprintable() for ch in url)
    ):
        raise AttachmentRefused("invalid_url", _("Give an https:// address of an image."))
    return url


def name_from_url(url: str) -> str:
    parts = urlsplit(url)
    return clean_name(parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.hostname)
