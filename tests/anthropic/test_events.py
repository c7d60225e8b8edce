"""Stream decoding and message assembly from wire transcripts shaped like the API's docs."""

from dataclasses import fields

import pytest

from accounts.usage import USAGE_FIELDS
from conversations.anthropic import (
    AnthropicError,
    BlockDelta,
    BlockStart,
    BlockStop,
    ErrorKind,
    EventDecoder,
    MessageAccumulator,
    MessageDelta,
    MessageStart,
    MessageStop,
    Usage,
)

TEXT_STREAM = """\
event: message_start
data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}

"""  # noqa: E501

THINKING_STREAM = """\
event: message_start
data: {"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 20, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me solve this step by step:\\n\\n1. First break down 27 * 453"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "\\n2. 453 = 400 + 50 + 3"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: content_block_start
data: {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "27 * 453 = 12,231"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 1}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 80}}

event: message_stop
data: {"type": "message_stop"}

"""  # noqa: E501

TOOL_USE_STREAM = """\
event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let's check the weather for San Francisco, CA:"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \\"San Fra"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ncisco, CA\\", \\"unit\\": \\"fah"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"renheit\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"""  # noqa: E501

RUNNING_USAGE_STREAM = """\
event: message_start
data: {"type": "message_start", "message": {"id": "msg_02", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"input_tokens": 25, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 42}}

event: message_stop
data: {"type": "message_stop"}

"""  # noqa: E501

UNKNOWN_TYPES_STREAM = """\
event: message_start
data: {"type": "message_start", "message": {"id": "msg_03", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}

event: future_event
data: {"type": "future_event", "whatever": [1, 2, 3]}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "hologram", "frames": []}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "hologram_delta", "frame": "x"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: content_block_start
data: {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": {"type": "char_location"}}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "still here"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 1}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 4}}

event: message_stop
data: {"type": "message_stop"}

"""  # noqa: E501

ERROR_AFTER_TEXT_STREAM = """\
event: message_start
data: {"type": "message_start", "message": {"id": "msg_04", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Partial"}}

event: error
data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

"""  # noqa: E501


def wire_events(transcript: str) -> list[tuple[str, str]]:
    """(event name, data) pairs of a transcript; enough SSE for these fixed test inputs."""
    pairs = []
    for chunk in transcript.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in chunk.splitlines())
        pairs.append((fields.get("event", ""), fields["data"]))
    return pairs


def decode_all(transcript: str) -> list:
    decoder = EventDecoder()
    events = (decoder.decode(data, name) for name, data in wire_events(transcript))
    return [event for event in events if event is not None]


def accumulate(events: list) -> MessageAccumulator:
    message = MessageAccumulator()
    for event in events:
        message.feed(event)
    return message


def test_text_stream_yields_typed_events_and_skips_pings():
    events = decode_all(TEXT_STREAM)

    assert events == [
        MessageStart(
            "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
            "claude-sonnet-4-5",
            Usage(input_tokens=25, output_tokens=1),
        ),
        BlockStart(0, {"type": "text", "text": ""}),
        BlockDelta(0, "text", "Hello"),
        BlockDelta(0, "text", "!"),
        BlockStop(0),
        MessageDelta("end_turn", None, Usage(input_tokens=25, output_tokens=15)),
        MessageStop(),
    ]


def test_text_stream_accumulates_into_the_final_message():
    message = accumulate(decode_all(TEXT_STREAM))

    assert message.complete
    assert message.text() == "Hello!"
    assert message.content == [{"type": "text", "text": "Hello!"}]
    assert message.message_id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    assert message.model == "claude-sonnet-4-5"
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None


def test_thinking_keeps_its_text_and_signature_before_the_answer():
    events = decode_all(THINKING_STREAM)
    message = accumulate(events)

    kinds = [e.kind for e in events if isinstance(e, BlockDelta)]
    assert kinds == ["thinking", "thinking", "signature", "text"]
    assert message.content == [
        {
            "type": "thinking",
            "thinking": "Let me solve this step by step:\n\n1. First break down 27 * 453"
            "\n2. 453 = 400 + 50 + 3",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
        },
        {"type": "text", "text": "27 * 453 = 12,231"},
    ]
    assert message.text() == "27 * 453 = 12,231"


def test_tool_use_input_is_assembled_from_json_pieces():
    message = accumulate(decode_all(TOOL_USE_STREAM))

    assert message.stop_reason == "tool_use"
    assert message.content[1] == {
        "type": "tool_use",
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "name": "get_weather",
        "input": {"location": "San Francisco, CA", "unit": "fahrenheit"},
    }


def test_tool_use_without_input_pieces_has_empty_input():
    message = MessageAccumulator()
    message.feed(BlockStart(0, {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}))
    message.feed(BlockStop(0))

    assert message.content == [{"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}]


def test_unparseable_tool_input_keeps_the_raw_json():
    message = MessageAccumulator()
    message.feed(BlockStart(0, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}))
    message.feed(BlockDelta(0, "tool_input", '{"city": "Par'))

    assert message.content[0]["input"] == {}
    assert message.content[0]["_partial_json"] == '{"city": "Par'


def test_usage_takes_the_latest_running_total_not_the_sum():
    events = decode_all(RUNNING_USAGE_STREAM)
    message = accumulate(events)

    expected = Usage(
        input_tokens=25,
        output_tokens=42,
        cache_creation_input_tokens=10,
        cache_read_input_tokens=5,
    )
    assert events[0].usage == Usage(25, 1, 10, 5)
    assert message.usage == expected
    assert message.usage.as_dict() == {
        "input_tokens": 25,
        "output_tokens": 42,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 5,
    }


def test_usage_merge_keeps_fields_that_are_absent_or_null():
    usage = Usage(input_tokens=7, output_tokens=1, cache_read_input_tokens=3)

    merged = usage.merged({"output_tokens": 9, "input_tokens": None, "server_tool_use": {}})

    assert merged == Usage(input_tokens=7, output_tokens=9, cache_read_input_tokens=3)


def test_unknown_event_block_and_delta_types_are_ignored():
    events = decode_all(UNKNOWN_TYPES_STREAM)
    message = accumulate(events)

    assert [e for e in events if isinstance(e, BlockDelta)] == [BlockDelta(1, "text", "still here")]
    assert message.content == [
        {"type": "hologram", "frames": []},
        {"type": "text", "text": "still here"},
    ]
    assert message.complete


def test_error_event_raises_with_the_kind_of_its_error_type():
    decoder = EventDecoder()
    pairs = wire_events(ERROR_AFTER_TEXT_STREAM)
    seen = [decoder.decode(data, name) for name, data in pairs[:-1]]

    with pytest.raises(AnthropicError) as caught:
        decoder.decode(pairs[-1][1], pairs[-1][0])

    assert seen[-1] == BlockDelta(0, "text", "Partial")
    assert caught.value.kind is ErrorKind.OVERLOADED
    assert "overloaded" in caught.value.message.lower()


def test_event_name_is_used_when_the_data_has_no_type():
    decoder = EventDecoder()

    assert decoder.decode('{"index": 2}', "content_block_stop") == BlockStop(2)


def test_malformed_event_data_is_an_api_error():
    with pytest.raises(AnthropicError) as caught:
        EventDecoder().decode("{not json", "content_block_delta")

    assert caught.value.kind is ErrorKind.API


def test_message_is_incomplete_until_message_stop():
    events = decode_all(TEXT_STREAM)

    message = accumulate(events[:-1])

    assert not message.complete
    assert message.text() == "Hello!"


def test_usage_counts_are_the_ones_the_ledger_charges():
    # The client package keeps its own field list (it imports nothing of the app): the two
    # drifting apart would leave a count reported by the API and never charged.
    assert tuple(f.name for f in fields(Usage)) == USAGE_FIELDS
