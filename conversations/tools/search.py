"""Tool: search the member's own conversations (titles and message text)."""

from django.utils.translation import gettext_lazy as _

from .. import selectors
from ..search import SearchError
from .registry import ToolContext, ToolInputError

MAX_RESULTS = 10


class ConversationSearch:
    name = "search_conversations"
    label = _("Search my conversations")
    description = (
        "Search the user's own earlier conversations by words in their titles or messages. "
        "Returns matching conversations with a short excerpt."
    )
    input_schema = {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "words to look for"}},
        "required": ["query"],
        "additionalProperties": False,
    }

    def call(self, arguments: dict, context: ToolContext) -> dict:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolInputError("The query must be a non-empty text.")
        try:
            hits = selectors.search_conversations(context.user_id, query, limit=MAX_RESULTS)
        except SearchError as exc:
            raise ToolInputError(str(exc)) from None
        return {"query": query, "results": [hit.as_dict() for hit in hits]}


TOOL = ConversationSearch()
