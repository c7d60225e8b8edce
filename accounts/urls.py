"""URLs under /accounts/: Django's auth views plus sign-up."""

from django.contrib.auth.views import LoginView
from django.urls import include, path

from . import views
from .forms import LoginForm

urlpatterns = [
    # Before Django's auth URLs, so this throttled form answers /accounts/login/.
    path("login/", LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("signup/", views.signup, name="signup"),
    path("invite/<str:token>/", views.signup, name="signup_invite"),
    path("usage/", views.usage, name="usage"),
    path("", include("django.contrib.auth.urls")),
]
