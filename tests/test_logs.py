"""Logs: a JSON line per HTTP request, per WebSocket and per upstream call; never text or keys."""

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from accounts.models import LedgerEntry, UpstreamCall
from chatsite.logging import JsonFormatter, TextFormatter
from tests.conversations.wsclient import ChatSocket, created, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True)]

WORD = "zanzibarquokka"  # a word no log line has a reason to contain
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@pytest.fixture
def logs(caplog):
    """Every record at DEBUG, the HTTP libraries' included."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "conversations", "django", "channels", "chatsite"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def lines(caplog, logger: str) -> list[dict]:
    """The records of `logger` as the JSON formatter writes them, parsed back."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == logger]


def everything(caplog) -> str:
    """All that was logged, in both formats, tracebacks included."""
    json_lines = [JsonFormatter().format(r) for r in caplog.records]
    text_lines = [TextFormatter("%(name)s %(message)s").format(r) for r in caplog.records]
    return "\n".join(json_lines + text_lines)


def test_json_formatter_writes_one_object_per_line_with_the_extra_fields():
    record = logging.LogRecord(
        "chatsite.test", logging.INFO, __file__, 1, "line\n%s", ("two",), None
    )
    record.__dict__.update(user_id=7, path="/c/1/", estimated=False, request=object())

    text = JsonFormatter().format(record)

    assert "\n" not in text
    line = json.loads(text)
    assert line["level"] == "INFO" and line["logger"] == "chatsite.test"
    assert line["message"] == "line\ntwo" and line["time"].endswith("+00:00")
    assert (line["user_id"], line["path"], line["estimated"]) == (7, "/c/1/", False)
    assert "request" not in line  # objects are left out: a request's repr has its query


def test_text_formatter_appends_the_fields_as_pairs():
    record = logging.LogRecord("chatsite.http", logging.INFO, __file__, 1, "request", (), None)
    record.__dict__.update(method="GET", status=200, user_id=None, path="/a b/")

    text = TextFormatter("%(levelname)s %(name)s: %(message)s").format(record)

    assert text == 'INFO chatsite.http: request method=GET status=200 user_id=- path="/a b/"'


def test_each_http_request_is_one_line_without_its_query_string(client, alice, logs):
    client.force_login(alice)

    response = client.get(f"/?q={WORD}")

    assert response.status_code == 200
    (line,) = lines(logs, "chatsite.http")
    assert line["method"] == "GET" and line["path"] == "/" and line["status"] == 200
    assert line["user_id"] == alice.pk and line["worker"] == django_settings.WORKER_ID
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert WORD not in everything(logs)


def test_anonymous_request_is_logged_without_a_user(client, logs):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    (line,) = lines(logs, "chatsite.http")
    assert (line["path"], line["status"], line["user_id"]) == ("/accounts/login/", 200, None)


def test_tokens_in_urls_are_logged_by_name(client, logs):
    # A shared link's or an invite's token is a key to what it opens.
    client.get(f"/s/{WORD}/")
    client.get(f"/accounts/invite/{WORD}/")

    paths = [line["path"] for line in lines(logs, "chatsite.http")]
    assert paths == ["/s/<token>/", "/accounts/invite/<token>/"]
    assert WORD not in "\n".join(json.dumps(line) for line in lines(logs, "chatsite.http"))


async def test_each_socket_is_one_line_when_it_closes(alice, runner, logs):
    socket = await ChatSocket.open(alice)
    await socket.send({"type": "nonsense"})
    await socket.send({"type": "subscribe", "conversation": "not an id"})
    assert [(await socket.receive())["type"] for _ in range(2)] == ["error", "error"]
    assert not lines(logs, "chatsite.websocket")  # nothing until it ends

    await socket.close()

    (line,) = lines(logs, "chatsite.websocket")
    assert (line["user_id"], line["close_code"], line["frames_received"]) == (alice.pk, 1000, 2)
    assert line["worker"] == django_settings.WORKER_ID and line["duration_ms"] >= 0


async def test_anonymous_socket_line_has_the_servers_close_code(runner, logs):
    socket = await ChatSocket.open(None)
    assert await socket.receive_close() == 4401
    await socket.close()
    await socket.communicator.wait()

    (line,) = lines(logs, "chatsite.websocket")
    assert (line["user_id"], line["close_code"], line["frames_received"]) == (None, 4401, 0)


async def test_upstream_call_line_has_ids_tokens_and_no_text_or_key(alice, runner, logs):
    session = await session_cookie(alice)
    socket = await ChatSocket.open(session=session)
    await socket.send_text(f"Please remember {WORD} for me")
    frames = await socket.receive_until("message.completed")
    reply = created(frames, "assistant")
    assert WORD in json.dumps(frames)  # the fake's reply quotes it, too
    await runner.wait(reply["id"])
    await socket.close()

    (line,) = lines(logs, "chatsite.upstream")
    call = await UpstreamCall.objects.aget(message_id=reply["id"])
    charge = await LedgerEntry.objects.aget(call=call, kind=LedgerEntry.Kind.CHARGE)
    assert (line["call_id"], line["message_id"], line["user_id"]) == (
        call.pk,
        reply["id"],
        alice.pk,
    )
    assert (line["model"], line["status"], line["error"]) == (call.model, "complete", None)
    assert {f: line[f] for f in TOKEN_FIELDS} == {f: getattr(charge, f) for f in TOKEN_FIELDS}
    assert line["output_tokens"] > 0 and line["estimated"] is False
    assert line["duration_ms"] >= 0 and line["worker"] == django_settings.WORKER_ID
    assert lines(logs, "chatsite.websocket")[0]["frames_received"] == 1

    logged = everything(logs)
    assert django_settings.ANTHROPIC_API_KEY  # the fake upstream's key, sent with every call
    for secret in (WORD, django_settings.ANTHROPIC_API_KEY, session):
        assert secret not in logged


async def test_call_that_ended_early_is_logged_as_estimated(alice, runner, logs):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Drop it !fault=drop !tokens=20")
    frames = await socket.receive_until("message.completed", timeout=15)
    reply = created(frames, "assistant")
    await runner.wait(reply["id"])
    await socket.close()

    (line,) = lines(logs, "chatsite.upstream")
    assert (line["message_id"], line["status"]) == (reply["id"], "failed")
    assert line["error"] == frames[-1]["error"]["code"] and line["estimated"] is True
    assert line["output_tokens"] > 0
    assert await sync_to_async(UpstreamCall.objects.filter(pk=line["call_id"]).exists)()


def test_a_call_the_reaper_settles_is_logged_too(alice, chat_model, logs, settings):
    from conversations import services, settlement

    result = services.send_message(alice, None, "a reply whose worker died")
    settings.STREAM_HEARTBEAT_TIMEOUT = -1  # every heartbeat is stale now

    settlement.reap_interrupted()

    (line,) = lines(logs, "chatsite.upstream")
    assert (line["call_id"], line["message_id"]) == (result.call.pk, result.reply.pk)
    assert (line["status"], line["error"]) == ("interrupted", "interrupted")
    assert line["user_id"] == alice.pk and line["duration_ms"] >= 0
