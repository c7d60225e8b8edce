"""Math needs no change to the Content-Security-Policy: the chat and the shared page load the
vendored KaTeX and still send the same policy, `style-src 'self'` included (issue 16, item 4)."""

import re

import pytest
from django.test import Client

from conversations import shares
from conversations.models import Message

from .test_views import PageAudit, add_message, append_message, make_conversation

pytestmark = pytest.mark.django_db

# The policy as it was before math (chatsite/settings.py CONTENT_SECURITY_POLICY, with the
# test settings' hosts): written out, so a change to the settings fails here too.
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Manifest storage names files by their hash: katex.min.<hash>.js.
KATEX = re.compile(r"/static/vendor/katex-0\.16\.47/katex\.min\.[0-9a-f]+\.js")
MATH_JS = re.compile(r"/static/js/math\.[0-9a-f]+\.js")
RENDER_JS = re.compile(r"/static/js/render\.[0-9a-f]+\.js")


def policy_of(response) -> dict[str, list[str]]:
    directives = [d.split() for d in response["Content-Security-Policy"].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


@pytest.fixture
def math_chat(make_user):
    alice = make_user("alice")
    conversation = make_conversation(alice, title="Euler")
    add_message(conversation, "Show me Euler's identity")
    append_message(
        conversation,
        role=Message.Role.ASSISTANT,
        content=[{"type": "text", "text": "It is $e^{i\\pi} + 1 = 0$."}],
        model="claude-sonnet-4-5-20250929",
    )
    return conversation


def assert_policy_unchanged(response) -> None:
    policy = policy_of(response)
    connect = policy.pop("connect-src")
    assert policy == POLICY
    assert connect[0] == "'self'" and all(s.startswith(("ws://", "wss://")) for s in connect[1:])


def test_the_chat_loads_katex_under_the_same_policy(math_chat):
    client = Client()
    client.force_login(math_chat.user)
    response = client.get(math_chat.get_absolute_url())
    html = response.content.decode()

    katex, math, render = (p.search(html) for p in (KATEX, MATH_JS, RENDER_JS))
    assert katex and math and render
    assert katex.start() < math.start() < render.start(), "math is there to plug in"
    assert_policy_unchanged(response)
    assert PageAudit(html).inline == []


def test_the_shared_page_loads_katex_under_the_same_policy(math_chat):
    share = shares.create_share(math_chat.user, math_chat.pk)
    response = Client().get(share.get_absolute_url())
    html = response.content.decode()

    assert KATEX.search(html) and MATH_JS.search(html)
    assert_policy_unchanged(response)
    assert PageAudit(html).inline == []
