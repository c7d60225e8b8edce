"""Organising in bulk: archive, unarchive and delete several chats at once (a streaming reply
included), shares that outlive filing and archiving, and what the sidebar costs."""

import asyncio
import re
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conversations import organise, shares
from conversations.models import Conversation, Folder, Message, Share
from conversations.sidebar import sidebar_queries
from tests.accounts.test_settlement import Reader, charges_of, open_holds, started_reply
from tests.pg import ROOT, is_postgresql_run, pytest_on_postgresql

from .test_organise import HX, sidebar, sidebar_ids, state_of
from .test_views import add_message, make_conversation

pytestmark = pytest.mark.django_db


# Bulk.


def test_bulk_archive_archives_every_chosen_chat(as_alice, alice):
    chats = [make_conversation(alice, f"Chat {i}") for i in range(3)]

    response = as_alice.post(
        "/conversations/bulk/", {"action": "archive", "ids": [chats[0].pk, chats[2].pk]}
    )

    assert response.status_code == 302
    archived = set(
        Conversation.objects.filter(archived_at__isnull=False).values_list("pk", flat=True)
    )
    assert archived == {chats[0].pk, chats[2].pk}


def test_bulk_unarchive_brings_chats_back(as_alice, alice):
    chats = [make_conversation(alice, f"Chat {i}") for i in range(2)]
    organise.archive_conversations(alice, [c.pk for c in chats])
    assert "Unarchive selected" in sidebar(as_alice)

    as_alice.post("/conversations/bulk/", {"action": "unarchive", "ids": [chats[0].pk]})

    page = sidebar(as_alice)
    assert sidebar_ids(page, "recent") == [chats[0].pk]
    assert sidebar_ids(page, "archived") == [chats[1].pk]


@pytest.mark.parametrize("action", ["archive", "delete"])
def test_bulk_with_a_foreign_id_changes_nothing_for_anyone(as_alice, alice, bob, action):
    mine, theirs = make_conversation(alice, "Mine"), make_conversation(bob, "Theirs")
    before = state_of(mine, theirs)

    response = as_alice.post(
        "/conversations/bulk/", {"action": action, "ids": [mine.pk, theirs.pk], "confirm": "1"}
    )

    assert response.status_code == 404
    assert state_of(mine, theirs) == before


@pytest.mark.parametrize("ids", [["1x"], ["-1"], ["999999"]])
def test_bulk_with_an_unknown_id_is_404(as_alice, alice, ids):
    mine = make_conversation(alice)
    response = as_alice.post("/conversations/bulk/", {"action": "archive", "ids": [mine.pk, *ids]})
    assert response.status_code == 404
    assert state_of(mine)[0][2] is None


def test_bulk_with_nothing_chosen_says_so(as_alice, alice):
    response = as_alice.post("/conversations/bulk/", {"action": "archive"})
    assert response.status_code == 400
    assert "Select at least one conversation." in response.content.decode()


def test_bulk_with_an_unknown_action_is_refused(as_alice, alice):
    mine = make_conversation(alice)
    response = as_alice.post("/conversations/bulk/", {"action": "pin", "ids": [mine.pk]})
    assert response.status_code == 400
    assert state_of(mine)[0][1] is None


def test_bulk_delete_asks_first_and_deletes_nothing_until_confirmed(as_alice, alice):
    chats = [make_conversation(alice, f"Chat {i}") for i in range(2)]
    ids = [c.pk for c in chats]

    page = as_alice.post("/conversations/bulk/", {"action": "delete", "ids": ids})

    assert page.status_code == 200
    text = page.content.decode()
    assert "Chat 0" in text and "Chat 1" in text and "cannot be undone" in text
    assert Conversation.objects.count() == 2


def test_the_confirmation_page_goes_back_to_the_page_it_came_from(as_alice, alice):
    chat, kept = make_conversation(alice, "Gone"), make_conversation(alice, "Kept")
    origin = f"http://testserver/c/{kept.pk}/"
    asked = as_alice.post(
        "/conversations/bulk/", {"action": "delete", "ids": [chat.pk]}, headers={"Referer": origin}
    )
    assert f'name="next" value="{origin}"' in asked.content.decode()

    done = as_alice.post(
        "/conversations/bulk/",
        {"action": "delete", "ids": [chat.pk], "confirm": "1", "next": origin},
        headers={"Referer": "http://testserver/conversations/bulk/"},
    )

    assert done["Location"] == origin
    assert list(Conversation.objects.values_list("pk", flat=True)) == [kept.pk]


def test_bulk_delete_removes_the_chats_their_messages_and_their_links(as_alice, alice):
    keep = make_conversation(alice, "Keep")
    chats = [make_conversation(alice, f"Chat {i}") for i in range(2)]
    add_message(chats[0], "hello")
    share = shares.create_share(alice, chats[0].pk)

    response = as_alice.post(
        "/conversations/bulk/",
        {"action": "delete", "ids": [c.pk for c in chats], "confirm": "1", "current": chats[1].pk},
        headers=HX,
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/"  # the chat on screen is gone
    assert list(Conversation.objects.values_list("pk", flat=True)) == [keep.pk]
    assert not Message.objects.exists() and not Share.objects.exists()
    assert Client().get(f"/s/{share.token}/").status_code == 404


def test_bulk_delete_without_javascript_leaves_a_deleted_chats_page(as_alice, alice):
    chat = make_conversation(alice)
    response = as_alice.post(
        "/conversations/bulk/",
        {"action": "delete", "ids": [chat.pk], "confirm": "1"},
        headers={"Referer": f"http://testserver/c/{chat.pk}/"},
    )
    assert response["Location"] == "/"


@pytest.mark.django_db(transaction=True)
async def test_bulk_delete_stops_a_streaming_reply_and_charges_it(upstream, runner, alice):
    result = await started_reply(runner, alice, "long !tokens=400 !delay=10")
    other = await sync_to_async(make_conversation)(alice, "Quiet")
    reader = Reader()
    await runner.join(result.conversation.pk, reader)
    client = Client()
    await sync_to_async(client.force_login)(alice)

    response = await sync_to_async(client.post)(
        "/conversations/bulk/",
        {"action": "delete", "ids": [result.conversation.pk, other.pk], "confirm": "1"},
    )

    assert response.status_code == 302
    await asyncio.wait_for(runner.wait(result.reply.pk), 5)
    # The open page sees the reply end, as after the single delete.
    (completed,) = [f for f in reader.frames if f["type"] == "message.completed"]
    assert completed["status"] == "stopped" and completed["error"]["code"] == "deleted"
    (charge,) = await sync_to_async(charges_of)(alice)
    assert charge.output_tokens > 0 and charge.estimated
    assert await sync_to_async(open_holds)() == 0
    assert not await Conversation.objects.filter(user=alice).aexists()


# Shares.


def test_a_shared_link_keeps_working_when_its_chat_is_filed_pinned_and_archived(as_alice, alice):
    chat = make_conversation(alice, "Offsite")
    add_message(chat, "Kyoto in spring")
    share = shares.create_share(alice, chat.pk)
    folder = organise.create_folder(alice, "Trips")

    organise.move_to_folder(alice, chat.pk, folder.pk)
    organise.set_pinned(alice, chat.pk, True)
    organise.set_archived(alice, chat.pk, True)

    response = Client().get(f"/s/{share.token}/")
    assert response.status_code == 200 and "Kyoto in spring" in response.content.decode()
    organise.delete_folder(alice, folder.pk)
    assert Client().get(f"/s/{share.token}/").status_code == 200
    assert as_alice.get("/shares/").status_code == 200


# Cost.


def fill(user, count: int) -> None:
    folders = [Folder.objects.create(owner=user, name=f"Folder {i}") for i in range(count // 5)]
    for i in range(count):
        chat = make_conversation(user, f"Chat {i}")
        if i % 3 == 0:
            organise.move_to_folder(user, chat.pk, folders[i % len(folders)].pk)
        if i % 7 == 0:
            organise.set_pinned(user, chat.pk, True)
        if i % 11 == 0:
            organise.set_archived(user, chat.pk, True)


def queries_of_the_sidebar(client: Client) -> int:
    client.get("/sidebar/")  # warm: the session and the user
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/sidebar/").status_code == 200
    return len(queries)


def test_the_sidebar_costs_the_same_queries_for_5_and_50_chats_in_folders(alice, bob):
    few, many = Client(), Client()
    few.force_login(alice)
    many.force_login(bob)
    fill(alice, 5)
    fill(bob, 50)

    assert queries_of_the_sidebar(few) == queries_of_the_sidebar(many)
    page = sidebar(many)
    assert len(sidebar_ids(page)) == 50 and page.count('class="folder"') == 10


def test_each_sidebar_list_reads_its_own_index(alice):
    fill(alice, 30)

    for name, queryset in sidebar_queries(alice).items():
        index = "conversation_sidebar_" + ("recent" if name == "unpinned" else name)
        plan = queryset.explain()
        assert index in plan, plan


def test_organising_on_postgresql():
    """Both organise modules again on PostgreSQL: the case-blind unique name, the partial
    indexes, the row locks of bulk delete."""
    if is_postgresql_run():
        return  # this is the PostgreSQL run itself
    here = Path(__file__)
    modules = [str(m.relative_to(ROOT)) for m in (here, here.with_name("test_organise.py"))]
    done = pytest_on_postgresql(*modules, "-k", "not postgresql", timeout=400)
    assert done.returncode == 0, f"the PostgreSQL run failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"\b\d+ passed", done.stdout) and "failed" not in done.stdout, done.stdout
