"""Extended thinking: the catalog's upstream id and budget, the conversation's switch, and the
budget fitted to what the quota leaves (decisions 59 and 60)."""

import pytest
from django.db import transaction

from accounts import ledger
from accounts.models import LedgerEntry, UpstreamCall
from accounts.request_bound import request_token_bound
from conversations import services
from conversations.models import CatalogModel, Conversation, Message

from .wsclient import ChatSocket, deltas

pytestmark = [pytest.mark.django_db(transaction=True)]

VARIANT = "claude-sonnet-4-5-20250929-thinking"
BASE = "claude-sonnet-4-5-20250929"


async def chat(socket, text: str, **frame) -> list[dict]:
    await socket.send(
        {"type": "send", "conversation": None, "text": text, "client_id": "t", **frame}
    )
    return await socket.receive_until("message.completed")


async def test_a_thinking_variant_goes_to_the_official_api_as_its_base_id_with_a_budget(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    frames = await chat(socket, "Think first !tokens=3", model=VARIANT)

    body = upstream.requests[-1]["body"]
    assert body["model"] == BASE
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    kinds = [f["kind"] for f in deltas(frames)]
    assert kinds[0] == "thinking" and kinds[-1] == "text", "thinking streams before the answer"
    reply = await Message.objects.aget(role="assistant")
    assert reply.model == VARIANT, "the reply names the catalog's model, not the upstream id"
    assert [b["type"] for b in reply.content] == ["thinking", "text"]
    assert reply.content[0]["signature"] == "ZmFrZS1zaWduYXR1cmU=", "kept on the server"
    completed = frames[-1]["content"]
    assert completed[0]["thinking"] and "signature" not in completed[0], "readers never see it"
    await socket.close()


async def test_a_gateway_that_knows_thinking_ids_gets_them_as_they_are(upstream, alice, runner):
    await CatalogModel.objects.filter(model_id=VARIANT).aupdate(
        upstream_model_id="", thinking_budget=0
    )
    socket = await ChatSocket.open(alice)
    frames = await chat(socket, "Think first !tokens=3", model=VARIANT)

    body = upstream.requests[-1]["body"]
    assert body["model"] == VARIANT and "thinking" not in body
    assert deltas(frames)[0]["kind"] == "thinking", "the gateway thinks on its own"
    await socket.close()


async def test_the_conversations_switch_turns_thinking_on_with_its_budget(upstream, alice, runner):
    conversation = await Conversation.objects.acreate(
        user=alice, model=BASE, settings={"thinking": {"enabled": True, "budget_tokens": 1500}}
    )
    socket = await ChatSocket.open(alice)
    await socket.send_text("Hello !tokens=2", conversation=conversation.pk)
    await socket.receive_until("message.completed")

    body = upstream.requests[-1]["body"]
    assert body["model"] == BASE
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1500}
    await socket.close()


async def test_without_the_switch_or_support_no_thinking_is_sent(upstream, alice, runner):
    await CatalogModel.objects.filter(model_id=BASE).aupdate(supports_thinking=False)
    switched = {"thinking": {"enabled": True, "budget_tokens": 1500}}
    unsupported = await Conversation.objects.acreate(user=alice, model=BASE, settings=switched)
    socket = await ChatSocket.open(alice)
    await socket.send_text("Hello !tokens=2", conversation=unsupported.pk)
    await socket.receive_until("message.completed")
    assert "thinking" not in upstream.requests[-1]["body"]

    off = await Conversation.objects.acreate(user=alice, model=BASE, settings={})
    await socket.send_text("Hello !tokens=2", conversation=off.pk)
    await socket.receive_until("message.completed")
    assert "thinking" not in upstream.requests[-1]["body"]
    await socket.close()


class _Rollback(Exception):
    pass


def _prompt_bound(user, model_id: str) -> int:
    """The admission bound of a first message, found in a transaction rolled back."""
    try:
        with transaction.atomic():
            result = services.send_message(user, None, "Hello", model_id=model_id)
            raise _Rollback(request_token_bound(result.request))
    except _Rollback as found:
        return found.args[0]


def _limit_tokens(user, limit: int) -> None:
    quota = ledger.quota_for(user)
    quota.token_limit, quota.period = limit, "month"
    quota.save()


def test_a_quota_that_lowers_max_tokens_below_the_budget_lowers_the_budget(alice, chat_model):
    _limit_tokens(alice, _prompt_bound(alice, VARIANT) + 1600)

    result = services.send_message(alice, None, "Hello", model_id=VARIANT)

    max_tokens = result.request["max_tokens"]
    assert 1024 < max_tokens < 2048, "the quota lowered max_tokens below the 2048 budget"
    assert result.request["thinking"]["budget_tokens"] == max(1024, max_tokens // 2)
    assert result.reply.max_tokens == max_tokens


def test_a_quota_too_short_for_any_budget_is_refused_and_nothing_is_stored(alice, chat_model):
    _limit_tokens(alice, _prompt_bound(alice, VARIANT) + 1000)

    with pytest.raises(services.ChatError) as refused:
        services.send_message(alice, None, "Hello", model_id=VARIANT)

    assert refused.value.code == "quota_exceeded"
    assert "too few for extended thinking" in refused.value.detail
    assert Message.objects.count() == 0 and Conversation.objects.count() == 0
    assert LedgerEntry.objects.count() == 0 and UpstreamCall.objects.count() == 0


def test_a_model_cap_below_the_floor_refuses_thinking_as_a_setting(alice, chat_model):
    # The default max_tokens puts the budget on top of CHAT_MAX_TOKENS; the model's cap wins.
    CatalogModel.objects.filter(model_id=VARIANT).update(max_output_tokens=1000)
    with pytest.raises(services.ChatError) as refused:
        services.send_message(alice, None, "Hello", model_id=VARIANT)
    assert refused.value.code == "invalid_settings"
    assert Message.objects.count() == 0


def test_the_admin_edits_of_upstream_id_and_thinking_are_audited():
    from conversations.catalog import AUDITED_FIELDS

    assert {"upstream_model_id", "supports_thinking", "thinking_budget"} <= set(AUDITED_FIELDS)


async def test_thinking_and_prefill_together_are_refused_before_any_call(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send(
        {
            "type": "send",
            "conversation": None,
            "text": "Hi",
            "model": VARIANT,
            "prefill": "Sure",
            "client_id": "p",
        }
    )
    frame = await socket.receive()
    assert frame["type"] == "error" and frame["code"] == "invalid_settings"
    assert upstream.requests == [] and await Message.objects.acount() == 0
    await socket.close()


async def test_earlier_thinking_is_not_replayed_but_its_signature_is_kept(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    first = await chat(socket, "Think first !tokens=2", model=VARIANT)
    conversation = first[0]["conversation"]["id"]
    await socket.send_text("And again !tokens=2", conversation=conversation)
    await socket.receive_until("message.completed")

    earlier = upstream.requests[-1]["body"]["messages"][1]
    assert earlier == {"role": "assistant", "content": [{"type": "text", "text": "w1 w2"}]}
    stored = await Message.objects.filter(role="assistant").afirst()
    assert stored.content[0]["signature"], "stored for the tool loop that will need it (H13)"
    await socket.close()


def test_the_migration_sets_the_variants_for_the_official_api_and_leaves_admins_rows(alice):
    import importlib

    from django.apps import apps

    defaults = importlib.import_module(
        "conversations.migrations.0010_catalog_upstream_id_and_thinking"
    ).official_api_defaults
    CatalogModel.objects.filter(model_id=VARIANT).update(upstream_model_id="", thinking_budget=0)
    opus = "claude-opus-4-1-20250805-thinking"
    CatalogModel.objects.filter(model_id=opus).update(upstream_model_id="", thinking_budget=5000)

    defaults(apps, None)

    sonnet_row = CatalogModel.objects.get(model_id=VARIANT)
    assert (sonnet_row.upstream_id, sonnet_row.thinking_budget) == (BASE, 2048)
    opus_row = CatalogModel.objects.get(model_id=opus)
    assert (opus_row.upstream_id, opus_row.thinking_budget) == (opus, 5000), "an admin's choice"
    assert CatalogModel.objects.get(model_id=BASE).supports_thinking
