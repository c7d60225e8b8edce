"""The database statements of a send and of a settlement, on PostgreSQL (issue 14).

Counted with CaptureQueriesContext in a transactional test, so what the send path itself
opens is seen: Django 5.2 logs BEGIN (`set_autocommit(False)` under `debug_transaction`) and
COMMIT/ROLLBACK as entries of their own, and SAVEPOINT/RELEASE go through a cursor, so every
round trip to the server is one entry. A send is what the consumer does for a text `send`
frame: the signed-in re-check (`live_sessions.still_signed_in`) and `send_message` (the
limiter on Redis, the conversation, admission, both messages, the call and its hold). A
settlement is `finish_reply` of a completed reply with its usage.

Run by tests/conversations/test_statement_counts.py in a pytest subprocess whose
DATABASE_URL is a throwaway PostgreSQL server (not collected on its own: the file name lacks
the test_ prefix); Django cannot switch its database inside one process (tests/pg.py).
"""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import live_sessions
from conversations import services
from conversations.settlement import finish_reply
from tests.redis_server import redis_server

# Ceilings: what the send path costs now, so that a regression fails. Issue 14's targets are
# a send in at most 10 statements and a settlement in at most 6 (docs/performance.md has the
# history: 21 and 10 before issue 14, 12 and 8 before decision 100).
SEND_STATEMENTS = 9
FIRST_SEND_STATEMENTS = 16  # a new conversation, and here the user's first balance row
SETTLEMENT_STATEMENTS = 6
FIRST_SETTLEMENT_STATEMENTS = 6

USAGE = {"input_tokens": 30, "output_tokens": 12}


@pytest.fixture
def redis_url():
    with redis_server() as url:
        yield url


def _listing(queries: CaptureQueriesContext) -> str:
    return "\n".join(f"{i + 1}. {q['sql'][:160]}" for i, q in enumerate(queries.captured_queries))


def _send(user, session_key: str, conversation_id: int | None) -> tuple[object, list]:
    with CaptureQueriesContext(connection) as queries:
        assert live_sessions.still_signed_in(user.pk, session_key)
        result = services.send_message(user, conversation_id, "How far is the Moon?")
    return result, queries


def _settle(result) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as queries:
        finished = finish_reply(
            result.reply.pk,
            call_id=result.call.pk,
            status="complete",
            content=[{"type": "text", "text": "About 384,400 km."}],
            seq=3,
            stop_reason="end_turn",
            usage=USAGE,
            complete=True,
        )
    assert finished.outcome == "stored"
    return queries


@pytest.mark.django_db(transaction=True)
def test_send_and_settlement_statement_counts(chat_model, make_user, settings, redis_url):
    assert connection.vendor == "postgresql", "counted on PostgreSQL only (see the docstring)"
    settings.REDIS_URL = redis_url  # the limiter's counters leave the database
    alice = make_user("alice")
    client = Client()
    client.force_login(alice)
    session_key = client.session.session_key

    first, first_send = _send(alice, session_key, None)
    first_settlement = _settle(first)
    # Steady state: the next send to the same conversation, and its settlement.
    second, send = _send(alice, session_key, first.conversation.pk)
    settlement = _settle(second)

    counts = {
        "first send": len(first_send),
        "first settlement": len(first_settlement),
        "send": len(send),
        "settlement": len(settlement),
    }
    print("statement counts:", counts)
    for name, captured in [("send", send), ("settlement", settlement), ("first send", first_send)]:
        print(f"-- {name}\n{_listing(captured)}")
    assert len(send) <= SEND_STATEMENTS, _listing(send)
    assert len(settlement) <= SETTLEMENT_STATEMENTS, _listing(settlement)
    assert len(first_send) <= FIRST_SEND_STATEMENTS, _listing(first_send)
    assert len(first_settlement) <= FIRST_SETTLEMENT_STATEMENTS, _listing(first_settlement)
    # Each counted transaction shows its own BEGIN and COMMIT: the count includes them.
    assert any(q["sql"] == "BEGIN" for q in send.captured_queries), _listing(send)
    assert any(q["sql"] == "COMMIT" for q in settlement.captured_queries), _listing(settlement)
