"""Root URLs: accounts, chat pages, admin, i18n, the gateway's /v1/."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog


class FaviconView(RedirectView):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's)."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("favicon.svg")


urlpatterns = [
    path("favicon.ico", FaviconView.as_view()),
    path("accounts/", include("accounts.urls")),
    path("admin/reports/", include("accounts.admin_urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("v1/", include("conversations.gateway.urls")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("conversations.urls")),
]
