"""The ledger's calls: each upstream call is admitted, held and settled exactly once, with or
without a message, and `check_ledger` proves it (or says what is wrong)."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from accounts import ledger
from accounts.ledger_check import problems
from accounts.models import LedgerEntry, UpstreamCall
from conversations import settlement
from conversations.models import CatalogModel, Conversation, Message

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind
HAIKU = "claude-haiku-4-5-20251001"


def entries(kind: str, **filters) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(kind=kind, **filters).order_by("id"))


def a_call(user, *, message=None, source=UpstreamCall.Source.CHAT) -> ledger.Admission:
    """What a caller of the ledger does before it sends a request: admit it."""
    model = CatalogModel.objects.get(model_id=HAIKU)
    with transaction.atomic():
        return ledger.admit(user, model, 300, 1000, source=source, message=message)


def test_a_reply_with_three_calls_is_held_and_charged_once_per_call(make_user):
    alice = make_user("alice")
    conversation = Conversation.objects.create(user=alice, model=HAIKU)
    reply = Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT)
    haiku = CatalogModel.objects.get(model_id=HAIKU)
    rounds = [{"input_tokens": 100 * n, "output_tokens": 10 * n} for n in (1, 2, 3)]

    # Three rounds of one reply (tool rounds, Continue): each admitted while the last ends.
    for usage in rounds:
        admission = a_call(alice, message=reply)
        assert ledger.balance(alice).held_cost > 0
        assert ledger.settle(admission.call, usage, estimated=False) is not None
        assert ledger.settle(admission.call, usage, estimated=False) is None

    assert len(entries(Kind.HOLD, message=reply)) == 3
    assert len(entries(Kind.RELEASE, message=reply)) == 3
    charges = entries(Kind.CHARGE, message=reply)
    assert [c.input_tokens for c in charges] == [100, 200, 300]
    assert len({c.call_id for c in charges}) == 3
    current = ledger.balance(alice)
    assert current.held_cost == 0
    assert current.spent_cost == sum(haiku.pricing().cost(u)[0] for u in rounds)
    assert problems() == []


def test_a_call_with_no_message_is_held_and_charged_once(make_user):
    alice = make_user("alice")
    haiku = CatalogModel.objects.get(model_id=HAIKU)

    admission = a_call(alice, source=UpstreamCall.Source.TITLE)
    (hold,) = entries(Kind.HOLD)
    assert hold.message_id is None and hold.call.source == "title"
    assert admission.call.status == "running" and admission.call.worker

    usage = {"input_tokens": 40, "output_tokens": 8}
    charge = ledger.settle(admission.call.pk, usage, estimated=False)
    assert ledger.settle(admission.call.pk, usage, estimated=False) is None

    assert charge.cost == haiku.pricing().cost(usage)[0] and charge.message_id is None
    admission.call.refresh_from_db()
    assert admission.call.status == "settled" and admission.call.settled_at
    assert ledger.balance(alice).held_cost == 0
    assert problems() == []


def test_the_reaper_settles_a_call_whose_worker_is_gone_and_spares_a_live_one(make_user):
    alice = make_user("alice")
    dead, live = a_call(alice, source="title").call, a_call(alice, source="gateway").call
    UpstreamCall.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        usage={"input_tokens": 50},
        output_chars=30,
    )

    settlement.reap_interrupted()

    (charge,) = entries(Kind.CHARGE)
    assert charge.call_id == dead.pk and charge.estimated
    assert (charge.input_tokens, charge.output_tokens) == (50, 10)
    live.refresh_from_db()
    assert live.status == "running"


def test_an_unreported_call_that_streamed_is_charged_its_estimated_prompt(make_user):
    alice = make_user("alice")
    call = a_call(alice).call
    UpstreamCall.objects.filter(pk=call.pk).update(input_estimate=120)

    charge = ledger.settle_call(call.pk, {}, 90, complete=False)

    assert (charge.input_tokens, charge.output_tokens, charge.estimated) == (120, 30, True)


def test_check_ledger_command_passes_on_a_consistent_ledger(make_user):
    alice = make_user("alice")
    call = a_call(alice).call
    ledger.settle_call(call.pk, {"input_tokens": 10, "output_tokens": 5}, 0, complete=True)
    ledger.grant(alice, cost=Decimal(1), reason="bonus")
    out = io.StringIO()

    call_command("check_ledger", stdout=out)

    assert "consistent" in out.getvalue()


def _tamper_charge_cost(alice) -> None:
    LedgerEntry.objects.filter(kind=Kind.CHARGE).update(cost=Decimal("9.99"))


def _delete_a_release(alice) -> None:
    LedgerEntry.objects.filter(kind=Kind.RELEASE).delete()


def _leave_a_hold_with_a_dead_worker(alice) -> None:
    call = a_call(alice).call
    UpstreamCall.objects.filter(pk=call.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


def _a_hold_outside_any_call(alice) -> None:
    LedgerEntry.objects.create(user=alice, kind=Kind.HOLD, tokens=10, cost=Decimal(1))


def _a_release_that_does_not_match(alice) -> None:
    LedgerEntry.objects.filter(kind=Kind.RELEASE).update(tokens=-1)


def _tokens_that_disagree_with_usage(alice) -> None:
    LedgerEntry.objects.filter(kind=Kind.CHARGE).update(tokens=1)


@pytest.mark.ledger_unchecked
@pytest.mark.parametrize(
    "corrupt",
    [
        _tamper_charge_cost,
        _delete_a_release,
        _leave_a_hold_with_a_dead_worker,
        _a_hold_outside_any_call,
        _a_release_that_does_not_match,
        _tokens_that_disagree_with_usage,
    ],
)
def test_check_ledger_fails_on_a_corrupted_ledger(make_user, corrupt):
    alice = make_user("alice")
    call = a_call(alice).call
    ledger.settle_call(call.pk, {"input_tokens": 10, "output_tokens": 5}, 0, complete=True)
    assert problems() == []

    corrupt(alice)

    with pytest.raises(CommandError, match="problems"):
        call_command("check_ledger", stderr=io.StringIO())


def test_the_admin_lists_calls_read_only_to_those_who_may_view_them(make_user, client):
    alice = make_user("alice")
    call = a_call(alice, source=UpstreamCall.Source.TITLE).call
    staff = make_user("support")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    url = "/admin/accounts/upstreamcall/"

    assert client.get(url).status_code == 403  # staff, but no view_upstreamcall

    staff.user_permissions.add(Permission.objects.get(codename="view_upstreamcall"))
    listing = client.get(url).content.decode()
    assert "alice" in listing and "title" in listing
    detail = client.get(f"{url}{call.pk}/change/")
    assert detail.status_code == 200 and b'name="worker"' not in detail.content
    assert client.post(f"{url}{call.pk}/delete/", {"post": "yes"}).status_code == 403
