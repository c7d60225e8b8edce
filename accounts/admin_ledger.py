"""The ledger's read-only admin list and its CSV export."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .admin_readonly import ReadOnlyModelAdmin
from .exports import csv_download
from .models import LedgerEntry
from .usage import USAGE_FIELDS

Kind = LedgerEntry.Kind


CSV_HEADER = [
    *"id created_at user kind model message_id hold_id".split(),
    *USAGE_FIELDS,
    *"tokens cost_usd estimated reason created_by prices".split(),
]


def _csv_row(entry: LedgerEntry) -> list:
    return [
        entry.pk,
        entry.created_at,
        entry.user.get_username(),
        entry.kind,
        entry.model,
        entry.message_id,
        entry.hold_id,
        *(getattr(entry, field) for field in USAGE_FIELDS),
        entry.tokens,
        entry.cost,
        entry.estimated,
        entry.reason,
        entry.created_by.get_username() if entry.created_by else "",
        entry.prices or "",
    ]


def _token_column(field: str, description):
    # The usage fields have no translated verbose names, so the columns name themselves.
    return admin.display(description=description, ordering=field)(
        lambda model_admin, entry: getattr(entry, field)
    )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyModelAdmin):
    """Append-only: nobody adds, changes or deletes entries here (grants go through actions)."""

    list_display = [
        "created_at",
        "user",
        "kind",
        "model",
        "input",
        "output",
        "cache_write",
        "cache_read",
        "cost",
        "estimated",
        "reason",
        "created_by",
    ]
    list_filter = [
        "kind",
        "model",
        "estimated",
        "created_at",
        ("user", admin.RelatedOnlyFieldListFilter),
    ]
    date_hierarchy = "created_at"
    search_fields = ["user__username", "reason"]
    list_select_related = ["user", "created_by"]

    input = _token_column("input_tokens", _("input"))
    output = _token_column("output_tokens", _("output"))
    cache_write = _token_column("cache_creation_input_tokens", _("cache write"))
    cache_read = _token_column("cache_read_input_tokens", _("cache read"))

    # No has_view_permission here: Django's own rule (`accounts.view_ledgerentry`, or a
    # superuser) decides who reads the ledger, an entry and the export below.

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        export = path("export/", self.admin_site.admin_view(self.export_csv), name=name)
        return [export, *super().get_urls()]  # before the catch-all object URL

    def export_csv(self, request):
        """The changelist's current selection (filters, search, dates) as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queryset = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(gettext("Unknown filter."))
        rows = (_csv_row(entry) for entry in queryset.iterator(chunk_size=2000))
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return csv_download(f"ledger-{stamp}.csv", CSV_HEADER, rows)
