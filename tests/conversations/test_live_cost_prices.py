"""A reply's `message.created` carries the prices it was admitted at, so the page can show what
it costs while it streams (issue 16, item 6; decision 91)."""

from decimal import Decimal

import pytest

from accounts.models import LedgerEntry, UpstreamCall
from accounts.pricing import PriceList

from .wsclient import ChatSocket, created

pytestmark = [pytest.mark.django_db(transaction=True)]


async def hold_of(message_id: int) -> tuple[LedgerEntry, UpstreamCall]:
    hold = await LedgerEntry.objects.select_related("call").aget(
        message_id=message_id, kind=LedgerEntry.Kind.HOLD
    )
    return hold, hold.call


async def test_a_replys_created_frame_carries_the_prices_its_hold_recorded(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Price me !tokens=3")
    frames = await socket.receive_until("message.completed")
    reply = created(frames, "assistant")

    hold, call = await hold_of(reply["id"])
    rates = PriceList.from_snapshot(hold.prices).rates(call.input_estimate)
    assert reply["prices"] == {
        "input": "3",
        "output": "15",
        "cache_write": "3.75",
        "cache_read": "0.3",
        "prompt_tokens": call.input_estimate,
    }
    assert {k: Decimal(v) for k, v in reply["prices"].items() if k != "prompt_tokens"} == rates
    assert call.input_estimate > 0
    assert "prices" not in created(frames, "user"), "a user message costs nothing"
    await socket.close()


async def test_a_long_prompt_streams_at_the_long_prompt_tier(upstream, alice, runner, chat_model):
    chat_model.long_prompt_threshold = 10
    chat_model.long_price_input = Decimal("6")
    chat_model.long_price_output = Decimal("22.5")
    await chat_model.asave()
    socket = await ChatSocket.open(alice)
    await socket.send_text("A prompt long enough to pass ten tokens of estimate " * 3 + "!tokens=2")
    frames = await socket.receive_until("message.completed")

    prices = created(frames, "assistant")["prices"]
    assert prices["prompt_tokens"] > 10
    assert (prices["input"], prices["output"]) == ("6", "22.5")
    tier = chat_model.pricing().rates(prices["prompt_tokens"])
    assert Decimal(prices["cache_write"]) == tier["cache_write"] != Decimal("3.75")
    await socket.close()


async def test_a_continued_reply_streams_again_with_its_new_calls_prices(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Count !tokens=10 !cut=4")
    frames = await socket.receive_until("message.completed")
    reply = created(frames, "assistant")
    await socket.send({"type": "continue", "message": reply["id"]})
    frames = await socket.receive_until("message.completed")

    [continued] = [f for f in frames if f["type"] == "message.continued"]
    assert continued["message"]["prices"]["output"] == "15"
    assert continued["message"]["cost"] is not None, "the first call's charge, to add to"
    await socket.close()


async def test_stored_messages_on_the_page_carry_no_prices(upstream, alice, runner, async_client):
    socket = await ChatSocket.open(alice)
    await socket.send_text("Hi !tokens=2")
    frames = await socket.receive_until("message.completed")
    await async_client.aforce_login(alice)
    page = (await async_client.get(f"/c/{frames[0]['conversation']['id']}/")).content.decode()
    assert '"prices"' not in page, "the charge is known: nothing to estimate"
    await socket.close()
