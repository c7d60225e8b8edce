"""Admin for personal API keys: every member's keys, their limits, the envelope, and revocation."""

from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import api_keys
from .models import ApiKey

KeyStatus = api_keys.KeyStatus


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return KeyStatus.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        expired = Q(expires_at__lte=now)
        live = Q(revoked_at__isnull=True) & ~expired
        match self.value():
            case KeyStatus.ACTIVE:
                return queryset.filter(live, user__is_active=True)
            case KeyStatus.REVOKED:
                return queryset.filter(revoked_at__isnull=False)
            case KeyStatus.EXPIRED:
                return queryset.filter(expired, revoked_at__isnull=True)
            case KeyStatus.USER_INACTIVE:
                return queryset.filter(live, user__is_active=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made by their members on their API keys page, or by `manage.py create_api_key`:
    no add form here, since the key itself would have to be shown in the admin. Keys are
    revoked, never deleted (their calls and charges point at them). The hash is never shown."""

    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "status",
        "envelope",
        "requests_per_minute",
        "max_concurrent_streams",
    ]
    list_filter = [StatusFilter, "envelope", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name", "public_id"]
    date_hierarchy = "created_at"
    actions = ["revoke_selected"]
    fields = [
        "user",
        "prefix",
        "name",
        "status",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "envelope",
        "requests_per_minute",
        "max_concurrent_streams",
    ]
    readonly_fields = ["user", "prefix", "status", "created_at", "last_used_at", "revoked_at"]
    change_list_template = "admin/accounts/apikey/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        # A revoked key stays revoked: nothing about it can be changed any more.
        return self.fields if obj is not None and obj.revoked_at else self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        # An admin pastes the prefix as shown (chatsite_…, perhaps with its ellipsis): the row
        # holds only the public id after it.
        term = search_term.strip().rstrip("…").removeprefix(api_keys.KEY_START)
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("key"), ordering="public_id")
    def prefix(self, key: ApiKey) -> str:
        return f"{key.prefix}…"

    @admin.display(description=_("status"))
    def status(self, key: ApiKey) -> str:
        return api_keys.status_of(key).label

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        before = ApiKey.objects.values_list("envelope", flat=True).get(pk=obj.pk)
        super().save_model(request, obj, form, change)
        api_keys.record_envelope_change(request.user, obj, before)

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke_selected(self, request, queryset) -> None:
        count = sum(api_keys.revoke(key, by=request.user) for key in queryset)
        message = ngettext("Revoked %(count)d key.", "Revoked %(count)d keys.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)
        if count < queryset.count():
            self.message_user(request, gettext("Keys already revoked were left as they were."))
