"""Template context shared by every page: the model label and demo mode."""

from django.conf import settings
from django.http import HttpRequest


def chat(request: HttpRequest) -> dict:
    return {"demo_mode": settings.DEMO_MODE, "chat_model": settings.CHAT_MODEL}
