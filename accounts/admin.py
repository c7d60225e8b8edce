"""Admin for users, quotas, the read-only usage ledger and invite links."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import ledger, services
from .admin_balances import MONEY_ANNOTATIONS, annotate_balances
from .forms import AdjustForm, AdminLoginForm, GrantForm, QuotaForm
from .models import Invite, LedgerEntry, Quota, User
from .money import usd_to_hundredth_cent

Kind = LedgerEntry.Kind
Period = Quota.Period
PERIOD_LABELS = {
    Period.DAY: _("per day"),
    Period.WEEK: _("per week"),
    Period.MONTH: _("per month"),
    Period.NONE: _("in total"),
}


def _tokens(count: int) -> str:
    return ngettext("%(count)s token", "%(count)s tokens", count) % {"count": f"{count:,}"}


def _amounts(cost: Decimal | None, tokens: int | None) -> str:
    parts = [
        usd_to_hundredth_cent(cost) if cost is not None else "",
        _tokens(tokens) if tokens is not None else "",
    ]
    return " + ".join(part for part in parts if part)


# The admin's sign-in counts failures with the app's (accounts/login_throttle.py).
admin.site.login_form = AdminLoginForm


# What an admin edits of a quota, on the user's page and on the quota's own.
QUOTA_FORM_FIELDS = [
    "period",
    "cost_limit",
    "token_limit",
    "sends_per_minute",
    "max_concurrent_replies",
    "allowed_models",
]


class QuotaInline(admin.StackedInline):
    model = Quota
    fields = QUOTA_FORM_FIELDS
    filter_horizontal = ["allowed_models"]
    can_delete = False
    max_num = 1
    verbose_name_plural = _("quota")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = [
        "username",
        "is_active",
        "is_staff",
        "limit",
        "spent",
        "remaining",
        "last_active",
    ]
    list_select_related = ["quota"]
    actions = ["set_quota", "grant", "adjust", "deactivate"]

    def get_queryset(self, request):
        return annotate_balances(super().get_queryset(request))

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # The balances are annotations: Django would let `?spent_cost__gte=` filter by them,
        # and a binary search read anyone's spend without the ledger's permission.
        if lookup.split("__")[0] in MONEY_ANNOTATIONS:
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_list_display(self, request):
        # Money shows only to those who may read it elsewhere in the admin: limits to readers
        # of quotas, spend (and what is left of a limit) to readers of the ledger.
        quotas = self.admin_site.get_model_admin(Quota).has_view_permission(request)
        entries = self.admin_site.get_model_admin(LedgerEntry).has_view_permission(request)
        hidden = {"limit": not quotas, "spent": not entries, "remaining": not (quotas and entries)}
        return [column for column in self.list_display if not hidden.get(column)]

    def has_change_quota_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_quota")

    def has_add_ledgerentry_permission(self, request) -> bool:
        # Not LedgerEntryAdmin.has_add_permission: that one closes the ledger's own add form.
        return request.user.has_perm("accounts.add_ledgerentry")

    def get_inlines(self, request, obj):
        return [QuotaInline] if obj else []

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, QuotaInline) and not Quota.objects.filter(user=obj).exists():
            # Without a row the user runs on the defaults: show those, not blank (unlimited).
            kwargs["initial"] = [ledger.default_quota_values(obj)]
        return kwargs

    @staticmethod
    def _balance(user: User) -> ledger.Balance:
        if not hasattr(user, "_admin_balance"):
            quota = getattr(user, "quota", None)  # select_related: None costs no query
            values = (
                {f: getattr(quota, f) for f in ("period", "cost_limit", "token_limit")}
                if quota
                else ledger.default_quota_values(user)
            )
            starts_at, resets_at = ledger.period_bounds(values["period"])
            user._admin_balance = ledger.Balance(
                starts_at=starts_at,
                resets_at=resets_at,
                spent_cost=user.spent_cost,
                spent_tokens=user.spent_tokens,
                held_cost=user.held_cost,
                held_tokens=user.held_tokens,
                granted_cost=-user.granted_cost,
                granted_tokens=-user.granted_tokens,
                **values,
            )
        return user._admin_balance

    @admin.display(description=_("limit"))
    def limit(self, user: User) -> str:
        """The period's allowance: the limit, plus this period's grants said as such."""
        balance = self._balance(user)
        if balance.unlimited:
            return gettext("unlimited")
        amounts = _amounts(balance.allowance_cost, balance.allowance_tokens)
        text = f"{amounts} {PERIOD_LABELS[balance.period]}"
        granted_cost = balance.granted_cost if balance.cost_limit is not None else None
        granted_tokens = balance.granted_tokens if balance.token_limit is not None else None
        if granted_cost or granted_tokens:
            granted = _amounts(granted_cost or None, granted_tokens or None)
            text += " " + gettext("(%(amounts)s granted)") % {"amounts": granted}
        return text

    @admin.display(description=_("spent this period"), ordering="used_cost")
    def spent(self, user: User) -> str:
        balance = self._balance(user)
        text = _amounts(balance.used_cost, balance.used_tokens)
        if balance.held_cost or balance.held_tokens:
            held = _amounts(balance.held_cost, balance.held_tokens)
            text += " " + gettext("(%(amounts)s held)") % {"amounts": held}
        return text

    @admin.display(description=_("remaining"))
    def remaining(self, user: User) -> str:
        balance = self._balance(user)
        if balance.unlimited:
            return gettext("unlimited")
        return _amounts(balance.remaining_cost, balance.remaining_tokens)

    @admin.display(description=_("last active"), ordering="last_active")
    def last_active(self, user: User):
        return user.last_active

    # The audit trail: the change form saves the flags first and groups, permissions and the
    # quota inline after, so the stored access is read before the first and compared after all.
    def save_model(self, request, obj: User, form, change: bool) -> None:
        if change:
            obj._access_before = services.access_values(obj.pk)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if change:
            services.record_access_change(request.user, form.instance, form.instance._access_before)

    def save_formset(self, request, form, formset, change: bool) -> None:
        if formset.model is not Quota:
            return super().save_formset(request, form, formset, change)
        before = services.begin_quota_edit(formset.instance)
        super().save_formset(request, form, formset, change)
        after = services.quota_values(formset.instance)
        services.record_quota_change(request.user, formset.instance, before, after)

    def _confirm(self, request, queryset, form_class, title, apply, **form_kwargs):
        """An action's intermediate page: show the form, apply it once it is posted valid."""
        posted = request.POST if "apply" in request.POST else None
        form = form_class(posted, **form_kwargs)
        if form.is_bound and form.is_valid():
            with transaction.atomic():
                apply(form, list(queryset))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "members": queryset,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.opts,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/accounts/user_action.html", context)

    @admin.action(description=_("Set quota…"), permissions=["change_quota"])
    def set_quota(self, request, queryset):
        def apply(form, users):
            changes = form.changes()
            if not changes:
                message = gettext("Nothing changed: every field kept each user's current value.")
                self.message_user(request, message, messages.WARNING)
                return
            for user in users:
                services.change_quota(user, by=request.user, **changes)
            message = ngettext(
                "Set the quota of %(count)d user.", "Set the quotas of %(count)d users.", len(users)
            )
            self.message_user(request, message % {"count": len(users)}, messages.SUCCESS)

        users = list(queryset[:2])
        # One user: start from their quota (or the defaults they run on, without a row yet).
        current = self._quota_values(users[0]) if len(users) == 1 else None
        return self._confirm(request, queryset, QuotaForm, _("Set quota"), apply, current=current)

    @staticmethod
    def _quota_values(user: User) -> dict:
        quota = Quota.objects.filter(user=user).first()
        if quota is None:
            return ledger.default_quota_values(user)
        return {f: getattr(quota, f) for f in ("period", "cost_limit", "token_limit")}

    def _entries_action(self, request, queryset, form_class, title, make_entry):
        def apply(form, users):
            data = form.cleaned_data
            for user in users:
                cost, tokens = data["cost"] or Decimal(0), data["tokens"] or 0
                make_entry(user, cost=cost, tokens=tokens, reason=data["reason"], by=request.user)
            message = ngettext(
                "Recorded an entry for %(count)d user.",
                "Recorded entries for %(count)d users.",
                len(users),
            )
            self.message_user(request, message % {"count": len(users)}, messages.SUCCESS)

        return self._confirm(request, queryset, form_class, title, apply)

    @admin.action(description=_("Grant…"), permissions=["add_ledgerentry"])
    def grant(self, request, queryset):
        return self._entries_action(request, queryset, GrantForm, _("Grant"), services.grant)

    @admin.action(description=_("Adjust…"), permissions=["add_ledgerentry"])
    def adjust(self, request, queryset):
        return self._entries_action(request, queryset, AdjustForm, _("Adjust"), services.adjust)

    @admin.action(description=_("Deactivate"), permissions=["change"])
    def deactivate(self, request, queryset):
        if queryset.filter(pk=request.user.pk).exists():
            self.message_user(request, gettext("You cannot deactivate yourself."), messages.WARNING)
        count = services.deactivate_users(queryset.exclude(pk=request.user.pk), by=request.user)
        message = ngettext("Deactivated %(count)d user.", "Deactivated %(count)d users.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["user", "period", "cost_limit", "token_limit", "updated"]
    list_editable = ["period", "cost_limit", "token_limit"]
    list_filter = ["period"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["allowed_models"]
    fields = ["user", *QUOTA_FORM_FIELDS, "updated"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "updated"] if obj else ["updated"]

    # The audit trail. The change form and list editing save the fields here and the allowed
    # models in save_related: read the quota before the first, compare after the second.
    def save_model(self, request, obj: Quota, form, change: bool) -> None:
        obj._audit_before = services.begin_quota_edit(obj.user)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        quota = form.instance
        after = services.quota_values(quota.user)
        services.record_quota_change(request.user, quota.user, quota._audit_before, after)

    def delete_model(self, request, obj: Quota) -> None:
        # Without its row the user runs on the defaults: that is the value after.
        with transaction.atomic():
            user = obj.user  # deleting clears obj's key, which is the user's
            before = services.begin_quota_edit(user)
            super().delete_model(request, obj)
            services.record_quota_change(request.user, user, before, services.quota_values(user))

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for quota in queryset.select_related("user"):
                self.delete_model(request, quota)

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated(self, quota: Quota):
        return quota.updated_at


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["__str__", "link", "created_by", "created_at", "expires_at", "used_by"]
    readonly_fields = ["token", "link", "created_by", "used_by", "used_at"]
    fields = ["note", "expires_at", "link", "created_by", "used_by", "used_at"]

    @admin.display(description=_("link"))
    def link(self, obj: Invite) -> str:
        return reverse("signup_invite", args=[obj.token]) if obj.pk else "-"

    def get_changeform_initial_data(self, request):
        return {"expires_at": timezone.now() + timedelta(days=settings.INVITE_DAYS)}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# Registered from its own module, to keep this one readable.
from . import admin_api_keys, admin_audit, admin_calls, admin_ledger  # noqa: E402, F401
