"""The gateway envelope for keys that ask for it, and the server's key never leaking."""

import json

import anthropic
import httpx
import pytest

from accounts.models import ApiKey, UpstreamCall
from tests.waiting import wait_until

from .conftest import MODEL, SERVER_KEY

pytestmark = pytest.mark.django_db(transaction=True)
VERSION = {"anthropic-version": "2023-06-01"}


def ask(text: str, **extra) -> dict:
    return {
        "model": MODEL,
        "max_tokens": 300,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def post(gateway, key, payload, path="/v1/messages"):
    return httpx.post(
        gateway + path, json=payload, headers={**VERSION, "x-api-key": key}, timeout=30
    )


def test_an_envelope_key_gets_replies_wrapped(gateway, member_key, upstream):
    ApiKey.objects.update(envelope=True)
    response = post(gateway, member_key[1], ask("hi"))
    assert response.status_code == 200
    assert response.content == b'{"code":200,"data":%b}' % bytes(upstream.requests[-1]["response"])


def test_an_envelope_key_gets_errors_wrapped_with_the_same_status(gateway, member_key, upstream):
    ApiKey.objects.update(envelope=True)
    response = post(gateway, member_key[1], ask("hi", model="claude-unknown"))
    assert response.status_code == 404
    assert response.json() == {
        "code": 404,
        "data": {
            "type": "error",
            "error": {"type": "not_found_error", "message": "model: claude-unknown"},
        },
    }


def test_an_envelope_keys_stream_is_not_wrapped(gateway, member_key, upstream):
    ApiKey.objects.update(envelope=True)
    with httpx.stream(
        "POST",
        gateway + "/v1/messages",
        json=ask("hi", stream=True),
        headers={**VERSION, "x-api-key": member_key[1]},
    ) as response:
        received = b"".join(response.iter_raw())
    assert received == bytes(upstream.requests[-1]["response"])


def test_a_plain_key_gets_the_plain_format_the_sdk_reads(gateway, member_key):
    response = post(gateway, member_key[1], ask("hi"))
    assert response.json()["type"] == "message"


def test_the_server_key_never_appears_in_a_response_or_a_log_line(
    gateway, member_key, upstream, caplog, capfd
):
    """Success and every fault path, searched for the distinctive upstream key."""
    caplog.set_level("DEBUG")
    key = member_key[1]
    client = anthropic.Anthropic(api_key=key, base_url=gateway, max_retries=0)
    seen: list[bytes] = []

    def keep(response: httpx.Response) -> None:
        seen.append(json.dumps(dict(response.headers)).encode() + response.content)

    for text in ("hi", "!fault=429once", "!fault=529", "!fault=401", "!fault=drop", "!fault=500"):
        keep(post(gateway, key, ask(text)))
    for text in ("!tokens=20", "!fault=error_mid", "!fault=drop", "!fault=529", "!fault=401"):
        with httpx.stream(
            "POST",
            gateway + "/v1/messages",
            json=ask(text, stream=True),
            headers={**VERSION, "x-api-key": key},
        ) as response:
            response.read()
            keep(response)
    counting = {"model": MODEL, "messages": ask("hi")["messages"]}
    keep(post(gateway, key, counting, "/v1/messages/count_tokens"))
    keep(httpx.get(gateway + "/v1/models", headers={**VERSION, "x-api-key": key}))
    keep(post(gateway, "chatsite_wrong", ask("hi")))
    keep(post(gateway, key, ask("hi", model="nope")))
    for text in ("hi", "!fault=529"):
        try:
            client.messages.create(**ask(text))
        except anthropic.APIError as exc:
            seen.append(str(exc).encode())
    # Every call settled, so its log line was written too.
    wait_until(lambda: not UpstreamCall.objects.filter(status="running").exists(), 10)
    logs = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    out, err = capfd.readouterr()
    assert len(seen) >= 15 and seen[0]
    assert SERVER_KEY.encode() not in b"".join(seen)
    assert SERVER_KEY not in logs + out + err
    # ... while the upstream did receive it, so the search looked for the right text.
    assert upstream.requests[0]["headers"]["x-api-key"] == SERVER_KEY


def test_an_envelope_keys_stream_refused_before_it_starts_is_a_wrapped_error(
    gateway, member_key, upstream
):
    ApiKey.objects.update(envelope=True)
    response = post(gateway, member_key[1], ask("!fault=529", stream=True))
    assert response.status_code == 529
    assert response.json()["code"] == 529
    assert response.json()["data"]["error"]["type"] == "overloaded_error"
