"""A model admin that lists and shows rows but changes none: for records only services write."""

from django.contrib import admin


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Nobody adds, changes or deletes a row here; who may read is Django's view permission."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
