"""Cost arithmetic on price lists: base rates, the long-prompt tier, snapshots read back."""

from decimal import Decimal

from accounts.pricing import PriceList, cost_at

SONNET = {
    "price_input": "3",
    "price_output": "15",
    "price_cache_write": "3.75",
    "price_cache_read": "0.3",
    "long_prompt_threshold": 200_000,
    "long_price_input": "6",
    "long_price_output": "22.5",
    "long_price_cache_write": None,
    "long_price_cache_read": "0.6",
}


def test_usage_is_priced_per_million_tokens_per_field():
    prices = PriceList.from_snapshot(SONNET)
    usage = {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_creation_input_tokens": 400,
        "cache_read_input_tokens": 2000,
    }

    cost, rates = prices.cost(usage)

    assert cost == (1000 * 3 + 200 * 15 + 400 * Decimal("3.75") + 2000 * Decimal("0.3")) / 10**6
    assert rates == {"input": "3", "output": "15", "cache_write": "3.75", "cache_read": "0.3"}
    assert cost_at(usage, rates) == cost


def test_a_prompt_past_the_threshold_bills_every_token_at_the_tier():
    prices = PriceList.from_snapshot(SONNET)
    usage = {"input_tokens": 150_000, "cache_read_input_tokens": 60_000, "output_tokens": 10}

    cost, rates = prices.cost(usage)

    # Cache writes have no tier price: they keep the base one.
    assert rates == {"input": "6", "output": "22.5", "cache_write": "3.75", "cache_read": "0.6"}
    assert cost == (150_000 * 6 + 60_000 * Decimal("0.6") + 10 * Decimal("22.5")) / 10**6


def test_the_worst_case_holds_the_prompt_at_the_dearest_input_rate():
    prices = PriceList.from_snapshot(SONNET)

    assert prices.worst_case_cost(1000, 100) == (1000 * Decimal("3.75") + 100 * 15) / 10**6
    assert prices.output_price_per_token(300_000) == Decimal("22.5") / 10**6


def test_a_snapshot_reads_back_as_the_same_prices():
    prices = PriceList.from_snapshot(SONNET)

    again = PriceList.from_snapshot(prices.snapshot())

    assert again == prices
    assert prices.snapshot()["long_prompt_threshold"] == "200000"


def test_prices_missing_from_a_snapshot_cost_nothing_and_there_is_no_tier():
    prices = PriceList.from_snapshot({"price_output": "5"})

    assert prices.cost({"input_tokens": 10**6, "output_tokens": 10**6})[0] == 5
    assert prices.rates(10**9)["input"] == 0
