"""Spend split by source (chat reply, title, gateway key) and by personal API key: the usage
page, the admin report and its CSV. Gateway charges are made through the ledger as the gateway
makes them (admitted with source "gateway" and the key, then settled)."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.urls import include, path, reverse

from accounts import api_keys, ledger
from accounts.models import UpstreamCall
from accounts.reports import CSV_COLUMNS, usage_rows
from chatsite import urls as root_urls
from conversations.models import CatalogModel, Conversation, Message

urlpatterns = [
    path("admin/reports/", include("accounts.admin_urls")),
    *root_urls.urlpatterns,
]
REPORT_URL = "/admin/reports/usage/"
HAIKU = "claude-haiku-4-5-20251001"
Source = UpstreamCall.Source
pytestmark = pytest.mark.django_db


def settled_call(user, output_tokens: int, *, source: str, api_key=None, message=None):
    """One upstream call admitted and settled by the ledger, as its caller does it."""
    model = CatalogModel.objects.get(model_id=HAIKU)
    with transaction.atomic():
        admission = ledger.admit(
            user, model, 100, 1000, source=source, message=message, api_key=api_key
        )
    usage = {"input_tokens": 100, "output_tokens": output_tokens}
    return ledger.settle(admission.call, usage, estimated=False)


def chat_reply(user, output_tokens: int):
    conversation = Conversation.objects.create(user=user, model=HAIKU)
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )
    return settled_call(user, output_tokens, source=Source.CHAT, message=message)


@pytest.fixture
def spender(make_user):
    """A member with chat replies, a title, and calls through two personal keys."""
    user = make_user("kim")
    laptop, _ = api_keys.create_key(user, "laptop")
    notebook, _ = api_keys.create_key(user, "notebook")
    user.charges = {
        "chat": [chat_reply(user, 200), chat_reply(user, 300)],
        "title": [settled_call(user, 10, source=Source.TITLE)],
        "laptop": [
            settled_call(user, 400, source=Source.GATEWAY, api_key=laptop),
            settled_call(user, 100, source=Source.GATEWAY, api_key=laptop),
        ],
        "notebook": [settled_call(user, 50, source=Source.GATEWAY, api_key=notebook)],
    }
    user.keys = {"laptop": laptop, "notebook": notebook}
    return user


def cost(charges) -> Decimal:
    return sum((c.cost for c in charges), Decimal(0))


def test_rows_split_spend_by_source(spender):
    rows = {row["source"]: row for row in usage_rows(user=spender, by=("source",))}

    assert set(rows) == {"chat", "title", "gateway"}
    assert rows["chat"]["calls"] == 2 and rows["chat"]["output_tokens"] == 500
    assert rows["title"]["cost_usd"] == cost(spender.charges["title"])
    gateway = spender.charges["laptop"] + spender.charges["notebook"]
    assert rows["gateway"]["cost_usd"] == cost(gateway)
    assert rows["gateway"]["source_label"] == "gateway key"


def test_rows_split_spend_by_key_with_the_chat_apart(spender):
    rows = {row["api_key"]: row for row in usage_rows(user=spender, by=("api_key",))}
    laptop, notebook = spender.keys["laptop"], spender.keys["notebook"]

    assert set(rows) == {None, laptop.prefix, notebook.prefix}
    assert rows[laptop.prefix]["api_key_name"] == "laptop"
    assert rows[laptop.prefix]["calls"] == 2
    assert rows[laptop.prefix]["cost_usd"] == cost(spender.charges["laptop"])
    assert rows[laptop.prefix]["user"] == "kim"
    assert rows[None]["calls"] == 3  # two replies and a title: no key
    assert sum(row["cost_usd"] for row in rows.values()) == cost(
        [c for charges in spender.charges.values() for c in charges]
    )


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_usage_page_shows_spend_by_source_and_by_key(client, spender):
    client.force_login(spender)

    page = client.get(reverse("usage")).content.decode()

    by_source = text_of(page.split('id="usage-by-source"')[1].split("</table>")[0])
    assert "chat reply 2 " in by_source
    assert "title 1 " in by_source
    assert "gateway key 3 " in by_source
    by_key = text_of(page.split('id="usage-by-api_key"')[1].split("</table>")[0])
    laptop = spender.keys["laptop"]
    assert f"laptop {laptop.prefix} 2 " in by_key
    assert "No key (the chat) 3 " in by_key
    assert laptop.key_hash not in page


def test_a_member_who_never_used_a_key_sees_no_key_table(client, make_user):
    user = make_user("lee")
    chat_reply(user, 100)
    client.force_login(user)

    page = client.get(reverse("usage")).content.decode()

    assert 'id="usage-by-source"' in page
    assert 'id="usage-by-api_key"' not in page


def test_another_members_keys_stay_off_the_usage_page(client, spender, make_user):
    other = make_user("lee")
    client.force_login(other)

    page = client.get(reverse("usage")).content.decode()

    assert spender.keys["laptop"].prefix not in page
    assert "gateway key" not in page


@pytest.fixture
def staff_client(client, make_user):
    staff = make_user("boss")
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_usage_report"))
    client.force_login(staff)
    return client


@pytest.mark.urls(__name__)
def test_the_admin_report_groups_by_source_and_by_key(staff_client, spender):
    by_source = staff_client.get(REPORT_URL, {"group_by": "source"})
    by_key = staff_client.get(REPORT_URL, {"group_by": "api_key", "since": "2000-01-01"})

    assert by_source.status_code == by_key.status_code == 200
    sources = {row["source"]: row["calls"] for row in by_source.context["rows"]}
    assert sources == {"chat": 2, "title": 1, "gateway": 3}
    assert "gateway key" in by_source.content.decode()
    laptop = spender.keys["laptop"]
    keys = {row["api_key"]: row["calls"] for row in by_key.context["rows"]}
    assert keys == {None: 3, laptop.prefix: 2, spender.keys["notebook"].prefix: 1}
    page = text_of(by_key.content.decode())
    assert f"laptop {laptop.prefix} · kim 2 " in page


@pytest.mark.urls(__name__)
def test_the_admin_reports_csv_by_key_leads_with_the_key(staff_client, spender):
    response = staff_client.get(REPORT_URL, {"group_by": "api_key", "format": "csv"})

    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[0] == ["api_key", "api_key_name", *CSV_COLUMNS]
    laptop = spender.keys["laptop"]
    row = next(line for line in lines[1:] if line[0] == laptop.prefix)
    assert row[1:5] == ["laptop", "kim", "", "2"]


@pytest.mark.urls(__name__)
def test_an_unknown_grouping_is_a_form_error(staff_client, spender):
    response = staff_client.get(REPORT_URL, {"group_by": "api_key_hash"})

    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "Select a valid choice" in response.content.decode()
