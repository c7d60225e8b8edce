"""The sidebar's read: pinned chats, folders with their chats, the rest, and the archived."""

from dataclasses import dataclass, field

from django.db.models import QuerySet

from accounts.models import User

from .models import Conversation, Folder
from .organise import folders_for

SIDEBAR_LIMIT = 200  # unpinned chats shown (folders' and the rest); older ones by search
ARCHIVED_LIMIT = 100


@dataclass
class FolderGroup:
    folder: Folder
    conversations: list[Conversation] = field(default_factory=list)


@dataclass
class Sidebar:
    pinned: list[Conversation]
    folders: list[FolderGroup]
    recent: list[Conversation]
    archived: list[Conversation]

    @property
    def empty(self) -> bool:
        """No chat in the main list (pinned, filed or recent); archived ones do not count."""
        return not (self.pinned or self.recent or any(g.conversations for g in self.folders))


def sidebar_queries(user: User) -> dict[str, QuerySet[Conversation]]:
    """The sidebar's three lists of chats, each served by its own partial index (decision 86)."""
    mine = Conversation.objects.filter(user=user).only(
        "id", "title", "folder_id", "pinned_at", "archived_at", "updated_at"
    )
    return {
        "pinned": mine.filter(archived_at__isnull=True, pinned_at__isnull=False).order_by(
            "-pinned_at", "-id"
        )[:SIDEBAR_LIMIT],
        "unpinned": mine.filter(archived_at__isnull=True, pinned_at__isnull=True).order_by(
            "-updated_at", "-id"
        )[:SIDEBAR_LIMIT],
        "archived": mine.filter(archived_at__isnull=False).order_by("-archived_at", "-id")[
            :ARCHIVED_LIMIT
        ],
    }


def sidebar_for(user: User) -> Sidebar:
    """Four queries whatever the number of chats and folders: pinned first (newest pin
    first), then each folder's chats, then the rest by recent activity; archived chats only
    in their own list."""
    lists = sidebar_queries(user)
    groups = {f.pk: FolderGroup(f) for f in folders_for(user)}
    recent = []
    for conversation in lists["unpinned"]:
        group = groups.get(conversation.folder_id)
        (group.conversations if group else recent).append(conversation)
    return Sidebar(list(lists["pinned"]), list(groups.values()), recent, list(lists["archived"]))


def sidebar_context(user: User, current_id: int | None = None) -> dict:
    """What templates/conversations/partials/sidebar.html renders from, wherever it is drawn."""
    # sidebar_error is named even when empty: a missing variable makes Django's template
    # logger dump the whole context (the request's query string, the CSRF token) at DEBUG.
    return {"sidebar": sidebar_for(user), "current_id": current_id, "sidebar_error": None}
