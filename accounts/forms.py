"""Forms: sign-up, and the admin's quota, grant and adjustment actions."""

from django import forms
from django.conf import settings
from django.contrib.auth.forms import BaseUserCreationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Quota, User

Period = Quota.Period


class SignupForm(BaseUserCreationForm):
    class Meta(BaseUserCreationForm.Meta):
        model = User
        fields = ("username",)


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
