"""Tiny images and PDFs built byte by byte, for the admission bound's tests."""

import base64
import struct
import zlib


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    # An EXIF-like segment before the frame header: the reader must skip it by its length.
    app1 = b"\xff\xe1" + struct.pack(">H", 8) + b"\xff\xc0\x00\x00\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + app1 + sof0 + b"\xff\xd9"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def webp_vp8x(width: int, height: int) -> bytes:
    body = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    chunk = b"VP8X" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    body = b"\x2f" + bits.to_bytes(4, "little")
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def webp_vp8(width: int, height: int) -> bytes:
    body = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    chunk = b"VP8 " + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def pdf(pages: int, type_name: bytes = b"/Page") -> bytes:
    """A PDF whose page objects sit in the file, one `obj` each."""
    kids = b" ".join(b"%d 0 R" % (3 + n) for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%b] /Count %d >>" % (kids, pages),
        *[b"<< /Type %b /Parent 2 0 R /MediaBox [0 0 612 792] >>" % type_name] * pages,
    ]
    body = b"".join(b"%d 0 obj\n%b\nendobj\n" % (n + 1, o) for n, o in enumerate(objects))
    return b"%PDF-1.7\n" + body + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def pdf_with_object_stream(pages: int, filter_name: bytes = b"/FlateDecode") -> bytes:
    """A PDF 1.5 file whose page tree and pages are compressed into one object stream."""
    kids = b" ".join(b"%d 0 R" % (3 + n) for n in range(pages))
    packed = [b"<< /Type /Pages /Kids [%b] /Count %d >>" % (kids, pages)]
    packed += [b"<</Type/Page/Parent 2 0 R>>"] * pages
    inner = b"\n".join(packed)
    if filter_name == b"/FlateDecode":
        stream = zlib.compress(inner)
    else:  # /ASCIIHexDecode: a filter this reader does not undo
        stream = inner.hex().encode() + b">"
    header = b"<< /Type /ObjStm /N %d /First 0 /Filter %b /Length %d >>" % (
        pages + 1,
        filter_name,
        len(stream),
    )
    return (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        + b"9 0 obj\n"
        + header
        + b"\nstream\n"
        + stream
        + b"\nendstream\nendobj\n%%EOF\n"
    )
