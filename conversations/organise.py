"""Organising a member's chats: folders, pin, archive, and bulk archive or delete (decision 86).

Every change here is an `update()`, never a `save()`: filing, pinning or archiving a chat is
not activity, so its place in the recent list (ordered by `updated_at`) stays where it was.
"""

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .errors import ChatError
from .models import Conversation, Folder
from .selectors import conversation_for, conversations_for
from .services import StreamingReply, delete_conversations

FOLDER_NAME_MAX = 100
BULK_MAX = 500  # more than the sidebar ever shows at once


def folders_for(user: User) -> QuerySet[Folder]:
    """The user's folders by name: the one place the folder owner scope is written."""
    return Folder.objects.filter(owner=user).order_by(Lower("name"), "id")


def folder_for(user: User, folder_id: object) -> Folder:
    """The user's folder with this id, or Http404 (also for another user's folder)."""
    if not str(folder_id).isdigit():
        raise Http404
    return get_object_or_404(folders_for(user), pk=folder_id)


def _folder_name(name: object) -> str:
    cleaned = " ".join(str(name or "").split())
    if not cleaned:
        raise ChatError("folder_name_empty", _("A folder needs a name."))
    if len(cleaned) > FOLDER_NAME_MAX:
        raise ChatError(
            "folder_name_too_long",
            _("A folder name can have at most %(max)d characters.") % {"max": FOLDER_NAME_MAX},
        )
    return cleaned


def _name_taken(name: str) -> ChatError:
    return ChatError(
        "folder_name_taken", _("You already have a folder named “%(name)s”.") % {"name": name}
    )


def _save_folder(user: User, folder: Folder, name: str) -> Folder:
    """Store the folder under `name`, refused when another of the user's folders has it."""
    others = folders_for(user).filter(name__iexact=name)
    if folder.pk:
        others = others.exclude(pk=folder.pk)
    if others.exists():
        raise _name_taken(name)
    folder.name = name
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves the caller's transaction
            folder.save()
    except IntegrityError:
        raise _name_taken(name) from None
    return folder


def create_folder(user: User, name: object) -> Folder:
    return _save_folder(user, Folder(owner=user), _folder_name(name))


def rename_folder(user: User, folder_id: object, name: object) -> Folder:
    return _save_folder(user, folder_for(user, folder_id), _folder_name(name))


def delete_folder(user: User, folder_id: object) -> None:
    """Delete the folder; its chats stay, in no folder (the foreign key's SET_NULL)."""
    folder_for(user, folder_id).delete()


def move_to_folder(user: User, conversation_id: object, folder_id: object) -> Conversation:
    """File the chat in one of the user's folders; an empty `folder_id` takes it out."""
    with transaction.atomic():
        conversation = conversation_for(user, conversation_id)
        folder = folder_for(user, folder_id) if folder_id not in (None, "") else None
        Conversation.objects.filter(pk=conversation.pk).update(folder=folder)
    conversation.folder = folder
    return conversation


def set_pinned(user: User, conversation_id: object, pinned: bool) -> None:
    """Pin (kept at the top, newest pin first) or unpin; pinning again keeps the first time."""
    conversation = conversation_for(user, conversation_id)
    rows = Conversation.objects.filter(pk=conversation.pk)
    if pinned:
        rows.filter(pinned_at__isnull=True).update(pinned_at=timezone.now())
    else:
        rows.update(pinned_at=None)


def set_archived(user: User, conversation_id: object, archived: bool) -> None:
    archive_conversations(user, [conversation_id], archived)


def owned_conversations(user: User, ids: Iterable[object]) -> QuerySet[Conversation]:
    """The user's conversations with these ids: Http404 when any one is not theirs (or not a
    number), so a bulk action with a foreign id changes nothing for anyone."""
    given = [str(i).strip() for i in ids]
    if not given:
        raise ChatError("nothing_selected", _("Select at least one conversation."))
    if len(given) > BULK_MAX:
        raise ChatError(
            "too_many_selected",
            _("Select at most %(max)d conversations at a time.") % {"max": BULK_MAX},
        )
    if not all(i.isdigit() for i in given):
        raise Http404
    wanted = {int(i) for i in given}
    found = conversations_for(user).filter(pk__in=wanted)
    if found.count() != len(wanted):
        raise Http404
    return found


def archive_conversations(user: User, ids: Iterable[object], archived: bool = True) -> int:
    """Archive (or bring back) the user's conversations; returns how many changed."""
    with transaction.atomic():
        found = owned_conversations(user, ids)
        if archived:
            return found.filter(archived_at__isnull=True).update(archived_at=timezone.now())
        return found.filter(archived_at__isnull=False).update(archived_at=None)


def delete_owned_conversations(user: User, ids: Iterable[object]) -> list[StreamingReply]:
    """Delete the user's conversations through the one delete path (services), which records
    what each streaming reply had written; the caller stops those replies."""
    with transaction.atomic():
        found = list(owned_conversations(user, ids).select_for_update())
        return delete_conversations(found)
