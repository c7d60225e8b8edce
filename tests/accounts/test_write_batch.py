"""WriteBatch: inserts naming each other's ids and raw UPDATEs, run together (decision 100).

On SQLite (here) the parts run in turn; PostgreSQL runs them as one statement, which
tests/conversations/test_statement_counts.py counts on a throwaway server through the send
and settlement that use it.
"""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import LedgerEntry, UpstreamCall
from accounts.write_batch import Ref, WriteBatch

# Calls without holds, on purpose: the batch is tested, not the ledger.
pytestmark = [pytest.mark.django_db, pytest.mark.ledger_unchecked]


def _call(user) -> UpstreamCall:
    now = timezone.now()
    return UpstreamCall(user=user, source="chat", model="m", heartbeat_at=now, created_at=now)


def _hold(user, call) -> LedgerEntry:
    return LedgerEntry(user=user, kind="hold", model="m", call=call, tokens=5, cost=Decimal("1.5"))


def test_an_insert_takes_an_earlier_inserts_id_and_both_instances_get_theirs(make_user):
    alice = make_user("alice")
    call = _call(alice)
    hold = _hold(alice, call)
    batch = WriteBatch()
    batch.insert("call", call)
    batch.insert("hold", hold, call_id=Ref("call"))
    found = batch.run()

    assert found == {"call": call.pk, "hold": hold.pk}
    stored = LedgerEntry.objects.get(pk=hold.pk)
    assert stored.call_id == call.pk == hold.call_id
    assert stored.cost == Decimal("1.5")  # the field's own conversion (picodollars) was used
    assert not call._state.adding and not hold._state.adding


def test_an_update_names_an_insert_and_reports_the_rows_it_matched(make_user):
    alice = make_user("alice")
    call = _call(alice)
    seen = []
    batch = WriteBatch()
    batch.insert("call", call)
    batch.update(
        "UPDATE accounts_upstreamcall SET output_chars = 7 WHERE id = {call}", [], name="marked"
    )
    batch.update("UPDATE accounts_upstreamcall SET output_chars = 9 WHERE id = -1", [], name="none")
    batch.then(seen.append)
    found = batch.run()

    assert found["marked"] == 1 and found["none"] == 0
    assert UpstreamCall.objects.get(pk=call.pk).output_chars == 7
    assert seen == [found]  # the callback ran once, with the ids


def test_update_fields_writes_only_the_named_fields(make_user):
    alice = make_user("alice")
    call = _call(alice)
    call.save()
    call.output_chars, call.model = 42, "changed in memory only"
    batch = WriteBatch()
    batch.update_fields(call, ["output_chars"])
    batch.run()
    stored = UpstreamCall.objects.get(pk=call.pk)
    assert stored.output_chars == 42 and stored.model == "m"


def test_a_batch_runs_once_and_an_empty_one_writes_nothing(make_user):
    alice = make_user("alice")
    batch = WriteBatch()
    assert batch.run() == {}
    batch.insert("call", _call(alice))
    batch.run()
    assert batch.run() == {}  # emptied by the first run: nothing inserted twice
    assert UpstreamCall.objects.count() == 1


def test_a_failing_part_leaves_nothing_of_the_batch(make_user):
    alice = make_user("alice")
    call = _call(alice)
    batch = WriteBatch()
    batch.insert("call", call)
    batch.insert("hold", _hold(alice, call), call_id=Ref("call"), user_id=Ref("missing"))
    with pytest.raises((KeyError, IntegrityError)), transaction.atomic():
        batch.run()
    assert UpstreamCall.objects.count() == 0 and LedgerEntry.objects.count() == 0
