"""Prepared: a queryset compiled once, run again with other ids, gives what the queryset gives."""

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext

from accounts.models import Quota, User
from accounts.prepared import Prepared
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


def _chat(user, title: str, streaming: bool = False) -> Conversation:
    chat = Conversation.objects.create(user=user, title=title, model="m")
    Message.objects.create(conversation=chat, role="user", content=[{"type": "text", "text": "hi"}])
    if streaming:
        Message.objects.create(conversation=chat, role="assistant", status="streaming")
    return chat


def _with_busy(user_id: int, chat_id: int):
    streaming = Message.objects.filter(conversation_id=OuterRef("pk"), status="streaming")
    chats = Conversation.objects.filter(user_id=user_id, pk=chat_id)
    return chats.select_related("user").annotate(busy=Exists(streaming))


def test_each_call_runs_the_compiled_sql_with_its_own_ids(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    quiet, busy = _chat(alice, "quiet"), _chat(alice, "busy", streaming=True)
    bobs = _chat(bob, "bob's")
    prepared = Prepared(_with_busy)

    for user, chat in [(alice, quiet), (alice, busy), (bob, bobs)]:
        with CaptureQueriesContext(connection) as queries:
            found = prepared(user.pk, chat.pk)
        expected = list(_with_busy(user.pk, chat.pk))
        assert [(c.pk, c.title, c.busy) for c in found] == [
            (c.pk, c.title, c.busy) for c in expected
        ]
        assert found[0].user.username == user.username  # select_related filled, no query
        assert len(queries) == 1
    assert prepared(bob.pk, quiet.pk) == []  # another user's id: nothing
    assert len(prepared.compiled) == 1  # compiled once


def test_values_come_through_the_fields_converters(make_user):
    alice = make_user("alice")
    Quota.objects.create(user=alice, period="day", cost_limit="1.25", token_limit=500)
    found = Prepared(lambda user_id: Quota.objects.filter(user_id=user_id))(alice.pk)
    quota = Quota.objects.get(user=alice)
    assert found[0].cost_limit == quota.cost_limit  # MoneyField: picodollars → Decimal
    assert found[0].updated_at == quota.updated_at  # an aware datetime on SQLite too
    assert isinstance(found[0], Quota) and not found[0]._state.adding


def test_an_id_that_does_not_reach_the_sql_as_a_parameter_is_refused(make_user):
    alice = make_user("alice")
    # The id only decides the shape of the query (a Python branch), not a parameter of it:
    # running the compiled SQL with another id would answer for the first one.
    shaped = Prepared(lambda user_id: User.objects.filter(is_staff=user_id > 0))
    with pytest.raises(ValueError, match="not a plain parameter"):
        shaped(alice.pk)
