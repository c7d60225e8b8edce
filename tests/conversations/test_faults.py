"""Upstream faults: each reply ends with the right status, keeps its text, says what went wrong.

Every fault test also checks that the API key reached no frame, stored error or log line.
"""

import logging
import time

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message

from .conftest import API_KEY
from .wsclient import ChatSocket, created, text_of

pytestmark = [pytest.mark.django_db(transaction=True)]

FIRST_FIVE = "w1 w2 w3 w4 w5 "  # the fake strikes mid-stream after five deltas


@pytest.fixture
def logs(caplog):
    """Every log record at DEBUG, the HTTP libraries' included."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "conversations", "django", "channels", "daphne"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def converse(user, text: str) -> tuple[list[dict], dict, Message]:
    """Send `text` in a new conversation; the frames, the reply's created payload, the row."""
    socket = await ChatSocket.open(user)
    await socket.send_text(text)
    frames = await socket.receive_until("message.completed", timeout=15)
    await socket.close()
    reply = created(frames, "assistant")
    return frames, reply, await Message.objects.aget(pk=reply["id"])


async def assert_key_never_shown(frames: list[dict], logs) -> None:
    errors = await sync_to_async(lambda: [repr(m.error) for m in Message.objects.all()])()
    assert not [f for f in frames if API_KEY in repr(f)], "the key reached a socket frame"
    assert not [e for e in errors if API_KEY in e], "the key reached a stored error"
    assert API_KEY not in logs.text, "the key reached a log line"
    assert "SECRET-KEY" not in logs.text


def assert_failed(frames: list[dict], stored: Message, code: str) -> dict:
    completed = frames[-1]
    assert (completed["status"], stored.status) == ("failed", "failed")
    error = completed["error"]
    assert error["code"] == code
    assert isinstance(error["detail"], str) and len(error["detail"]) > 10
    assert stored.error == error
    assert stored.heartbeat_at is None
    return error


def upstream_posts(upstream) -> int:
    return sum(r["method"] == "POST" and r["path"] == "/v1/messages" for r in upstream.requests)


async def test_rate_limit_before_first_byte_is_retried_and_completes(upstream, alice, runner, logs):
    frames, reply, stored = await converse(alice, "Retry me !fault=429once !tokens=6")

    assert frames[-1]["status"] == "complete" and frames[-1]["error"] is None
    assert upstream_posts(upstream) == 2
    assert text_of(frames, reply["id"]) == stored.text == "w1 w2 w3 w4 w5 w6 "
    assert stored.status == "complete"
    await assert_key_never_shown(frames, logs)


async def test_overloaded_upstream_fails_after_three_attempts(upstream, alice, runner, logs):
    frames, _reply, stored = await converse(alice, "Busy? !fault=529 !tokens=6")

    assert_failed(frames, stored, "overloaded")
    assert upstream_posts(upstream) == 3, "two retries with backoff, then give up"
    assert stored.content == [] or stored.text == ""
    await assert_key_never_shown(frames, logs)


async def test_server_error_fails_after_three_attempts(upstream, alice, runner, logs):
    frames, _reply, stored = await converse(alice, "Broken? !fault=500 !tokens=6")

    assert_failed(frames, stored, "server")
    assert upstream_posts(upstream) == 3
    await assert_key_never_shown(frames, logs)


async def test_error_event_mid_stream_fails_keeping_the_text_so_far(upstream, alice, runner, logs):
    frames, reply, stored = await converse(alice, "Wobble !fault=error_mid !tokens=20")

    assert_failed(frames, stored, "overloaded")
    assert text_of(frames, reply["id"]) == stored.text == FIRST_FIVE
    assert upstream_posts(upstream) == 1, "never retried once text reached the reader"
    assert stored.usage.get("input_tokens", 0) > 0
    await assert_key_never_shown(frames, logs)


async def test_dropped_connection_fails_keeping_the_text_so_far(upstream, alice, runner, logs):
    frames, reply, stored = await converse(alice, "Drop it !fault=drop !tokens=20")

    assert_failed(frames, stored, "connection")
    assert text_of(frames, reply["id"]) == stored.text == FIRST_FIVE
    assert upstream_posts(upstream) == 1
    await assert_key_never_shown(frames, logs)


async def test_hung_stream_fails_with_timeout_after_the_read_timeout(
    upstream, alice, runner, logs, settings
):
    started = time.monotonic()
    frames, reply, stored = await converse(alice, "Hang on !fault=hang !tokens=20")
    elapsed = time.monotonic() - started

    assert_failed(frames, stored, "timeout")
    assert text_of(frames, reply["id"]) == stored.text == FIRST_FIVE
    assert settings.ANTHROPIC_READ_TIMEOUT <= elapsed < settings.ANTHROPIC_READ_TIMEOUT + 3
    assert upstream_posts(upstream) == 1
    await assert_key_never_shown(frames, logs)


async def test_refused_api_key_fails_with_auth_and_is_not_retried(upstream, alice, runner, logs):
    frames, reply, stored = await converse(alice, "Who let me in? !fault=401")

    assert_failed(frames, stored, "auth")
    assert text_of(frames, reply["id"]) == stored.text == ""
    assert upstream_posts(upstream) == 1
    await assert_key_never_shown(frames, logs)


async def test_wrong_api_key_fails_with_auth_without_showing_the_key(upstream, alice, runner, logs):
    upstream.api_key = "sk-ant-some-other-key"  # the fake now refuses ours
    try:
        frames, _reply, stored = await converse(alice, "Let me in !tokens=3")
    finally:
        upstream.api_key = API_KEY
    assert_failed(frames, stored, "auth")
    assert upstream.requests[-1]["headers"]["x-api-key"] == API_KEY
    await assert_key_never_shown(frames, logs)


async def test_unknown_or_retired_model_fails_with_a_message_naming_it(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("hello !fault=404", client_id="gone")
    frames = await socket.receive_until("message.completed")
    completed = frames[-1]
    assert completed["status"] == "failed"
    assert completed["error"]["code"] == "not_found"
    assert completed["error"]["model"] == "claude-sonnet-4-5-20250929"
    reply = await Message.objects.aget(pk=completed["message"])
    assert reply.error["model"] == "claude-sonnet-4-5-20250929"  # the page names it
    await socket.close()
