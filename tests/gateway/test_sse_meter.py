"""The gateway's SSE reader on raw bytes: a recorded transcript, cut anywhere, reads the same."""

import random

import pytest

from conversations.gateway.sse_meter import StreamMeter, message_usage

# A streamed reply as the Messages API sends it: thinking, text, a tool call, pings, and usage
# reported in message_start and again (a running total repeating the input) in message_delta.
TRANSCRIPT = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":472,"cache_creation_input_tokens":10,"cache_read_input_tokens":20,'
    b'"output_tokens":2}}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking",'
    b'"thinking":"","signature":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta",'
    b'"thinking":"Let me think"}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta",'
    b'"signature":"c2ln"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta",'
    b'"text":"Hello \\u00e9\xe2\x9c\x93"}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    b'"partial_json":"{\\"city\\": "}}\n\n'
    b"event: message_delta\n"
    b'data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},'
    b'"usage":{"input_tokens":472,"output_tokens":89}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
USAGE = {
    "input_tokens": 472,
    "cache_creation_input_tokens": 10,
    "cache_read_input_tokens": 20,
    "output_tokens": 89,
}
CHARS = len("Let me think") + len("Hello é✓") + len('{"city": ')


def read(pieces: list[bytes]) -> StreamMeter:
    meter = StreamMeter()
    for piece in pieces:
        meter.feed(piece)
    meter.close()
    return meter


def cuts(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    points = sorted(rng.sample(range(1, len(data)), 40))
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@pytest.mark.parametrize("seed", range(20))
def test_a_transcript_cut_anywhere_reads_the_same(seed):
    meter = read(cuts(TRANSCRIPT, seed))
    assert (meter.usage, meter.output_chars, meter.complete, meter.error) == (
        USAGE,
        CHARS,
        True,
        None,
    )


def test_a_transcript_fed_byte_by_byte_reads_the_same():
    meter = read([TRANSCRIPT[i : i + 1] for i in range(len(TRANSCRIPT))])
    assert (meter.usage, meter.output_chars, meter.complete) == (USAGE, CHARS, True)


def test_crlf_line_ends_read_the_same():
    meter = read([TRANSCRIPT.replace(b"\n", b"\r\n")])
    assert (meter.usage, meter.complete) == (USAGE, True)


def test_usage_is_the_latest_value_of_each_field_never_a_sum():
    meter = read([TRANSCRIPT])
    assert meter.usage["input_tokens"] == 472  # reported twice, counted once


def test_a_stream_without_message_stop_is_incomplete():
    cut = TRANSCRIPT[: TRANSCRIPT.index(b"event: message_delta")]
    meter = read([cut])
    assert not meter.complete
    assert meter.usage["output_tokens"] == 2  # what message_start said
    assert meter.output_chars == CHARS


def test_an_error_event_is_kept():
    error = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"x"}}\n\n'
    )
    meter = read([TRANSCRIPT[:300], TRANSCRIPT[300 : TRANSCRIPT.index(b"event: ping")], error])
    assert meter.error == {"type": "overloaded_error", "message": "x"}
    assert not meter.complete


def test_unknown_events_and_broken_data_are_ignored():
    noise = (
        b'event: future\ndata: {"type":"future_event"}\n\n'
        b"event: x\ndata: {not json\n\n: comment\n\n"
    )
    meter = read([noise, TRANSCRIPT])
    assert (meter.usage, meter.complete) == (USAGE, True)


def test_a_whole_message_reads_its_usage_and_characters():
    body = (
        b'{"type":"message","content":[{"type":"text","text":"Hi there"}],'
        b'"usage":{"input_tokens":5,"output_tokens":3}}'
    )
    assert message_usage(body) == ({"input_tokens": 5, "output_tokens": 3}, 8, True)
    assert message_usage(b'{"code":200,"data":%b}' % body)[0]["output_tokens"] == 3
    assert message_usage(b"not json") == ({}, 0, False)


def test_a_crlf_stream_cut_between_cr_and_lf_inside_an_event_still_meters_its_end() -> None:
    # Two data lines of one event: a CR at the end of one read and its LF at the start of the
    # next must not read as a blank line, which would split the JSON into two halves.
    stream = b'event: message_stop\r\ndata: {"type":\r\ndata: "message_stop"}\r\n\r\n'
    cut = stream.index(b'\r\ndata: "message_stop') + 1
    meter = read([stream[:cut], stream[cut:]])
    assert meter.complete
