"""The API rules table: each row refuses what it names, accepts its boundary, and the fake
upstream (with its own copy of the rules) refuses the same request with the API's 400."""

import httpx
import pytest

from conversations.api_rules import RULES, ApiRuleError, broken_rules, check_request

from .conftest import API_KEY

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
OPUS = "claude-opus-4-1-20250805"
THINKING = {"type": "enabled", "budget_tokens": 2048}


def request(**fields) -> dict:
    base = {
        "model": SONNET,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    return base | fields


def with_prefill(**fields) -> dict:
    messages = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Once upon"},
    ]
    return request(messages=messages, **fields)


# Row -> (a request that breaks it, one at its boundary that passes, what the fake says).
CASES = {
    "A1": (
        request(stop_sequences=["a", "b", "c", "d", "e"]),
        request(stop_sequences=["a", "b", "c", "d"]),
        "at most 4 stop sequences",
    ),
    "A2": (request(temperature=1.2), request(temperature=1), "temperature: Input should be"),
    "A3": (request(model="claude-3-haiku", top_p=-0.1), request(top_p=0), "top_p: Input should"),
    "A4": (request(top_k=0), request(top_k=1), "top_k: Input should be greater than"),
    "A5": (request(max_tokens=64001), request(max_tokens=64000), "maximum allowed number"),
    "A6": (
        request(temperature=0.5, top_p=0.9),
        request(model="claude-3-haiku", temperature=0.5, top_p=0.9),
        "temperature and top_p cannot both be specified for this model",
    ),
    "A7": (
        request(thinking=THINKING, temperature=0.7),
        request(thinking=THINKING, temperature=1),
        "`temperature` may only be set to 1 when thinking is enabled",
    ),
    "A8": (
        request(thinking=THINKING, top_k=5),
        request(top_k=5),
        "`top_k` is not supported when thinking is enabled",
    ),
    "A9": (
        request(thinking=THINKING, top_p=0.9),
        request(thinking=THINKING, top_p=0.95),
        "`top_p` must be greater than or equal to 0.95",
    ),
    "A10": (with_prefill(thinking=THINKING), with_prefill(), "Prefilling the assistant reply"),
    "A11": (
        request(thinking=THINKING, tool_choice={"type": "any"}),
        request(thinking=THINKING, tool_choice={"type": "auto"}),
        "tool_choice forces tool use",
    ),
    "A12": (
        request(thinking={"type": "enabled", "budget_tokens": 1023}),
        request(thinking={"type": "enabled", "budget_tokens": 1024}),
        "budget_tokens: Input should be greater than or equal to 1024",
    ),
    "A13": (
        request(thinking={"type": "enabled", "budget_tokens": 4096}),
        request(thinking={"type": "enabled", "budget_tokens": 4095}),
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    ),
}


def test_every_row_of_the_table_has_a_case():
    assert sorted(CASES) == sorted(rule.name for rule in RULES)


@pytest.mark.parametrize("row", sorted(CASES, key=lambda name: int(name[1:])))
def test_each_row_refuses_its_case_and_accepts_its_boundary(row):
    bad, fine, _ = CASES[row]
    rule = next(r for r in RULES if r.name == row)
    with pytest.raises(ApiRuleError) as refused:
        check_request(bad, max_output_tokens=64000)
    assert (refused.value.rule, refused.value.field) == (row, rule.field)
    assert refused.value.message
    check_request(fine, max_output_tokens=64000)


@pytest.mark.parametrize("row", sorted(CASES, key=lambda name: int(name[1:])))
def test_the_fake_upstream_refuses_each_case_with_the_apis_400(fake_upstream, row):
    bad, fine, says = CASES[row]
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=fake_upstream.base_url, headers=headers, timeout=5) as client:
        refused = client.post("/v1/messages", json=bad)
        accepted = client.post("/v1/messages", json=fine)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert says in error["message"]
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("model", [SONNET, HAIKU, OPUS, "claude-haiku-4-5", SONNET + "-thinking"])
def test_temperature_and_top_p_together_are_refused_for_every_id_of_the_three_families(model):
    with pytest.raises(ApiRuleError) as refused:
        check_request(request(model=model, temperature=0.5, top_p=0.5))
    assert refused.value.rule == "A6"


def test_a_thinking_model_id_counts_as_thinking_on():
    with pytest.raises(ApiRuleError) as refused:
        check_request(request(model=OPUS + "-thinking", top_k=3))
    assert refused.value.rule == "A8"


def test_without_the_models_cap_max_tokens_is_only_checked_to_be_positive():
    check_request(request(max_tokens=100_000))
    with pytest.raises(ApiRuleError):
        check_request(request(max_tokens=0))


def test_broken_rules_lists_every_rule_a_request_breaks():
    found = broken_rules(request(thinking=THINKING, temperature=0.5, top_k=2, top_p=0.5))
    assert [e.rule for e in found] == ["A6", "A7", "A8", "A9"]
