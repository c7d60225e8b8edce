"""Account pages: sign-up (open, by invite, or closed) and the user's own usage."""

from decimal import Decimal

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from . import charts, ledger, reports
from .forms import SignupForm
from .models import Invite, LedgerEntry, User
from .services import SignupClosed, register_user, signup_allowed

RECENT_ENTRIES = 20


@require_http_methods(["GET", "POST"])
def signup(request, token: str | None = None):
    if request.user.is_authenticated:
        return redirect("chat")
    invite = Invite.objects.filter(token=token).first() if token else None
    if not signup_allowed(invite):
        return render(
            request, "accounts/signup_closed.html", {"invite_given": bool(token)}, status=403
        )
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = register_user(
                form.cleaned_data["username"], form.cleaned_data["password1"], token
            )
        except SignupClosed:
            return render(
                request, "accounts/signup_closed.html", {"invite_given": bool(token)}, status=403
            )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat")
    context = {"form": form, "invite": invite, "first_account": not User.objects.exists()}
    return render(request, "accounts/signup.html", context)


@login_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    """This period's spend against the allowance, charted per day and tabled by model,
    source, API key and day, and recent entries."""
    current = ledger.balance(request.user)
    since = current.starts_at.date() if current.starts_at else None
    by_key = reports.usage_rows(user=request.user, since=since, by=("api_key",))
    # One scan of the period's charges serves the charts and the tables by model and by day.
    by_day_and_model = reports.usage_rows(
        user=request.user, since=since, by=("day", "model"), with_savings=True
    )
    context = {
        "balance": current,
        "by_model": reports.regroup(by_day_and_model, "model"),
        "by_source": reports.usage_rows(user=request.user, since=since, by=("source",)),
        # Only when a personal key was used: otherwise one row saying "the chat" says nothing.
        "by_key": by_key if any(row["api_key"] for row in by_key) else [],
        "by_day": reports.regroup(by_day_and_model, "day"),
        "charts": charts.usage_charts(by_day_and_model, since=since, until=timezone.localdate()),
        "caching_saved": sum((row["caching_saved"] for row in by_day_and_model), Decimal(0)),
        "recent": LedgerEntry.objects.filter(user=request.user).exclude(
            kind__in=[LedgerEntry.Kind.HOLD, LedgerEntry.Kind.RELEASE]
        )[:RECENT_ENTRIES],
    }
    return render(request, "accounts/usage.html", context)
