"""Admin for users and invite links."""

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Invite, User

admin.site.register(User, UserAdmin)


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
