"""The Messages API's rules over a final request, checked before anything goes upstream.

A minimal table of the rows extended thinking and prefill need (issue 11, item 2 owns the
full table; the integrator merges the two). No Django models: the gateway reuses it.
"""

from django.utils.translation import gettext as _

MIN_THINKING_BUDGET = 1024


class ApiRuleError(Exception):
    """A request the API would refuse; `message` says which rule, in the reader's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _thinking_budget(request: dict) -> int | None:
    thinking = request.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    return thinking.get("budget_tokens")


def _ends_with_prefill(request: dict) -> bool:
    messages = request.get("messages") or []
    return bool(messages) and messages[-1].get("role") == "assistant"


def check_request(request: dict) -> None:
    """Raise ApiRuleError for the first rule the request breaks."""
    budget = _thinking_budget(request)
    if budget is None:
        return
    if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
        raise ApiRuleError(
            _("The thinking budget must be at least %(minimum)d tokens.")
            % {"minimum": MIN_THINKING_BUDGET}
        )
    if budget >= request.get("max_tokens", 0):
        raise ApiRuleError(_("The thinking budget must be below the reply's maximum length."))
    if _ends_with_prefill(request):
        raise ApiRuleError(
            _("With extended thinking on, a reply cannot be started for the model (prefill).")
        )
