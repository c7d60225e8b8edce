"""Read-only admin list of upstream calls: what is in flight, where, and how it was settled."""

from django.contrib import admin

from .admin_readonly import ReadOnlyModelAdmin
from .models import UpstreamCall


@admin.register(UpstreamCall)
class UpstreamCallAdmin(ReadOnlyModelAdmin):
    """Calls are written only by the ledger; the admin shows them to support an incident."""

    list_display = ["created_at", "user", "source", "model", "status", "worker", "heartbeat_at"]
    list_filter = ["status", "source", "model", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["user__username", "worker"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "source",
        "message",
        "model",
        "status",
        "worker",
        "heartbeat_at",
        "created_at",
        "settled_at",
        "input_estimate",
        "usage",
        "output_chars",
    ]
    fields = readonly_fields
