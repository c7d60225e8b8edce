"""Template tag: the credential patterns as a JSON data block for chat.js (no inline script)."""

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString

from conversations.secret_scan import patterns_for_page

register = template.Library()


@register.simple_tag
def secret_patterns_data() -> SafeString:
    """The same list the server checks sends against, so page and server cannot drift."""
    return json_script(patterns_for_page(), "secret-patterns")
