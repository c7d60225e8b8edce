"""Branches of a conversation: the parent links read once, the visible path, versions (decision 70).

A conversation's messages form a tree through `Message.parent`; siblings are versions of one
turn. `Conversation.leaf` is the end of the visible branch. Every walk here loads the
conversation's (id, parent) pairs in one query and follows them in Python, so no walk costs a
query per message.
"""

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, prefetch_related_objects

from accounts.prepared import Prepared

from .attachments import no_attachments
from .models import Attachment, Conversation, Message


@dataclass
class Tree:
    """The parent links of one conversation's messages."""

    parents: dict[int, int | None]
    children: dict[int | None, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for message_id in sorted(self.parents):
            self.children.setdefault(self.parents[message_id], []).append(message_id)

    def path_to(self, message_id: int | None) -> list[int]:
        """The ids from the first message down to `message_id`, in order ([] for None)."""
        path: list[int] = []
        seen = set()
        while message_id is not None and message_id in self.parents and message_id not in seen:
            seen.add(message_id)  # a cycle cannot be stored through the services; still, stop
            path.append(message_id)
            message_id = self.parents[message_id]
        path.reverse()
        return path

    def latest_leaf(self, message_id: int) -> int:
        """The newest message under `message_id` (or itself): the end of its latest branch.

        Children are newer than their parent, so the newest message of a subtree has none.
        """
        newest, stack = message_id, [message_id]
        while stack:
            current = stack.pop()
            newest = max(newest, current)
            stack.extend(self.children.get(current, ()))
        return newest

    def versions(self, message_id: int) -> dict:
        """The payload's `versions`: this message's place among its siblings, oldest first."""
        siblings = self.children.get(self.parents.get(message_id), [message_id])
        if message_id not in siblings:
            siblings = [message_id]
        return {"index": siblings.index(message_id), "count": len(siblings), "ids": list(siblings)}

    def visible_leaf(self, conversation: Conversation) -> int | None:
        """The conversation's leaf; the newest message if it has none recorded (never left so by
        the services, but a hand-made row must not hide every message)."""
        if conversation.leaf_id in self.parents:
            return conversation.leaf_id
        return max(self.parents) if self.parents else None


def tree_of(conversation_id: int) -> Tree:
    pairs = Message.objects.filter(conversation_id=conversation_id).values_list("id", "parent_id")
    return Tree(dict(pairs))


def messages_by_ids(ids: list[int]) -> list[Message]:
    """The messages of `ids`, in that order, with their attachments (payloads list them)."""
    rows = Message.objects.filter(pk__in=ids).prefetch_related("attachments").in_bulk()
    return [rows[i] for i in ids if i in rows]


def visible_path(conversation: Conversation, tree: Tree | None = None) -> list[Message]:
    """The visible branch's messages, first to last (the page's thread, a share's snapshot)."""
    tree = tree or tree_of(conversation.pk)
    return messages_by_ids(tree.path_to(tree.visible_leaf(conversation)))


def history_of(reply: Message) -> list[Message]:
    """The messages before `reply` in its branch (H14): what its request's history is made of.

    One statement for the tree and the rows (every branch's messages are read, to walk the
    parents in Python), and one more for attachments only if the branch has any.
    """
    by_id = {m.pk: m for m in _WITH_HAS_FILES(reply.conversation_id)}
    tree = Tree({pk: m.parent_id for pk, m in by_id.items()})
    path = [by_id[i] for i in tree.path_to(reply.parent_id)]
    with_files = [m for m in path if m.has_files]
    if with_files:
        prefetch_related_objects(with_files, "attachments")
    for message in path:
        if not message.has_files:
            no_attachments(message)
    return path


def _with_has_files(conversation_id: int):
    files = Attachment.objects.filter(message_id=OuterRef("pk"))
    rows = Message.objects.filter(conversation_id=conversation_id)
    return rows.annotate(has_files=Exists(files))


_WITH_HAS_FILES = Prepared(_with_has_files)  # every send reads it: compiled once


def on_visible_branch(conversation: Conversation, tree: Tree) -> set[int]:
    return set(tree.path_to(tree.visible_leaf(conversation)))
