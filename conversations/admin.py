"""Admin for conversations: read-only, for support; messages are never edited here."""

from django.contrib import admin

from .models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["role", "status", "model", "stop_reason", "usage", "error", "created_at"]
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
    readonly_fields = ["user", "model", "created_at", "updated_at"]
    fields = ["title", "user", "model", "system_prompt", "created_at", "updated_at"]
    inlines = [MessageInline]
    list_select_related = ["user"]
