"""Chat pages over HTTP: scope, rename, delete, sidebar, chat state, CSP, languages, secrets."""

import json
import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import ledger
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
SECRET = "sk-ant-SECRET-XYZ"
EXECUTABLE_SCRIPT_TYPES = {"", "text/javascript", "application/javascript", "module"}


def make_conversation(user, title: str = "Plans", updated_ago: timedelta | None = None):
    conversation = Conversation.objects.create(user=user, title=title, model="claude-test")
    if updated_ago is not None:  # updated_at is auto_now, so move it with an UPDATE
        Conversation.objects.filter(pk=conversation.pk).update(
            updated_at=timezone.now() - updated_ago
        )
    return conversation


def add_message(conversation, text: str, role: str = Message.Role.USER, **fields) -> Message:
    """A message at the end of the conversation's visible branch, as the services append one."""
    return append_message(
        conversation, role=role, content=[{"type": "text", "text": text}], **fields
    )


def append_message(conversation, **fields) -> Message:
    conversation.refresh_from_db(fields=["leaf"])
    message = Message.objects.create(
        conversation=conversation, parent_id=conversation.leaf_id, **fields
    )
    conversation.leaf = message
    conversation.save(update_fields=["leaf"])
    return message


class PageAudit(HTMLParser):
    """Collects what a strict CSP cares about, plus the chat-state JSON and <html lang>."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang, self.inline = None, []
        self.chat_state_text, self._in_chat_state = None, False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.inline.append(f"<{tag} {name}=…>")
            elif name in {"href", "src", "action"} and (value or "").startswith("javascript:"):
                self.inline.append(f"<{tag} {name}=javascript:…>")
        script_type = (attrs.get("type") or "").lower()
        if tag == "script" and "src" not in attrs and script_type in EXECUTABLE_SCRIPT_TYPES:
            self.inline.append(f"<script {attrs}> without src")
        self._in_chat_state = tag == "script" and attrs.get("id") == "chat-state"

    def handle_data(self, data):
        if self._in_chat_state:
            self.chat_state_text = (self.chat_state_text or "") + data

    def handle_endtag(self, tag):
        self._in_chat_state = False


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


# Scope: another user's conversation id is a 404 and leaves it untouched.


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/c/{}/"),
        ("get", "/c/{}/rename/"),
        ("post", "/c/{}/rename/"),
        ("get", "/c/{}/delete/"),
        ("post", "/c/{}/delete/"),
    ],
)
def test_other_users_conversation_is_404(as_alice, bob, method, path):
    theirs = make_conversation(bob, title="Bob's secrets")
    add_message(theirs, "private words")

    response = getattr(as_alice, method)(path.format(theirs.pk), {"title": "pwned"})

    assert response.status_code == 404
    assert b"private words" not in response.content
    theirs.refresh_from_db()
    assert theirs.title == "Bob's secrets" and theirs.messages.count() == 1


def test_missing_conversation_is_404(as_alice):
    assert as_alice.get("/c/999999/").status_code == 404


# Delete and rename.


def test_delete_get_asks_for_confirmation_and_deletes_nothing(as_alice, alice):
    conversation = make_conversation(alice, title="Keep me")
    add_message(conversation, "hello")

    response = as_alice.get(f"/c/{conversation.pk}/delete/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Keep me" in page and 'method="post"' in page
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_delete_post_removes_conversation_and_its_messages(as_alice, alice):
    conversation = make_conversation(alice)
    add_message(conversation, "hello")
    add_message(conversation, "hi there", role=Message.Role.ASSISTANT)

    response = as_alice.post(f"/c/{conversation.pk}/delete/")

    assert response.status_code == 302 and response.url == "/"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()


def test_htmx_delete_redirects_the_page_to_a_new_chat(as_alice, alice):
    conversation = make_conversation(alice)

    response = as_alice.post(f"/c/{conversation.pk}/delete/", headers={"HX-Request": "true"})

    assert response.status_code == 204 and response["HX-Redirect"] == "/"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_rename_form_shows_the_current_title(as_alice, alice):
    conversation = make_conversation(alice, title="Old name")

    response = as_alice.get(f"/c/{conversation.pk}/rename/")

    assert response.status_code == 200 and 'value="Old name"' in response.content.decode()


def test_rename_post_trims_and_stores_the_title(as_alice, alice):
    conversation = make_conversation(alice, title="Old name")

    response = as_alice.post(f"/c/{conversation.pk}/rename/", {"title": "   Trip  to\tKyoto  "})

    assert response.status_code == 302 and response.url == f"/c/{conversation.pk}/"
    conversation.refresh_from_db()
    assert conversation.title == "Trip to Kyoto"


def test_htmx_rename_returns_the_sidebar_partial(as_alice, alice):
    conversation = make_conversation(alice, title="Old name")
    make_conversation(alice, title="Another one")

    response = as_alice.post(
        f"/c/{conversation.pk}/rename/", {"title": "New name"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page and 'class="conversation-list"' in page
    assert "New name" in page and "Another one" in page
    assert 'aria-current="page"' in page


def test_rename_and_delete_refuse_a_post_without_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    conversation = make_conversation(alice, title="Old name")

    renamed = browser.post(f"/c/{conversation.pk}/rename/", {"title": "Forged"})
    deleted = browser.post(f"/c/{conversation.pk}/delete/")

    assert renamed.status_code == 403 and deleted.status_code == 403
    conversation.refresh_from_db()
    assert conversation.title == "Old name"


def test_htmx_post_with_the_csrf_header_from_the_page_is_accepted(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    conversation = make_conversation(alice, title="Old name")
    page = browser.get(f"/c/{conversation.pk}/").content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)

    response = browser.post(
        f"/c/{conversation.pk}/rename/",
        {"title": "Via HTMX"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )

    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.title == "Via HTMX"


# Sidebar and the conversation page.


def test_sidebar_lists_only_own_conversations_newest_updated_first(as_alice, alice, bob):
    old = make_conversation(alice, title="Old", updated_ago=timedelta(days=3))
    new = make_conversation(alice, title="New", updated_ago=timedelta(minutes=1))
    middle = make_conversation(alice, title="Middle", updated_ago=timedelta(days=1))
    make_conversation(bob, title="Bob's chat")

    page = as_alice.get("/sidebar/").content.decode()

    ids = [int(i) for i in re.findall(r'class="conversation-item[^"]*" data-id="(\d+)"', page)]
    assert ids == [new.pk, middle.pk, old.pk]
    assert "Bob's chat" not in page


def test_conversation_page_embeds_messages_as_json_chat_state(as_alice, alice):
    conversation = make_conversation(alice, title="Plans")
    question = add_message(conversation, "What next?")
    answer = add_message(conversation, "Lunch.", role=Message.Role.ASSISTANT)

    response = as_alice.get(f"/c/{conversation.pk}/")

    assert response.status_code == 200
    state = json.loads(PageAudit(response.content.decode()).chat_state_text)
    assert state["conversation"]["id"] == conversation.pk
    assert state["conversation"]["title"] == "Plans"
    assert [(m["id"], m["role"]) for m in state["messages"]] == [
        (question.pk, "user"),
        (answer.pk, "assistant"),
    ]
    assert state["messages"][1]["content"] == [{"type": "text", "text": "Lunch."}]


def test_the_meter_refresh_says_used_up_when_no_message_fits_on_the_default_model(as_alice, alice):
    quota = ledger.quota_for(alice)
    quota.cost_limit = Decimal("0.0001")  # money left, but less than the shortest message
    quota.save()

    meter = as_alice.get(reverse("usage_meter"))

    assert meter.status_code == 200
    assert 'id="quota-exhausted"' in meter.content.decode()


def test_new_chat_page_has_empty_chat_state(as_alice):
    state = json.loads(PageAudit(as_alice.get("/").content.decode()).chat_state_text)

    assert state["conversation"] is None and state["messages"] == []


def test_the_chat_state_names_the_models_that_think_here(as_alice, alice, settings):
    """Continue asks in a new message on those: the page says so beside its button."""
    settings.DEMO_MODE = False
    settings.ANTHROPIC_API_KEY = "sk-ant-test"
    conversation = Conversation.objects.create(
        user=alice,
        model="claude-sonnet-4-5-20250929",
        settings={"thinking": {"enabled": True, "budget_tokens": 1024}},
    )
    state = json.loads(
        PageAudit(as_alice.get(conversation.get_absolute_url()).content.decode()).chat_state_text
    )
    assert "claude-sonnet-4-5-20250929" in state["thinking_models"]
    assert "claude-sonnet-4-5-20250929-thinking" in state["thinking_models"]
    assert "claude-haiku-4-5-20251001" in state["thinking_models"]  # supports the switch
    new_chat = json.loads(PageAudit(as_alice.get("/").content.decode()).chat_state_text)
    assert new_chat["thinking_models"] == [
        "claude-opus-4-1-20250805-thinking",
        "claude-sonnet-4-5-20250929-thinking",
    ]


def test_model_output_and_titles_are_escaped(as_alice, alice):
    conversation = make_conversation(alice, title=XSS)
    add_message(conversation, XSS, role=Message.Role.ASSISTANT)
    add_message(conversation, f'<img src=x onerror="alert(2)">{XSS}')

    for path in ["/", f"/c/{conversation.pk}/", "/sidebar/", f"/c/{conversation.pk}/delete/"]:
        page = as_alice.get(path).content.decode()
        assert XSS not in page, path
        assert "<img src=x" not in page, path
    state = PageAudit(as_alice.get(f"/c/{conversation.pk}/").content.decode()).chat_state_text
    assert json.loads(state)["messages"][0]["content"][0]["text"] == XSS


# Every page: CSP, no inline script, languages, no secrets.


@pytest.fixture
def site_pages(client, settings, make_user):
    """(path, status) of every kind of page, as a signed-in staff member."""
    settings.SIGNUP_MODE = "invite"
    admin = make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    conversation = make_conversation(admin)
    add_message(conversation, "hello")
    add_message(conversation, "hi", role=Message.Role.ASSISTANT)
    signed_out = [("/accounts/login/", 200), ("/accounts/signup/", 403), ("/c/1/", 302)]
    signed_in = [
        ("/", 200),
        (f"/c/{conversation.pk}/", 200),
        (f"/c/{conversation.pk}/rename/", 200),
        (f"/c/{conversation.pk}/delete/", 200),
        ("/sidebar/", 200),
        ("/meter/", 200),
        ("/accounts/password_change/", 200),
        ("/accounts/password_change/done/", 200),
        ("/admin/", 200),
        ("/c/999999/", 404),
    ]

    def visit():
        client.logout()
        for path, status in signed_out:
            yield path, status, client.get(path)
        client.force_login(admin)
        for path, status in signed_in:
            yield path, status, client.get(path)

    return visit


def test_every_page_sends_a_strict_content_security_policy(site_pages):
    for path, status, response in site_pages():
        assert response.status_code == status, path
        policy = dict(
            (d.split()[0], d.split()[1:]) for d in response["Content-Security-Policy"].split(";")
        )
        assert "'unsafe-inline'" not in policy["script-src"], path
        assert "'unsafe-eval'" not in policy["script-src"], path
        assert any(re.match(r"wss?://", s) for s in policy["connect-src"]), path


def test_no_page_has_inline_script(site_pages):
    for path, _status, response in site_pages():
        if response["Content-Type"].startswith("text/html"):
            assert PageAudit(response.content.decode()).inline == [], path


def test_accept_language_ja_gives_japanese_page(client):
    response = client.get("/accounts/login/", headers={"Accept-Language": "ja"})

    assert PageAudit(response.content.decode()).lang == "ja"
    assert "パスワード" in response.content.decode()


def test_english_is_the_default_language(client):
    assert PageAudit(client.get("/accounts/login/").content.decode()).lang == "en"


def test_set_language_sets_cookie_and_later_pages_are_japanese(as_alice):
    response = as_alice.post("/i18n/setlang/", {"language": "ja", "next": "/"})

    assert response.status_code == 302 and response.url == "/"
    assert as_alice.cookies["chatsite_language"].value == "ja"
    for path in ["/", "/accounts/password_change/"]:
        assert PageAudit(as_alice.get(path).content.decode()).lang == "ja", path


def test_japanese_pages_use_the_projects_own_translations(client):
    page = client.get("/accounts/login/", headers={"Accept-Language": "ja"}).content.decode()

    assert "Sign in" not in page and "Create an account" not in page


def test_api_key_never_reaches_a_page(site_pages, settings):
    settings.ANTHROPIC_API_KEY = SECRET
    settings.DEMO_MODE = False

    for path, _status, response in site_pages():
        assert SECRET not in response.content.decode(), path
        assert all(SECRET not in value for value in response.headers.values()), path
