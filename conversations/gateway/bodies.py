"""What a gateway request may carry, and the body that goes upstream for it.

Only what the ledger can meter passes: fields priced by tokens, client tools, and the
`anthropic-beta` values that change no price. A server tool billed per use, a service tier or a
pricing beta is refused naming it; GATEWAY_EXTRA_FIELDS and GATEWAY_EXTRA_BETAS extend the lists
once the catalog can price them (decision 65).
"""

import json

from django.conf import settings

from accounts.request_bound import CLIENT_TOOL_PREFIXES

from .. import api_rules, thinking
from ..models import CatalogModel
from .wire import GatewayError, invalid

# The Messages API's request fields that are billed by tokens alone.
MESSAGE_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "metadata",
        "tools",
        "tool_choice",
        "thinking",
    }
)
COUNT_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking"})
# Betas that change how a reply streams or is shaped, never what a token costs.
BETAS = frozenset(
    {
        "interleaved-thinking-2025-05-14",
        "fine-grained-tool-streaming-2025-05-14",
        "token-efficient-tools-2025-02-19",
    }
)


def parse(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def check_version(version: str | None) -> str:
    """The client's API version, sent upstream as it is: the reply has the shape it asked for."""
    if not version or not version.strip():
        raise invalid("anthropic-version: header is required")
    return version.strip()


def betas(header: str | None) -> list[str]:
    """The `anthropic-beta` values, each on the allow-list or refused naming it."""
    values = [v.strip() for v in (header or "").split(",") if v.strip()]
    allowed = BETAS | set(settings.GATEWAY_EXTRA_BETAS)
    for value in values:
        if value not in allowed:
            raise invalid(f"anthropic-beta: {value} is not supported by this gateway")
    return values


def check_fields(body: dict, *, counting: bool) -> None:
    """Refuse a field, or a tool, the ledger cannot meter, naming it."""
    allowed = (COUNT_FIELDS if counting else MESSAGE_FIELDS) | set(settings.GATEWAY_EXTRA_FIELDS)
    for name in body:
        if name not in allowed:
            raise invalid(f"{name}: this field is not supported by this gateway")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("model: Field required")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise invalid("messages: Field required (at least one message)")
    if not counting:
        if "max_tokens" not in body:
            raise invalid("max_tokens: Field required")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise invalid("stream: Input should be a valid boolean")
    if "metadata" in body and not isinstance(body["metadata"], dict):
        raise invalid("metadata: Input should be a valid dictionary")
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    for index, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in (None, "custom") or str(kind).startswith(CLIENT_TOOL_PREFIXES):
            continue
        raise invalid(
            f"tools.{index}.type: {kind} is billed per use and not supported by this gateway"
        )


def upstream_body(body: dict, model: CatalogModel, *, counting: bool) -> dict:
    """The body as sent upstream: the catalog's upstream id and thinking (decision 59), and the
    API's rules checked as the chat checks its own (decision 57)."""
    sent = dict(body)
    sent["model"] = model.upstream_id
    if model.thinking_budget and "thinking" not in body:
        budget, max_tokens = model.thinking_budget, _int(body.get("max_tokens"))
        if not counting and max_tokens >= 1:  # an invalid max_tokens is rule A5's to name
            try:
                budget = thinking.fitted_budget(budget, max_tokens)
            except thinking.BudgetDoesNotFit:
                raise invalid(
                    f"max_tokens: {model.model_id} thinks, so max_tokens must be above "
                    f"{thinking.MIN_BUDGET}"
                ) from None
        sent["thinking"] = thinking.thinking_param(budget)
    if not counting:
        try:
            api_rules.check_request(sent, max_output_tokens=model.max_output_tokens)
        except api_rules.ApiRuleError as exc:
            raise invalid(f"{exc.field}: {exc.message}") from None
    return sent


def lower_max_tokens(sent: dict, allowed: int) -> None:
    """The quota covers `allowed` output tokens only: lower max_tokens, and a thinking budget
    with it (decision 60); a budget that cannot fit refuses the call like an empty quota."""
    sent["max_tokens"] = allowed
    config = sent.get("thinking")
    if isinstance(config, dict) and config.get("type") == "enabled":
        try:
            config["budget_tokens"] = thinking.fitted_budget(config["budget_tokens"], allowed)
        except thinking.BudgetDoesNotFit:
            raise GatewayError(
                429,
                "rate_limit_error",
                f"Your quota covers only {allowed} output tokens now, too few for thinking.",
            ) from None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
