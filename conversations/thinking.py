"""Extended thinking: whether a reply thinks, with which budget, and how the request says so."""

from django.utils.translation import gettext as _

from .errors import ChatError
from .models import CatalogModel, Conversation

MIN_BUDGET = 1024  # the API's floor for budget_tokens
DEFAULT_BUDGET = 2048  # a conversation that turns thinking on without naming a budget


class BudgetDoesNotFit(Exception):
    """max_tokens leaves no room for the API's smallest thinking budget plus an answer."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__(max_tokens)
        self.max_tokens = max_tokens

    @property
    def detail(self) -> str:
        return _(
            "This reply may use at most %(count)d output tokens, too few for extended thinking "
            "(its budget must be at least %(minimum)d tokens and leave room for the answer). "
            "Turn thinking off, or ask an administrator for more."
        ) % {"count": self.max_tokens, "minimum": MIN_BUDGET}


def wanted_budget(model: CatalogModel | None, conversation: Conversation) -> int:
    """The thinking budget a reply in `conversation` asks for; 0: no thinking."""
    return budget_for(conversation.settings or {}, model) if model is not None else 0


def budget_for(chosen: dict, model: CatalogModel) -> int:
    """The thinking budget settings ask for with `model`; 0: no thinking (decision 59).

    A catalog row with a budget always thinks (the official API's stand-in for a "-thinking"
    id); the settings' switch turns thinking on for a model that supports it, and their
    budget, when given, wins over the catalog's.
    """
    thinking = chosen.get("thinking") or {}
    budget = thinking.get("budget_tokens")
    budget = budget if isinstance(budget, int) and not isinstance(budget, bool) else 0
    if model.thinking_budget:
        return budget or model.thinking_budget
    if model.supports_thinking and thinking.get("enabled") is True:
        return budget or DEFAULT_BUDGET
    return 0


def fitted_budget(budget: int, max_tokens: int) -> int:
    """The budget lowered to fit below max_tokens (decision 60), or BudgetDoesNotFit.

    Thinking tokens count toward max_tokens, so a budget just below it would leave the answer
    almost nothing: a lowered budget takes half, never less than the API's floor.
    """
    if budget < max_tokens:
        return budget
    if max_tokens <= MIN_BUDGET:
        raise BudgetDoesNotFit(max_tokens)
    return max(MIN_BUDGET, max_tokens // 2)


def thinking_param(budget: int) -> dict:
    return {"type": "enabled", "budget_tokens": budget}


def fit_request(request: dict, code: str) -> None:
    """Fit a request's thinking budget to its max_tokens, or refuse it with `code`."""
    config = request.get("thinking")
    if config:
        try:
            config["budget_tokens"] = fitted_budget(config["budget_tokens"], request["max_tokens"])
        except BudgetDoesNotFit as exc:
            raise ChatError(code, exc.detail) from None
