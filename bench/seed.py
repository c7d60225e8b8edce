"""Seed a bench database: users with unlimited quotas and sessions, and the page fixtures.

Run as `python -m bench.seed` with the server's environment (DATA_DIR or DATABASE_URL); it
prints one JSON object on stdout. Passwords share one precomputed hash: hashing 500 passwords
at Django's PBKDF2 cost (about 0.5 s each here) would dominate the run. For the same reason
only `--http-logins` users sign in over HTTP later; the others get a session minted here with
exactly the keys `django.contrib.auth.login()` stores.
"""

import argparse
import importlib
import json
import os
import sys

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--http-logins", type=int, default=4)
    parser.add_argument("--password", required=True)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    json.dump(seed(args), sys.stdout)


def seed(args: argparse.Namespace) -> dict:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from accounts.models import Quota, User

    store = importlib.import_module(settings.SESSION_ENGINE).SessionStore
    password = make_password(args.password)

    def mint(user: User) -> str:
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        return session.session_key

    with transaction.atomic():
        names = [f"bench-{i:04d}" for i in range(args.users)]
        users = [User(username=n, password=password) for n in names]
        users += [User(username=n, password=password) for n in ("pages-big", "pages-small")]
        User.objects.bulk_create(users)
        users = list(User.objects.filter(username__in=[u.username for u in users]))
        Quota.objects.bulk_create(
            [Quota(user=u, period="none", cost_limit=None, token_limit=None) for u in users]
        )
        by_name = {u.username: u for u in users}
        sessions = {n: mint(by_name[n]) for n in names[args.http_logins :]}
        pages = {
            "big": _pages_fixture(by_name["pages-big"], args.conversations, args.messages),
            "small": _pages_fixture(by_name["pages-small"], 10, 10),
        }
        for fixture, name in ((pages["big"], "pages-big"), (pages["small"], "pages-small")):
            fixture["session"] = mint(by_name[name])
            fixture["username"] = name
    return {"users": names, "sessions": sessions, "pages": pages}


def _pages_fixture(user, conversations: int, messages: int) -> dict:
    """`conversations` conversations for `user`; the newest one holds `messages` messages."""
    from django.conf import settings

    from conversations.models import Conversation, Message

    convs = Conversation.objects.bulk_create(
        [
            Conversation(user=user, title=f"Bench conversation {i}", model=settings.CHAT_MODEL)
            for i in range(max(1, conversations))
        ]
    )
    target = convs[-1]
    text = "A benchmark message with **markdown** and `code`, about forty words long. " * 3
    Message.objects.bulk_create(
        [
            Message(
                conversation=target,
                role="user" if i % 2 == 0 else "assistant",
                status="complete",
                content=[{"type": "text", "text": f"{i}: {text}"}],
                model=settings.CHAT_MODEL,
                usage={} if i % 2 == 0 else {"input_tokens": 100, "output_tokens": 40},
            )
            for i in range(messages)
        ],
        batch_size=500,
    )
    # The newest conversation first in the sidebar: touch it last.
    Conversation.objects.filter(pk=target.pk).update(title="Bench: the long one")
    return {"conversation": target.pk, "conversations": conversations, "messages": messages}


if __name__ == "__main__":
    main()
