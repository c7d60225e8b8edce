"""Export and import pages: downloads of one or all conversations, the import form, and the
staff's export of a member's conversations (decisions 88 and 89)."""

import logging

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from . import exports, imports
from .attachment_checks import too_large
from .selectors import conversation_for

log = logging.getLogger(__name__)
READ_CHUNK = 1024 * 1024
CONTENT_TYPES = {"json": "application/json", "md": "text/markdown; charset=utf-8"}


def _download(chunks, name: str, extension: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        exports.streamed(chunks), content_type=CONTENT_TYPES[extension]
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _chunks(ids: list[int], extension: str):
    if extension not in CONTENT_TYPES:
        raise Http404("No such format.")
    return exports.json_chunks(ids) if extension == "json" else exports.markdown_chunks(ids)


@login_required
@require_GET
def export_conversation(request: HttpRequest, pk: int, extension: str) -> HttpResponse:
    """One conversation: JSON with every branch, or Markdown of the visible branch."""
    conversation = conversation_for(request.user, pk)
    name = exports.filename(conversation.display_title, extension)
    return _download(_chunks([conversation.pk], extension), name, extension)


@login_required
@require_GET
def export_all(request: HttpRequest, extension: str) -> HttpResponse:
    """All of the member's conversations in one file, streamed one at a time."""
    ids = exports.conversation_ids_of(request.user)
    stamp = timezone.localdate().isoformat()
    return _download(_chunks(ids, extension), f"chatsite-{stamp}.{extension}", extension)


@staff_member_required
@require_GET
def export_user(request: HttpRequest, user_id: int) -> HttpResponse:
    """A member's conversations as JSON, for staff (the user's admin page links here)."""
    member = get_object_or_404(get_user_model(), pk=user_id)
    log.info("%s exported the conversations of user %s", request.user.get_username(), member.pk)
    ids = exports.conversation_ids_of(member)
    name = exports.filename(f"chatsite-{member.get_username()}", "json")
    return _download(exports.json_chunks(ids), name, "json")


def _read(upload) -> bytes:
    """The uploaded file's bytes, refused once they pass CHAT_IMPORT_MAX_BYTES."""
    limit = settings.CHAT_IMPORT_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise imports.ImportRefused(too_large(upload.size, limit).message)
    parts, total = [], 0
    for chunk in upload.chunks(READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise imports.ImportRefused(too_large(total, limit).message)
        parts.append(chunk)
    return b"".join(parts)


@login_required
@require_http_methods(["GET", "POST"])
def transfer(request: HttpRequest) -> HttpResponse:
    """GET: the export links and the import form; POST: import the chosen file."""
    context: dict = {"max_bytes": settings.CHAT_IMPORT_MAX_BYTES}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise imports.ImportRefused(_("Choose a file to import."))
            result = imports.import_conversations(request.user, _read(upload))
        except imports.ImportRefused as refused:
            context["error"], status = refused.message, 400
        else:
            context["imported"], context["notices"] = result.conversations, result.notices
    return render(request, "conversations/transfer.html", context, status=status)
