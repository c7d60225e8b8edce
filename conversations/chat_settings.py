"""A conversation's settings: their shape, their request parameters, and their validation.

`Conversation.settings` holds optional keys (an absent key is the API's default, not sent):
temperature, top_p (numbers), top_k, max_tokens (integers), stop_sequences (strings) and
thinking ({"enabled", "budget_tokens"}), tools (names from the tool registry) and tool_choice
({"type": "auto"|"any"|"tool"|"none", "name"?}, only with tools). `clean_settings` checks
the shape a client sent; `problems` then runs the API's rules (`api_rules`) on the request
those settings would make with a model, so a setting is refused beside its field when it is
saved, not when it is sent.
"""

from django.conf import settings as django_settings
from django.utils.translation import gettext as _

from . import api_rules, thinking
from .models import CatalogModel
from .tools import registry as tool_registry

KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "stop_sequences",
    "thinking",
    "tools",
    "tool_choice",
)
TOOL_CHOICES = ("auto", "any", "tool", "none")
MAX_STOP_SEQUENCE_CHARS = 200
MAX_SYSTEM_PROMPT_CHARS = 50_000


class SettingsInvalid(ValueError):
    """Settings refused: `fields` maps each setting to its message (`message`: the first)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.field, self.message = next(iter(fields.items()))
        super().__init__(self.message)


def _empty(value: object) -> bool:
    return value is None or value == ""


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean_stop_sequences(value: object, errors: dict[str, str]) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        errors["stop_sequences"] = _("Stop sequences must be a list of texts.")
        return None
    kept = [s for s in value if s != ""]  # an empty row of the form is no sequence
    if any(len(s) > MAX_STOP_SEQUENCE_CHARS for s in kept):
        errors["stop_sequences"] = _(
            "A stop sequence can be at most %(limit)d characters long."
        ) % {"limit": MAX_STOP_SEQUENCE_CHARS}
        return None
    return kept or None


def _clean_thinking(value: object, errors: dict[str, str]) -> dict | None:
    if not isinstance(value, dict) or not isinstance(value.get("enabled", False), bool):
        errors["thinking"] = _("Extended thinking must be switched on or off.")
        return None
    budget = value.get("budget_tokens")
    if not _empty(budget) and not _whole(budget):
        errors["thinking"] = _("The thinking budget must be a whole number of tokens.")
        return None
    enabled = value.get("enabled", False)
    if not enabled and _empty(budget):
        return None
    return {"enabled": enabled} | ({} if _empty(budget) else {"budget_tokens": budget})


def _clean_tools(value: object, errors: dict[str, str]) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        errors["tools"] = _("Tools must be a list of tool names.")
        return None
    known = tool_registry.names()
    unknown = [n for n in value if n not in known]
    if unknown:
        errors["tools"] = _("Unknown tool: %(name)s.") % {"name": unknown[0][:50]}
        return None
    return [n for n in known if n in value] or None  # registry order, no repeats


def _clean_tool_choice(value: object, tools: list[str] | None, errors: dict[str, str]) -> dict:
    if not isinstance(value, dict) or value.get("type") not in TOOL_CHOICES:
        errors["tool_choice"] = _("Tool choice must be auto, any, a named tool or none.")
        return {}
    if value["type"] != "tool":
        return {"type": value["type"]}
    name = value.get("name")
    if not isinstance(name, str) or name not in (tools or []):
        errors["tool_choice"] = _("Choose one of the tools switched on.")
        return {}
    return {"type": "tool", "name": name}


def clean_settings(raw: object) -> dict:
    """The settings a client sent, in stored form; raises SettingsInvalid for a bad shape.

    Ranges and combinations are the API rules' business (`problems`), not this function's.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsInvalid({"settings": _("The settings must be an object.")})
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        message = _("Unknown setting: %(name)s.") % {"name": str(unknown[0])[:50]}
        raise SettingsInvalid({"settings": message})
    errors: dict[str, str] = {}
    cleaned: dict = {}
    labels = {"temperature": _("Temperature"), "top_p": _("Top P")}
    for name, label in labels.items():
        value = raw.get(name)
        if _empty(value):
            continue
        if not _number(value):
            errors[name] = _("%(name)s must be a number.") % {"name": label}
        else:
            cleaned[name] = value
    for name, label in {"top_k": _("Top K"), "max_tokens": _("Max tokens")}.items():
        value = raw.get(name)
        if _empty(value):
            continue
        if not _whole(value):
            errors[name] = _("%(name)s must be a whole number.") % {"name": label}
        else:
            cleaned[name] = value
    if not _empty(raw.get("stop_sequences")):
        stops = _clean_stop_sequences(raw["stop_sequences"], errors)
        if stops:
            cleaned["stop_sequences"] = stops
    if not _empty(raw.get("thinking")):
        thinking = _clean_thinking(raw["thinking"], errors)
        if thinking:
            cleaned["thinking"] = thinking
    if not _empty(raw.get("tools")):
        tools = _clean_tools(raw["tools"], errors)
        if tools:
            cleaned["tools"] = tools
    if not _empty(raw.get("tool_choice")):
        choice = _clean_tool_choice(raw["tool_choice"], cleaned.get("tools"), errors)
        # Without tools there is nothing to choose; "auto" is the API's default.
        if choice and cleaned.get("tools") and choice != {"type": "auto"}:
            cleaned["tool_choice"] = choice
    if errors:
        raise SettingsInvalid(errors)
    return cleaned


def clean_system_prompt(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SettingsInvalid({"system_prompt": _("The system prompt must be text.")})
    if len(value) > MAX_SYSTEM_PROMPT_CHARS:
        message = _("The system prompt can be at most %(limit)d characters long.") % {
            "limit": MAX_SYSTEM_PROMPT_CHARS
        }
        raise SettingsInvalid({"system_prompt": message})
    return value


def supports_thinking(model: CatalogModel) -> bool:
    """The settings panel offers the thinking switch: the row may think, or always does."""
    return model.supports_thinking or thinks_always(model)


def thinks_always(model: CatalogModel) -> bool:
    """Every reply thinks: a catalog budget, or a gateway `-thinking` id sent as it is."""
    return model.thinking_budget > 0 or model.upstream_id.endswith(api_rules.THINKING_SUFFIX)


def thinking_budget(chosen: dict, model: CatalogModel) -> int | None:
    """The thinking budget a request uses, or None when thinking is off (or not offered)."""
    return thinking.budget_for(chosen, model) or None


def wanted_max_tokens(chosen: dict, model: CatalogModel) -> int:
    """The reply's max_tokens before the quota has its say.

    The member's own figure, else CHAT_MAX_TOKENS within the model's cap; with thinking on and
    no figure of their own, the budget comes on top, so the default leaves room to answer.
    """
    if chosen.get("max_tokens"):
        return chosen["max_tokens"]
    budget = thinking_budget(chosen, model) or 0
    return min(django_settings.CHAT_MAX_TOKENS + budget, model.max_output_tokens)


def request_parameters(chosen: dict, model: CatalogModel) -> dict:
    """The request fields the settings add (max_tokens aside: `wanted_max_tokens`)."""
    params = {name: chosen[name] for name in ("temperature", "top_p", "top_k") if name in chosen}
    if chosen.get("stop_sequences"):
        params["stop_sequences"] = list(chosen["stop_sequences"])
    budget = thinking_budget(chosen, model)
    if budget is not None:
        params["thinking"] = {"type": "enabled", "budget_tokens": budget}
    tools = tool_registry.definitions(chosen.get("tools") or [])
    if tools:
        params["tools"] = tools
        if chosen.get("tool_choice"):
            params["tool_choice"] = dict(chosen["tool_choice"])
    return params


def problems(chosen: dict, model: CatalogModel) -> dict[str, str]:
    """The API rules these settings would break with `model`, by field (empty: none)."""
    trial = {
        "model": model.model_id,
        "max_tokens": wanted_max_tokens(chosen, model),
        "messages": [{"role": "user", "content": "…"}],
    } | request_parameters(chosen, model)
    found: dict[str, str] = {}
    for error in api_rules.broken_rules(trial, model.max_output_tokens):
        found.setdefault(error.field or "settings", error.message)
    return found


def validated(raw: object, system_prompt: object, model: CatalogModel) -> tuple[dict, str]:
    """Clean settings and a system prompt and check them against `model`'s rules."""
    errors: dict[str, str] = {}
    cleaned, prompt = {}, ""
    try:
        cleaned = clean_settings(raw)
    except SettingsInvalid as exc:
        errors |= exc.fields
    try:
        prompt = clean_system_prompt(system_prompt)
    except SettingsInvalid as exc:
        errors |= exc.fields
    if not errors:
        errors = problems(cleaned, model)
    if errors:
        raise SettingsInvalid(errors)
    return cleaned, prompt
