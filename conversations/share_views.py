"""Shared-link pages: the public snapshot, forking it, and the owner's share and list pages."""

from datetime import timedelta

from csp.decorators import csp
from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import shares
from .attachment_views import FILE_POLICY, file_response
from .models import Message, Share
from .selectors import conversation_for

DESCRIPTION_CHARS = 150
EXPIRY_CHOICES = [
    ("never", _("Never")),
    ("1", _("In 1 day")),
    ("7", _("In 7 days")),
    ("30", _("In 30 days")),
]


class ShareForm(forms.Form):
    visibility = forms.ChoiceField(
        label=_("Who can open the link"),
        choices=Share.Visibility.choices,
        initial=Share.Visibility.ANYONE,
        widget=forms.RadioSelect,
    )
    expiry = forms.ChoiceField(label=_("Expires"), choices=EXPIRY_CHOICES, initial="never")
    include_system_prompt = forms.BooleanField(label=_("Include the system prompt"), required=False)
    include_attachments = forms.BooleanField(label=_("Include attachments"), required=False)

    def expires_in(self) -> timedelta | None:
        days = self.cleaned_data["expiry"]
        return None if days == "never" else timedelta(days=int(days))


def _not_found() -> Http404:
    # The one answer for unknown, revoked and expired tokens alike.
    return Http404("No such shared link.")


def _live_share(token: str) -> Share:
    share = shares.share_for_token(token)
    if share is None:
        raise _not_found()
    return share


def _private(response: HttpResponse) -> HttpResponse:
    """Keep shared pages out of search engines and caches (a revoked link must stop at once)."""
    response["X-Robots-Tag"] = "noindex, nofollow"
    add_never_cache_headers(response)
    return response


def _description(share: Share) -> str:
    for message in share.snapshot_messages:
        if message.get("role") == Message.Role.USER:
            text = " ".join(
                b.get("text", "") for b in message.get("content", []) if b.get("type") == "text"
            )
            return Truncator(" ".join(text.split())).chars(DESCRIPTION_CHARS)
    return ""


@require_GET
def shared(request: HttpRequest, token: str) -> HttpResponse:
    """The read-only snapshot: for anyone, or for signed-in members only."""
    share = _live_share(token)
    if share.visibility == Share.Visibility.MEMBERS and not request.user.is_authenticated:
        return _private(redirect_to_login(request.get_full_path()))
    shares.count_view(share)
    state = {
        "messages": [
            {
                "role": m["role"],
                "status": m["status"],
                "content": m["content"],
                "attachments": m.get("attachments", []),
            }
            for m in share.snapshot_messages
        ]
    }
    context = {
        "share": share,
        "description": _description(share),
        "share_state": state,
        "is_owner": request.user.is_authenticated and share.conversation.user_id == request.user.pk,
    }
    return _private(render(request, "conversations/shared.html", context))


@require_GET
@csp(FILE_POLICY)
def shared_attachment(request: HttpRequest, token: str, attachment_id: int) -> HttpResponse:
    """An attachment through the share's own scope: only those listed in its snapshot."""
    share = _live_share(token)
    if share.visibility == Share.Visibility.MEMBERS and not request.user.is_authenticated:
        raise _not_found()
    entry = shares.snapshot_attachment(share, attachment_id)
    attachment = entry and shares.shared_attachment_row(share, attachment_id)
    if not attachment:
        raise _not_found()
    response = file_response(attachment, download=request.GET.get("download") == "1")
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_POST
def continue_share(request: HttpRequest, token: str) -> HttpResponse:
    """Fork the snapshot into a new conversation of the signed-in viewer's own."""
    share = _live_share(token)
    if not request.user.is_authenticated:
        return redirect_to_login(share.get_absolute_url())
    conversation = shares.fork_share(request.user, share)
    return redirect(conversation)


def _next_or(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
@require_http_methods(["GET", "POST"])
def share_conversation(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the share form and this conversation's links; POST: make a new link."""
    conversation = conversation_for(request.user, pk)
    form = ShareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        share = shares.create_share(
            request.user,
            conversation.pk,
            visibility=form.cleaned_data["visibility"],
            expires_in=form.expires_in(),
            include_system_prompt=form.cleaned_data["include_system_prompt"],
            include_attachments=form.cleaned_data["include_attachments"],
        )
        return redirect(f"{reverse('share', args=[conversation.pk])}?created={share.pk}")
    links = shares.shares_for(request.user).filter(conversation=conversation)
    created = request.GET.get("created", "")
    context = {
        "conversation": conversation,
        "form": form,
        "links": links,
        "created": links.filter(pk=created).first() if created.isdigit() else None,
    }
    return render(request, "conversations/share.html", context)


@login_required
@require_GET
def share_list(request: HttpRequest) -> HttpResponse:
    """The owner's Shared links page."""
    return render(request, "conversations/shares.html", {"links": shares.shares_for(request.user)})


@login_required
@require_POST
def update_share(request: HttpRequest, pk: int) -> HttpResponse:
    shares.update_snapshot(request.user, pk)
    return redirect(_next_or(request, reverse("shares")))


@login_required
@require_POST
def revoke_share(request: HttpRequest, pk: int) -> HttpResponse:
    shares.revoke_share(request.user, pk)
    return redirect(_next_or(request, reverse("shares")))
