"""URLs under /accounts/: Django's auth views plus sign-up."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("invite/<str:token>/", views.signup, name="signup_invite"),
    path("usage/", views.usage, name="usage"),
    path("usage/meter/", views.usage_meter, name="usage_meter"),
    path("", include("django.contrib.auth.urls")),
]
