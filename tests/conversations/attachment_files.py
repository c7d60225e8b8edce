"""Files the attachment tests upload: real images, PDFs and text made here, never downloaded."""

import io
import struct
import zlib

from PIL import Image


def png(width: int = 40, height: int = 30, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg(width: int = 40, height: int = 30, orientation: int | None = None) -> bytes:
    """A JPEG, optionally with an EXIF orientation tag (6: shown turned 90° clockwise)."""
    image = Image.new("RGB", (width, height), "blue")
    out = io.BytesIO()
    if orientation is None:
        image.save(out, format="JPEG")
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x010F] = "CameraMaker"  # metadata that must not go upstream
        image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG header claiming width × height pixels with a tiny compressed body (never decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def pdf(pages: int = 1) -> bytes:
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>",
        *["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"] * pages,
    ]
    body = "%PDF-1.4\n"
    for number, text in enumerate(objects, start=1):
        body += f"{number} 0 obj {text} endobj\n"
    return (body + "trailer << /Root 1 0 R >>\n%%EOF\n").encode()


PYTHON = b'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n'
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>'
