"""Admin for attachments: staff read them here (never through the members' file URLs)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin_readonly import ReadOnlyModelAdmin

from .attachment_views import file_response
from .models import Attachment


def _file_link(attachment: Attachment) -> str:
    if not attachment.pk:
        return ""
    url = reverse("admin:conversations_attachment_file", args=[attachment.pk])
    return format_html('<a href="{}">{}</a>', url, _("Download"))


class AttachmentInline(admin.TabularInline):
    """A conversation's attachments on its admin page, each with a download link."""

    model = Attachment
    fields = ["name", "kind", "media_type", "size", "width", "height", "pages", "message"]
    fields += ["file_link"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("file"))
    def file_link(self, attachment: Attachment) -> str:
        return _file_link(attachment)


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "user", "kind", "size", "conversation", "message", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "user__username", "sha256"]
    list_select_related = ["user", "conversation", "message"]
    # The stored name is not a URL anyone may open: the link goes through `file_view`.
    fields = ["name", "user", "conversation", "message", "kind", "media_type", "size"]
    fields += ["sha256", "width", "height", "pages", "source_url", "created_at", "file_link"]
    readonly_fields = fields

    @admin.display(description=_("file"))
    def file_link(self, attachment: Attachment) -> str:
        return _file_link(attachment)

    def get_urls(self):
        view = self.admin_site.admin_view(self.file_view)
        name = "conversations_attachment_file"
        return [path("<int:pk>/file/", view, name=name), *super().get_urls()]

    def file_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The file, always as a download: staff look at members' files, never render them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        attachment = Attachment.objects.filter(pk=pk).first()
        if attachment is None:
            raise Http404("No such attachment.")
        return file_response(attachment, download=True)
