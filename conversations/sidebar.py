"""The sidebar's read: pinned chats, folders with their chats, the rest, and the archived."""

from dataclasses import dataclass, field

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


def sidebar_for(user: User) -> Sidebar:
    """Four queries whatever the number of chats and folders (each list from its own partial
    index, decision 86): pinned first (newest pin first), then each folder's chats, then the
    rest by recent activity; archived chats only in their own list."""
    mine = Conversation.objects.filter(user=user).only(
        "id", "title", "folder_id", "pinned_at", "archived_at", "updated_at"
    )
    pinned = list(
        mine.filter(archived_at__isnull=True, pinned_at__isnull=False).order_by(
            "-pinned_at", "-id"
        )[:SIDEBAR_LIMIT]
    )
    unpinned = mine.filter(archived_at__isnull=True, pinned_at__isnull=True)
    unpinned = list(unpinned.order_by("-updated_at", "-id")[:SIDEBAR_LIMIT])
    archived = mine.filter(archived_at__isnull=False).order_by("-archived_at", "-id")
    groups = {f.pk: FolderGroup(f) for f in folders_for(user)}
    recent = []
    for conversation in unpinned:
        group = groups.get(conversation.folder_id)
        (group.conversations if group else recent).append(conversation)
    return Sidebar(pinned, list(groups.values()), recent, list(archived[:ARCHIVED_LIMIT]))
