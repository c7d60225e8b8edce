"""Every reply is charged from the API's usage: complete, stopped, failed and interrupted ones."""

import asyncio
import importlib
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps as django_apps
from django.core.management import call_command

import accounts.migrations
from accounts import ledger
from accounts.models import LedgerEntry
from conversations import services, settlement
from conversations.fake_upstream import count_input_tokens
from conversations.models import CatalogModel, Conversation, Message
from conversations.runner import stop_replies
from tests.waiting import eventually

pytestmark = [pytest.mark.django_db(transaction=True)]

FIELDS = ledger.USAGE_FIELDS


async def reply_to(runner, user, text: str, conversation_id=None) -> Message:
    """Send `text` through the service and let the runner write the whole reply."""
    result = await sync_to_async(services.send_message)(user, conversation_id, text)
    runner.start(result.reply.pk, result.conversation.pk)
    await runner.wait(result.reply.pk)
    return await Message.objects.aget(pk=result.reply.pk)


def charges_of(user) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(user=user, kind=LedgerEntry.Kind.CHARGE))


def open_holds() -> int:
    return LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD, settled_by__isnull=True).count()


async def test_ledger_reconciles_with_reported_usage_over_200_replies(
    upstream, runner, alice, settings
):
    settings.CHAT_SENDS_PER_MINUTE = 0  # 200 sends in seconds: a script, not a person
    expected = dict.fromkeys(FIELDS, 0)
    expected_cost = Decimal(0)
    model = await CatalogModel.objects.aget(model_id="claude-sonnet-4-5-20250929")
    for i in range(200):
        tokens, write, read = 1 + i % 7, (i * 37) % 500, (i * 91) % 3000
        upstream.requests.clear()
        reply = await reply_to(runner, alice, f"turn {i} !tokens={tokens} !cache={write},{read}")
        assert reply.status == "complete"
        # What the fake upstream reported, computed from the request it received.
        usage = {
            "input_tokens": count_input_tokens(upstream.requests[-1]["body"]),
            "output_tokens": tokens,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
        }
        for field in FIELDS:
            expected[field] += usage[field]
        expected_cost += model.pricing().cost(usage)[0]

    charges = await sync_to_async(charges_of)(alice)
    assert len(charges) == 200
    assert {f: sum(getattr(c, f) for c in charges) for f in FIELDS} == expected
    assert sum(c.cost for c in charges) == expected_cost
    assert not any(c.estimated for c in charges)
    assert await sync_to_async(open_holds)() == 0

    out = io.StringIO()
    await sync_to_async(call_command)("usage_report", stdout=out)
    header, *rows = out.getvalue().strip().splitlines()
    assert header == (
        "user,model,calls,input_tokens,output_tokens,cache_creation_input_tokens,"
        "cache_read_input_tokens,cost_usd,estimated_calls"
    )
    (row,) = [r.split(",") for r in rows]
    assert row[:3] == ["alice", "claude-sonnet-4-5-20250929", "200"]
    assert [int(v) for v in row[3:7]] == [expected[f] for f in FIELDS]
    assert Decimal(row[7]) == expected_cost and row[8] == "0"


async def test_stopped_reply_is_charged_with_an_estimate(upstream, runner, alice):
    # Stopped once text has streamed (a fixed sleep stopped it before the first token on a busy
    # machine).
    result = await started_reply(runner, alice, "long !tokens=400 !delay=10")
    runner.stop(result.reply.pk)
    await runner.wait(result.reply.pk)
    reply = await Message.objects.aget(pk=result.reply.pk)
    assert reply.status == "stopped" and reply.text

    (charge,) = await sync_to_async(charges_of)(alice)
    assert charge.estimated
    assert charge.input_tokens == count_input_tokens(upstream.requests[-1]["body"])
    assert charge.output_tokens >= ledger.estimate_tokens(reply.text) > 0
    assert charge.cost > 0
    assert await sync_to_async(open_holds)() == 0


@pytest.mark.parametrize("fault", ["error_mid", "drop"])
async def test_failed_reply_is_charged_for_what_it_streamed(upstream, runner, alice, fault):
    reply = await reply_to(runner, alice, f"hello !tokens=50 !fault={fault}")
    assert reply.status == "failed" and reply.text

    (charge,) = await sync_to_async(charges_of)(alice)
    assert charge.estimated and charge.input_tokens > 0 and charge.output_tokens > 0
    assert await sync_to_async(open_holds)() == 0


async def test_reply_that_never_started_is_charged_nothing(upstream, runner, alice):
    reply = await reply_to(runner, alice, "hello !fault=529")
    assert reply.status == "failed"

    (charge,) = await sync_to_async(charges_of)(alice)
    assert (charge.tokens, charge.cost, charge.estimated) == (0, 0, False)
    assert await sync_to_async(open_holds)() == 0


async def checkpointed_then_dead(runner, user, text: str) -> tuple[services.SendResult, Message]:
    """A reply the runner streamed and checkpointed, whose process then died: nothing of the
    reply's end is stored, so it stays streaming with its last checkpoint."""
    runner.checkpoint_every = 0.01
    result = await sync_to_async(services.send_message)(user, None, text)
    runner.start(result.reply.pk, result.conversation.pk, result.request, result.call.pk)
    for _ in range(500):
        if (await Message.objects.aget(pk=result.reply.pk)).content:
            break
        await asyncio.sleep(0.01)

    async def dies_before_finishing(gen, status, error) -> None:
        runner.generations.pop(gen.message_id, None)

    runner._finish = dies_before_finishing
    await runner.shutdown()
    partial = await Message.objects.aget(pk=result.reply.pk)
    assert partial.status == "streaming" and partial.text
    return result, partial


async def test_interrupted_reply_is_charged_by_the_reaper_and_no_hold_survives(
    upstream, runner, alice
):
    _, partial = await checkpointed_then_dead(runner, alice, "a reply !tokens=400 !delay=5")
    assert await sync_to_async(open_holds)() == 1

    reap = sync_to_async(settlement.reap_interrupted)
    (reaped,) = await reap(all_streaming=True)

    assert reaped.status == "interrupted" and reaped.content == partial.content
    (charge,) = await sync_to_async(charges_of)(alice)
    assert charge.estimated
    assert charge.input_tokens == count_input_tokens(upstream.requests[-1]["body"])
    assert charge.output_tokens == ledger.estimate_tokens(partial.text)
    assert await sync_to_async(open_holds)() == 0
    # A second reaper (another process) finds nothing left to charge.
    assert await reap(all_streaming=True) == []
    assert len(await sync_to_async(charges_of)(alice)) == 1


def test_settling_twice_charges_once(alice, chat_model):
    result = services.send_message(alice, None, "hi")
    usage = {"input_tokens": 10, "output_tokens": 5}
    assert ledger.settle(result.call, usage, estimated=False) is not None
    assert ledger.settle(result.call, usage, estimated=False) is None
    assert len(charges_of(alice)) == 1


async def test_short_budget_lowers_max_tokens_sent_upstream(upstream, runner, alice, chat_model):
    quota = await sync_to_async(ledger.quota_for)(alice)
    # Enough for the prompt and about 100 output tokens at $15/MTok, far below 4096.
    quota.cost_limit, quota.period = Decimal("0.0025"), "month"
    await quota.asave()

    reply = await reply_to(runner, alice, "hi !tokens=3")

    assert 16 <= reply.max_tokens < 4096
    assert upstream.requests[-1]["body"]["max_tokens"] == reply.max_tokens
    current = await sync_to_async(ledger.balance)(alice)
    assert current.spent_cost <= quota.cost_limit


def test_exhausted_quota_refuses_and_stores_nothing(alice, chat_model):
    quota = ledger.quota_for(alice)
    quota.cost_limit = Decimal("0")
    quota.save()

    with pytest.raises(services.ChatError) as refused:
        services.send_message(alice, None, "hello?")

    assert refused.value.code == "quota_exceeded"
    assert refused.value.extra["resets_at"]  # month: the first of next month
    assert "resets" in refused.value.detail
    assert Message.objects.count() == 0 and LedgerEntry.objects.count() == 0


def test_grant_lets_an_exhausted_user_send_again(alice, chat_model, admin_user):
    quota = ledger.quota_for(alice)
    quota.cost_limit = Decimal("0")
    quota.save()
    with pytest.raises(services.ChatError):
        services.send_message(alice, None, "hello?")

    ledger.grant(alice, cost=Decimal("1"), reason="deadline week", by=admin_user)

    assert services.send_message(alice, None, "hello again").reply.max_tokens > 0


def test_token_limit_counts_prompt_and_reply(alice, chat_model):
    quota = ledger.quota_for(alice)
    quota.cost_limit, quota.token_limit = None, 100
    quota.save()

    with pytest.raises(services.ChatError) as refused:
        services.send_message(alice, None, "x" * 200)  # the prompt alone exceeds 100 tokens

    assert refused.value.code == "quota_exceeded"


async def test_a_reply_deleted_while_its_worker_is_dead_is_charged_by_the_reaper(
    upstream, runner, alice
):
    result, partial = await checkpointed_then_dead(runner, alice, "deleted !tokens=400 !delay=5")

    await sync_to_async(services.delete_conversation)(alice, result.conversation.pk)
    # Its worker would settle it on stopping; with none alive, the call stays open until the
    # reaper settles it from what the delete recorded.
    assert await sync_to_async(open_holds)() == 1
    assert await sync_to_async(charges_of)(alice) == []
    await sync_to_async(settlement.reap_interrupted)(all_streaming=True)

    (charge,) = await sync_to_async(charges_of)(alice)
    assert charge.estimated
    assert charge.input_tokens == count_input_tokens(upstream.requests[-1]["body"])
    assert charge.output_tokens == ledger.estimate_tokens(partial.text)
    assert charge.call_id == result.call.pk and charge.message_id is None
    assert await sync_to_async(open_holds)() == 0


class Reader:
    """A socket's stand-in, subscribed to a conversation through the runner."""

    def __init__(self) -> None:
        self.frames: list[dict] = []

    async def deliver(self, text: str) -> None:
        self.frames.append(json.loads(text))


async def started_reply(runner, user, text: str):
    """A reply sent and streaming, before its first checkpoint (none for a minute)."""
    runner.checkpoint_every = 60.0
    result = await sync_to_async(services.send_message)(user, None, text)
    runner.start(result.reply.pk, result.conversation.pk, result.request, result.call.pk)
    gen = runner.generations[result.reply.pk]
    await eventually(lambda: gen.seq, what="the first delta")
    assert not (await Message.objects.aget(pk=result.reply.pk)).content
    return result


async def test_a_reply_deleted_before_its_first_checkpoint_is_charged_from_the_runner(
    upstream, runner, alice
):
    result = await started_reply(runner, alice, "long !tokens=400 !delay=10")

    streaming = await sync_to_async(services.delete_conversation)(alice, result.conversation.pk)
    await stop_replies(streaming)
    await runner.wait(result.reply.pk)

    (charge,) = await sync_to_async(charges_of)(alice)
    assert charge.input_tokens == count_input_tokens(upstream.requests[-1]["body"])
    assert charge.output_tokens > 0 and charge.estimated and charge.cost > 0
    assert await sync_to_async(open_holds)() == 0


async def test_a_reply_deleted_in_the_admin_is_stopped_and_charged(
    upstream, runner, alice, admin_client
):
    result = await started_reply(runner, alice, "long !tokens=400 !delay=10")
    reader = Reader()
    await runner.join(result.conversation.pk, reader)
    url = f"/admin/conversations/conversation/{result.conversation.pk}/delete/"

    response = await sync_to_async(admin_client.post)(url, {"post": "yes"})

    assert response.status_code == 302
    await asyncio.wait_for(runner.wait(result.reply.pk), 5)
    # The owner's open page sees the reply end instead of a cursor blinking for ever.
    (completed,) = [f for f in reader.frames if f["type"] == "message.completed"]
    assert completed["status"] == "stopped" and completed["error"]["code"] == "deleted"
    (charge,) = await sync_to_async(charges_of)(alice)
    assert charge.input_tokens == count_input_tokens(upstream.requests[-1]["body"])
    assert charge.output_tokens > 0 and charge.estimated
    assert await sync_to_async(open_holds)() == 0


async def test_a_reply_whose_rows_vanish_stops_at_the_next_checkpoint_and_is_charged(
    upstream, runner, alice
):
    result = await started_reply(runner, alice, "long !tokens=400 !delay=10")

    # A delete no service saw (a shell, a cascade): the next checkpoint notices.
    await Conversation.objects.filter(pk=result.conversation.pk).adelete()
    runner.checkpoint_every = 0.05
    await runner._checkpoint_all()
    await asyncio.wait_for(runner.wait(result.reply.pk), 5)

    (charge,) = await sync_to_async(charges_of)(alice)
    assert charge.input_tokens > 0 and charge.output_tokens > 0
    assert await sync_to_async(open_holds)() == 0


def test_a_grant_cannot_take_room_away(alice):
    with pytest.raises(ValueError):
        ledger.grant(alice, cost=Decimal("-1"), reason="oops")


def test_a_long_conversation_that_no_longer_fits_suggests_a_new_chat(alice, chat_model):
    quota = ledger.quota_for(alice)
    quota.cost_limit = Decimal("0.003")  # a short prompt with 16 reply tokens still fits
    quota.save()
    result = services.send_message(alice, None, "x" * 300)
    settlement.finish_reply(result.reply.pk, status="complete", content=[], seq=0, complete=True)

    with pytest.raises(services.ChatError) as refused:
        services.send_message(alice, result.conversation.pk, "y" * 600)

    assert refused.value.code == "quota_exceeded"
    assert "Start a new chat" in refused.value.detail


def test_a_model_removed_from_the_catalog_mid_reply_is_charged_at_its_admitted_prices(
    alice, chat_model
):
    result = services.send_message(alice, None, "hi")
    usage = {"input_tokens": 1000, "output_tokens": 100}
    expected = chat_model.pricing().cost(usage)[0]
    chat_model.delete()

    settlement.finish_reply(
        result.reply.pk, status="complete", content=[], seq=0, usage=usage, complete=True
    )

    (charge,) = charges_of(alice)
    assert charge.cost == expected > 0


def test_a_price_change_mid_reply_is_charged_at_the_prices_it_was_admitted_at(alice, chat_model):
    # The hold was sized at the admitted prices: charging dearer ones could pass the limit.
    first = services.send_message(alice, None, "hi")
    usage = {"input_tokens": 1000, "output_tokens": 100}
    admitted = chat_model.pricing().cost(usage)[0]
    chat_model.price_input *= 10
    chat_model.price_output *= 10
    chat_model.save()

    settlement.finish_reply(
        first.reply.pk, status="complete", content=[], seq=0, usage=usage, complete=True
    )
    second = services.send_message(alice, first.conversation.pk, "again")
    settlement.finish_reply(
        second.reply.pk, status="complete", content=[], seq=0, usage=usage, complete=True
    )

    charges = sorted(charges_of(alice), key=lambda c: c.pk)
    assert [c.cost for c in charges] == [admitted, chat_model.pricing().cost(usage)[0]]
    assert Decimal(charges[0].prices["output"]) == chat_model.price_output / 10


def test_an_open_hold_placed_before_holds_recorded_prices_is_charged_at_the_catalogs(
    alice, chat_model
):
    result = services.send_message(alice, None, "hi")
    LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD).update(prices={})  # as before 26 Nov
    (migration,) = Path(accounts.migrations.__file__).parent.glob("*_hold_price_snapshots.py")
    module = importlib.import_module(f"accounts.migrations.{migration.stem}")

    module.snapshot_open_holds(django_apps, None)
    usage = {"input_tokens": 1000, "output_tokens": 100}
    settlement.finish_reply(
        result.reply.pk, status="complete", content=[], seq=0, usage=usage, complete=True
    )

    (charge,) = charges_of(alice)
    assert charge.cost == chat_model.pricing().cost(usage)[0] > 0
