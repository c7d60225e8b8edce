"""Read-only admin list of the audit trail: who changed money or access, and from what to what."""

import json

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .admin_readonly import ReadOnlyModelAdmin
from .models import AuditEntry


def _shown(value: object) -> str:
    if value is None:
        return gettext("(none)")
    if isinstance(value, str) and value:
        return value  # amounts and choices read better bare: 10 → 25, month → day
    return json.dumps(value, ensure_ascii=False)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyModelAdmin):
    """Entries are written only by `accounts.audit.record`; nobody adds, changes or deletes
    them here, superusers included. Reading needs `accounts.view_auditentry`."""

    list_display = ["created_at", "actor_name", "action", "target_label", "change"]
    list_filter = ["action", "actor_name", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["target_label", "target_id", "reason"]
    readonly_fields = [
        "created_at",
        "actor",
        "actor_name",
        "action",
        "target_type",
        "target_id",
        "target_label",
        "change",
        "before",
        "after",
        "reason",
    ]
    fields = readonly_fields

    @admin.display(description=_("change"))
    def change(self, entry: AuditEntry) -> str:
        """Each changed field as "name: before → after" (a side it did not have shows "–")."""
        names = [*entry.before, *(k for k in entry.after if k not in entry.before)]
        parts = []
        for name in names:
            was = _shown(entry.before[name]) if name in entry.before else "–"
            now = _shown(entry.after[name]) if name in entry.after else "–"
            parts.append(f"{name}: {was} → {now}")
        return "; ".join(parts)
