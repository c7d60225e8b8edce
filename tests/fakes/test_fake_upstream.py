"""Tests of the fake Anthropic upstream itself, through plain httpx against a live instance."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from conversations.fake_upstream import FakeUpstream
from tests.waiting import wait_until

from .conftest import HEADERS


def body(text: str | list, max_tokens: int = 1024, stream: bool = True, **extra: object) -> dict:
    messages = [{"role": "user", "content": text}]
    return {
        "model": "chatsite-demo",
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": stream,
        **extra,
    }


def parse_sse(raw: str) -> list[tuple[str, dict]]:
    events = []
    for frame in raw.split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def stream(api: httpx.Client, text: str | list, **kwargs: object) -> list[tuple[str, dict]]:
    response = api.post("/v1/messages", json=body(text, **kwargs))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    return parse_sse(response.text)


def text_of(events: list[tuple[str, dict]], delta_type: str = "text_delta") -> str:
    field = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
    return "".join(
        data["delta"][field[delta_type]]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == delta_type
    )


def final_delta(events: list[tuple[str, dict]]) -> dict:
    return next(data for name, data in events if name == "message_delta")


def test_stream_shape_and_exact_tokens(api: httpx.Client) -> None:
    events = stream(api, "count please !tokens=7", metadata={"user_id": "u_abc"})
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[1] == "ping"
    assert names[2:] == [
        "content_block_start",
        *["content_block_delta"] * 7,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    message = events[0][1]["message"]
    assert message["id"].startswith("msg_fake_")
    assert message["model"] == "chatsite-demo" and message["role"] == "assistant"
    assert message["content"] == [] and message["stop_reason"] is None
    assert message["usage"]["output_tokens"] == 1
    assert text_of(events) == "".join(f"w{i} " for i in range(1, 8))
    final = final_delta(events)
    assert final["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert final["usage"]["output_tokens"] == 7
    assert final["usage"]["input_tokens"] == message["usage"]["input_tokens"] >= 1
    assert final["usage"]["cache_read_input_tokens"] == 0


def test_request_is_recorded(api: httpx.Client, fake: FakeUpstream) -> None:
    stream(api, "record me !tokens=1", metadata={"user_id": "u_opaque"})
    recorded = fake.requests[-1]
    assert recorded["path"] == "/v1/messages"
    assert recorded["headers"]["x-api-key"] == "test-key"
    assert recorded["body"]["messages"][0]["content"] == "record me !tokens=1"
    assert recorded["user_id"] == "u_opaque"


def test_default_reply_is_markdown_quoting_the_user(api: httpx.Client) -> None:
    events = stream(api, "Tell me about sourdough starters and hydration")
    text = text_of(events)
    assert text.startswith("## ")
    assert '"Tell me about sourdough starters and hydration"' in text
    assert "\n- " in text and "```python\n" in text
    deltas = [d for n, d in events if n == "content_block_delta"]
    assert len(deltas) > 20 and final_delta(events)["usage"]["output_tokens"] == len(deltas)


def test_long_stream_pings_periodically(api: httpx.Client) -> None:
    events = stream(api, "!tokens=120")
    assert [n for n, _ in events].count("ping") == 3  # early, then after 50 and 100 deltas


def test_content_blocks_and_system_count_toward_input(api: httpx.Client) -> None:
    blocks = [{"type": "text", "text": "a" * 40}, {"type": "text", "text": "!tokens=2"}]
    events = stream(api, blocks, system="s" * 400)
    assert text_of(events) == "w1 w2 "
    assert final_delta(events)["usage"]["input_tokens"] >= 110


def test_non_streaming_matches_stream(api: httpx.Client) -> None:
    streamed = stream(api, "same !thinking !tool !tokens=3 !cache=5,6")
    response = api.post(
        "/v1/messages", json=body("same !thinking !tool !tokens=3 !cache=5,6", stream=False)
    )
    assert response.status_code == 200
    message = response.json()
    assert message["type"] == "message" and message["stop_reason"] == "tool_use"
    thinking, text, tool = message["content"]
    assert thinking["thinking"] == text_of(streamed, "thinking_delta") and thinking["signature"]
    assert text == {"type": "text", "text": "w1 w2 w3 "}
    assert tool["input"] == {"city": "Tokyo", "unit": "celsius"}
    assert message["usage"] == final_delta(streamed)["usage"]


def test_thinking_then_signature(api: httpx.Client) -> None:
    events = stream(api, "!thinking !tokens=2")
    starts = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert starts == ["thinking", "text"]
    kinds = [d["delta"]["type"] for n, d in events if n == "content_block_delta"]
    assert kinds[-3:] == ["signature_delta", "text_delta", "text_delta"]
    assert text_of(events, "thinking_delta")


def test_tool_use(api: httpx.Client) -> None:
    events = stream(api, "weather? !tool")
    start = [d for n, d in events if n == "content_block_start"][-1]["content_block"]
    assert start == {"type": "tool_use", "id": "toolu_fake_1", "name": "get_weather", "input": {}}
    pieces = [
        d
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]
    assert len(pieces) > 1
    assert json.loads(text_of(events, "input_json_delta")) == {"city": "Tokyo", "unit": "celsius"}
    assert final_delta(events)["delta"]["stop_reason"] == "tool_use"


def test_cache_figures(api: httpx.Client) -> None:
    events = stream(api, "!cache=100,2000 !tokens=1")
    for usage in (events[0][1]["message"]["usage"], final_delta(events)["usage"]):
        assert usage["cache_creation_input_tokens"] == 100
        assert usage["cache_read_input_tokens"] == 2000


def test_xss_payloads(api: httpx.Client) -> None:
    text = text_of(stream(api, "!xss"))
    assert '<img src=x onerror="window.__xss=1">' in text
    assert "<script>window.__xss=2</script>" in text
    assert "[link](javascript:window.__xss=3)" in text


@pytest.mark.parametrize(
    ("directive", "max_tokens", "expected"),
    [
        ("!tokens=10", 4, 4),
        ("!tokens=3 !maxtokens", 100, 3),
        ("!maxtokens", 6, 6),
    ],
)
def test_max_tokens(api: httpx.Client, directive: str, max_tokens: int, expected: int) -> None:
    events = stream(api, directive, max_tokens=max_tokens)
    deltas = [d for n, d in events if n == "content_block_delta"]
    assert len(deltas) == expected
    assert final_delta(events)["delta"]["stop_reason"] == "max_tokens"
    assert final_delta(events)["usage"]["output_tokens"] == expected
    assert events[-1][0] == "message_stop"


def test_ttft_and_delay_directives(api: httpx.Client) -> None:
    began = time.monotonic()
    with api.stream("POST", "/v1/messages", json=body("!ttft=300 !delay=0 !tokens=3")) as r:
        first_delta_at = None
        for line in r.iter_lines():
            if "content_block_delta" in line and first_delta_at is None:
                first_delta_at = time.monotonic() - began
    assert first_delta_at is not None and 0.28 <= first_delta_at < 2


def test_429_once_then_success(api: httpx.Client) -> None:
    payload = body(f"!fault=429once {time.time_ns()}")
    first = api.post("/v1/messages", json=payload)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "0" and first.headers["retry-after-ms"] == "10"
    assert first.json()["error"]["type"] == "rate_limit_error"
    assert first.headers["request-id"]
    second = api.post("/v1/messages", json=payload)
    assert second.status_code == 200 and "message_stop" in second.text


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [
        ("529", 529, "overloaded_error"),
        ("500", 500, "api_error"),
        ("401", 401, "authentication_error"),
        ("400", 400, "invalid_request_error"),
    ],
)
@pytest.mark.parametrize("streaming", [True, False])
def test_status_faults(
    api: httpx.Client, fault: str, status: int, kind: str, streaming: bool
) -> None:
    for _ in range(2):  # not a one-off: it fails every time
        response = api.post("/v1/messages", json=body(f"!fault={fault}", stream=streaming))
        assert response.status_code == status
        error = response.json()
        assert error["type"] == "error" and error["error"]["type"] == kind
        assert error["error"]["message"]
        assert response.headers["request-id"].startswith("req_")


def test_error_event_mid_stream(api: httpx.Client) -> None:
    events = stream(api, "!fault=error_mid")
    names = [n for n, _ in events]
    assert names.count("content_block_delta") == 5
    assert names[-1] == "error" and "message_stop" not in names
    overloaded = {"type": "overloaded_error", "message": "Overloaded"}
    assert events[-1][1] == {"type": "error", "error": overloaded}
    # The connection survives for the next request.
    assert stream(api, "!tokens=1")[-1][0] == "message_stop"


def test_dropped_connection(api: httpx.Client) -> None:
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        with api.stream("POST", "/v1/messages", json=body("!fault=drop")) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                received.append(line)
    assert received.count("event: content_block_delta") == 5
    assert not any("message_stop" in line for line in received)
    assert stream(api, "!tokens=1")[-1][0] == "message_stop"  # a fresh connection works


def test_hang_until_client_gives_up(fake: FakeUpstream) -> None:
    timeout = httpx.Timeout(5, read=0.5)
    with httpx.Client(base_url=fake.base_url, headers=HEADERS, timeout=timeout) as c:
        received = []
        began = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            with c.stream("POST", "/v1/messages", json=body("!fault=hang")) as r:
                for line in r.iter_lines():
                    received.append(line)
        assert time.monotonic() - began < 3
        assert received.count("event: content_block_delta") == 5
        assert received.count("event: ping") == 1  # the early one; silence after that


def test_models_list(api: httpx.Client) -> None:
    page = api.get("/v1/models").json()
    ids = [m["id"] for m in page["data"]]
    assert {"chatsite-demo", "claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"} <= set(ids)
    assert page["has_more"] is False and page["first_id"] == ids[0] and page["last_id"] == ids[-1]
    assert all(m["type"] == "model" and m["display_name"] and m["created_at"] for m in page["data"])
    assert api.get("/v1/models/chatsite-demo").json()["id"] == "chatsite-demo"
    assert api.get("/v1/models/nope").status_code == 404


def test_count_tokens(api: httpx.Client) -> None:
    payload = {"model": "chatsite-demo", "messages": [{"role": "user", "content": "x" * 40}]}
    response = api.post("/v1/messages/count_tokens", json=payload)
    assert response.status_code == 200 and response.json() == {"input_tokens": 10}


def test_unknown_path_and_bad_body(api: httpx.Client) -> None:
    response = api.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    bad = api.post("/v1/messages", content=b"{not json", headers={"content-type": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    no_max_tokens = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    no_max = api.post("/v1/messages", json=no_max_tokens)
    assert no_max.status_code == 400


def test_auth_and_version_headers(fake: FakeUpstream) -> None:
    url = fake.base_url + "/v1/messages"
    missing_key = httpx.post(url, json=body("hi"), headers={"anthropic-version": "2023-06-01"})
    assert missing_key.status_code == 401
    assert missing_key.json()["error"]["type"] == "authentication_error"
    missing_version = httpx.post(url, json=body("hi"), headers={"x-api-key": "k"})
    assert missing_version.status_code == 400
    assert missing_version.json()["error"]["type"] == "invalid_request_error"


def test_configured_api_key_must_match() -> None:
    with FakeUpstream(api_key="right", ttft=0, token_delay=0) as server:
        url = server.base_url + "/v1/models"
        wrong = httpx.get(url, headers={**HEADERS, "x-api-key": "wrong"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "authentication_error"
        assert httpx.get(url, headers={**HEADERS, "x-api-key": "right"}).status_code == 200


def test_keep_alive_reuses_one_connection(fake: FakeUpstream) -> None:
    limits = httpx.Limits(max_connections=1)
    with httpx.Client(base_url=fake.base_url, headers=HEADERS, limits=limits) as c:
        for _ in range(5):
            assert stream(c, "!tokens=2")[-1][0] == "message_stop"
            assert c.get("/v1/models").status_code == 200
        assert c.post("/v1/messages", json=body("!fault=529")).status_code == 529
        assert stream(c, "!tokens=2")[-1][0] == "message_stop"


async def test_many_concurrent_streams(fake: FakeUpstream) -> None:
    async def one(c: httpx.AsyncClient, i: int) -> str:
        r = await c.post("/v1/messages", json=body(f"!tokens={i + 1} stream {i}"))
        return text_of(parse_sse(r.text))

    async def main() -> list[str]:
        async with httpx.AsyncClient(base_url=fake.base_url, headers=HEADERS) as c:
            return await asyncio.gather(*(one(c, i) for i in range(50)))

    texts = await main()
    assert all(t == "".join(f"w{j} " for j in range(1, i + 2)) for i, t in enumerate(texts))


def test_client_disconnect_is_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    with FakeUpstream(ttft=0, token_delay=0.005) as server:
        with httpx.Client(base_url=server.base_url, headers=HEADERS) as c:
            with c.stream("POST", "/v1/messages", json=body("!tokens=500")) as r:
                for i, _ in enumerate(r.iter_lines()):
                    if i > 20:
                        break  # leaving the block closes the socket mid-stream
            # Whatever the fake prints about the drop, it prints before its handler ends.
            wait_until(lambda: not server._tasks, what="the fake to end the dropped connection")
            assert stream(c, "!tokens=1")[-1][0] == "message_stop"
    assert capfd.readouterr().err == ""


def test_stop_with_open_hanging_stream_is_quick() -> None:
    server = FakeUpstream(ttft=0, token_delay=0).start()
    client = httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=5)
    with client.stream("POST", "/v1/messages", json=body("!fault=hang")) as r:
        next(r.iter_lines())
        began = time.monotonic()
        server.stop()
        assert time.monotonic() - began < 2
    client.close()
