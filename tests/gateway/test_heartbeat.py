"""A running gateway stream keeps the reaper away; a dead process's stream is still charged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import ledger
from accounts.models import LedgerEntry, UpstreamCall
from conversations import settlement
from conversations.gateway import metering
from conversations.models import CatalogModel
from tests.waiting import eventually

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway_call(django_user_model):
    user = django_user_model.objects.create_user(username="gus")
    model = CatalogModel.objects.get(model_id="claude-sonnet-4-5-20250929")
    admission = ledger.admit(user, model, 500, 1000, source=UpstreamCall.Source.GATEWAY)
    return admission.call


def test_a_refreshed_gateway_call_is_not_reaped(gateway_call, settings):
    old = timezone.now() - timedelta(seconds=settings.STREAM_HEARTBEAT_TIMEOUT + 5)
    UpstreamCall.objects.filter(pk=gateway_call.pk).update(heartbeat_at=old)
    metering.touch_calls({gateway_call.pk: ({"input_tokens": 40, "output_tokens": 3}, 90)})
    assert settlement.reap_calls() == 0
    gateway_call.refresh_from_db()
    assert gateway_call.status == "running"
    assert (gateway_call.usage["input_tokens"], gateway_call.output_chars) == (40, 90)


def test_a_gateway_call_whose_process_died_is_charged_what_it_had_streamed(gateway_call, settings):
    metering.touch_calls({gateway_call.pk: ({"input_tokens": 40, "output_tokens": 1}, 90)})
    old = timezone.now() - timedelta(seconds=settings.STREAM_HEARTBEAT_TIMEOUT + 5)
    UpstreamCall.objects.filter(pk=gateway_call.pk).update(heartbeat_at=old)
    assert settlement.reap_calls() == 1
    charge = LedgerEntry.objects.get(call=gateway_call, kind=LedgerEntry.Kind.CHARGE)
    assert (charge.input_tokens, charge.output_tokens, charge.estimated) == (40, 30, True)


class _Meter:
    usage: dict = {}
    output_chars = 0


async def test_a_stream_whose_response_never_started_is_ended_by_the_next_beats(monkeypatch):
    registry = metering.InFlight(interval=0.01)
    abandoned = []

    async def abandon() -> None:
        abandoned.append(True)

    async def no_database(*args) -> None:
        return None

    monkeypatch.setattr(metering, "run_db", no_database)
    registry.add(1, _Meter(), abandon)
    registry.add(2, _Meter(), abandon)
    registry.started(2)  # its relay runs: it ends the call itself
    await eventually(lambda: abandoned, 5)
    assert abandoned == [True] and 1 not in registry.meters and 2 in registry.meters
    registry.discard(2)
