"""Template filters for chat pages: user-facing text for stored reply errors."""

from django import template

from conversations.errors import error_message

register = template.Library()


@register.filter
def error_text(error: dict | None) -> str:
    return error_message(error) if error else ""
