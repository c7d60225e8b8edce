"""Prompt caching: breakpoints where the prompt is long enough, and what they save (decision 81)."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from accounts.models import LedgerEntry
from conversations import caching, services
from conversations.models import Message
from conversations.runner import get_runner
from conversations.settings_services import ChosenSettings

pytestmark = [pytest.mark.django_db(transaction=True)]

MARK = {"type": "ephemeral"}
# A team's instructions of about a thousand tokens: long enough to cache on the first turn.
SYSTEM = " ".join(
    f"Rule {i}: answer support questions about the ACME billing portal politely, cite the "
    f"relevant help article, and never promise refunds the policy does not allow."
    for i in range(30)
)


def question(turn: int) -> str:
    """A realistic question of a few hundred tokens; the reply is 300 tokens (`!tokens`)."""
    body = " ".join(
        f"In step {i} of my invoice export number {turn}, the totals column shows a different "
        f"amount from the dashboard, and the currency switches back to dollars."
        for i in range(8)
    )
    return f"Turn {turn}. {body} What should I check next? !tokens=300"


async def reply_to(user, text: str, conversation_id=None, system_prompt=None) -> Message:
    chosen = ChosenSettings(system_prompt=system_prompt)
    result = await sync_to_async(services.send_message)(user, conversation_id, text, chosen=chosen)
    runner = get_runner()
    runner.start(result.reply.pk, result.conversation.pk)
    await runner.wait(result.reply.pk)
    reply = await Message.objects.aget(pk=result.reply.pk)
    assert reply.status == "complete", reply.error
    return reply


def marks(body: dict) -> list[str]:
    """Where the body carries cache_control: "tool", "system" or "message N"."""
    found = [("tool", t) for t in body.get("tools") or []]
    system = body.get("system")
    found += [("system", b) for b in system] if isinstance(system, list) else []
    for index, message in enumerate(body["messages"]):
        content = message["content"]
        found += [(f"message {index}", b) for b in content] if isinstance(content, list) else []
    assert all(b["cache_control"] == MARK for _, b in found if "cache_control" in b)
    return [where for where, block in found if "cache_control" in block]


def charges_of(user) -> list[LedgerEntry]:
    entries = LedgerEntry.objects.filter(user=user, kind=LedgerEntry.Kind.CHARGE)
    return list(entries.order_by("pk"))


def input_cost(charges: list[LedgerEntry], chat_model) -> Decimal:
    """What the charges cost for their prompts: the whole cost less the output's."""
    output = sum(c.output_tokens for c in charges) * chat_model.price_output / Decimal(10**6)
    return sum(c.cost for c in charges) - output


async def test_a_long_prompt_marks_the_system_prompt_and_the_question(upstream, alice, runner):
    await reply_to(alice, question(1), system_prompt=SYSTEM)
    body = upstream.message_bodies()[-1]
    assert marks(body) == ["system", "message 0"]
    assert body["system"] == [{"type": "text", "text": SYSTEM, "cache_control": MARK}]
    assert body["messages"][-1]["content"][-1]["cache_control"] == MARK


async def test_a_conversation_below_the_minimum_carries_no_cache_control(upstream, alice, runner):
    reply = await reply_to(alice, "Short question !tokens=20", system_prompt="Be brief.")
    await reply_to(alice, "And another !tokens=20", reply.conversation_id)
    for body in upstream.message_bodies():
        assert marks(body) == []
        assert body["system"] == "Be brief.", "a string system prompt stays a string"
    charge = (await sync_to_async(charges_of)(alice))[-1]
    assert (charge.cache_creation_input_tokens, charge.cache_read_input_tokens) == (0, 0)


async def test_the_history_is_marked_once_the_conversation_grows_past_the_minimum(
    upstream, alice, runner
):
    reply = await reply_to(alice, question(1))
    assert marks(upstream.message_bodies()[-1]) == [], "one question is below 1024 tokens"
    await reply_to(alice, question(2), reply.conversation_id)
    body = upstream.message_bodies()[-1]
    assert marks(body) == ["message 2"], "the question being answered, not the turn before"


def test_breakpoints_mark_the_last_tool_and_stay_within_four():
    tools = [
        {"name": f"tool_{i}", "description": "x" * 1500, "input_schema": {"type": "object"}}
        for i in range(3)
    ]
    request = {
        "model": "claude-sonnet-4-5-20250929",
        "tools": tools,
        "system": [
            {"type": "text", "text": "a", "cache_control": MARK},
            {"type": "text", "text": "team rules " * 400},
        ],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    caching.add_breakpoints(request)
    assert marks(request) == ["tool", "system", "system", "message 0"]
    assert "cache_control" in request["tools"][-1] and "cache_control" not in tools[0]
    request["messages"][0]["content"][0].pop("cache_control")
    request["tools"][0]["cache_control"] = MARK  # a fifth would make the API refuse it
    caching.add_breakpoints(request)
    assert len(marks(request)) == 4


def test_haiku_needs_a_longer_prompt_than_sonnet_before_a_breakpoint():
    text = "word " * 1000  # 5,000 characters: about 1,700 estimated tokens
    for model, marked in (("claude-sonnet-4-5-20250929", True), ("claude-haiku-4-5", False)):
        request = {
            "model": model,
            "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        }
        caching.add_breakpoints(request)
        assert ("cache_control" in request["messages"][0]["content"][0]) is marked, model


async def test_a_20_turn_conversation_mostly_reads_the_cache_and_costs_under_30_percent(
    upstream, alice, bob, runner, chat_model, settings
):
    settings.CHAT_SENDS_PER_MINUTE = 0

    async def conversation(user) -> list[LedgerEntry]:
        reply = await reply_to(user, question(1), system_prompt=SYSTEM)
        for turn in range(2, 21):
            await reply_to(user, question(turn), reply.conversation_id)
        return await sync_to_async(charges_of)(user)

    cached = await conversation(alice)
    settings.PROMPT_CACHING = False
    upstream.prompt_cache.clear()
    plain = await conversation(bob)

    assert len(cached) == len(plain) == 20
    for turn, charge in enumerate(cached[1:], start=2):
        prompt = charge.input_tokens + charge.cache_creation_input_tokens
        prompt += charge.cache_read_input_tokens
        assert charge.cache_read_input_tokens > prompt / 2, f"turn {turn}: mostly reads"
    assert cached[0].cache_creation_input_tokens > 0 and cached[0].cache_read_input_tokens == 0
    assert all(c.cache_read_input_tokens == c.cache_creation_input_tokens == 0 for c in plain)
    assert [c.output_tokens for c in cached] == [c.output_tokens for c in plain]
    with_cache, without = input_cost(cached, chat_model), input_cost(plain, chat_model)
    assert with_cache < without * Decimal("0.3")


async def test_changing_the_system_prompt_midway_writes_the_cache_again(
    upstream, alice, runner, settings
):
    settings.CHAT_SENDS_PER_MINUTE = 0
    reply = await reply_to(alice, question(1), system_prompt=SYSTEM)
    await reply_to(alice, question(2), reply.conversation_id)
    await reply_to(alice, question(3), reply.conversation_id, system_prompt=SYSTEM + " Be terse.")
    await reply_to(alice, question(4), reply.conversation_id)
    charges = await sync_to_async(charges_of)(alice)
    reads = [c.cache_read_input_tokens for c in charges]
    writes = [c.cache_creation_input_tokens for c in charges]
    assert reads[1] > 0, "turn 2 reads what turn 1 wrote"
    assert reads[2] == 0 and writes[2] > writes[1], "a new system prompt: all written again"
    assert reads[3] >= writes[2], "turn 4 reads what turn 3 wrote"


def test_a_prefill_is_never_marked_the_question_before_it_is():
    long = "the quarterly report in detail " * 200
    request = {
        "model": "claude-sonnet-4-5-20250929",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": long}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Dear team,"}]},
        ],
    }
    caching.add_breakpoints(request)
    assert marks(request) == ["message 0"], "Continue changes the prefill: caching it is waste"


def test_caching_switched_off_adds_nothing(settings):
    settings.PROMPT_CACHING = False
    long = "the quarterly report in detail " * 200
    request = {
        "model": "claude-sonnet-4-5-20250929",
        "system": long,
        "messages": [{"role": "user", "content": [{"type": "text", "text": long}]}],
    }
    caching.add_breakpoints(request)
    assert marks(request) == [] and request["system"] == long
