"""Forms: sign-up, throttled sign-in, and the admin's quota, grant and adjustment actions."""

import math

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import login_throttle
from .models import Quota, User

Period = Quota.Period


class SignupForm(BaseUserCreationForm):
    class Meta(BaseUserCreationForm.Meta):
        model = User
        fields = ("username",)


class ThrottledLoginMixin:
    """Refuse a locked-out sign-in before checking its password; count each failure."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = login_throttle.client_address(self.request)
        wait = login_throttle.locked_out(username, address)
        if wait is not None:
            minutes = math.ceil(wait / 60)
            raise ValidationError(
                ngettext(
                    "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
                    "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                code="locked_out",
            )
        try:
            cleaned = super().clean()
        except ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_login":
                login_throttle.record_failure(username, address)
            raise
        if self.get_user() is not None:
            login_throttle.record_success(username)
        return cleaned


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    """/accounts/login/: Django's form (same fields, same success), throttled."""


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's sign-in, throttled with the same counts as the app's."""


class QuotaForm(forms.Form):
    period = forms.ChoiceField(
        label=_("period"), choices=Period.choices, initial=lambda: settings.QUOTA_DEFAULT_PERIOD
    )
    cost_limit = forms.DecimalField(
        label=_("cost limit (USD)"),
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=4,
        help_text=_("Blank: no cost limit."),
    )
    token_limit = forms.IntegerField(
        label=_("token limit"),
        required=False,
        min_value=0,
        max_value=10**15,
        help_text=_("Blank: no token limit."),
    )


class GrantForm(forms.Form):
    cost = forms.DecimalField(
        label=_("amount (USD)"), required=False, min_value=0, max_digits=14, decimal_places=4
    )
    tokens = forms.IntegerField(label=_("tokens"), required=False, min_value=0, max_value=10**15)
    reason = forms.CharField(label=_("reason"), max_length=300)

    def clean(self):
        data = super().clean()
        if not data.get("cost") and not data.get("tokens"):
            raise ValidationError(_("Give an amount in USD, in tokens, or both."))
        return data


class AdjustForm(GrantForm):
    cost = forms.DecimalField(
        label=_("amount (USD)"),
        required=False,
        max_digits=14,
        decimal_places=4,
        help_text=_("Positive adds to the spend, negative takes off it."),
    )
    tokens = forms.IntegerField(
        label=_("tokens"), required=False, min_value=-(10**15), max_value=10**15
    )
