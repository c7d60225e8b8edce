"""Admin report pages, included by the root URLconf at admin/reports/."""

from django.urls import path

from . import admin_views

urlpatterns = [path("usage/", admin_views.usage_report, name="usage_report")]
