"""Racing sends of one user never start more replies than their limit, on SQLite and PostgreSQL."""

import re
import threading
from pathlib import Path

import pytest
from django.db import connection

from conversations.models import Message
from conversations.services import ChatError, send_message
from tests.pg import ROOT, is_postgresql_run, pytest_on_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

SENDERS = 8
CAP = 3


def send_together(user) -> list[str]:
    """SENDERS threads send at once, each on its own connection; what each got."""
    barrier = threading.Barrier(SENDERS)
    outcomes: list[str] = []

    def send() -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            send_message(user, None, "at once")
            outcomes.append("sent")
        except ChatError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)


def test_racing_sends_start_no_more_replies_than_the_limit(chat_model, make_user, settings):
    settings.REDIS_URL = ""
    settings.CHAT_SENDS_PER_MINUTE = 0
    settings.CHAT_MAX_CONCURRENT_REPLIES = CAP
    alice = make_user("alice")

    outcomes = send_together(alice)

    assert outcomes == ["rate_limited"] * (SENDERS - CAP) + ["sent"] * CAP
    streaming = Message.objects.filter(conversation__user=alice, status="streaming")
    assert streaming.count() == CAP


def test_racing_sends_on_postgresql():
    """The same race on PostgreSQL 15, where the quota row's lock is what serialises it."""
    if is_postgresql_run():
        return  # this is the PostgreSQL run itself
    module = str(Path(__file__).relative_to(ROOT))
    done = pytest_on_postgresql(module, "-k", "not postgresql")
    assert done.returncode == 0, f"the PostgreSQL run failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"\b1 passed", done.stdout), done.stdout
