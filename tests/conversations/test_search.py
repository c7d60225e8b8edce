"""Search of one's own conversations (issue 16 item 1): the view and the selector, the text
the send path stores for it, its constant queries, and the same on PostgreSQL with its index."""

import re
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conversations import search, selectors, versions
from conversations.models import Conversation, Message
from tests.pg import ROOT, is_postgresql_run, pytest_on_postgresql
from tests.waiting import eventually

from .test_views import add_message, make_conversation
from .wsclient import ChatSocket, created

pytestmark = pytest.mark.django_db


def hits(page) -> list[int]:
    return [hit.conversation_id for hit in page.hits]


def results(client: Client, query: str, page: int = 1) -> str:
    response = client.get("/search/", {"q": query, "page": page}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def alice_client(make_user):
    alice = make_user("alice")
    client = Client()
    client.force_login(alice)
    client.user = alice
    return client


def test_an_english_phrase_is_found_in_any_case_across_line_breaks(alice_client):
    alice = alice_client.user
    found = make_conversation(alice, "Holiday")
    add_message(found, "We could take the\n  Night Train to Vienna.")
    make_conversation(alice, "Other")

    page = results(alice_client, "night train")

    assert f'data-conversation="{found.pk}"' in page
    assert "<mark>Night Train</mark>" in page
    assert page.count('class="search-hit"') == 1


def test_a_japanese_phrase_is_found_in_titles_and_messages(alice_client):
    alice = alice_client.user
    titled = make_conversation(alice, "東京の週末")
    talked = make_conversation(alice, "Plans")
    add_message(talked, "来週は東京の天気が心配です。")
    add_message(make_conversation(alice, "Else"), "大阪の天気")

    page = results(alice_client, "東京の")

    assert f'data-conversation="{titled.pk}"' in page
    assert f'data-conversation="{talked.pk}"' in page
    assert "来週は<mark>東京の</mark>天気が心配です。" in page
    assert page.count('class="search-hit"') == 2


def test_full_width_letters_match_their_plain_form(alice_client):
    alice = alice_client.user
    conversation = make_conversation(alice, "x")
    add_message(conversation, "ＡＰＩキーの作り方")
    assert search.search_page(alice.pk, "apiキー").hits[0].conversation_id == conversation.pk


def test_another_users_conversations_are_never_found(alice_client, make_user):
    bob = make_user("bob")
    theirs = make_conversation(bob, "Pelican secrets")
    add_message(theirs, "pelican pelican")

    page = results(alice_client, "pelican")

    assert "Pelican" not in page and f'data-conversation="{theirs.pk}"' not in page
    assert "No conversation holds" in page


def test_matches_are_escaped_before_they_are_marked(alice_client):
    alice = alice_client.user
    add_message(make_conversation(alice, "x"), "try <script>alert(1)</script> here")

    page = results(alice_client, "<script>")

    assert "<mark>&lt;script&gt;</mark>alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page


def test_like_wildcards_in_a_query_are_taken_literally(alice_client):
    alice = alice_client.user
    add_message(make_conversation(alice, "a"), "it grew 50 percent")
    literal = make_conversation(alice, "b")
    add_message(literal, "it grew 50% last year")

    assert hits(search.search_page(alice.pk, "50%")) == [literal.pk]
    assert hits(search.search_page(alice.pk, "_")) == []


def test_an_empty_query_gets_a_clear_message(alice_client):
    page = results(alice_client, "   ")
    assert "Type a word or phrase to search for." in page


def test_a_too_long_query_gets_a_clear_message(alice_client):
    long_query = "x" * (search.MAX_QUERY_CHARS + 1)
    assert "A search can be at most 200 characters long." in results(alice_client, long_query)


def test_results_come_a_page_at_a_time_newest_first(alice_client, settings):
    alice = alice_client.user
    made = [make_conversation(alice, f"Topic {n}") for n in range(search.PER_PAGE + 3)]
    newest_first = [c.pk for c in reversed(made)]

    first = search.search_page(alice.pk, "topic")
    second = search.search_page(alice.pk, "topic", page=2)

    assert hits(first) == newest_first[: search.PER_PAGE] and first.has_next
    assert hits(second) == newest_first[search.PER_PAGE :] and not second.has_next
    page = results(alice_client, "topic")
    assert "page=2" in page and "More results" in page
    assert "More results" not in results(alice_client, "topic", page=2)


def test_the_full_page_works_without_javascript(alice_client):
    add_message(make_conversation(alice_client.user, "x"), "a kettle of hawks")
    page = alice_client.get("/search/", {"q": "kettle"}).content.decode()
    assert "<mark>kettle</mark>" in page and "<html" in page


def test_search_needs_a_sign_in():
    response = Client().get("/search/", {"q": "x"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_result_links_to_the_matching_message(alice_client):
    alice = alice_client.user
    conversation = make_conversation(alice, "x")
    add_message(conversation, "first words")
    match = add_message(conversation, "the answer is 42", role=Message.Role.ASSISTANT)

    page = results(alice_client, "answer is")

    assert f'href="/c/{conversation.pk}/#m-{match.pk}"' in page


def test_a_match_in_a_hidden_version_is_found_and_said_so(alice_client):
    alice = alice_client.user
    conversation = make_conversation(alice, "x")
    question = add_message(conversation, "what is a quokka?")
    old = add_message(conversation, "An old answer about wombats.", role=Message.Role.ASSISTANT)
    newer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role=Message.Role.ASSISTANT,
        content=[{"type": "text", "text": "A newer answer."}],
    )
    Conversation.objects.filter(pk=conversation.pk).update(leaf=newer)

    hit = search.search_page(alice.pk, "wombats").hits[0]
    assert (hit.message_id, hit.other_version) == (old.pk, True)
    assert "in another version" in results(alice_client, "wombats")
    visible = search.search_page(alice.pk, "quokka").hits[0]
    assert (visible.message_id, visible.other_version) == (question.pk, False)


def test_the_search_text_follows_the_content_however_it_is_written(make_user):
    conversation = make_conversation(make_user("alice"), "x")
    message = add_message(conversation, "first")
    message.content = [
        {"type": "thinking", "thinking": "hidden musing"},
        {"type": "text", "text": "shown"},
    ]
    message.save(update_fields=["content"])
    assert Message.objects.get(pk=message.pk).search_text == "shown"

    [made] = Message.objects.bulk_create(
        [Message(conversation=conversation, role="user", content=[{"type": "text", "text": "b"}])]
    )
    made.content = [{"type": "text", "text": "bulk\nupdated"}]
    Message.objects.bulk_update([made], ["content"])
    assert Message.objects.get(pk=made.pk).search_text == "bulk updated"


def test_a_conversation_continued_from_a_shared_link_is_found_by_its_new_owner(make_user):
    from conversations import shares

    alice, bob = make_user("alice"), make_user("bob")
    conversation = make_conversation(alice, "Birds")
    add_message(conversation, "a parliament of owls")
    share = shares.create_share(alice, conversation.pk)

    copy = shares.fork_share(bob, share)

    assert hits(search.search_page(bob.pk, "parliament of owls")) == [copy.pk]


def test_the_chat_tool_and_the_page_share_one_search(make_user):
    alice = make_user("alice")
    add_message(make_conversation(alice, "x"), "a murmuration of starlings")
    [hit] = selectors.search_conversations(alice.pk, "starlings")
    assert "<mark>" not in hit.excerpt and "starlings" in hit.as_dict()["excerpt"]
    with pytest.raises(search.SearchError):
        selectors.search_conversations(alice.pk, "y" * 201)


def _many_conversations(user, count: int) -> None:
    conversations = Conversation.objects.bulk_create(
        [Conversation(user=user, title=f"Chat {n}", model="m") for n in range(count)]
    )
    Message.objects.bulk_create(
        [
            Message(
                conversation=c, role="user", content=[{"type": "text", "text": f"albatross {n}"}]
            )
            for n, c in enumerate(conversations)
        ]
    )


def test_a_page_costs_the_same_queries_for_10_and_2000_conversations(alice_client):
    alice = alice_client.user
    _many_conversations(alice, 10)
    with CaptureQueriesContext(connection) as few:
        results(alice_client, "albatross")
    _many_conversations(alice, 1990)
    with CaptureQueriesContext(connection) as many:
        page = results(alice_client, "albatross")

    assert page.count('class="search-hit"') == search.PER_PAGE
    assert len(many) == len(few), [q["sql"] for q in many]
    searches = [q for q in many if "search_text" in q["sql"]]
    assert len(searches) == 3, "the page, the links and matches, the shown messages' words"


# The send path: what a reply streams and settles is found.


@pytest.mark.django_db(transaction=True)
async def test_a_reply_is_found_while_it_streams_and_after_it_ends(upstream, alice, runner):
    runner.checkpoint_every = 0.2
    socket = await ChatSocket.open(alice)
    await socket.send_text("東京の天気を教えて !tokens=400 !delay=30")
    frames = await socket.receive_deltas(2)
    reply_id = created(frames, "assistant")["id"]

    def found_while_streaming() -> bool:
        # Streaming before the search: what it found, a checkpoint wrote (the end writes later).
        streaming = Message.objects.filter(pk=reply_id, status="streaming").exists()
        hit = search.search_page(alice.pk, "w1 w2").hits
        return streaming and bool(hit) and hit[0].message_id == reply_id

    await eventually(sync_to_async(found_while_streaming), timeout=5, what="a checkpoint found")
    await socket.send({"type": "stop", "message": reply_id})
    await socket.receive_until("message.completed")
    stopped = await Message.objects.aget(pk=reply_id)
    last_word = stopped.text.split()[-1]
    page = await sync_to_async(search.search_page)(alice.pk, last_word)
    assert page.hits[0].message_id == reply_id, "the end's final text"
    asked = await sync_to_async(search.search_page)(alice.pk, "天気を教")
    assert asked.hits[0].message_id != reply_id, "the member's own message, stored by the send"
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_an_edited_message_is_found_by_its_new_words(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await socket.send_text("about herons")
    frames = await socket.receive_until("message.completed")
    asked = created(frames, "user")["id"]
    await sync_to_async(versions.edit_message)(alice, asked, "about egrets instead")

    def edited_found() -> bool:
        hit = search.search_page(alice.pk, "egrets instead").hits
        return bool(hit) and not hit[0].other_version

    await eventually(sync_to_async(edited_found), timeout=5, what="the edit found")
    herons = await sync_to_async(search.search_page)(alice.pk, "about herons")
    assert herons.hits[0].other_version
    await socket.close()


# PostgreSQL: the same behaviours on a UTF-8 cluster, and the trigram index in the plan.


def test_the_trigram_index_serves_the_search_on_postgresql(make_user):
    if connection.vendor != "postgresql":
        return  # the PostgreSQL run below runs this
    alice = make_user("alice")
    conversations = Conversation.objects.bulk_create(
        [Conversation(user=alice, title=f"Chat {n}", model="m") for n in range(500)]
    )
    words = (
        "ordinary words about the weather and lunch, number {n}. 今日は晴れです、普通の言葉{n}。"
    )
    Message.objects.bulk_create(
        [
            Message(
                conversation=conversations[n % 500],
                role="user",
                content=[{"type": "text", "text": words.format(n=n) * 3}],
            )
            for n in range(30_000)
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        # What autovacuum does in time: merge the index's pending list, gather statistics.
        cursor.execute("SELECT gin_clean_pending_list('message_search_text_trgm')")
        cursor.execute("ANALYZE")
    for query in ("hippopotamus", "河馬の話"):
        plan = search.matching_conversations(alice.pk, query).explain()
        assert "message_search_text_trgm" in plan, plan


def test_search_on_postgresql():
    """This module on PostgreSQL (a UTF-8 cluster: tests/pg.py): Japanese trigrams included."""
    if is_postgresql_run():
        return  # this is the PostgreSQL run itself
    module = str(Path(__file__).relative_to(ROOT))
    done = pytest_on_postgresql(module, "-k", "not test_search_on_postgresql")
    assert done.returncode == 0, f"the PostgreSQL run failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"\b\d+ passed", done.stdout), done.stdout
    assert "failed" not in done.stdout, done.stdout


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_search_text_of_existing_messages():
    from django.db.migrations.executor import MigrationExecutor

    before = [("conversations", "0011_branches_titles_and_reply_cost")]
    after = [("conversations", "0012_message_search_text")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    user = apps.get_model("accounts", "User").objects.create(username="old")
    conversation = apps.get_model("conversations", "Conversation").objects.create(
        user=user, model="m", title="t"
    )
    message = apps.get_model("conversations", "Message").objects.create(
        conversation=conversation, role="user", content=[{"type": "text", "text": "old  words"}]
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert Message.objects.get(pk=message.pk).search_text == "old words"
