"""Attachment endpoints: the upload (`POST /attachments/`) and the owner's file view."""

import json

from csp.decorators import csp
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from . import attachments
from .attachment_checks import AttachmentRefused
from .models import Attachment

# A served file is never a page: nothing in it may run or load anything.
FILE_POLICY = {"default-src": ["'none'"], "img-src": ["'self'"]}
MAX_JSON_BODY = 8 * 1024


def _refusal(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@require_POST
def upload(request: HttpRequest) -> JsonResponse:
    """Store one file (multipart field `file`) or register an image URL (JSON `{"url"}`)."""
    if not request.user.is_authenticated:
        return _refusal("not_signed_in", _("Sign in to attach files."), status=403)
    try:
        if request.content_type == "application/json":
            attachment = attachments.register_url(request.user, _json_url(request))
        else:
            upload_file = request.FILES.get("file")
            if upload_file is None:
                return _refusal("no_file", _("Choose a file to attach."))
            data = attachments.read_upload(upload_file)
            attachment = attachments.store_file(request.user, upload_file.name, data)
    except AttachmentRefused as refused:
        return _refusal(refused.code, refused.message, refused.status)
    return JsonResponse(attachments.attachment_json(attachment), status=201)


def _json_url(request: HttpRequest) -> object:
    if len(request.body) > MAX_JSON_BODY:
        raise AttachmentRefused("invalid_url", _("Give an https:// address of an image."))
    try:
        body = json.loads(request.body)
    except ValueError:
        body = None
    return body.get("url") if isinstance(body, dict) else None


def file_response(attachment: Attachment, download: bool) -> HttpResponse:
    """The stored file with headers that keep a browser from running it.

    Images open inline unless `download`; every other kind is a download. An image URL
    redirects to its address (the viewer's browser fetches it, never this server).
    """
    if attachment.kind == Attachment.Kind.IMAGE_URL:
        response: HttpResponse = HttpResponseRedirect(attachment.source_url)
    else:
        try:
            handle = attachment.file.open("rb")
        except (OSError, ValueError):  # the stored file is gone
            raise Http404("No such attachment.") from None
        inline = attachment.kind == Attachment.Kind.IMAGE and not download
        content_type = attachment.media_type
        if attachment.kind == Attachment.Kind.TEXT:
            content_type = "text/plain; charset=utf-8"
        response = FileResponse(
            handle,
            content_type=content_type,
            as_attachment=not inline,
            filename=attachment.name,
        )
    response["X-Content-Type-Options"] = "nosniff"
    # Access is checked on every request: a cache may keep the bytes for this viewer only,
    # and must ask again before reusing them.
    patch_cache_control(response, private=True, no_cache=True)
    return response


@require_http_methods(["GET", "HEAD", "DELETE"])
@csp(FILE_POLICY)
def attachment_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's file; anyone else, signed in or not, gets the same 404 as an unknown id.

    DELETE (with the CSRF token) removes an upload not sent yet: the composer's remove button.
    """
    attachment = attachments.owned_attachment(request.user, pk)
    if attachment is None:
        raise Http404("No such attachment.")
    if request.method == "DELETE":
        if attachment.message_id is not None:
            raise Http404("Sent attachments stay with their message.")
        attachment.delete()
        return HttpResponse(status=204)
    return file_response(attachment, download=request.GET.get("download") == "1")
