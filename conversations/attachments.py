"""Attachments: store an upload once per user and content, claim them for a send, copy, purge.

Rows are cheap and many; a stored file is named by its owner and its SHA-256, so every row of
one user with the same bytes shares it. A file is deleted, after the deleting transaction
commits, once no row names it any more.
"""

import hashlib
import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .attachment_blocks import prepared_name, sent_bytes_estimate
from .attachment_checks import (
    AttachmentRefused,
    check_file,
    check_image_url,
    clean_name,
    name_from_url,
    too_large,
)
from .errors import ChatError
from .frames import attachment_json
from .models import Attachment, CatalogModel, Conversation, Message

log = logging.getLogger(__name__)
READ_CHUNK = 1024 * 1024


def read_upload(upload) -> bytes:
    """The uploaded file's bytes, refused once they pass the size limit (never all read)."""
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise too_large(upload.size, limit)
    parts, total = [], 0
    for chunk in upload.chunks(READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise too_large(total, limit)
        parts.append(chunk)
    return b"".join(parts)


def refuse_if_too_many_unsent(user: User) -> None:
    """Uploads never sent wait for the purge; a script cannot pile them up meanwhile."""
    limit = settings.ATTACHMENT_MAX_UNSENT
    if Attachment.objects.filter(user=user, message__isnull=True).count() >= limit:
        raise AttachmentRefused(
            "too_many_unsent",
            _(
                "You have %(count)d attachments that were never sent. Send or remove some "
                "before attaching more."
            )
            % {"count": limit},
        )


def store_file(user: User, name: object, data: bytes) -> Attachment:
    """Check `data` by its content and store it as a new unsent attachment of `user`."""
    name = clean_name(name)
    checked = check_file(name, data)
    refuse_if_too_many_unsent(user)
    digest = hashlib.sha256(data).hexdigest()
    attachment = Attachment(
        user=user,
        name=name,
        kind=checked.kind,
        media_type=checked.media_type,
        size=len(data),
        sha256=digest,
        width=checked.width,
        height=checked.height,
        pages=checked.pages,
    )
    attachment.file.name, _written = write_file(user.pk, digest, data)
    attachment.save()
    return attachment


def write_file(user_id: int, digest: str, data: bytes) -> tuple[str, bool]:
    """Store `data` as the user's file of that digest unless it is there already; returns its
    name and whether this call wrote it (an import removes what it wrote if it fails)."""
    path = f"attachments/{user_id}/{digest}"
    if default_storage.exists(path):
        return path, False
    saved = default_storage.save(path, ContentFile(data))
    if saved != path:  # a concurrent upload of the same bytes won: keep one copy
        default_storage.delete(saved)
        return path, False
    return path, True


def register_url(user: User, url: object) -> Attachment:
    """An image by https:// URL: a row only, nothing fetched (the API fetches it)."""
    url = check_image_url(url)
    refuse_if_too_many_unsent(user)
    return Attachment.objects.create(
        user=user, name=name_from_url(url), kind=Attachment.Kind.IMAGE_URL, source_url=url
    )


def owned_attachment(user: User, attachment_id: object) -> Attachment | None:
    """The user's own attachment with this id, or None (another user's looks unknown)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Attachment.objects.filter(pk=attachment_id, user=user).first()


# -- sending ---------------------------------------------------------------------------------


def attachment_ids(value: object) -> list[int]:
    """The send's attachment ids, distinct and in order, within the per-message limit."""
    ids = list(dict.fromkeys(value or ()))
    if len(ids) > settings.ATTACHMENTS_PER_MESSAGE:
        raise ChatError(
            "too_many_attachments",
            _("A message may carry at most %(limit)d attachments.")
            % {"limit": settings.ATTACHMENTS_PER_MESSAGE},
        )
    return ids


def claim_for_send(user: User, ids: list[int], model: CatalogModel) -> list[Attachment]:
    """Lock the user's unsent attachments `ids` (in the send's transaction) and check them.

    Another user's, an already sent and an unknown id are all `not_found`; a kind the model
    cannot read is refused here, before anything is admitted or charged.
    """
    if not ids:
        return []
    rows = {
        a.pk: a
        for a in Attachment.objects.select_for_update().filter(
            pk__in=ids, user=user, message__isnull=True
        )
    }
    if len(rows) != len(ids):
        raise ChatError("not_found", _("Attachment not found. Attach the file again."))
    claimed = [rows[i] for i in ids]
    for attachment in claimed:
        refuse_if_unreadable(attachment, model)
    _refuse_if_over_request_limits(claimed)
    return claimed


def claim_for_edit(
    user: User, ids: list[int], model: CatalogModel, original: Message
) -> tuple[list[Attachment], list[Attachment]]:
    """The attachments of an edited message's new version: `ids` of the sender's unsent
    uploads (claimed as for a send) and of the edited message's own (kept: the caller copies
    them). Returns (claimed, kept); checked together, as one message's."""
    kept_rows = {a.pk: a for a in original.attachments.filter(pk__in=ids)}
    claimed = claim_for_send(user, [i for i in ids if i not in kept_rows], model)
    kept = [kept_rows[i] for i in ids if i in kept_rows]
    for attachment in kept:
        refuse_if_unreadable(attachment, model)
    _refuse_if_over_request_limits(claimed + kept)
    return claimed, kept


def refuse_if_unreadable(attachment: Attachment, model: CatalogModel) -> None:
    is_image = attachment.kind in (Attachment.Kind.IMAGE, Attachment.Kind.IMAGE_URL)
    if is_image and not model.supports_vision:
        raise ChatError(
            "attachment_unsupported",
            _("%(model)s cannot read images. Remove %(name)s or choose another model.")
            % {"model": model, "name": attachment.name},
        )
    if attachment.kind == Attachment.Kind.PDF and not model.supports_pdf:
        raise ChatError(
            "attachment_unsupported",
            _("%(model)s cannot read PDFs. Remove %(name)s or choose another model.")
            % {"model": model, "name": attachment.name},
        )


def _refuse_if_over_request_limits(claimed: list[Attachment]) -> None:
    pages = sum(a.pages or 0 for a in claimed if a.kind == Attachment.Kind.PDF)
    if pages > settings.ATTACHMENT_MAX_PDF_PAGES_PER_REQUEST:
        raise ChatError(
            "attachments_too_large",
            _("These PDFs have %(pages)d pages together; one message may carry %(limit)d.")
            % {"pages": pages, "limit": settings.ATTACHMENT_MAX_PDF_PAGES_PER_REQUEST},
        )
    images = sum(a.kind in (Attachment.Kind.IMAGE, Attachment.Kind.IMAGE_URL) for a in claimed)
    if images > settings.ATTACHMENT_MAX_IMAGES_PER_REQUEST:
        raise ChatError(
            "attachments_too_large",
            _("One message may carry at most %(limit)d images.")
            % {"limit": settings.ATTACHMENT_MAX_IMAGES_PER_REQUEST},
        )
    # Base64 adds a third; the request's text and framing need room too.
    encoded = sum(sent_bytes_estimate(a) for a in claimed)
    if encoded > settings.ATTACHMENT_MAX_REQUEST_BYTES * 9 // 10:
        raise ChatError(
            "attachments_too_large",
            _("These attachments are too large to send together. Send them in several messages."),
        )


def no_attachments(message: Message) -> None:
    """Mark `message` as having no attachments, as a prefetch would, without asking."""
    empty = Attachment.objects.none()
    # Filled as prefetch_related fills it: reading it then compiles no query (`none()` alone
    # still builds one to find it empty, which costs more CPU than the rest of the history).
    empty._result_cache, empty._prefetch_done = [], True
    message._prefetched_objects_cache = {"attachments": empty}


def link_to_message(claimed: list[Attachment], message: Message) -> None:
    """The claimed attachments now belong to the user message and its conversation."""
    if claimed:
        Attachment.objects.filter(pk__in=[a.pk for a in claimed]).update(
            message=message, conversation=message.conversation
        )
        for attachment in claimed:
            attachment.message, attachment.conversation = message, message.conversation


# -- copies, deletion and purging ------------------------------------------------------------


def copy_attachments(
    sources: Iterable[Attachment], user: User, conversation: Conversation, message: Message
) -> list[Attachment]:
    """New rows on the same stored files, for a fork of a share or an edited message's new
    version (the files are not copied).

    The files are the sharer's; the copies' names keep pointing at them, so a file lives
    while any row of anyone names it.
    """
    copies = [
        Attachment(
            user=user,
            conversation=conversation,
            message=message,
            name=a.name,
            kind=a.kind,
            media_type=a.media_type,
            size=a.size,
            sha256=a.sha256,
            width=a.width,
            height=a.height,
            pages=a.pages,
            file=a.file.name,
            source_url=a.source_url,
        )
        for a in sources
    ]
    return Attachment.objects.bulk_create(copies)


def delete_file_if_unreferenced(name: str) -> None:
    """Delete a stored file that no attachment row names any more."""
    if name and not Attachment.objects.filter(file=name).exists():
        for stored in (name, prepared_name(name)):  # and the image as it was sent
            try:
                default_storage.delete(stored)
            except OSError:  # the storage failed: the file stays (docs/deployment.md)
                log.warning("could not delete attachment file %s", stored, exc_info=True)


@receiver(post_delete, sender=Attachment)
def _delete_file_after_commit(sender, instance: Attachment, **kwargs) -> None:
    # Every deletion path (a conversation, a user, the purge, the admin) ends here; the file
    # goes only once the deletion is committed and nothing else names it.
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: delete_file_if_unreferenced(name))


def purge_unsent(older_than: timedelta | None = None) -> int:
    """Delete uploads never sent, older than ATTACHMENT_UNSENT_HOURS; returns how many.

    Rows a send holds locked right now are skipped (it is claiming them), so the command is
    safe to run from cron at any time, and twice at once.
    """
    if older_than is None:
        older_than = timedelta(hours=settings.ATTACHMENT_UNSENT_HOURS)
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        stale = list(
            Attachment.objects.select_for_update(skip_locked=True)
            .filter(message__isnull=True, created_at__lt=cutoff)
            .values_list("pk", flat=True)
        )
        if stale:
            Attachment.objects.filter(pk__in=stale, message__isnull=True).delete()
    return len(stale)


__all__ = ["AttachmentRefused", "attachment_json"]
