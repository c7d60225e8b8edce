"""Organising the sidebar: folders, pin, archive, move, bulk archive and delete, and shares."""

import re
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import resolve

from conversations import organise
from conversations.models import Conversation, Folder

from .test_views import make_conversation

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def sidebar_ids(page: str, list_name: str | None = None) -> list[int]:
    """The chat ids in the sidebar, in order; only those of one list when named."""
    if list_name is not None:
        lists = re.findall(rf'data-list="{list_name}">(.*?)</ul>', page, re.S)
        page = "".join(lists)
    return [int(i) for i in re.findall(r'class="conversation-item[^"]*" data-id="(\d+)"', page)]


def sidebar(client: Client) -> str:
    return client.get("/sidebar/").content.decode()


def state_of(*conversations) -> list[tuple]:
    return [
        Conversation.objects.filter(pk=c.pk)
        .values_list("folder_id", "pinned_at", "archived_at", "updated_at")
        .first()
        for c in conversations
    ]


# Folders.


def test_a_new_folder_appears_in_the_sidebar_with_its_chats(as_alice, alice):
    response = as_alice.post("/folders/", {"name": "  Work   plans "})

    assert response.status_code == 302
    folder = Folder.objects.get(owner=alice)
    assert folder.name == "Work plans"
    chat = make_conversation(alice, "Budget")
    as_alice.post(f"/c/{chat.pk}/folder/", {"folder": folder.pk})
    page = sidebar(as_alice)
    assert "Work plans" in page
    assert sidebar_ids(page, "folder") == [chat.pk]
    assert sidebar_ids(page, "recent") == []


@pytest.mark.parametrize("name", ["", "   "])
def test_a_folder_without_a_name_is_refused_with_a_reason(as_alice, name):
    response = as_alice.post("/folders/", {"name": name})

    assert response.status_code == 400
    assert "A folder needs a name." in response.content.decode()
    assert not Folder.objects.exists()


def test_a_too_long_folder_name_is_refused(as_alice):
    response = as_alice.post("/folders/", {"name": "x" * 101})
    assert response.status_code == 400
    assert "at most 100 characters" in response.content.decode()
    assert not Folder.objects.exists()


def test_a_duplicate_folder_name_is_refused_whatever_its_case(as_alice, alice):
    Folder.objects.create(owner=alice, name="Work")

    response = as_alice.post("/folders/", {"name": "work"}, headers=HX)

    assert response.status_code == 400
    page = response.content.decode()
    assert "You already have a folder named “work”." in page
    assert 'role="alert"' in page and "<html" not in page  # the sidebar, with the reason
    assert Folder.objects.count() == 1


def test_the_refusal_is_in_japanese_for_a_japanese_reader(as_alice, alice):
    Folder.objects.create(owner=alice, name="Work")
    response = as_alice.post("/folders/", {"name": "Work"}, headers={"Accept-Language": "ja"})
    assert response.status_code == 400
    assert '<html lang="ja">' in response.content.decode()


def test_a_japanese_folder_name_is_kept_and_its_twin_refused(as_alice, alice):
    assert as_alice.post("/folders/", {"name": "旅行の計画"}).status_code == 302
    assert as_alice.post("/folders/", {"name": " 旅行の計画 "}).status_code == 400
    assert list(Folder.objects.values_list("name", flat=True)) == ["旅行の計画"]
    assert "旅行の計画" in sidebar(as_alice)


def test_folder_names_are_escaped_in_the_sidebar(as_alice, alice):
    organise.create_folder(alice, "<script>alert(1)</script>")
    page = sidebar(as_alice)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_the_database_refuses_a_second_folder_of_the_same_name_in_another_case(alice):
    Folder.objects.create(owner=alice, name="Work")
    with pytest.raises(IntegrityError), transaction.atomic():
        Folder.objects.create(owner=alice, name="WORK")


def test_another_member_may_use_the_same_folder_name(as_alice, bob):
    Folder.objects.create(owner=bob, name="Work")
    assert as_alice.post("/folders/", {"name": "Work"}).status_code == 302
    assert Folder.objects.filter(name="Work").count() == 2


def test_a_folder_is_renamed_but_not_to_another_folders_name(as_alice, alice):
    work = Folder.objects.create(owner=alice, name="Work")
    Folder.objects.create(owner=alice, name="Home")

    assert as_alice.post(f"/folders/{work.pk}/rename/", {"name": "Office"}).status_code == 302
    refused = as_alice.post(f"/folders/{work.pk}/rename/", {"name": "HOME"})

    work.refresh_from_db()
    assert refused.status_code == 400 and work.name == "Office"
    # Its own name in another case is no clash.
    assert as_alice.post(f"/folders/{work.pk}/rename/", {"name": "office"}).status_code == 302


def test_deleting_a_folder_keeps_its_chats_in_no_folder(as_alice, alice):
    folder = Folder.objects.create(owner=alice, name="Work")
    chat = make_conversation(alice, "Budget", updated_ago=timedelta(days=2))
    as_alice.post(f"/c/{chat.pk}/folder/", {"folder": folder.pk})
    before = state_of(chat)[0][3]

    assert as_alice.post(f"/folders/{folder.pk}/delete/").status_code == 302

    assert not Folder.objects.exists()
    chat.refresh_from_db()
    assert chat.folder_id is None and chat.updated_at == before
    assert sidebar_ids(sidebar(as_alice), "recent") == [chat.pk]


def test_another_members_folder_is_404_and_unchanged(as_alice, alice, bob):
    theirs = Folder.objects.create(owner=bob, name="Bob's")
    chat = make_conversation(alice, "Mine")

    assert as_alice.post(f"/folders/{theirs.pk}/rename/", {"name": "Mine"}).status_code == 404
    assert as_alice.post(f"/folders/{theirs.pk}/delete/").status_code == 404
    assert as_alice.post(f"/c/{chat.pk}/folder/", {"folder": theirs.pk}).status_code == 404
    assert as_alice.post(f"/c/{chat.pk}/folder/", {"folder": "x1"}).status_code == 404

    theirs.refresh_from_db()
    chat.refresh_from_db()
    assert theirs.name == "Bob's" and chat.folder_id is None


def test_a_chat_is_taken_out_of_its_folder_with_an_empty_choice(as_alice, alice):
    folder = Folder.objects.create(owner=alice, name="Work")
    chat = make_conversation(alice)
    organise.move_to_folder(alice, chat.pk, folder.pk)

    as_alice.post(f"/c/{chat.pk}/folder/", {"folder": ""})

    chat.refresh_from_db()
    assert chat.folder_id is None


def test_the_move_page_offers_only_ones_own_folders(as_alice, alice, bob):
    Folder.objects.create(owner=alice, name="Alice folder")
    Folder.objects.create(owner=bob, name="Bob folder")
    chat = make_conversation(alice)

    page = as_alice.get(f"/c/{chat.pk}/folder/").content.decode()

    assert "Alice folder" in page and "Bob folder" not in page


# Pin and archive.


def test_pinned_chats_come_first_then_folders_then_the_rest_by_activity(as_alice, alice):
    folder = Folder.objects.create(owner=alice, name="Work")
    old = make_conversation(alice, "Old", updated_ago=timedelta(days=3))
    filed = make_conversation(alice, "Filed", updated_ago=timedelta(days=2))
    new = make_conversation(alice, "New", updated_ago=timedelta(days=1))
    organise.move_to_folder(alice, filed.pk, folder.pk)

    as_alice.post(f"/c/{old.pk}/pin/")
    page = sidebar(as_alice)

    assert sidebar_ids(page) == [old.pk, filed.pk, new.pk]
    assert sidebar_ids(page, "pinned") == [old.pk]
    folder_at = page.index('class="folder-name">Work')
    assert page.index('data-list="pinned"') < folder_at < page.index('data-list="recent"')


def test_pinning_and_archiving_are_not_activity(as_alice, alice):
    chat = make_conversation(alice, "Old", updated_ago=timedelta(days=3))
    (before,) = state_of(chat)

    for action in ("pin", "unpin", "archive", "unarchive"):
        assert as_alice.post(f"/c/{chat.pk}/{action}/").status_code == 302

    (after,) = state_of(chat)
    assert after[3] == before[3]


def test_the_newest_pin_is_on_top_and_pinning_again_keeps_its_place(as_alice, alice):
    first, second = make_conversation(alice, "First"), make_conversation(alice, "Second")
    as_alice.post(f"/c/{first.pk}/pin/")
    as_alice.post(f"/c/{second.pk}/pin/")
    as_alice.post(f"/c/{first.pk}/pin/")

    assert sidebar_ids(sidebar(as_alice), "pinned") == [second.pk, first.pk]
    as_alice.post(f"/c/{second.pk}/unpin/")
    assert sidebar_ids(sidebar(as_alice), "pinned") == [first.pk]


def test_an_archived_chat_leaves_the_main_list_for_the_archived_view(as_alice, alice):
    folder = Folder.objects.create(owner=alice, name="Work")
    chat = make_conversation(alice, "Done with")
    organise.move_to_folder(alice, chat.pk, folder.pk)
    organise.set_pinned(alice, chat.pk, True)

    as_alice.post(f"/c/{chat.pk}/archive/")
    page = sidebar(as_alice)

    assert sidebar_ids(page, "archived") == [chat.pk]
    assert sidebar_ids(page) == [chat.pk]  # only there
    assert "No conversations yet." in page
    # It can still be opened, and comes back where it was.
    assert as_alice.get(f"/c/{chat.pk}/").status_code == 200
    as_alice.post(f"/c/{chat.pk}/unarchive/")
    page = sidebar(as_alice)
    assert sidebar_ids(page, "pinned") == [chat.pk] and 'data-list="archived"' not in page


def test_another_members_chat_cannot_be_pinned_archived_or_moved(as_alice, bob):
    theirs = make_conversation(bob, "Bob's")
    (before,) = state_of(theirs)

    for action in ("pin", "unpin", "archive", "unarchive", "folder"):
        assert as_alice.post(f"/c/{theirs.pk}/{action}/").status_code == 404
    assert as_alice.post("/c/999999/pin/").status_code == 404

    assert state_of(theirs) == [before]


def test_actions_are_post_only_and_need_the_csrf_token(alice):
    chat = make_conversation(alice)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    assert browser.get(f"/c/{chat.pk}/pin/").status_code == 405
    assert browser.post(f"/c/{chat.pk}/pin/").status_code == 403
    assert browser.post("/folders/", {"name": "Work"}).status_code == 403
    assert (
        browser.post("/conversations/bulk/", {"action": "archive", "ids": chat.pk}).status_code
        == 403
    )
    assert state_of(chat)[0][1] is None and not Folder.objects.exists()


def test_without_javascript_an_action_goes_back_to_the_page_it_came_from(as_alice, alice):
    chat = make_conversation(alice)
    page = f"http://testserver/c/{chat.pk}/"

    assert as_alice.post(f"/c/{chat.pk}/pin/", headers={"Referer": page})["Location"] == page
    elsewhere = as_alice.post(f"/c/{chat.pk}/unpin/", headers={"Referer": "https://evil.example/"})
    assert elsewhere["Location"] == "/"


def test_the_move_page_goes_back_to_the_page_it_was_opened_from(as_alice, alice):
    folder = Folder.objects.create(owner=alice, name="Work")
    chat, other = make_conversation(alice), make_conversation(alice)
    origin = f"http://testserver/c/{other.pk}/"

    page = as_alice.get(f"/c/{chat.pk}/folder/", headers={"Referer": origin}).content.decode()
    assert f'name="next" value="{origin}"' in page
    response = as_alice.post(f"/c/{chat.pk}/folder/", {"folder": folder.pk, "next": origin})
    assert response["Location"] == origin
    unsafe = {"folder": "", "next": "https://evil.example/"}
    assert as_alice.post(f"/c/{chat.pk}/folder/", unsafe)["Location"] == "/"


def test_with_javascript_an_action_answers_with_the_sidebar(as_alice, alice):
    chat = make_conversation(alice, "Mine")

    response = as_alice.post(f"/c/{chat.pk}/pin/", {"current": chat.pk}, headers=HX)

    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert sidebar_ids(page, "pinned") == [chat.pk] and 'aria-current="page"' in page


def test_every_action_in_a_row_reaches_its_view(as_alice, alice):
    """The rows build their action URLs from the chat's own URL (cheap for 200 rows)."""
    pinned, archived, plain = (make_conversation(alice, t) for t in ("P", "A", "N"))
    organise.set_pinned(alice, pinned.pk, True)
    organise.set_archived(alice, archived.pk, True)
    page = sidebar(as_alice)

    targets = {
        (resolve(url).url_name, int(pk))
        for url, pk in re.findall(r'(?:formaction|href)="(/c/(\d+)/[a-z]+/)"', page)
    }

    for chat in (pinned, archived, plain):
        assert ("rename", chat.pk) in targets and ("delete", chat.pk) in targets
        assert ("share", chat.pk) in targets
    assert {("unpin", pinned.pk), ("move_conversation", pinned.pk)} <= targets
    assert {("pin", plain.pk), ("archive", plain.pk), ("archive", pinned.pk)} <= targets
    assert ("unarchive", archived.pk) in targets and ("pin", archived.pk) not in targets
