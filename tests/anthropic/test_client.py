"""The HTTP client against mocked transports: headers, retries, envelopes and error paths."""

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from conversations.anthropic import (
    AnthropicClient,
    AnthropicError,
    BlockDelta,
    ClientConfig,
    ErrorKind,
    MessageAccumulator,
    MessageStop,
)

from .test_events import ERROR_AFTER_TEXT_STREAM, TEXT_STREAM

API_KEY = "sk-ant-SECRET-123"
REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}
SSE_HEADERS = {"content-type": "text/event-stream"}
MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 6},
}


def api_error(status: int, error_type: str, message: str, **headers: str) -> httpx.Response:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return httpx.Response(status, json=body, headers={**headers, "request-id": "req_011"})


def sse(transcript: str) -> httpx.Response:
    return httpx.Response(200, headers=SSE_HEADERS, content=transcript.encode())


class Upstream:
    """Serves queued responses (or raises queued exceptions) and records every request."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply()
        # A fresh copy, since the last reply is served again to every retry.
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
async def make_client():
    clients = []

    def build(upstream: Upstream, sleeps: Sleeps | None = None, **config) -> AnthropicClient:
        client = AnthropicClient(
            ClientConfig(base_url="https://api.test", api_key=API_KEY, **config),
            transport=httpx.MockTransport(upstream),
            sleep=sleeps if sleeps is not None else Sleeps(),
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


async def drain(client: AnthropicClient) -> tuple[list, AnthropicError | None]:
    events = []
    try:
        async for event in client.stream(REQUEST):
            events.append(event)
    except AnthropicError as error:
        return events, error
    return events, None


async def test_stream_posts_the_request_with_api_headers(make_client):
    upstream = Upstream(sse(TEXT_STREAM))

    events, error = await drain(make_client(upstream))

    assert error is None
    (request,) = upstream.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.test/v1/messages"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "text/event-stream"
    assert json.loads(request.content) == {**REQUEST, "stream": True}
    assert isinstance(events[-1], MessageStop)


async def test_streamed_text_with_pings_accumulates_into_the_reply(make_client):
    events, _ = await drain(make_client(Upstream(sse(TEXT_STREAM))))
    message = MessageAccumulator()
    for event in events:
        message.feed(event)

    assert message.complete
    assert message.text() == "Hello!"
    assert message.usage.output_tokens == 15


async def test_error_event_mid_stream_raises_after_the_earlier_text(make_client):
    upstream = Upstream(sse(ERROR_AFTER_TEXT_STREAM))

    events, error = await drain(make_client(upstream))

    assert BlockDelta(0, "text", "Partial") in events
    assert error.kind is ErrorKind.OVERLOADED
    assert len(upstream.requests) == 1


async def test_error_event_before_any_other_event_is_retried(make_client):
    # A gateway may answer 200 and then send only an error: nothing reached the user yet.
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}}
    upstream = Upstream(sse(f"event: error\ndata: {json.dumps(overloaded)}\n\n"), sse(TEXT_STREAM))

    events, error = await drain(make_client(upstream))

    assert error is None and isinstance(events[-1], MessageStop)
    assert len(upstream.requests) == 2


async def test_stream_closed_without_message_stop_is_incomplete(make_client):
    cut_off = TEXT_STREAM[: TEXT_STREAM.index("event: message_delta")]
    upstream = Upstream(sse(cut_off))

    events, error = await drain(make_client(upstream))

    assert BlockDelta(0, "text", "!") in events
    assert error.kind is ErrorKind.INCOMPLETE
    assert len(upstream.requests) == 1


async def test_rate_limit_waits_the_retry_after_then_succeeds(make_client):
    upstream = Upstream(
        api_error(429, "rate_limit_error", "Number of requests exceeded", **{"retry-after": "3"}),
        sse(TEXT_STREAM),
    )
    sleeps = Sleeps()

    events, error = await drain(make_client(upstream, sleeps))

    assert error is None
    assert isinstance(events[-1], MessageStop)
    assert sleeps == [3.0]
    assert len(upstream.requests) == 2


async def test_retry_after_ms_is_preferred_over_retry_after(make_client):
    limited = api_error(
        429, "rate_limit_error", "slow down", **{"retry-after-ms": "1500", "retry-after": "9"}
    )
    sleeps = Sleeps()

    await drain(make_client(Upstream(limited, sse(TEXT_STREAM)), sleeps))

    assert sleeps == [1.5]


async def test_retry_after_beyond_the_cap_falls_back_to_backoff(make_client):
    limited = api_error(429, "rate_limit_error", "slow down", **{"retry-after": "3600"})
    sleeps = Sleeps()

    await drain(make_client(Upstream(limited, sse(TEXT_STREAM)), sleeps))

    assert len(sleeps) == 1
    assert 0.375 <= sleeps[0] <= 0.5


async def test_overloaded_three_times_gives_up_after_three_requests(make_client):
    upstream = Upstream(api_error(529, "overloaded_error", "Overloaded"))
    sleeps = Sleeps()

    events, error = await drain(make_client(upstream, sleeps))

    assert events == []
    assert error.kind is ErrorKind.OVERLOADED
    assert error.status == 529
    assert error.retryable
    assert error.request_id == "req_011"
    assert "overloaded" in error.message.lower()
    assert len(upstream.requests) == 3
    # Exponential backoff from 0.5 s with jitter between 75% and 100%.
    assert 0.375 <= sleeps[0] <= 0.5
    assert 0.75 <= sleeps[1] <= 1.0


async def test_should_retry_false_header_stops_a_server_error_retry(make_client):
    upstream = Upstream(api_error(500, "api_error", "Internal", **{"x-should-retry": "false"}))

    _, error = await drain(make_client(upstream))

    assert error.kind is ErrorKind.SERVER
    assert not error.retryable
    assert len(upstream.requests) == 1


async def test_should_retry_true_header_retries_a_client_error(make_client):
    upstream = Upstream(
        api_error(400, "invalid_request_error", "try me", **{"x-should-retry": "true"}),
        sse(TEXT_STREAM),
    )

    _, error = await drain(make_client(upstream))

    assert error is None
    assert len(upstream.requests) == 2


async def test_bad_api_key_is_auth_and_not_retried(make_client):
    upstream = Upstream(api_error(401, "authentication_error", "invalid x-api-key"))

    _, error = await drain(make_client(upstream))

    assert error.kind is ErrorKind.AUTH
    assert error.status == 401
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, "invalid_request_error", ErrorKind.INVALID_REQUEST),
        (403, "permission_error", ErrorKind.PERMISSION),
        (404, "not_found_error", ErrorKind.NOT_FOUND),
        (413, "request_too_large", ErrorKind.REQUEST_TOO_LARGE),
        (408, "timeout_error", ErrorKind.TIMEOUT),
        (500, "api_error", ErrorKind.SERVER),
    ],
)
async def test_error_types_map_to_kinds(make_client, status, error_type, kind):
    _, error = await drain(make_client(Upstream(api_error(status, error_type, "nope"))))

    assert error.kind is kind
    assert error.message.endswith("(nope)")


async def test_connect_error_is_retried_then_reported_as_connection(make_client):
    upstream = Upstream(httpx.ConnectError("Connection refused"))
    sleeps = Sleeps()

    _, error = await drain(make_client(upstream, sleeps))

    assert error.kind is ErrorKind.CONNECTION
    assert len(upstream.requests) == 3
    assert len(sleeps) == 2


async def test_stale_connection_before_any_event_is_retried(make_client):
    upstream = Upstream(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        sse(TEXT_STREAM),
    )

    _, error = await drain(make_client(upstream))

    assert error is None
    assert len(upstream.requests) == 2


def first_event_then(exc: Exception) -> Callable[[], httpx.Response]:
    """A reply that streams message_start, then fails as the network would."""
    first = TEXT_STREAM[: TEXT_STREAM.index("event: content_block_start")]

    async def body():
        yield first.encode()
        raise exc

    return lambda: httpx.Response(200, headers=SSE_HEADERS, content=body())


async def test_read_timeout_mid_stream_is_timeout_and_not_retried(make_client):
    upstream = Upstream(first_event_then(httpx.ReadTimeout("timed out")), sse(TEXT_STREAM))

    events, error = await drain(make_client(upstream))

    assert len(events) == 1
    assert error.kind is ErrorKind.TIMEOUT
    assert len(upstream.requests) == 1


async def test_dropped_connection_mid_stream_is_connection_and_not_retried(make_client):
    dropped = first_event_then(httpx.RemoteProtocolError("peer closed connection"))
    upstream = Upstream(dropped, sse(TEXT_STREAM))

    events, error = await drain(make_client(upstream))

    assert len(events) == 1
    assert error.kind is ErrorKind.CONNECTION
    assert "mid-reply" in error.message
    assert len(upstream.requests) == 1


async def test_json_envelope_instead_of_a_stream_is_its_error(make_client):
    envelope = {"code": 429, "msg": "quota exhausted for this group", "data": None}
    upstream = Upstream(httpx.Response(200, json=envelope), sse(TEXT_STREAM))
    sleeps = Sleeps()

    _, error = await drain(make_client(upstream, sleeps))

    assert error is None  # 429 is retried, and the second answer streams
    assert len(upstream.requests) == 2

    upstream = Upstream(httpx.Response(200, json={**envelope, "code": 403}))
    _, error = await drain(make_client(upstream))

    assert error.kind is ErrorKind.PERMISSION
    assert error.status == 403
    assert "quota exhausted" in error.message


async def test_create_unwraps_a_gateway_envelope(make_client):
    upstream = Upstream(httpx.Response(200, json={"code": 200, "msg": "ok", "data": MESSAGE}))

    message = await make_client(upstream).create({**REQUEST, "stream": True})

    assert message == MESSAGE
    assert "stream" not in json.loads(upstream.requests[0].content)


async def test_create_returns_a_plain_message(make_client):
    message = await make_client(Upstream(httpx.Response(200, json=MESSAGE))).create(REQUEST)

    assert message == MESSAGE


async def test_create_envelope_with_error_code_raises(make_client):
    envelope = {"code": 500, "message": "upstream exploded", "data": None}
    upstream = Upstream(httpx.Response(200, json=envelope))

    with pytest.raises(AnthropicError) as caught:
        await make_client(upstream, max_retries=0).create(REQUEST)

    assert caught.value.kind is ErrorKind.SERVER
    assert caught.value.status == 500
    assert "upstream exploded" in caught.value.message


async def test_create_error_body_inside_envelope_raises(make_client):
    inner = {"type": "error", "error": {"type": "not_found_error", "message": "model: foo"}}
    upstream = Upstream(httpx.Response(200, json={"code": 200, "data": inner}))

    with pytest.raises(AnthropicError) as caught:
        await make_client(upstream).create(REQUEST)

    assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_list_models_follows_pagination_through_envelopes(make_client):
    pages = [
        {"data": [{"id": "claude-a"}, {"id": "claude-b"}], "has_more": True, "last_id": "claude-b"},
        {"code": 200, "data": {"data": [{"id": "claude-c"}], "has_more": False}},
    ]
    upstream = Upstream(*(httpx.Response(200, json=page) for page in pages))

    models = await make_client(upstream).list_models()

    assert [m["id"] for m in models] == ["claude-a", "claude-b", "claude-c"]
    assert upstream.requests[0].method == "GET"
    assert upstream.requests[0].url.path == "/v1/models"
    assert upstream.requests[1].url.params["after_id"] == "claude-b"


def key_echoing_failures() -> list:
    echo = f"invalid x-api-key: {API_KEY}"
    error_event = ERROR_AFTER_TEXT_STREAM.replace('"Overloaded"', json.dumps(echo))
    return [
        api_error(401, "authentication_error", echo),
        api_error(529, "overloaded_error", echo),
        httpx.Response(502, text=f"<html>{API_KEY}</html>"),
        httpx.Response(200, json={"code": 401, "msg": echo, "data": None}),
        httpx.Response(
            200, json={"type": "error", "error": {"type": "api_error", "message": echo}}
        ),
        sse(error_event),
        sse(TEXT_STREAM[: TEXT_STREAM.index("event: message_delta")]),
        httpx.ConnectError(echo),
        httpx.ConnectTimeout(echo),
        httpx.ReadTimeout(echo),
        first_event_then(httpx.ReadTimeout(echo)),
        first_event_then(httpx.ReadError(echo)),
    ]


@pytest.mark.parametrize("failure", key_echoing_failures())
async def test_api_key_never_appears_in_errors(make_client, failure):
    client = make_client(Upstream(failure))

    _, stream_error = await drain(client)
    with pytest.raises(AnthropicError) as caught:
        await client.create(REQUEST)

    for error in (stream_error, caught.value):
        assert error is not None
        for text in (error.message, str(error), repr(error), *map(str, error.args)):
            assert API_KEY not in text


async def test_api_key_is_redacted_where_the_provider_echoes_it(make_client):
    upstream = Upstream(api_error(401, "authentication_error", f"bad key {API_KEY}"))

    _, error = await drain(make_client(upstream))

    assert "bad key [redacted]" in error.message


def test_client_and_config_reprs_hide_the_api_key():
    config = ClientConfig(api_key=API_KEY)
    client = AnthropicClient(config)

    assert API_KEY not in repr(config)
    assert API_KEY not in repr(client)


async def test_requests_go_to_the_pools_in_turn_and_all_streams_complete(fake_upstream):
    """Decision 101: several httpx pools, so no pool scans every stream's connection."""
    config = ClientConfig(
        base_url=fake_upstream.base_url, api_key="sk-ant-test-SECRET-KEY", pools=4
    )
    request = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 50}
    request["messages"] = [{"role": "user", "content": "!tokens=5"}]

    async def one(client) -> int:
        return sum(1 for _ in [e async for e in client.stream(request)])

    async with AnthropicClient(config) as client:
        assert len(client._pools) == 4
        counts = await asyncio.gather(*(one(client) for _ in range(12)))
        in_use = [p for p in client._pools if p._transport._pool.connections]
    assert all(counts) and len(counts) == 12
    assert len(in_use) == 4  # twelve streams at once, three to each pool
    limits = [p._transport._pool._max_connections for p in client._pools]
    assert sum(limits) >= config.max_connections
