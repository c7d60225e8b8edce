"""The gateway adds no cache_control: a member's body goes upstream as sent (decision 81), and
the member's own breakpoints are read back and charged as cache reads."""

import anthropic
import pytest

from accounts.models import LedgerEntry
from tests.waiting import wait_until

from .conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)

SYSTEM = "You review quarterly reports for the finance team. " * 150  # about 2,000 tokens


def ask(system: object) -> dict:
    question = [{"role": "user", "content": "Summarise. !tokens=5"}]
    return {"model": MODEL, "max_tokens": 100, "system": system, "messages": question}


def charges(count: int) -> list[LedgerEntry]:
    found = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).order_by("pk")
    wait_until(lambda: found.count() >= count, 10, what=f"{count} charges")
    return list(found)


def test_a_long_request_without_breakpoints_goes_upstream_without_them(
    gateway, member_key, upstream
):
    client = anthropic.Anthropic(api_key=member_key[1], base_url=gateway, max_retries=0)
    client.messages.create(**ask(SYSTEM))
    client.messages.create(**ask(SYSTEM))
    sent = upstream.message_bodies()[-1]
    assert sent["system"] == SYSTEM and "cache_control" not in str(sent)
    assert all(c.cache_read_input_tokens == 0 for c in charges(2))


def test_a_members_own_breakpoint_is_read_back_and_charged_as_a_read(gateway, member_key, upstream):
    client = anthropic.Anthropic(api_key=member_key[1], base_url=gateway, max_retries=0)
    marked = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    first = client.messages.create(**ask(marked))
    second = client.messages.create(**ask(marked))
    assert upstream.message_bodies()[-1]["system"] == marked
    assert first.usage.cache_creation_input_tokens > 1024
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert charges(2)[1].cache_read_input_tokens == second.usage.cache_read_input_tokens
