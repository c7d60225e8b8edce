"""The thinking and prefill rows of the API's rules (conversations/api_rules.py)."""

import pytest

from conversations.api_rules import ApiRuleError, check_request


def request(budget: int | None = 2048, max_tokens: int = 4096, prefill: bool = False) -> dict:
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    if prefill:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": "Sure"}]})
    built = {"model": "m", "max_tokens": max_tokens, "messages": messages}
    if budget is not None:
        built["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return built


def test_a_budget_below_1024_is_refused():
    with pytest.raises(ApiRuleError, match="at least 1024"):
        check_request(request(budget=1023))


def test_a_budget_not_below_max_tokens_is_refused():
    with pytest.raises(ApiRuleError, match="below"):
        check_request(request(budget=4096, max_tokens=4096))


def test_a_prefill_with_thinking_is_refused():
    with pytest.raises(ApiRuleError, match="prefill"):
        check_request(request(prefill=True))


def test_a_prefill_without_thinking_and_a_fitting_budget_pass():
    check_request(request(budget=None, prefill=True))
    check_request(request(budget=1024, max_tokens=1025))
