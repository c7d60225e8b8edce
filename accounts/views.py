"""Account pages: sign-up (open, by invite, or closed)."""

from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .forms import SignupForm
from .models import Invite, User
from .services import SignupClosed, register_user, signup_allowed


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
