"""The gateway's paths, under /v1/ as the Messages API has them."""

from django.urls import path

from . import views

urlpatterns = [
    path("messages", views.messages, name="gateway-messages"),
    path("messages/count_tokens", views.count_tokens, name="gateway-count-tokens"),
    path("models", views.models, name="gateway-models"),
    path("models/<str:model_id>", views.models, name="gateway-model"),
]
