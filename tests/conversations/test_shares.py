"""Shared links: snapshots, the one 404, visibility, attachments scope, forks, owner pages."""

import json
import re
import secrets
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry
from conversations import shares
from conversations.models import Conversation, Message, Share
from conversations.selectors import default_model_for

from .test_views import PageAudit, add_message, append_message, make_conversation

pytestmark = pytest.mark.django_db

XSS_REPLY = (
    'Unsafe: <img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> '
    "[link](javascript:window.__xss=3) <svg onload=alert(4)>"
)


@pytest.fixture
def as_bob(bob):
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def chat(alice):
    conversation = make_conversation(alice, title="Offsite plans")
    conversation.system_prompt = "You are SECRET-PROMPT-42."
    conversation.save()
    add_message(conversation, "Where should the team go?")
    append_message(
        conversation,
        role=Message.Role.ASSISTANT,
        content=[
            {"type": "thinking", "thinking": "Consider budgets.", "signature": "SIG-abc"},
            {"type": "text", "text": "Kyoto, with `code`."},
        ],
        model="claude-sonnet-4-5-20250929",
        usage={"input_tokens": 123456, "output_tokens": 654321},
    )
    return conversation


def share_of(conversation, **options) -> Share:
    return shares.create_share(conversation.user, conversation.pk, **options)


def texts(share: Share) -> list[str]:
    return [b.get("text", "") for m in share.snapshot_messages for b in m["content"] if "text" in b]


def share_state(html: str) -> dict:
    match = re.search(r'<script id="share-state" type="application/json">(.*?)</script>', html)
    return json.loads(match.group(1))


# The snapshot.


def test_snapshot_excludes_later_messages_until_the_owner_updates_it(chat, alice, as_alice):
    share = share_of(chat)
    add_message(chat, "And in winter?")
    Message.objects.filter(conversation=chat, role="assistant").update(
        content=[{"type": "text", "text": "Edited later."}]
    )

    page = Client().get(share.get_absolute_url()).content.decode()
    assert "Kyoto" in page and "And in winter?" not in page and "Edited later." not in page

    response = as_alice.post(f"/shares/{share.pk}/update/")
    assert response.status_code == 302
    page = Client().get(share.get_absolute_url()).content.decode()
    assert "And in winter?" in page and "Edited later." in page
    assert Share.objects.get(pk=share.pk).token == share.token  # same link, new snapshot


def test_snapshot_drops_thinking_signatures_and_replies_still_streaming(chat):
    append_message(chat, role="assistant", status=Message.Status.STREAMING, content=[])
    share = share_of(chat)

    assert [m["role"] for m in share.snapshot_messages] == ["user", "assistant"]
    assert "SIG-abc" not in json.dumps(share.snapshot)
    assert share.snapshot_messages[1]["content"][0] == {
        "type": "thinking",
        "thinking": "Consider budgets.",
    }
    assert share.snapshot["attachments"] == []


# One 404 for unknown, revoked and expired tokens.


def test_revoked_expired_and_random_tokens_return_an_identical_404(chat, as_alice):
    revoked, expired = share_of(chat), share_of(chat, expires_in=timedelta(days=1))
    as_alice.post(f"/shares/{revoked.pk}/revoke/")
    Share.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    tokens = [revoked.token, expired.token, secrets.token_urlsafe(32), "x"]

    for client in (Client(), as_alice):
        responses = [client.get(f"/s/{t}/") for t in tokens]
        assert {r.status_code for r in responses} == {404}
        assert len({r.content for r in responses}) == 1
        assert len({r.headers.get("Content-Type") for r in responses}) == 1
        for t in tokens:
            assert client.post(f"/s/{t}/continue/").status_code == 404
    assert shares.share_for_token(revoked.token) is None
    assert shares.share_for_token(expired.token) is None


def test_expiry_from_the_form_sets_the_date_and_the_link_works_until_then(chat, as_alice):
    response = as_alice.post(f"/c/{chat.pk}/share/", {"visibility": "anyone", "expiry": "7"})
    share = Share.objects.get(conversation=chat)
    assert response.status_code == 302 and response["Location"].endswith(f"?created={share.pk}")
    assert abs(share.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert Client().get(share.get_absolute_url()).status_code == 200


def test_deleting_the_conversation_revokes_its_links(chat, as_alice):
    share = share_of(chat)
    as_alice.post(f"/c/{chat.pk}/delete/")
    assert Client().get(share.get_absolute_url()).status_code == 404
    assert not Share.objects.filter(pk=share.pk).exists()


# Visibility.


def test_members_only_link_sends_anonymous_visitors_to_sign_in(chat, as_bob):
    share = share_of(chat, visibility=Share.Visibility.MEMBERS)

    response = Client().get(share.get_absolute_url())
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/s/{share.token}/"
    assert Share.objects.get(pk=share.pk).view_count == 0  # the redirect is not a view
    assert "Kyoto" in as_bob.get(share.get_absolute_url()).content.decode()
    assert Client().get(f"/s/{share.token}/attachments/1/").status_code == 404


def test_view_count_increments_on_each_view(chat):
    share = share_of(chat)
    for _ in range(3):
        Client().get(share.get_absolute_url())
    assert Share.objects.get(pk=share.pk).view_count == 3


# What the page shows.


def test_shared_page_has_noindex_title_preview_and_no_inline_script(chat):
    share = share_of(chat)
    response = Client().get(share.get_absolute_url())
    html = response.content.decode()

    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "no-store" in response["Cache-Control"]
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert re.search(r"<title>Offsite plans · chatsite</title>", html)
    assert '<meta property="og:title" content="Offsite plans">' in html
    assert '<meta property="og:description" content="Where should the team go?">' in html
    assert PageAudit(html).inline == []
    assert "Content-Security-Policy" in response


def test_preview_description_is_escaped_and_truncated(alice):
    conversation = make_conversation(alice, title='"><script>alert(1)</script>')
    add_message(conversation, '"><b>x</b> ' + "word " * 100)
    html = Client().get(share_of(conversation).get_absolute_url()).content.decode()

    description = re.search(r'<meta property="og:description" content="([^"]*)">', html)
    assert description and len(unescape(description.group(1))) <= 150
    assert "<script>alert(1)" not in html and "<b>x</b>" not in html


def test_shared_page_hides_system_prompt_usage_cost_model_and_other_chats(chat, alice):
    make_conversation(alice, title="Private salary talk")
    html = Client().get(share_of(chat).get_absolute_url()).content.decode()

    for secret in ("SECRET-PROMPT-42", "123456", "654321", "claude-sonnet", "salary", "$"):
        assert secret not in html
    assert "Kyoto" in html
    assert set(share_state(html)["messages"][1]) == {"role", "status", "content", "attachments"}


def test_system_prompt_is_shown_only_when_the_owner_includes_it(chat):
    hidden = share_of(chat)
    shown = share_of(chat, include_system_prompt=True)
    assert hidden.system_prompt == ""
    assert "SECRET-PROMPT-42" not in Client().get(hidden.get_absolute_url()).content.decode()
    assert "SECRET-PROMPT-42" in Client().get(shown.get_absolute_url()).content.decode()


class ActiveMarkup(HTMLParser):
    """Elements and attributes a browser would run, outside the JSON data island."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in {"img", "svg", "iframe"} or (tag == "script" and "src" not in attrs):
            if attrs.get("type") != "application/json":
                self.found.append(tag)
        self.found += [f"{tag}[{name}]" for name in attrs if name.startswith("on")]
        if (attrs.get("href") or "").startswith("javascript:"):
            self.found.append(f"{tag}[href=javascript]")


def test_model_output_with_script_and_event_handler_payloads_is_inert(alice):
    conversation = make_conversation(alice, title="XSS")
    add_message(conversation, '<img src=x onerror="window.__xss=9">')
    add_message(conversation, XSS_REPLY, role=Message.Role.ASSISTANT)
    html = Client().get(share_of(conversation).get_absolute_url()).content.decode()

    assert ActiveMarkup(html).found == []
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in html  # the server's escaped text
    state = share_state(html)  # the browser renders this through markdown-it + DOMPurify
    assert state["messages"][1]["content"][0]["text"] == XSS_REPLY


# Attachments: the share's own scope only.


def test_a_share_token_cannot_fetch_an_attachment_outside_its_snapshot(chat, alice):
    plain = share_of(chat, include_attachments=True)
    other = share_of(chat, include_attachments=True)
    Share.objects.filter(pk=other.pk).update(snapshot={"messages": [], "attachments": [{"id": 7}]})

    assert Client().get(f"/s/{plain.token}/attachments/7/").status_code == 404
    assert Client().get(f"/s/{plain.token}/attachments/1/").status_code == 404
    assert Client().get(f"/s/{secrets.token_urlsafe(32)}/attachments/7/").status_code == 404
    other.refresh_from_db()
    assert shares.snapshot_attachment(plain, 7) is None
    assert shares.snapshot_attachment(other, 7) == {"id": 7}
    assert shares.snapshot_attachment(other, 8) is None
    Share.objects.filter(pk=other.pk).update(include_attachments=False)
    other.refresh_from_db()
    assert shares.snapshot_attachment(other, 7) is None


# Forks.


def test_continue_forks_a_copy_owned_by_the_viewer(chat, bob, as_bob):
    share = share_of(chat, include_system_prompt=True)

    response = as_bob.post(f"/s/{share.token}/continue/")

    fork = Conversation.objects.get(user=bob)
    assert response.status_code == 302 and response["Location"] == f"/c/{fork.pk}/"
    assert fork.title == "Offsite plans" and fork.system_prompt == "You are SECRET-PROMPT-42."
    default = default_model_for(bob)
    assert fork.model == (default.model_id if default else "")
    copied = list(fork.messages.order_by("id"))
    assert [(m.role, m.text) for m in copied] == [
        ("user", "Where should the team go?"),
        ("assistant", "Kyoto, with `code`."),
    ]
    assert all(m.usage == {} for m in copied)
    assert as_bob.get(f"/c/{fork.pk}/").status_code == 200


def test_fork_and_original_are_independent(chat, bob, as_bob):
    share = share_of(chat)
    as_bob.post(f"/s/{share.token}/continue/")
    fork = Conversation.objects.get(user=bob)

    chat.messages.filter(role="user").update(content=[{"type": "text", "text": "Changed"}])
    chat.messages.filter(role="assistant").delete()
    assert [m.text for m in fork.messages.order_by("id")] == [
        "Where should the team go?",
        "Kyoto, with `code`.",
    ]

    fork.messages.filter(role="user").update(content=[{"type": "text", "text": "Bob's edit"}])
    add_message(fork, "Bob's follow-up")
    fork.delete()
    assert [m.text for m in chat.messages.all()] == ["Changed"]
    share.refresh_from_db()
    assert texts(share) == ["Where should the team go?", "Kyoto, with `code`."]


def test_fork_leaves_out_the_system_prompt_unless_it_was_shared(chat, bob):
    fork = shares.fork_share(bob, share_of(chat))
    assert fork.system_prompt == ""


def test_anonymous_continue_goes_to_sign_in_and_get_is_refused(chat, as_bob):
    share = share_of(chat)
    response = Client().post(f"/s/{share.token}/continue/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert as_bob.get(f"/s/{share.token}/continue/").status_code == 405
    assert not Conversation.objects.exclude(pk=chat.pk).exists()


def test_page_offers_continue_to_members_and_sign_in_to_visitors(chat, as_bob):
    share = share_of(chat)
    assert "Continue this conversation" in as_bob.get(share.get_absolute_url()).content.decode()
    anonymous = Client().get(share.get_absolute_url()).content.decode()
    assert "Sign in to continue" in anonymous and "Shared links" not in anonymous


# The owner's pages and other users.


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/c/{conversation}/share/"),
        ("post", "/c/{conversation}/share/"),
        ("post", "/shares/{share}/update/"),
        ("post", "/shares/{share}/revoke/"),
    ],
)
def test_other_users_cannot_share_update_or_revoke(chat, as_bob, method, path):
    share = share_of(chat)
    url = path.format(conversation=chat.pk, share=share.pk)
    response = getattr(as_bob, method)(url, {"visibility": "anyone", "expiry": "never"})
    assert response.status_code == 404
    assert Share.objects.filter(conversation=chat).count() == 1
    assert Share.objects.get(pk=share.pk).is_live()


def test_share_form_shows_the_new_link_with_a_copy_button(chat, as_alice):
    response = as_alice.post(f"/c/{chat.pk}/share/", {"visibility": "members", "expiry": "never"})
    page = as_alice.get(response["Location"]).content.decode()
    share = Share.objects.get(conversation=chat)

    assert share.visibility == "members" and share.expires_at is None
    assert f'value="http://testserver/s/{share.token}/"' in page
    assert 'data-copy-from="share-url"' in page and PageAudit(page).inline == []


def test_shared_links_page_lists_only_own_links_with_their_details(chat, as_alice, bob, as_bob):
    share = share_of(chat, expires_in=timedelta(days=1))
    Client().get(share.get_absolute_url())
    theirs = share_of(make_conversation(bob, title="Bob's chat"))

    page = as_alice.get("/shares/").content.decode()
    assert "Offsite plans" in page and "Bob's chat" not in page and theirs.token not in page
    row = re.search(rf'data-id="{share.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "Anyone with the link" in row and "Active" in row and '"num">1<' in row
    for label in ("Copy link", "Update snapshot", "Revoke"):
        assert label in row

    as_alice.post(f"/shares/{share.pk}/revoke/")
    row = re.search(
        rf'data-id="{share.pk}">(.*?)</tr>', as_alice.get("/shares/").content.decode(), re.S
    )
    assert "Revoked" in row.group(1) and "Update snapshot" not in row.group(1)
    assert as_alice.post(f"/shares/{share.pk}/update/").status_code == 404


def test_update_and_revoke_refuse_get_and_redirect_only_to_this_site(chat, as_alice):
    share = share_of(chat)
    assert as_alice.get(f"/shares/{share.pk}/revoke/").status_code == 405
    response = as_alice.post(f"/shares/{share.pk}/update/", {"next": "https://evil.example/"})
    assert response["Location"] == "/shares/"
    response = as_alice.post(f"/shares/{share.pk}/revoke/", {"next": f"/c/{chat.pk}/share/"})
    assert response["Location"] == f"/c/{chat.pk}/share/"


def test_admin_lists_and_revokes_any_link(chat, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-12345")
    client = Client()
    client.force_login(admin)
    share = share_of(chat)

    listing = client.get("/admin/conversations/share/")
    assert listing.status_code == 200 and "Offsite plans" in listing.content.decode()
    assert client.get("/admin/conversations/share/add/").status_code == 403
    client.post(
        "/admin/conversations/share/",
        {"action": "revoke_selected", "_selected_action": [share.pk]},
    )
    assert Client().get(share.get_absolute_url()).status_code == 404


def test_admin_revoking_a_link_is_recorded_once(chat, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-12345")
    client = Client()
    client.force_login(admin)
    live, revoked = share_of(chat), share_of(chat)
    shares.revoke_share(chat.user, revoked.pk)
    selected = [live.pk, revoked.pk]

    client.post(
        "/admin/conversations/share/", {"action": "revoke_selected", "_selected_action": selected}
    )

    [entry] = AuditEntry.objects.all()
    live.refresh_from_db()
    assert (entry.actor, entry.action, entry.target_id) == (admin, "share_revoked", str(live.pk))
    assert entry.before == {"revoked_at": None}
    assert entry.after == {"revoked_at": live.revoked_at.isoformat()}
