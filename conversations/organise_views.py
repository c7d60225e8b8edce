"""Organising from the sidebar: folders, pin, archive, move, and bulk archive or delete.

Every action is a POST form that works without JavaScript (the answer redirects back to the
page it came from); static/js/sidebar.js posts the same forms with `HX-Request` and gets the
sidebar partial back instead. Another member's chat or folder is a 404 (decision 86).
"""

from collections.abc import Callable, Collection

from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from . import organise
from .errors import ChatError
from .runner import stop_replies
from .selectors import conversation_for
from .sidebar import sidebar_context


def _current_id(request: HttpRequest) -> int | None:
    current = request.POST.get("current") or request.GET.get("current") or ""
    return int(current) if current.isdigit() else None


def _back(request: HttpRequest, gone: Collection[int] = ()) -> str:
    """The form's `next` or the page it was on (its Referer), or a new chat; never a page
    of this site's elsewhere, nor a chat just deleted."""
    back = request.POST.get("next") or request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return reverse("chat")
    if any(f"/c/{pk}/" in back for pk in gone):
        return reverse("chat")
    return back


def _answer(request: HttpRequest, gone: Collection[int] = ()) -> HttpResponse:
    if not request.headers.get("HX-Request"):
        return redirect(_back(request, gone))
    current = _current_id(request)
    response = render(
        request, "conversations/partials/sidebar.html", sidebar_context(request.user, current)
    )
    if current in gone:
        # The chat on screen is gone: the page goes to a new chat, as after a single delete.
        response["HX-Redirect"] = reverse("chat")
    return response


def _refused(request: HttpRequest, exc: ChatError) -> HttpResponse:
    if request.headers.get("HX-Request"):
        context = sidebar_context(request.user, _current_id(request)) | {
            "sidebar_error": exc.detail
        }
        return render(request, "conversations/partials/sidebar.html", context, status=400)
    context = {"message": exc.detail, "back": _back(request)}
    return render(request, "conversations/organise_refused.html", context, status=400)


def _act(request: HttpRequest, action: Callable[[], object]) -> HttpResponse:
    try:
        action()
    except ChatError as exc:
        return _refused(request, exc)
    return _answer(request)


@login_required
@require_POST
def create_folder(request: HttpRequest) -> HttpResponse:
    return _act(request, lambda: organise.create_folder(request.user, request.POST.get("name")))


@login_required
@require_POST
def rename_folder(request: HttpRequest, pk: int) -> HttpResponse:
    name = request.POST.get("name")
    return _act(request, lambda: organise.rename_folder(request.user, pk, name))


@login_required
@require_POST
def delete_folder(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, lambda: organise.delete_folder(request.user, pk))


@login_required
@require_POST
def pin(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, lambda: organise.set_pinned(request.user, pk, True))


@login_required
@require_POST
def unpin(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, lambda: organise.set_pinned(request.user, pk, False))


@login_required
@require_POST
def archive(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, lambda: organise.set_archived(request.user, pk, True))


@login_required
@require_POST
def unarchive(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, lambda: organise.set_archived(request.user, pk, False))


@login_required
@require_http_methods(["GET", "POST"])
def move_conversation(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the folder picker (the page without JavaScript); POST `folder` (empty: none)."""
    if request.method == "GET":
        context = {
            "conversation": conversation_for(request.user, pk),
            "folders": organise.folders_for(request.user),
            "next": _back(request),  # the page the picker was opened from
        }
        return render(request, "conversations/move.html", context)
    folder = request.POST.get("folder", "")
    return _act(request, lambda: organise.move_to_folder(request.user, pk, folder))


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """`action` archive, unarchive or delete on the checked `ids`; delete asks first (a page
    without JavaScript, a confirm() with it) and needs `confirm`."""
    ids = request.POST.getlist("ids")
    action = request.POST.get("action")
    try:
        if action in ("archive", "unarchive"):
            organise.archive_conversations(request.user, ids, archived=action == "archive")
            return _answer(request)
        if action != "delete":
            raise ChatError("invalid_action", _("Choose Archive or Delete."))
        if not request.POST.get("confirm"):
            chosen = list(organise.owned_conversations(request.user, ids).order_by("-updated_at"))
            context = {"conversations": chosen, "back": _back(request)}
            return render(request, "conversations/bulk_delete.html", context)
        streaming = organise.delete_owned_conversations(request.user, ids)
    except ChatError as exc:
        return _refused(request, exc)
    if streaming:
        # As the single delete: the runner ends each reply's upstream stream now, and
        # settles its call from what it had written (decision 87).
        async_to_sync(stop_replies)(streaming)
    return _answer(request, gone={int(i) for i in ids})
