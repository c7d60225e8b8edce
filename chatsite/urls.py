"""Root URLs: accounts, chat pages, admin, i18n."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

urlpatterns = [
    path("accounts/", include("accounts.urls")),
    path("admin/reports/", include("accounts.admin_urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("conversations.urls")),
]
