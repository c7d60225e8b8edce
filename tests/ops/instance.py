"""A populated chatsite instance and its fingerprint, for the backup and restore test.

Run inside an instance's Django (`chatsite-manage shell -c ...`): `populate()` fills it through
the real services (sign-up, sends and finished replies, a share, grants and adjustments, a
signed-in session) and `fingerprint()` prints, as one JSON line, every table's row count and
exact values a restore must bring back.
"""

import json
from decimal import Decimal

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.db import SessionStore

from accounts import ledger
from accounts.models import LedgerEntry, Quota, UpstreamCall, User
from conversations.models import Message, Share
from conversations.services import send_message
from conversations.settlement import finish_reply
from conversations.shares import create_share

PASSWORD = "correct horse battery"


def _reply(user: User, conversation_id: int | None, text: str, answer: str, tokens: int) -> int:
    """Send `text` and finish its reply with `answer`: a charged call, as the runner does it."""
    sent = send_message(user, conversation_id, text, client_id=f"client-{tokens}")
    finish_reply(
        sent.reply.pk,
        call_id=sent.call.pk,
        status=Message.Status.COMPLETE,
        content=[{"type": "text", "text": answer}],
        seq=3,
        stop_reason="end_turn",
        usage={"input_tokens": tokens, "output_tokens": tokens // 2},
        complete=True,
    )
    return sent.conversation.pk


def populate() -> None:
    """Fill the instance, then print its session key and its fingerprint."""
    hashed = make_password(PASSWORD)  # one hash for all: the production hasher takes a while
    admin = User.objects.create_superuser("admin", password=None)
    alice = User.objects.create_user("alice", password=None)
    bob = User.objects.create_user("bob", password=None)
    User.objects.update(password=hashed)
    first = _reply(alice, None, "Bonjour, こんにちは", "Hello in two languages", 1200)
    _reply(alice, first, "And a follow-up", "A second answer", 800)
    _reply(bob, None, "Bob's question", "Bob's answer", 400)
    create_share(alice, first, visibility=Share.Visibility.MEMBERS, include_system_prompt=True)
    ledger.grant(alice, cost=Decimal("2.5"), tokens=1000, reason="welcome", by=admin)
    ledger.adjust(bob, cost=Decimal("0.125"), reason="correction", by=admin)
    session = SessionStore()
    session["_auth_user_id"] = str(alice.pk)
    session.create()
    print(json.dumps({"session": session.session_key}))
    fingerprint(session.session_key)


def fingerprint(session_key: str) -> None:
    # First: a balance makes a missing quota row from the defaults, which the counts then see.
    balances = {
        user.username: [str(b.spent_cost), b.spent_tokens, str(b.held_cost), b.held_tokens]
        for user in User.objects.order_by("pk")
        for b in [ledger.balance(user)]
    }
    counts = {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }
    users = list(User.objects.order_by("pk").values_list("username", "password", "is_superuser"))
    messages = list(
        Message.objects.order_by("pk").values_list(
            "conversation__title", "role", "status", "content", "usage", "stop_reason"
        )
    )
    entries = [
        [e.user.username, e.kind, str(e.cost), e.tokens, e.reason, e.call_id]
        for e in LedgerEntry.objects.order_by("pk").select_related("user")
    ]
    shares = list(Share.objects.values_list("token", "visibility", "title", "snapshot"))
    print(
        json.dumps(
            {
                "counts": counts,
                "users": users,
                "messages": messages,
                "ledger": entries,
                "shares": shares,
                "quotas": list(
                    Quota.objects.order_by("pk").values_list("user__username", "period")
                ),
                "calls": list(UpstreamCall.objects.order_by("pk").values_list("status", "model")),
                "balances": balances,
                # Signed with SECRET_KEY: it decodes only if the key came back too.
                "session_user": SessionStore(session_key=session_key).load().get("_auth_user_id"),
            },
            default=str,
            sort_keys=True,
        )
    )


def write_more() -> None:
    """More of everything: on a restored copy new rows need PostgreSQL's sequences to have
    come back too; on the instance itself, these rows are what a restore must take away."""
    bob = User.objects.get(username="bob")
    newest = LedgerEntry.objects.order_by("-pk").first().pk
    _reply(bob, None, "Written after the backup", "An answer to lose", 600)
    ledger.grant(bob, cost=Decimal("1"), reason="after the backup")
    assert LedgerEntry.objects.order_by("-pk").first().pk > newest


def check_restored(session_key: str) -> None:
    """Print the restored instance's fingerprint, then write to it."""
    fingerprint(session_key)
    write_more()
