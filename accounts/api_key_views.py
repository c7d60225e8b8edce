"""The member's API keys page: list, make (the key shown once), revoke, switch the envelope."""

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import api_keys
from .forms import ApiKeyForm
from .models import ApiKey
from .selectors import api_keys_for

# The path is the gateway contract's (DESIGN.md); the example works once `/v1/` is served.
MESSAGES_PATH = "/v1/messages"
ENVELOPE_VALUES = {"on": True, "off": False}
# Each rendered form carries a one-time token; the tokens of forms that made a key are kept
# (the last few) so a reload, which posts the form again, shows the list instead of a new key.
USED_FORMS = "api_key_forms_used"
USED_FORMS_KEPT = 10


@login_required
@never_cache  # the response that carries a new key must not be kept by any cache
@require_http_methods(["GET", "POST"])
def api_key_list(request: HttpRequest) -> HttpResponse:
    """GET: the member's keys and the form; POST: make a key and show it, this once only.

    The new key is in this response and nowhere else: no redirect, so it is never put in the
    session, a cookie or a URL to survive until the next page. Posting the same form again (a
    reload) redirects to the list (USED_FORMS).
    """
    form = ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST":
        once = request.POST.get("once", "")[:64]
        used = request.session.get(USED_FORMS, [])
        if once and once in used:
            return redirect("api_keys")  # the page that showed a key, reloaded: no second key
        if form.is_valid():
            created = _create(request, form)
        if created is not None:
            form = ApiKeyForm()
            if once:
                request.session[USED_FORMS] = [*used[-(USED_FORMS_KEPT - 1) :], once]
    return render(request, "accounts/api_keys.html", _context(request, form, created))


def _create(request: HttpRequest, form: ApiKeyForm) -> dict | None:
    data = form.cleaned_data
    expires = api_keys.end_of_day(data["expires"]) if data["expires"] else None
    try:
        key, raw = api_keys.create_key(
            request.user,
            data["name"],
            expires_at=expires,
            envelope=data["envelope"],
            by=request.user,
        )
    except api_keys.TooManyKeys as exc:
        form.add_error(None, _too_many(exc.limit))
        return None
    return {"key": key, "raw": raw}


def _too_many(limit: int) -> str:
    return ngettext(
        "You already have %(limit)d active key, the most allowed. Revoke it to make another.",
        "You already have %(limit)d active keys, the most allowed. Revoke one to make another.",
        limit,
    ) % {"limit": limit}


def _context(request: HttpRequest, form: ApiKeyForm, created: dict | None) -> dict:
    now = timezone.now()
    keys = [(key, api_keys.status_of(key, now)) for key in api_keys_for(request.user)]
    limit = settings.API_KEYS_PER_USER
    active = sum(status == api_keys.KeyStatus.ACTIVE for _key, status in keys)
    limit_reached = bool(limit) and active >= limit
    return {
        "form": form,
        "once": secrets.token_urlsafe(16),
        "keys": keys,
        "created": created,
        "limit": limit,
        "limit_reached": limit_reached,
        "limit_note": _too_many(limit) if limit_reached and not form.non_field_errors() else "",
        "messages_url": request.build_absolute_uri(MESSAGES_PATH),
        "example_model": settings.CHAT_MODEL,
        "Status": api_keys.KeyStatus,
    }


def _own_key(request: HttpRequest, pk: int) -> ApiKey:
    """The member's key, or a 404: another member's key does not exist for them."""
    return get_object_or_404(api_keys_for(request.user), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (no state change on GET); POST revokes at once."""
    key = _own_key(request, pk)
    if request.method == "GET":
        return render(request, "accounts/api_key_revoke.html", {"key": key})
    if api_keys.revoke(key, by=request.user):
        text = gettext("Revoked “%(name)s” (%(prefix)s…): programs using it are refused now.")
        messages.success(request, text % {"name": key.name, "prefix": key.prefix})
    return redirect("api_keys")


@login_required
@require_POST
def api_key_envelope(request: HttpRequest, pk: int) -> HttpResponse:
    """Switch the envelope to the posted value (`on`/`off`: posting twice changes nothing)."""
    key = _own_key(request, pk)
    value = ENVELOPE_VALUES.get(request.POST.get("envelope", ""))
    if value is None:
        return HttpResponseBadRequest(gettext("Choose “on” or “off” for the envelope."))
    if key.revoked_at is not None:
        messages.error(request, gettext("This key is revoked: it can no longer be changed."))
        return redirect("api_keys")
    api_keys.set_envelope(key, value, by=request.user)
    return redirect("api_keys")
