"""Image dimensions and PDF page counts read cheaply from the bytes, for the admission bound."""

import base64
import binascii
import re
import struct
import zlib

# The API refuses requests over 32 MB, so a larger base64 string is never decoded here.
MAX_BASE64_CHARS = 48 * 1024 * 1024
# A page-tree object stream inflates to well under this; more is treated as uncountable.
MAX_INFLATED_BYTES = 64 * 1024 * 1024

# Headers sit in the first bytes, except a JPEG's frame header after large metadata segments.
_HEAD_CHARS = 64 * 1024  # a multiple of 4: whole base64 quanta
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0 + n for n in range(16)} - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC
# PDF syntax: white space (NUL and form feed included) and comments may separate tokens.
_GAP = rb"(?:[\s\x00]|%[^\r\n]*[\r\n])*"
_NAME_END = rb"(?![^\s\x00/<>\[\]()%{}])"
_PAGE = re.compile(rb"/Type" + _GAP + rb"/Page" + _NAME_END)
_OBJECT_STREAM = re.compile(rb"/Type" + _GAP + rb"/ObjStm" + _NAME_END)
_COUNT = re.compile(rb"/Count" + _GAP + rb"(\d{1,9})")
_STREAM_START = re.compile(rb"stream(?:\r\n|\n|\r)")
_ESCAPED_NAME = re.compile(rb"/([^\s\x00/<>\[\]()%{}]*#[^\s\x00/<>\[\]()%{}]*)")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PAGE_TREE_NAMES = {b"Type", b"Page", b"Pages", b"ObjStm", b"Count", b"Kids"}


def decode_base64(text: object) -> bytes | None:
    """The bytes of a base64 string, or None when it is not one (or too large to be sent)."""
    if not isinstance(text, str) or len(text) > MAX_BASE64_CHARS:
        return None
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return None


def image_size_from_base64(text: object) -> tuple[int, int] | None:
    """`image_size` of base64 data, decoding only the first 48 KiB when the header is there."""
    if isinstance(text, str) and len(text) > _HEAD_CHARS:
        head = decode_base64(text[:_HEAD_CHARS])
        size = image_size(head) if head else None
        if size:
            return size
    data = decode_base64(text)
    return image_size(data) if data else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF or WebP header; None if it cannot be read."""
    try:
        size = _png(data) or _gif(data) or _webp(data) or _jpeg(data)
    except (struct.error, IndexError):
        return None
    if size and size[0] > 0 and size[1] > 0:
        return size
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] == _PNG and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _gif(data: bytes) -> tuple[int, int] | None:
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", data[6:10])
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + length
    return None


def pdf_page_count(data: bytes) -> int | None:
    """An upper-leaning count of a PDF's pages; None when pages could hide from the count.

    Counts page objects (`/Type /Page`, never `/Pages`) and the `/Count` of page-tree nodes,
    in the file and inside its Flate object streams, and takes the larger. Old revisions and
    the text of comments only ever add to it. A name written with `#` escapes, an object
    stream that does not inflate, or one that inflates past the cap makes it uncountable.
    """
    if not data.startswith(b"%PDF") and b"%PDF-" not in data[:1024]:
        return None
    parts, inflated_total = [data], 0
    for match in _OBJECT_STREAM.finditer(data):
        inflated = _inflate_stream_after(data, match.end())
        if inflated is None:
            return None
        inflated_total += len(inflated)
        if inflated_total > MAX_INFLATED_BYTES:  # a bomb of many small streams
            return None
        parts.append(inflated)
    pages = 0
    for part in parts:
        if _has_escaped_page_tree_name(part):
            return None
        pages = max(pages, len(_PAGE.findall(part)), _page_tree_count(part))
    return pages or None


def _inflate_stream_after(data: bytes, start: int) -> bytes | None:
    found = _STREAM_START.search(data, start, start + 4096)
    if found is None:
        return None
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(memoryview(data)[found.end() :], MAX_INFLATED_BYTES)
    except zlib.error:  # another filter, encrypted, or damaged: its pages cannot be seen
        return None
    if inflater.unconsumed_tail:
        return None
    return inflated


def _page_tree_count(part: bytes) -> int:
    # /Count also counts outline items; only a node with /Kids near it is a page-tree node.
    best = 0
    for match in _COUNT.finditer(part):
        window = part[max(0, match.start() - 512) : match.end() + 512]
        if b"/Kids" in window:
            best = max(best, int(match.group(1)))
    return best


def _has_escaped_page_tree_name(part: bytes) -> bool:
    for match in _ESCAPED_NAME.finditer(part):
        name = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        if name in _PAGE_TREE_NAMES:
            return True
    return False
