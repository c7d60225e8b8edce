"""The raw-bytes SSE reader follows the event-stream spec however the bytes are cut."""

import asyncio

import httpx
import pytest
from httpx_sse import EventSource

from conversations.anthropic.sse import ServerSentEvent, SSEReader, aiter_sse

TRANSCRIPT = (
    b": a comment line\n"
    b"event: message_start\n"
    b'data: {"type":"message_start"}\n'
    b"\n"
    b"event: content_block_delta\r\n"
    b'data: {"type":"content_block_delta",\r\n'
    b'data: "text":"caf\xc3\xa9"}\r\n'
    b"\r\n"
    b"id: 7\rretry: 1500\revent: ping\rdata: {}\r\r"
    b"data:no space\n"
    b"data:  two spaces\n\n"
)
EXPECTED = [
    ServerSentEvent("message_start", '{"type":"message_start"}', "", None),
    ServerSentEvent(
        "content_block_delta", '{"type":"content_block_delta",\n"text":"café"}', "", None
    ),
    ServerSentEvent("ping", "{}", "7", 1500),
    ServerSentEvent("message", "no space\n two spaces", "7", 1500),
]


def read(pieces: list[bytes], **close) -> list[ServerSentEvent]:
    reader = SSEReader()
    events = [e for piece in pieces for e in reader.feed(piece)]
    return events + reader.close(**close)


def test_a_transcript_read_whole_gives_each_event_once() -> None:
    assert read([TRANSCRIPT]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(TRANSCRIPT)))
def test_the_same_events_wherever_the_stream_is_cut(cut: int) -> None:
    assert read([TRANSCRIPT[:cut], TRANSCRIPT[cut:]]) == EXPECTED


def test_the_same_events_one_byte_at_a_time() -> None:
    assert read([TRANSCRIPT[i : i + 1] for i in range(len(TRANSCRIPT))]) == EXPECTED


def test_a_crlf_cut_between_its_cr_and_lf_is_one_line_end_not_a_blank_line() -> None:
    events = read([b"data: a\r", b"\ndata: b\r\n\r\n"])
    assert [e.data for e in events] == ["a\nb"]


def test_comments_and_unknown_fields_are_ignored() -> None:
    events = read([b":ping\nfoo: bar\ndata: x\n:another\n\n"])
    assert [(e.event, e.data) for e in events] == [("message", "x")]


def test_a_line_without_a_colon_is_a_field_with_an_empty_value() -> None:
    assert [e.data for e in read([b"data\n\ndata\ndata\n\n"])] == ["", "\n"]


def test_an_event_without_data_is_not_dispatched() -> None:
    assert read([b"event: ping\n\n\n\ndata: x\n\n"]) == [ServerSentEvent("message", "x", "", None)]


def test_an_event_name_does_not_leak_into_the_next_event() -> None:
    events = read([b"event: a\ndata: 1\n\ndata: 2\n\n"])
    assert [e.event for e in events] == ["a", "message"]


def test_id_persists_and_an_id_with_nul_is_ignored() -> None:
    events = read([b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x00\ndata: c\n\nid\ndata: d\n\n"])
    assert [e.id for e in events] == ["1", "1", "1", ""]


def test_retry_takes_digits_only() -> None:
    events = read([b"retry: 10\ndata: a\n\nretry: -5\ndata: b\n\nretry: 1x\ndata: c\n\n"])
    assert [e.retry for e in events] == [10, 10, 10]


def test_a_leading_bom_is_dropped_even_when_cut() -> None:
    stream = b"\xef\xbb\xbfdata: x\n\n"
    for cut in range(1, 4):
        assert [e.data for e in read([stream[:cut], stream[cut:]])] == ["x"]
    assert read([b"\xef\xbb\xbf\xef\xbb\xbfdata: y\n\n"]) == []  # a second BOM is a field name


def test_an_unfinished_last_event_is_discarded_unless_the_caller_keeps_it() -> None:
    assert read([b"data: a\n\ndata: b\n"]) == [ServerSentEvent("message", "a", "", None)]
    kept = read([b"data: a\n\ndata: b\n"], keep_incomplete=True)
    assert [e.data for e in kept] == ["a", "b"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert read([b"data: \xff\n\n"])[0].data == "\ufffd"


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self):
        for piece in self.pieces:
            await asyncio.sleep(0)
            yield piece


def _response(pieces: list[bytes]) -> httpx.Response:
    headers = {"content-type": "text/event-stream"}
    return httpx.Response(200, headers=headers, stream=_Chunks(pieces))


async def test_aiter_sse_gives_what_httpx_sse_gives_for_every_event_with_data() -> None:
    pieces = [TRANSCRIPT[i : i + 7] for i in range(0, len(TRANSCRIPT), 7)]
    ours = [(e.event, e.data) async for e in aiter_sse(_response(pieces))]
    theirs = [
        (e.event or "message", e.data)
        async for e in EventSource(_response(pieces)).aiter_sse()
        if e.data or e.event == "message"
    ]
    assert ours == theirs == [(e.event, e.data) for e in EXPECTED]
