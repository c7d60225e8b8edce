"""Settlement at the edges a review found: gateways that report no usage or absurd figures, a
final write that fails once, tool input in the estimate, a reply deleted before its first token."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError

from accounts import ledger
from accounts.models import LedgerEntry, UpstreamCall
from conversations import services, settlement
from conversations.anthropic import BlockDelta, BlockStart, MessageAccumulator
from conversations.anthropic.events import Usage
from conversations.models import Conversation, Message

Kind = LedgerEntry.Kind


def charge() -> LedgerEntry:
    return LedgerEntry.objects.get(kind=Kind.CHARGE)


@pytest.mark.django_db
def test_a_complete_reply_whose_gateway_reports_no_usage_is_charged_an_estimate(
    make_user, chat_model
):
    result = services.send_message(make_user("alice"), None, "hello " * 200)
    content = [{"type": "text", "text": "a long answer " * 100}]

    settlement.finish_reply(
        result.reply.pk, status="complete", content=content, seq=3, usage={}, complete=True
    )

    entry = charge()
    assert entry.estimated and entry.cost > 0
    assert entry.input_tokens > 0 and entry.output_tokens == ledger.estimate_tokens(
        content[0]["text"]
    )


@pytest.mark.django_db
def test_a_complete_reply_without_its_input_figure_is_charged_an_estimated_prompt(
    make_user, chat_model
):
    result = services.send_message(make_user("alice"), None, "hello " * 2000)

    settlement.finish_reply(
        result.reply.pk,
        status="complete",
        content=[{"type": "text", "text": "ok"}],
        seq=1,
        usage={"output_tokens": 5},
        complete=True,
    )

    entry = charge()
    assert entry.input_tokens > 0 and entry.output_tokens == 5 and entry.estimated


@pytest.mark.django_db
def test_a_complete_reply_with_its_usage_is_charged_exactly(make_user, chat_model):
    result = services.send_message(make_user("alice"), None, "hi")
    usage = {"input_tokens": 12, "output_tokens": 1}

    settlement.finish_reply(
        result.reply.pk,
        status="complete",
        content=[{"type": "text", "text": "a reply much longer than one token"}],
        seq=1,
        usage=usage,
        complete=True,
    )

    entry = charge()
    assert (entry.input_tokens, entry.output_tokens, entry.estimated) == (12, 1, False)


def test_negative_and_absurd_usage_figures_are_not_counts():
    usage = Usage(input_tokens=7).merged({"input_tokens": -5_000_000, "output_tokens": 2**70})

    assert (usage.input_tokens, usage.output_tokens) == (7, 0)
    figures, _estimated = ledger.settlement_usage(
        {"input_tokens": -5, "output_tokens": 2**70}, 0, True, input_estimate=40
    )
    assert figures["input_tokens"] == 40 and 0 <= figures["output_tokens"] < 2**63


@pytest.mark.django_db
def test_one_row_the_reaper_cannot_settle_does_not_stop_it_for_everyone(
    make_user, chat_model, settings, monkeypatch
):
    alice, bob = make_user("alice"), make_user("bob")
    bad = services.send_message(alice, None, "hi")
    innocent = services.send_message(bob, None, "hi")
    real = settlement._settle_calls_of

    def fails_for_alice(message, *args, **kwargs):
        if message.pk == bad.reply.pk:
            raise OperationalError("a row the database refuses")
        return real(message, *args, **kwargs)

    monkeypatch.setattr(settlement, "_settle_calls_of", fails_for_alice)
    settings.STREAM_HEARTBEAT_TIMEOUT = -1  # every heartbeat is stale now

    settlement.reap_interrupted()

    innocent.reply.refresh_from_db()
    assert innocent.reply.status == Message.Status.INTERRUPTED
    assert UpstreamCall.objects.get(pk=innocent.call.pk).status == "settled"
    monkeypatch.setattr(settlement, "_settle_calls_of", real)
    settlement.reap_interrupted()  # the next cycle settles alice's once it can


def test_streamed_tool_input_counts_in_the_output_estimate():
    acc = MessageAccumulator()
    acc.feed(BlockStart(0, {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}))
    acc.feed(BlockDelta(0, "tool_input", '{"query": "' + "x" * 3000 + '"}'))

    assert settlement.streamed_chars(acc.content) >= 3000


@pytest.mark.django_db(transaction=True)
async def test_a_reply_deleted_while_waiting_for_its_first_token_is_noticed(
    upstream, runner, alice
):
    result = await sync_to_async(services.send_message)(alice, None, "hi !ttft=1500")
    runner.start(result.reply.pk, result.conversation.pk, result.request, result.call.pk)
    await asyncio.sleep(0)  # started, nothing streamed yet

    await Conversation.objects.filter(pk=result.conversation.pk).adelete()
    await runner._checkpoint_all()

    await asyncio.wait_for(runner.wait(result.reply.pk), 5)
    assert not runner.is_local(result.reply.pk)
    call = await UpstreamCall.objects.aget(pk=result.call.pk)
    assert call.status == "settled"


@pytest.mark.django_db(transaction=True)
async def test_a_final_write_that_fails_once_is_retried(upstream, runner, alice, monkeypatch):
    real = settlement.finish_reply
    attempts = []

    def flaky(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(settlement, "finish_reply", flaky)
    result = await sync_to_async(services.send_message)(alice, None, "hello !tokens=5")
    runner.start(result.reply.pk, result.conversation.pk, result.request, result.call.pk)
    await asyncio.wait_for(runner.wait(result.reply.pk), 5)

    reply = await Message.objects.aget(pk=result.reply.pk)
    entry = await LedgerEntry.objects.aget(kind=Kind.CHARGE)
    assert len(attempts) == 2
    assert reply.status == Message.Status.COMPLETE and reply.text
    assert entry.cost > 0 and not entry.estimated
