"""Forms: sign-up, throttled sign-in, a personal API key, and the admin's quota, grant and
adjustment actions."""

import math

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import login_throttle
from .models import Quota, User

Period = Quota.Period


class SignupForm(BaseUserCreationForm):
    class Meta(BaseUserCreationForm.Meta):
        model = User
        fields = ("username",)


class ApiKeyForm(forms.Form):
    """The member's "Make a key" form; the key page shows the key itself once, after it."""

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("Where you will use it, for example “laptop” or “CI”."),
    )
    expires = forms.DateField(
        label=_("Last day it works"),
        required=False,
        input_formats=["%Y-%m-%d"],  # what <input type="date"> sends, whatever the language
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Optional. Empty: the key works until you revoke it."),
    )
    envelope = forms.BooleanField(
        label=_("Gateway envelope"),
        required=False,
        help_text=_(
            'Wrap non-streaming replies and errors as {"code": STATUS, "data": {...}}, for '
            "clients written against the gateway's own format. Leave it off for the official "
            "SDKs."
        ),
    )

    def clean_expires(self):
        day = self.cleaned_data.get("expires")
        if day is not None and day < timezone.localdate():
            raise ValidationError(
                _("That day is in the past: choose today or a later day, or leave it empty."),
                code="past",
            )
        if day is not None and day.year > 9000:
            raise ValidationError(_("Choose an earlier day, or leave it empty."), code="too_far")
        return day


KEEP, LIMIT, NO_LIMIT = "keep", "limit", "none"
LIMIT_FIELDS = ("cost_limit", "token_limit")


def _limit_field(name: str, label) -> forms.Field:
    return Quota._meta.get_field(name).formfield(label=label, required=False, help_text="")


class ThrottledLoginMixin:
    """Count each sign-in attempt before its password is checked; refuse over the limits."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = login_throttle.client_address(self.request)
        wait = login_throttle.begin_attempt(username, address)
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
        finally:
            # The password matched (even where the admin then refuses a non-staff member):
            # not a guess.
            if self.get_user() is not None:
                login_throttle.succeeded(username, address)
        return cleaned


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    """/accounts/login/: Django's form (same fields, same success), throttled."""


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's sign-in, throttled with the same counts as the app's."""


class QuotaForm(forms.Form):
    """The Set quota action. Nothing changes unless asked: with one user the fields start from
    their quota; with several each field starts at "keep each user's current value". A limit is
    removed only by choosing "No limit", never by an empty box."""

    period = forms.ChoiceField(label=_("period"))
    # "radiolist": the admin's own style for radio buttons, one choice a line.
    cost_limit_choice = forms.ChoiceField(
        label=_("cost limit"), widget=forms.RadioSelect(attrs={"class": "radiolist"})
    )
    cost_limit = _limit_field("cost_limit", _("limit in USD"))
    token_limit_choice = forms.ChoiceField(
        label=_("token limit"), widget=forms.RadioSelect(attrs={"class": "radiolist"})
    )
    token_limit = _limit_field("token_limit", _("limit in tokens"))

    def __init__(self, *args, current: dict | None = None, **kwargs) -> None:
        """`current`: the one selected user's period and limits; None for several users."""
        super().__init__(*args, **kwargs)
        keep = [] if current else [(KEEP, _("Keep each user's current period"))]
        self.fields["period"].choices = [*keep, *Period.choices]
        self.fields["cost_limit_choice"].choices = self._limit_choices(
            bool(current), _("Limit to the amount below"), _("No cost limit")
        )
        self.fields["token_limit_choice"].choices = self._limit_choices(
            bool(current), _("Limit to the number of tokens below"), _("No token limit")
        )
        if current:
            self.initial = {"period": current["period"]}
            for name in LIMIT_FIELDS:
                self.initial[name] = current[name]
                self.initial[f"{name}_choice"] = NO_LIMIT if current[name] is None else LIMIT
        else:
            self.initial = {"period": KEEP, **{f"{name}_choice": KEEP for name in LIMIT_FIELDS}}

    @staticmethod
    def _limit_choices(one_user: bool, limit_label, none_label) -> list:
        keep = [] if one_user else [(KEEP, _("Keep each user's current limit"))]
        return [*keep, (LIMIT, limit_label), (NO_LIMIT, none_label)]

    def clean(self) -> dict:
        data = super().clean()
        for name in LIMIT_FIELDS:
            choice, value = data.get(f"{name}_choice"), data.get(name)
            if value is not None:
                # A plain form does not run the model field's validators (a ModelForm would):
                # run them, so the action refuses what every quota form refuses.
                try:
                    Quota._meta.get_field(name).run_validators(value)
                except ValidationError as error:
                    self.add_error(name, error)
                    continue
            if choice == LIMIT and value is None and name not in self.errors:
                self.add_error(name, _("Enter a limit, or choose “No limit” above."))
            elif choice == KEEP and value is not None:
                # Typed but not chosen: applying it or dropping it would both surprise someone.
                self.add_error(
                    name, _("To apply this value, choose “Limit to …” above; to keep, clear it.")
                )
        return data

    def changes(self) -> dict:
        """The quota fields to set on every selected user (the ones not left as they are)."""
        data = self.cleaned_data
        changes = {} if data["period"] == KEEP else {"period": data["period"]}
        for name in LIMIT_FIELDS:
            choice = data[f"{name}_choice"]
            if choice != KEEP:
                changes[name] = data[name] if choice == LIMIT else None
        return changes


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
