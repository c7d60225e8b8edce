"""Upstream faults reach the client as the API reports them, and every call is settled."""

import json

import anthropic
import httpx
import pytest

from accounts.models import LedgerEntry, UpstreamCall
from tests.waiting import wait_until

from .conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)
VERSION = {"anthropic-version": "2023-06-01"}


def sdk(gateway: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=gateway, max_retries=0)


def ask(text: str, max_tokens: int = 500) -> dict:
    return {
        "model": MODEL,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    }


def settled_charge() -> LedgerEntry:
    """The call's charge, once settled: a stream is settled just after its last byte."""
    settled = UpstreamCall.objects.filter(status=UpstreamCall.Status.SETTLED)
    wait_until(settled.exists, 10, what="the call settled")
    call = UpstreamCall.objects.get()
    return LedgerEntry.objects.get(call=call, kind=LedgerEntry.Kind.CHARGE)


def test_an_upstream_429_reaches_the_client_with_its_retry_after_and_costs_nothing(
    gateway, member_key
):
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk(gateway, member_key[1]).messages.create(**ask("!fault=429once"))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "0"
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert settled_charge().cost == 0


def test_an_upstream_529_on_a_stream_reaches_the_client_as_529_overloaded(gateway, member_key):
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdk(gateway, member_key[1]).messages.stream(**ask("!fault=529")) as stream:
            stream.until_done()
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert settled_charge().cost == 0


def test_an_error_event_mid_stream_is_passed_through_and_the_partial_call_is_charged(
    gateway, member_key, upstream
):
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdk(gateway, member_key[1]).messages.stream(**ask("!fault=error_mid")) as stream:
            stream.until_done()
    assert "overloaded" in str(caught.value).lower()
    charge = settled_charge()
    assert charge.estimated and charge.output_tokens >= 5 and charge.input_tokens > 0


def test_a_connection_dropped_mid_stream_ends_with_an_error_event_and_an_estimated_charge(
    gateway, member_key, upstream
):
    with httpx.stream(
        "POST",
        gateway + "/v1/messages",
        json=ask("!fault=drop") | {"stream": True},
        headers={**VERSION, "x-api-key": member_key[1]},
    ) as response:
        received = b"".join(response.iter_raw())
    assert received.startswith(bytes(upstream.requests[-1]["response"]))
    last = received.rstrip().split(b"\n\n")[-1]
    assert last.startswith(b"event: error\ndata: ")
    assert json.loads(last.split(b"data: ", 1)[1])["error"]["type"] == "api_error"
    charge = settled_charge()
    assert charge.estimated and charge.output_tokens >= 5


def test_a_dropped_connection_without_a_stream_is_a_502_api_error(gateway, member_key):
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk(gateway, member_key[1]).messages.create(**ask("!fault=drop"))
    assert caught.value.status_code == 502
    assert caught.value.body["error"]["type"] == "api_error"
    settled_charge()


def test_the_upstream_refusing_the_servers_key_is_not_the_members_401(gateway, member_key):
    with pytest.raises(anthropic.InternalServerError) as caught:
        sdk(gateway, member_key[1]).messages.create(**ask("!fault=401"))
    assert caught.value.status_code == 500
    assert settled_charge().cost == 0


def test_a_client_that_leaves_mid_stream_stops_the_upstream_call_and_is_charged_what_was_used(
    gateway, member_key, upstream
):
    with httpx.stream(
        "POST",
        gateway + "/v1/messages",
        json=ask("!tokens=400 !delay=20", max_tokens=1000) | {"stream": True},
        headers={**VERSION, "x-api-key": member_key[1]},
    ) as response:
        chunks = response.iter_raw()
        seen = b""
        while seen.count(b"content_block_delta") < 10:
            seen += next(chunks)
    # The fake upstream's own log: its connection closed by us while it was still streaming.
    wait_until(lambda: upstream.connections, 10, what="the upstream connection closing")
    (connection,) = upstream.connections
    assert connection["client_gone_mid_stream"] and connection["deltas"] < 400
    charge = settled_charge()
    assert charge.estimated  # no final usage arrived: estimated from what streamed
    assert 10 / 3 <= charge.output_tokens <= connection["deltas"] * 2
    assert charge.input_tokens > 0
