"""Search of a member's own conversations: titles and message text, a page at a time.

Three queries a page, however many conversations match (decision 84): the page of
conversations, the messages of those conversations (parent links and which ones match), and the
words of the one shown per conversation. The match is `search_text.ContainsAnyCase` on
`Message.search_text`, which a pg_trgm GIN index serves on PostgreSQL.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.utils.translation import gettext as _

from .branches import Tree
from .models import Conversation, Message
from .search_text import ContainsAnyCase, excerpt, highlight, like_pattern, normalise

MAX_QUERY_CHARS = 200
PER_PAGE = 20


class SearchError(ValueError):
    """A query that cannot be searched for; its message is translated, for the member."""


@dataclass(frozen=True)
class SearchHit:
    """One conversation that matches, with where: the newest matching message of its visible
    branch, else of another version (`other_version`), else only its title (no message)."""

    conversation_id: int
    title: str
    excerpt: str
    updated_at: datetime
    message_id: int | None = None
    other_version: bool = False
    query: str = ""

    def as_dict(self) -> dict:
        return {
            "conversation": self.conversation_id,
            "title": self.title,
            "excerpt": self.excerpt or self.title,
            "updated_at": self.updated_at.isoformat(),
        }

    @property
    def title_parts(self) -> list[tuple[str, bool]]:
        return highlight(self.title or str(_("New chat")), self.query)

    @property
    def excerpt_parts(self) -> list[tuple[str, bool]]:
        return highlight(self.excerpt, self.query)


@dataclass(frozen=True)
class SearchPage:
    query: str
    number: int
    hits: list[SearchHit] = field(default_factory=list)
    has_next: bool = False


def clean_query(raw: object) -> str:
    """The query, normalised as the stored text is; SearchError if empty or too long."""
    query = normalise(raw if isinstance(raw, str) else "")
    if not query:
        raise SearchError(_("Type a word or phrase to search for."))
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(
            _("A search can be at most %(count)d characters long.") % {"count": MAX_QUERY_CHARS}
        )
    return query


def matching_conversations(user_id: int, query: str) -> QuerySet[Conversation]:
    """The user's conversations whose title or any message holds `query` (cleaned), newest
    activity first. On PostgreSQL the messages' match is a bitmap scan of the trigram index."""
    pattern = like_pattern(query)
    # The user's scope inside too: for a common word the planner may then walk the user's own
    # messages instead of every member's matches.
    matching = Message.objects.filter(
        ContainsAnyCase(F("search_text"), pattern), conversation__user_id=user_id
    )
    return (
        Conversation.objects.filter(user_id=user_id)
        .filter(
            Q(ContainsAnyCase(F("title"), pattern)) | Q(pk__in=matching.values("conversation_id"))
        )
        .order_by("-updated_at", "-id")
        .only("id", "title", "updated_at", "leaf_id")
    )


def search_page(
    user_id: int, raw_query: object, page: int = 1, per_page: int = PER_PAGE
) -> SearchPage:
    """Page `page` (from 1) of the user's conversations whose title or message text holds the
    query in any case, newest activity first."""
    query = clean_query(raw_query)
    pattern = like_pattern(query)
    page = max(1, page)
    offset = (page - 1) * per_page
    found = list(matching_conversations(user_id, query)[offset : offset + per_page + 1])
    conversations = found[:per_page]
    shown = _shown_messages(conversations, pattern)
    words = dict(
        Message.objects.filter(pk__in=[m for m, _other in shown.values()]).values_list(
            "pk", "search_text"
        )
    )
    hits = []
    for conversation in conversations:
        message_id, other = shown.get(conversation.pk, (None, False))
        hits.append(
            SearchHit(
                conversation.pk,
                conversation.title,
                excerpt(words[message_id], query) if message_id in words else "",
                conversation.updated_at,
                message_id if message_id in words else None,
                other,
                query,
            )
        )
    return SearchPage(query, page, hits, has_next=len(found) > per_page)


def _shown_messages(conversations: list[Conversation], pattern: str) -> dict[int, tuple[int, bool]]:
    """Per conversation, the message its result shows: the newest match on the visible branch,
    else the newest in another version (True). One query for all their messages' links."""
    if not conversations:
        return {}
    rows = (
        Message.objects.filter(conversation_id__in=[c.pk for c in conversations])
        .annotate(
            hit=ExpressionWrapper(
                ContainsAnyCase(F("search_text"), pattern), output_field=BooleanField()
            )
        )
        .values_list("conversation_id", "id", "parent_id", "hit")
    )
    parents: dict[int, dict[int, int | None]] = {}
    hits: dict[int, list[int]] = {}
    for conversation_id, message_id, parent_id, hit in rows:
        parents.setdefault(conversation_id, {})[message_id] = parent_id
        if hit:
            hits.setdefault(conversation_id, []).append(message_id)
    shown = {}
    for conversation in conversations:
        matched = hits.get(conversation.pk)
        if not matched:
            continue
        tree = Tree(parents[conversation.pk])
        visible = set(tree.path_to(tree.visible_leaf(conversation)))
        on_branch = [m for m in matched if m in visible]
        shown[conversation.pk] = (max(on_branch), False) if on_branch else (max(matched), True)
    return shown
