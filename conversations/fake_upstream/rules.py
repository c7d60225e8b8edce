"""The fake upstream's own copy of the API's parameter rules, as the API words its 400s.

Written from the API's documentation, not imported from the app (`conversations/api_rules.py`):
a rule the app forgets, or gets wrong, still fails here as it would against the real API.
"""

from __future__ import annotations

from typing import Any

# The output caps the API enforces, by model family (dated ids and -thinking variants match).
MAX_OUTPUT = {
    "claude-sonnet-4-5": 64000,
    "claude-haiku-4-5": 64000,
    "claude-opus-4-1": 32000,
}
NOT_BOTH_TEMPERATURE_AND_TOP_P = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")
GATEWAY_STOP_SEQUENCE_LIMIT = 4
THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _family_cap(model: str) -> int | None:
    for prefix, cap in MAX_OUTPUT.items():
        if model.startswith(prefix):
            return cap
    return None


def _sampling_problem(body: dict) -> str | None:
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            return "stop_sequences: Input should be a valid list of non-empty strings"
        if len(stops) > GATEWAY_STOP_SEQUENCE_LIMIT:
            return (
                f"stop_sequences: at most {GATEWAY_STOP_SEQUENCE_LIMIT} stop sequences are "
                f"allowed, got {len(stops)}"
            )
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and not (_num(value) and 0 <= value <= 1):
            return f"{name}: Input should be less than or equal to 1 and greater than or equal to 0"
    top_k = body.get("top_k")
    if top_k is not None and not (isinstance(top_k, int) and not isinstance(top_k, bool)):
        return "top_k: Input should be a valid integer"
    if top_k is not None and top_k < 1:
        return "top_k: Input should be greater than or equal to 1"
    model, max_tokens = body["model"], body["max_tokens"]
    cap = _family_cap(model)
    if cap is not None and max_tokens > cap:
        return (
            f"max_tokens: {max_tokens} > {cap}, which is the maximum allowed number of output "
            f"tokens for {model}"
        )
    both = body.get("temperature") is not None and body.get("top_p") is not None
    if both and model.startswith(NOT_BOTH_TEMPERATURE_AND_TOP_P):
        return "temperature and top_p cannot both be specified for this model. Please use only one."
    return None


def _thinking_problem(body: dict) -> str | None:
    thinking = body.get("thinking")
    enabled = isinstance(thinking, dict) and thinking.get("type") == "enabled"
    if not enabled and not body["model"].endswith("-thinking"):
        return None
    if enabled:
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            return "thinking.enabled.budget_tokens: Field required"
        if budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if budget >= body["max_tokens"]:
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return (
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our "
            f"documentation at {THINKING_DOCS}#feature-compatibility"
        )
    if body.get("top_k") is not None:
        return f"`top_k` is not supported when thinking is enabled. See {THINKING_DOCS}"
    top_p = body.get("top_p")
    if top_p is not None and top_p < 0.95:
        return "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled."
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    last = body["messages"][-1]
    if last.get("role") == "assistant":
        return (
            "messages: When thinking is enabled, a final `assistant` message must start with a "
            "thinking block. Prefilling the assistant reply is not supported with thinking."
        )
    return None


def _blocks(message: dict, kind: str) -> list[dict]:
    content = message.get("content")
    return (
        [b for b in content if isinstance(b, dict) and b.get("type") == kind]
        if isinstance(content, list)
        else []
    )


def _tool_problem(body: dict) -> str | None:
    """The API's pairing rule: each tool_use answered by a tool_result in the next message,
    and no tool_result without its tool_use just before."""
    messages = body["messages"]
    if not body.get("tools") and any(
        _blocks(m, "tool_use") or _blocks(m, "tool_result") for m in messages
    ):
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    for position, message in enumerate(messages):
        if message.get("role") == "user":
            asked = set()
            if position and messages[position - 1].get("role") == "assistant":
                asked = {b.get("id") for b in _blocks(messages[position - 1], "tool_use")}
            for result in _blocks(message, "tool_result"):
                if result.get("tool_use_id") not in asked:
                    return (
                        f"messages.{position}.content: unexpected `tool_use_id` found in "
                        "`tool_result` blocks. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
            continue
        uses = _blocks(message, "tool_use")
        if not uses:
            continue
        answer = messages[position + 1] if position + 1 < len(messages) else {}
        answered = {b.get("tool_use_id") for b in _blocks(answer, "tool_result")}
        missing = [u.get("id") for u in uses if u.get("id") not in answered]
        if missing:
            return (
                f"messages.{position}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {missing[0]}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
    return None


def parameter_problem(body: dict) -> str | None:
    """The API's 400 message for the first parameter rule `body` breaks, or None.

    `body` has passed the basic shape checks (model, messages, max_tokens).
    """
    return _sampling_problem(body) or _thinking_problem(body) or _tool_problem(body)
