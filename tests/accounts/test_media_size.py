"""Image sizes and PDF page counts read from the bytes: right when readable, None when not."""

import struct

import pytest

from accounts.media_size import decode_base64, image_size, image_size_from_base64, pdf_page_count

from .media_samples import (
    b64,
    gif,
    jpeg,
    pdf,
    pdf_with_object_stream,
    png,
    webp_vp8,
    webp_vp8l,
    webp_vp8x,
)


@pytest.mark.parametrize("make", [png, jpeg, gif, webp_vp8x, webp_vp8l, webp_vp8])
def test_each_supported_format_gives_its_size(make):
    assert image_size(make(1234, 567)) == (1234, 567)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF89a",
        b"RIFF\0\0\0\0WEBPVP8 ",
        b"not an image",
    ],
)
def test_truncated_or_unknown_bytes_give_no_size(data):
    assert image_size(data) is None


def test_a_frame_header_past_the_first_bytes_is_still_found():
    metadata = (b"\xff\xe1" + struct.pack(">H", 60_002) + bytes(60_000)) * 2
    data = jpeg(3000, 2000)
    assert image_size_from_base64(b64(data[:2] + metadata + data[2:])) == (3000, 2000)


def test_base64_with_line_breaks_gives_the_size_too():
    text = b64(png(640, 480) + bytes(100_000))
    wrapped = "\n".join(text[at : at + 76] for at in range(0, len(text), 76))
    assert image_size_from_base64(wrapped) == (640, 480)


def test_a_jpeg_whose_scan_starts_before_any_frame_header_gives_no_size():
    assert image_size(b"\xff\xd8\xff\xda\x00\x02") is None


def test_a_zero_sized_header_gives_no_size():
    assert image_size(png(0, 10)) is None


def test_pages_are_counted_from_page_objects_not_the_pages_node():
    assert pdf_page_count(pdf(3)) == 3


def test_pages_inside_a_compressed_object_stream_are_counted():
    assert pdf_page_count(pdf_with_object_stream(7)) == 7


def test_an_object_stream_this_reader_cannot_inflate_makes_the_pdf_uncountable():
    assert pdf_page_count(pdf_with_object_stream(7, b"/ASCIIHexDecode")) is None


def test_page_names_hidden_behind_hex_escapes_make_the_pdf_uncountable():
    assert pdf_page_count(pdf(5, type_name=b"/Pa#67e")) is None


def test_a_larger_page_tree_count_wins_over_fewer_page_objects():
    data = pdf(2).replace(b"/Count 2", b"/Count 40")
    assert pdf_page_count(data) == 40


def test_an_outline_count_away_from_any_kids_is_not_taken_for_pages():
    outline = b"\n" * 600 + b"50 0 obj\n<< /Type /Outlines /Count 90 >>\nendobj\n"
    assert pdf_page_count(pdf(2) + outline) == 2


def test_bytes_that_are_no_pdf_are_uncountable():
    assert pdf_page_count(b"hello") is None
    assert pdf_page_count(b"%PDF-1.7\n%%EOF") is None


def test_base64_that_does_not_decode_gives_none():
    assert decode_base64("abc") is None
    assert decode_base64(42) is None
    assert decode_base64("aGk=") == b"hi"
