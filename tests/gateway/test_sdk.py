"""The official Python SDK, pointed at chatsite with a personal key, against the fake upstream:
what it reads, the bytes it receives (equal to the upstream's), and what the ledger holds."""

import json

import anthropic
import pytest

from accounts.ledger import quota_for
from accounts.models import LedgerEntry, UpstreamCall
from accounts.usage import USAGE_FIELDS
from conversations.models import CatalogModel
from tests.waiting import wait_until

from .conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)


def sdk(gateway: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=gateway, max_retries=0)


def ask(text: str, **extra) -> dict:
    return {"model": MODEL, "max_tokens": 500, "messages": [{"role": "user", "content": text}]}


def the_charge() -> LedgerEntry:
    """The call's charge, once settled: a stream is settled just after its last byte."""
    settled = UpstreamCall.objects.filter(status=UpstreamCall.Status.SETTLED)
    wait_until(settled.exists, 10, what="the call settled")
    call = UpstreamCall.objects.get()
    return LedgerEntry.objects.get(call=call, kind=LedgerEntry.Kind.CHARGE)


def charged_usage(charge: LedgerEntry) -> dict:
    return {field: getattr(charge, field) for field in USAGE_FIELDS}


def streamed_usage(raw: bytes) -> dict:
    """The usage the upstream reported in a stream: the latest value of each field."""
    usage = {}
    for line in raw.split(b"\n"):
        if line.startswith(b"data: ") and b'"usage"' in line:
            event = json.loads(line[6:])
            found = event.get("usage") or event.get("message", {}).get("usage", {})
            usage.update({k: v for k, v in found.items() if k in USAGE_FIELDS})
    return usage


def test_messages_create_returns_the_upstream_reply_and_charges_exactly_its_usage(
    gateway, member_key, upstream
):
    key, raw_key = member_key
    reply = sdk(gateway, raw_key).messages.create(**ask("Hello there"))
    assert reply.content[0].text.startswith("## Demo reply")
    call = UpstreamCall.objects.get()
    assert (call.source, call.api_key, call.message, call.status) == (
        "gateway",
        key,
        None,
        "settled",
    )
    charge = the_charge()
    assert charged_usage(charge) == reply.usage.model_dump(include=set(USAGE_FIELDS))
    assert not charge.estimated and charge.cost > 0


def test_a_non_streaming_reply_reaches_the_client_byte_for_byte(gateway, member_key, upstream):
    response = sdk(gateway, member_key[1]).messages.with_raw_response.create(**ask("!cache=5,7"))
    assert response.http_response.content == bytes(upstream.requests[-1]["response"])
    assert charged_usage(the_charge())["cache_read_input_tokens"] == 7


def test_a_text_stream_passes_through_byte_for_byte_and_is_charged_its_reported_usage(
    gateway, member_key, upstream
):
    client = sdk(gateway, member_key[1])
    with client.messages.with_streaming_response.create(**ask("!tokens=120"), stream=True) as r:
        received = b"".join(r.iter_bytes())
    sent = bytes(upstream.requests[-1]["response"])
    assert received == sent
    assert b"message_stop" in received
    assert charged_usage(the_charge()) == {**dict.fromkeys(USAGE_FIELDS, 0), **streamed_usage(sent)}
    assert not the_charge().estimated


def test_messages_stream_reads_text_and_the_final_usage(gateway, member_key):
    with sdk(gateway, member_key[1]).messages.stream(**ask("!tokens=30")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "".join(f"w{i} " for i in range(1, 31))
    assert final.usage.output_tokens == 30
    assert the_charge().output_tokens == 30


def test_messages_stream_reads_thinking(gateway, member_key, upstream):
    request = ask("Think first") | {
        "max_tokens": 3000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    with sdk(gateway, member_key[1]).messages.stream(**request) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_message()
    assert "thinking" in kinds
    assert final.content[0].type == "thinking" and final.content[0].signature
    assert upstream.message_bodies()[-1]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert the_charge().output_tokens == final.usage.output_tokens


def test_messages_stream_reads_tool_use_with_input_json_deltas(gateway, member_key, upstream):
    tools = [
        {
            "name": "get_weather",
            "description": "The weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    request = ask("!tool What is the weather?") | {"tools": tools}
    with sdk(gateway, member_key[1]).messages.stream(**request) as stream:
        partials = [e.partial_json for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    assert "".join(partials) == '{"city": "Tokyo", "unit": "celsius"}'
    assert final.stop_reason == "tool_use"
    assert final.content[-1].input == {"city": "Tokyo", "unit": "celsius"}
    assert upstream.message_bodies()[-1]["tools"] == tools
    assert the_charge().output_tokens == final.usage.output_tokens


def test_count_tokens_passes_through_and_is_recorded_as_a_zero_cost_call(
    gateway, member_key, upstream
):
    counted = sdk(gateway, member_key[1]).messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "How many tokens is this?"}]
    )
    assert upstream.requests[-1]["path"] == "/v1/messages/count_tokens"
    assert b'"input_tokens":%d' % counted.input_tokens in upstream.requests[-1]["response"]
    call = UpstreamCall.objects.get()
    charge = the_charge()
    assert (call.source, call.api_key_id, charge.cost, charge.tokens, charge.estimated) == (
        "gateway",
        member_key[0].pk,
        0,
        0,
        False,
    )


def test_models_list_names_only_the_models_the_member_may_use(gateway, member, member_key):
    haiku = CatalogModel.objects.get(model_id="claude-haiku-4-5-20251001")
    quota_for(member).allowed_models.set([haiku, CatalogModel.objects.get(model_id=MODEL)])
    models = sdk(gateway, member_key[1]).models.list()
    assert [m.id for m in models.data] == ["claude-haiku-4-5-20251001", MODEL]
    assert models.data[1].display_name == "Claude Sonnet 4.5"
    assert models.data[1].created_at.isoformat().startswith("2025-09-29")
    assert sdk(gateway, member_key[1]).models.retrieve(MODEL).id == MODEL


def test_the_member_id_replaces_metadata_user_id_and_the_server_key_goes_upstream(
    gateway, member, member_key, upstream
):
    from conversations.prompt import upstream_user_id

    sdk(gateway, member_key[1]).messages.create(
        **ask("hi"), metadata={"user_id": "someone-else@example.com"}
    )
    sent = upstream.requests[-1]
    assert sent["user_id"] == upstream_user_id(member.pk)
    assert sent["headers"]["x-api-key"] == upstream.api_key
    assert "authorization" not in sent["headers"]


def test_a_thinking_catalog_id_goes_up_as_its_base_id_with_thinking(gateway, member_key, upstream):
    variant = "claude-sonnet-4-5-20250929-thinking"
    reply = sdk(gateway, member_key[1]).messages.create(
        model=variant, max_tokens=4096, messages=[{"role": "user", "content": "hi"}]
    )
    body = upstream.message_bodies()[-1]
    assert body["model"] == MODEL
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert reply.content[0].type == "thinking"
    assert UpstreamCall.objects.get().model == variant  # priced and listed by its catalog row


def test_authorization_bearer_is_accepted_like_x_api_key(gateway, member_key):
    client = anthropic.Anthropic(auth_token=member_key[1], base_url=gateway, max_retries=0)
    assert client.messages.create(**ask("hi")).type == "message"


def test_gateway_calls_leave_no_trace_in_the_chat(gateway, member, member_key):
    from conversations.models import Conversation, Message

    sdk(gateway, member_key[1]).messages.create(**ask("hi"))
    with sdk(gateway, member_key[1]).messages.stream(**ask("!tokens=5")) as stream:
        stream.until_done()
    assert not Conversation.objects.exists() and not Message.objects.exists()
    assert UpstreamCall.objects.filter(user=member, source="gateway").count() == 2
