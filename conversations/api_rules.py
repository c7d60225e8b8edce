"""The Messages API's rules on a request's parameters, one row each, checked before sending.

`check_request(request)` looks at the final request (the model id as sent upstream, thinking,
sampling parameters, stop sequences, tool_choice, a final assistant prefill) and raises
`ApiRuleError` with a translated, specific message for the first rule it breaks, so that no
request the API would refuse with a 400 leaves the server, and nothing is held or charged for
it. No Django model is imported: the gateway (issue 12) checks its members' requests with the
same table. The fake upstream enforces the same rules from its own literal data
(`conversations/fake_upstream/rules.py`); the tests run every row against both.

| row | rule                                                                 | field          |
|-----|----------------------------------------------------------------------|----------------|
| A1  | at most 4 stop sequences (the gateway's limit), each a non-empty string | stop_sequences |
| A2  | temperature is a number from 0 to 1                                  | temperature    |
| A3  | top_p is a number from 0 to 1                                        | top_p          |
| A4  | top_k is an integer of at least 1                                    | top_k          |
| A5  | max_tokens is an integer of at least 1, at most the model's output   | max_tokens     |
| A6  | Sonnet 4.5, Haiku 4.5, Opus 4.1: temperature or top_p, not both      | top_p          |
| A7  | thinking on: temperature unset or 1                                  | temperature    |
| A8  | thinking on: no top_k                                                | top_k          |
| A9  | thinking on: top_p unset or from 0.95 to 1                           | top_p          |
| A10 | thinking on: no prefill (a final assistant message)                  | prefill        |
| A11 | thinking on: no forced tool_choice (`any` or a named `tool`)         | tool_choice    |
| A12 | thinking on: budget_tokens an integer, at least 1024                 | thinking       |
| A13 | thinking on: budget_tokens below max_tokens                          | thinking       |

"Thinking on" is a `thinking` of type `enabled`, or a gateway's `-thinking` model id (the gateway
turns thinking on for it). A6 matches the model families by prefix, so dated ids and their
`-thinking` variants are covered.
"""

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

from django.utils.translation import gettext as _

MAX_STOP_SEQUENCES = 4
MIN_THINKING_BUDGET = 1024
THINKING_TOP_P_MIN = 0.95
# A6: the models that refuse temperature and top_p together (any date, any variant).
ONE_SAMPLING_PARAMETER_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")
THINKING_SUFFIX = "-thinking"


class ApiRuleError(ValueError):
    """A request the API would refuse; `message` is for the user, `field` names the setting."""

    def __init__(self, message: str, field: str | None = None, rule: str = "") -> None:
        super().__init__(message)
        self.message, self.field, self.rule = message, field, rule


@dataclass(frozen=True)
class Limits:
    """What the table needs to know beyond the request: the model's output cap, if known."""

    max_output_tokens: int | None = None


@dataclass(frozen=True)
class Rule:
    """One row: its name, the setting it concerns, and a check returning a message or None."""

    name: str
    field: str
    check: Callable[[dict, Limits], str | None]


def _number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def thinking_on(request: dict) -> bool:
    thinking = request.get("thinking")
    enabled = isinstance(thinking, dict) and thinking.get("type") == "enabled"
    model = request.get("model")
    return enabled or (isinstance(model, str) and model.endswith(THINKING_SUFFIX))


def _budget(request: dict) -> object:
    thinking = request.get("thinking")
    return thinking.get("budget_tokens") if isinstance(thinking, dict) else None


def _stop_sequences(request: dict, limits: Limits) -> str | None:
    stops = request.get("stop_sequences")
    if stops is None:
        return None
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        return _("Each stop sequence must be a non-empty piece of text.")
    if len(stops) > MAX_STOP_SEQUENCES:
        return _("At most %(limit)d stop sequences are allowed (you have %(count)d).") % {
            "limit": MAX_STOP_SEQUENCES,
            "count": len(stops),
        }
    return None


def _unit_range(name: str, label: Callable[[], str]) -> Callable[[dict, Limits], str | None]:
    def check(request: dict, limits: Limits) -> str | None:
        value = request.get(name)
        if value is None or (_number(value) and 0 <= value <= 1):
            return None
        return _("%(name)s must be a number from 0 to 1.") % {"name": label()}

    return check


def _top_k(request: dict, limits: Limits) -> str | None:
    value = request.get("top_k")
    if value is None or (_integer(value) and value >= 1):
        return None
    return _("Top K must be a whole number of at least 1.")


def _max_tokens(request: dict, limits: Limits) -> str | None:
    value = request.get("max_tokens")
    if not _integer(value) or value < 1:
        return _("Max tokens must be a whole number of at least 1.")
    cap = limits.max_output_tokens
    if cap is not None and value > cap:
        return _("Max tokens can be at most %(cap)d for this model.") % {"cap": cap}
    return None


def _one_sampling_parameter(request: dict, limits: Limits) -> str | None:
    model = request.get("model")
    if not isinstance(model, str) or not model.startswith(ONE_SAMPLING_PARAMETER_MODELS):
        return None
    if request.get("temperature") is not None and request.get("top_p") is not None:
        return _(
            "This model takes temperature or top P, not both. Clear one of them (leave it "
            "empty to use the default)."
        )
    return None


def _thinking_temperature(request: dict, limits: Limits) -> str | None:
    temperature = request.get("temperature")
    if thinking_on(request) and temperature is not None and temperature != 1:
        return _(
            "With extended thinking on, the temperature cannot be changed: leave it empty "
            "(or 1), or turn thinking off."
        )
    return None


def _thinking_top_k(request: dict, limits: Limits) -> str | None:
    if thinking_on(request) and request.get("top_k") is not None:
        return _("With extended thinking on, top K cannot be set: leave it empty.")
    return None


def _thinking_top_p(request: dict, limits: Limits) -> str | None:
    top_p = request.get("top_p")
    if thinking_on(request) and top_p is not None and not (THINKING_TOP_P_MIN <= top_p <= 1):
        return _("With extended thinking on, top P must be from 0.95 to 1, or empty.")
    return None


def _thinking_prefill(request: dict, limits: Limits) -> str | None:
    messages = request.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if thinking_on(request) and isinstance(last, dict) and last.get("role") == "assistant":
        return _(
            "With extended thinking on, a reply cannot be started for the model (prefill). "
            "Remove the start of the reply, or turn thinking off."
        )
    return None


def _thinking_tool_choice(request: dict, limits: Limits) -> str | None:
    choice = request.get("tool_choice")
    forced = isinstance(choice, dict) and choice.get("type") in ("any", "tool")
    if thinking_on(request) and forced:
        return _("With extended thinking on, the model cannot be forced to use a tool.")
    return None


def _thinking_budget_minimum(request: dict, limits: Limits) -> str | None:
    if not isinstance(request.get("thinking"), dict) or not thinking_on(request):
        return None
    budget = _budget(request)
    if not _integer(budget) or budget < MIN_THINKING_BUDGET:
        return _("The thinking budget must be a whole number of at least %(min)d tokens.") % {
            "min": MIN_THINKING_BUDGET
        }
    return None


def _thinking_budget_below_max_tokens(request: dict, limits: Limits) -> str | None:
    budget, max_tokens = _budget(request), request.get("max_tokens")
    if not thinking_on(request) or not _integer(budget) or not _integer(max_tokens):
        return None
    if budget >= max_tokens:
        return _(
            "The thinking budget (%(budget)d) must be below max tokens (%(max_tokens)d): "
            "raise max tokens or lower the budget."
        ) % {"budget": budget, "max_tokens": max_tokens}
    return None


RULES: tuple[Rule, ...] = (
    Rule("A1", "stop_sequences", _stop_sequences),
    Rule("A2", "temperature", _unit_range("temperature", lambda: _("Temperature"))),
    Rule("A3", "top_p", _unit_range("top_p", lambda: _("Top P"))),
    Rule("A4", "top_k", _top_k),
    Rule("A5", "max_tokens", _max_tokens),
    Rule("A6", "top_p", _one_sampling_parameter),
    Rule("A7", "temperature", _thinking_temperature),
    Rule("A8", "top_k", _thinking_top_k),
    Rule("A9", "top_p", _thinking_top_p),
    Rule("A10", "prefill", _thinking_prefill),
    Rule("A11", "tool_choice", _thinking_tool_choice),
    Rule("A12", "thinking", _thinking_budget_minimum),
    Rule("A13", "thinking", _thinking_budget_below_max_tokens),
)


def broken_rules(request: dict, max_output_tokens: int | None = None) -> list[ApiRuleError]:
    """Every rule the request breaks, in table order (a form shows them all at once)."""
    limits = Limits(max_output_tokens)
    errors = []
    for rule in RULES:
        message = rule.check(request, limits)
        if message is not None:
            errors.append(ApiRuleError(message, rule.field, rule.name))
    return errors


def check_request(request: dict, *, max_output_tokens: int | None = None) -> None:
    """Raise ApiRuleError for the first rule of the table the request breaks.

    `max_output_tokens`: the model's output cap from the catalog (A5), when the caller knows it.
    """
    errors = broken_rules(request, max_output_tokens)
    if errors:
        raise errors[0]
