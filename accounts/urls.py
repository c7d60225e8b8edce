"""URLs under /accounts/: Django's auth views plus sign-up."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("invite/<str:token>/", views.signup, name="signup_invite"),
    path("", include("django.contrib.auth.urls")),
]
