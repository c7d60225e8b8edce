"""URLs under /accounts/: Django's auth views, sign-up, usage and the member's API keys."""

from django.contrib.auth.views import LoginView
from django.urls import include, path

from . import api_key_views, views
from .forms import LoginForm

urlpatterns = [
    # Before Django's auth URLs, so this throttled form answers /accounts/login/.
    path("login/", LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("signup/", views.signup, name="signup"),
    path("invite/<str:token>/", views.signup, name="signup_invite"),
    path("usage/", views.usage, name="usage"),
    path("api-keys/", api_key_views.api_key_list, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", api_key_views.api_key_revoke, name="api_key_revoke"),
    path("api-keys/<int:pk>/envelope/", api_key_views.api_key_envelope, name="api_key_envelope"),
    path("", include("django.contrib.auth.urls")),
]
