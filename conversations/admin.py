"""Admin for conversations (read-only, for support) and the model catalog."""

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import chat_settings
from .anthropic import AnthropicError
from .attachment_admin import AttachmentInline
from .catalog import (
    SoleAllowedModel,
    catalog_values,
    delete_catalog_model,
    record_catalog_change,
    sync_catalog,
    users_only_allowed,
)
from .models import CatalogModel, Conversation, Message, Preset, Share
from .runner import stop_replies
from .services import delete_conversations, edit_conversation
from .shares import revoke_shares
from .upstream import get_client


class MessageInline(admin.TabularInline):
    """Every message of every branch; a reply's usage and cost are its calls' sums."""

    model = Message
    fields = [
        "role",
        "parent",
        "status",
        "model",
        "stop_reason",
        "stop_sequence",
        "usage",
        "cost",
        "error",
        "created_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "model", "created_at", "updated_at"]
    list_filter = ["model"]
    search_fields = ["title", "user__username"]
    readonly_fields = ["user", "model", "title_source", "leaf", "created_at", "updated_at"]
    fields = [
        "title",
        "title_source",
        "user",
        "model",
        "system_prompt",
        "leaf",
        "created_at",
        "updated_at",
    ]
    inlines = [MessageInline, AttachmentInline]
    list_select_related = ["user"]

    def save_model(self, request, obj: Conversation, form, change: bool) -> None:
        # The title and the system prompt are what the form edits; the service keeps a title
        # what the app's rename makes it (one line, 200 characters at most).
        if not change:
            return super().save_model(request, obj, form, change)
        edit_conversation(obj, **{name: form.cleaned_data[name] for name in form.changed_data})

    # Deleting goes through the service, like the app's delete: a reply being written is
    # stopped and its upstream call charged, never left holding the user's quota.
    def delete_model(self, request, obj: Conversation) -> None:
        self.delete_queryset(request, Conversation.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        streaming = delete_conversations(queryset)
        if streaming:
            async_to_sync(stop_replies)(streaming)


async def _upstream_models() -> list[dict]:
    # get_client() binds its pool to the running loop, so it is called inside the coroutine.
    return await get_client().list_models()


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    list_display = [
        "display_name",
        "model_id",
        "enabled",
        "is_default",
        "is_title_model",
        "price_input",
        "price_output",
        "price_cache_write",
        "price_cache_read",
        "max_output_tokens",
    ]
    list_display_links = ["display_name"]
    list_editable = ["enabled"]
    list_filter = ["enabled", "supports_vision", "supports_pdf"]
    search_fields = ["model_id", "display_name"]
    readonly_fields = ["updated_at"]
    fieldsets = [
        (
            _("Identity"),
            {
                "fields": [
                    "model_id",
                    "upstream_model_id",
                    "display_name",
                    "enabled",
                    "is_default",
                    "is_title_model",
                ]
            },
        ),
        (
            _("Limits"),
            {
                "fields": [
                    "context_window",
                    "max_output_tokens",
                    "supports_thinking",
                    "thinking_budget",
                    "supports_vision",
                    "supports_pdf",
                ]
            },
        ),
        (
            _("Prices per million tokens (USD)"),
            {"fields": ["price_input", "price_output", "price_cache_write", "price_cache_read"]},
        ),
        (
            _("Long-prompt tier"),
            {
                "description": _(
                    "Once a request's prompt passes the threshold, every token of it is billed "
                    "at these prices. Blank threshold: no such tier; a blank price falls back "
                    "to the normal one."
                ),
                "fields": [
                    "long_prompt_threshold",
                    "long_price_input",
                    "long_price_output",
                    "long_price_cache_write",
                    "long_price_cache_read",
                ],
            },
        ),
    ]

    # The audit trail: the change form, list editing, the add form and deletions each record
    # the fields they changed (the form has already set them on `obj`: read the stored row).
    def save_model(self, request, obj: CatalogModel, form, change: bool) -> None:
        before = catalog_values(obj) if change else {}
        super().save_model(request, obj, form, change)
        record_catalog_change(request.user, obj, before)

    def delete_view(self, request, object_id, extra_context=None):
        model = self.get_object(request, object_id)
        if model is not None and (sole := users_only_allowed(model)):
            self._refuse_delete(request, model, sole)
            return redirect("admin:conversations_catalogmodel_change", model.pk)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj: CatalogModel) -> None:
        delete_catalog_model(obj, by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for model in queryset:
                try:
                    self.delete_model(request, model)
                except SoleAllowedModel as exc:
                    self._refuse_delete(request, model, exc.usernames)

    def _refuse_delete(self, request, model: CatalogModel, usernames: list[str]) -> None:
        messages.error(
            request,
            gettext(
                "%(model)s is the only model %(users)s may use: deleting it would let them use "
                "every model. Disable it, or change their allowed models first."
            )
            % {"model": model, "users": ", ".join(usernames)},
        )

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_sync"
        sync = path("sync/", self.admin_site.admin_view(self.sync_view), name=name)
        return [sync, *super().get_urls()]  # before the catch-all object URL

    def sync_view(self, request):
        """Add the upstream's unknown model ids, disabled until an admin prices them."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            listed = async_to_sync(_upstream_models)()
        except AnthropicError as error:
            # The client scrubs the key from its messages; the message is safe to show.
            text = gettext("Could not list the gateway's models: %(error)s")
            self.message_user(request, text % {"error": error.message}, messages.ERROR)
        else:
            self._report_sync(request, sync_catalog(listed, by=request.user))
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

    def _report_sync(self, request, added: list[CatalogModel]) -> None:
        if not added:
            text = gettext("The catalog already has every model the gateway lists.")
            self.message_user(request, text, messages.SUCCESS)
            return
        text = ngettext(
            "Added %(count)d model, disabled until an admin prices it: %(ids)s.",
            "Added %(count)d models, disabled until an admin prices them: %(ids)s.",
            len(added),
        )
        ids = ", ".join(model.model_id for model in added)
        self.message_user(request, text % {"count": len(added), "ids": ids}, messages.SUCCESS)


# Shared links: every link, with revoke as the only change an admin makes.


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "owner",
        "conversation",
        "visibility",
        "created_at",
        "expires_at",
        "view_count",
        "revoked_at",
    ]
    list_filter = ["visibility", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "conversation__user__username"]
    list_select_related = ["conversation__user"]
    readonly_fields = [
        "conversation",
        "visibility",
        "include_system_prompt",
        "include_attachments",
        "expires_at",
        "revoked_at",
        "created_at",
        "updated_at",
        "view_count",
        "title",
        "system_prompt",
        "snapshot",
    ]
    fields = readonly_fields
    actions = ["revoke_selected"]

    @admin.display(description=_("owner"), ordering="conversation__user__username")
    def owner(self, share: Share) -> str:
        return share.conversation.user.get_username()

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Revoking keeps the record of what was shared (and the audit's); a row deleted here
        # would skip the service that revokes.
        return False

    @admin.action(description=_("Revoke selected links"), permissions=["change"])
    def revoke_selected(self, request, queryset):
        count = revoke_shares(queryset, by=request.user)
        text = ngettext("Revoked %(count)d link.", "Revoked %(count)d links.", count)
        self.message_user(request, text % {"count": count}, messages.SUCCESS)


class PresetForm(forms.ModelForm):
    """The panel's checks, so a preset edited here never starts a chat the API refuses."""

    class Meta:
        model = Preset
        fields = ["name", "owner", "model", "system_prompt", "settings"]

    def clean(self) -> dict:
        data = super().clean()
        model = CatalogModel.objects.filter(model_id=data.get("model")).first()
        if model is None:
            self.add_error("model", gettext("No model of the catalog has this id."))
            return data
        try:
            data["settings"], data["system_prompt"] = chat_settings.validated(
                data.get("settings"), data.get("system_prompt", ""), model
            )
        except chat_settings.SettingsInvalid as exc:
            raise forms.ValidationError(list(exc.fields.values())) from None
        return data


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    form = PresetForm
    list_display = ["name", "owner", "model", "updated_at"]
    list_filter = [("owner", admin.EmptyFieldListFilter), "model"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]
