"""Export and import (issue 16 item 3): a conversation goes out as JSON and Markdown and comes
back into another account the same, charged nothing, its thinking and tool steps never replayed
as blocks; a bad file is refused whole."""

import base64
import json
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient, Client

from accounts.models import LedgerEntry, UpstreamCall
from conversations import attachments, exports
from conversations.models import Attachment, Conversation, Message

from .attachment_files import HTML, PYTHON, png
from .test_views import PageAudit, add_message, append_message, make_conversation
from .wsclient import ChatSocket

VARIANT = "claude-sonnet-4-5-20250929-thinking"
CALCULATOR = {"tools": ["calculator"]}
IGNORED = {"imported", "signature", "id"}

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)()


def rendered(client: Client, conversation: Conversation) -> list[dict]:
    """The chat page's messages as a reader sees them: roles, statuses, blocks, files."""
    page = client.get(conversation.get_absolute_url())
    assert page.status_code == 200
    messages = json.loads(PageAudit(page.content.decode()).chat_state_text)["messages"]
    return [
        {
            "role": m["role"],
            "status": m["status"],
            "blocks": [{k: v for k, v in b.items() if k not in IGNORED} for b in m["content"]],
            "files": [
                (a["name"], a["kind"], a["media_type"], a["size"], a["width"])
                for a in m["attachments"]
            ],
        }
        for m in messages
    ]


def import_file(client: Client, data: bytes, name: str = "export.json"):
    return client.post("/export/", {"file": SimpleUploadedFile(name, data)})


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def document(*conversations: dict, version: int = 1) -> bytes:
    head = {"format": exports.FORMAT, "version": version, "conversations": list(conversations)}
    return json.dumps(head).encode()


def one_turn(**reply) -> dict:
    return {
        "title": "Plans",
        "model": "claude-sonnet-4-5-20250929",
        "messages": [
            {"id": 1, "parent": None, "role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {
                "id": 2,
                "parent": 1,
                "role": "assistant",
                "status": "complete",
                "content": [{"type": "text", "text": "Hello"}],
            }
            | reply,
        ],
    }


# The done-when: a live conversation with attachments, a tool step and thinking, exported by
# alice and imported by bob, renders the same and is charged nothing; bob's next turn sends no
# thinking or tool block from it.


async def _live_conversation(alice) -> Conversation:
    image = await sync_to_async(attachments.store_file)(alice, "shot.png", png(40, 30))
    code = await sync_to_async(attachments.store_file)(alice, "greet.py", PYTHON)
    socket = await ChatSocket.open(alice)
    await socket.send(
        {
            "type": "send",
            "conversation": None,
            "text": "Think, then add !usetool=calculator !expr=6*7",
            "attachments": [image.pk, code.pk],
            "model": VARIANT,
            "settings": CALCULATOR,
            "client_id": "t",
        }
    )
    frames = await socket.receive_until("message.completed")
    await socket.close()
    return await Conversation.objects.aget(pk=frames[0]["conversation"]["id"])


@pytest.mark.django_db(transaction=True)
async def test_an_export_with_attachments_tools_and_thinking_imports_into_another_account_the_same(
    upstream, alice, bob, runner
):
    source = await _live_conversation(alice)
    reply = await Message.objects.aget(conversation=source, role="assistant")
    kinds = [b["type"] for b in reply.content]
    assert {"thinking", "tool_use", "tool_result", "text"} <= set(kinds), kinds
    exported = await AsyncClient().get(f"/c/{source.pk}/export.json")
    assert exported.status_code == 302, "signed out: the sign-in page"
    as_alice, as_bob = AsyncClient(), AsyncClient()
    await as_alice.aforce_login(alice)
    await as_bob.aforce_login(bob)
    exported = await as_alice.get(f"/c/{source.pk}/export.json")
    data = b"".join([chunk async for chunk in exported.streaming_content])
    assert b"signature" not in data, "signatures stay on the server they were made for"
    calls, entries = await UpstreamCall.objects.acount(), await LedgerEntry.objects.acount()

    response = await as_bob.post("/export/", {"file": SimpleUploadedFile("e.json", data)})

    assert response.status_code == 200
    copy = await Conversation.objects.aget(user=bob)
    assert (await UpstreamCall.objects.acount(), await LedgerEntry.objects.acount()) == (
        calls,
        entries,
    ), "nothing charged"
    alice_page = await sync_to_async(rendered)(await sync_to_async(logged_in)(alice), source)
    bob_page = await sync_to_async(rendered)(await sync_to_async(logged_in)(bob), copy)
    assert bob_page == alice_page
    assert [f[0] for f in bob_page[0]["files"]] == ["shot.png", "greet.py"]
    bob_image = await Attachment.objects.aget(user=bob, name="shot.png")
    served = await as_bob.get(f"/attachments/{bob_image.pk}/")
    assert served.getvalue() == png(40, 30)
    assert copy.model == VARIANT and copy.settings == CALCULATOR and copy.title == source.title
    imported_reply = await Message.objects.aget(conversation=copy, role="assistant")
    assert reply.cost is not None and imported_reply.cost is None, "the charge stays alice's"

    # Bob's next turn: the imported thinking and tool step go as text, never as blocks (H18).
    socket = await ChatSocket.open(bob)
    await socket.send_text("And then? !tokens=2", conversation=copy.pk)
    await socket.receive_until("message.completed")
    await socket.close()
    sent = upstream.requests[-1]["body"]["messages"]
    types = {block["type"] for message in sent for block in message["content"]}
    assert not types & {"thinking", "redacted_thinking", "tool_use", "tool_result"}, types
    earlier_reply = sent[1]["content"][0]["text"]
    assert "[Tool call calculator" in earlier_reply and "42" in earlier_reply


def test_branches_survive_the_round_trip_and_the_visible_one_stays_visible(alice, bob):
    source = make_conversation(alice, title="Two versions")
    question = add_message(source, "Pick a number")
    add_message(source, "Seven", role=Message.Role.ASSISTANT)
    Conversation.objects.filter(pk=source.pk).update(leaf=question)
    add_message(source, "Three", role=Message.Role.ASSISTANT)
    add_message(source, "Why three?")

    data = body(logged_in(alice).get(f"/c/{source.pk}/export.json"))
    response = import_file(logged_in(bob), data)

    assert response.status_code == 200
    copy = Conversation.objects.get(user=bob)
    rows = list(copy.messages.order_by("id"))
    assert [m.text for m in rows] == ["Pick a number", "Seven", "Three", "Why three?"]
    assert rows[1].parent == rows[0] and rows[2].parent == rows[0] and rows[3].parent == rows[2]
    assert copy.leaf == rows[3]
    assert [m["blocks"][0]["text"] for m in rendered(logged_in(bob), copy)] == [
        "Pick a number",
        "Three",
        "Why three?",
    ]


def test_statuses_are_kept_and_a_reply_still_streaming_comes_in_interrupted(alice, bob):
    source = make_conversation(alice)
    add_message(source, "One")
    add_message(source, "Cut", role=Message.Role.ASSISTANT, status=Message.Status.STOPPED)
    add_message(source, "Two")
    append_message(
        source,
        role=Message.Role.ASSISTANT,
        status=Message.Status.FAILED,
        content=[],
        error={"code": "upstream_error", "detail": "Overloaded"},
    )
    add_message(source, "Three")
    add_message(source, "Half", role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)

    import_file(logged_in(bob), body(logged_in(alice).get(f"/c/{source.pk}/export.json")))

    copy = Conversation.objects.get(user=bob)
    statuses = list(copy.messages.order_by("id").values_list("status", flat=True))
    assert statuses == ["complete", "stopped", "complete", "failed", "complete", "interrupted"]
    failed = copy.messages.get(status="failed")
    assert failed.error == {"code": "upstream_error", "detail": "Overloaded"}


def test_a_model_this_server_lacks_becomes_the_default_and_the_page_says_so(bob, chat_model):
    response = import_file(logged_in(bob), document(one_turn() | {"model": "gpt-imaginary"}))

    assert response.status_code == 200
    assert Conversation.objects.get(user=bob).model == chat_model.model_id
    assert "gpt-imaginary" in response.content.decode()


def test_settings_this_server_cannot_take_are_left_out_with_a_notice(bob):
    conversation = one_turn() | {"settings": {"tools": ["teleporter"], "temperature": 0.2}}
    response = import_file(logged_in(bob), document(conversation))

    assert response.status_code == 200
    assert Conversation.objects.get(user=bob).settings == {}
    assert "teleporter" in response.content.decode()


def test_a_handmade_signature_is_dropped_and_thinking_is_marked_imported(bob):
    thinking = {"type": "thinking", "thinking": "Hmm.", "signature": "FORGED"}
    import_file(logged_in(bob), document(one_turn(content=[thinking])))

    reply = Message.objects.get(role="assistant")
    assert reply.content == [{"type": "thinking", "thinking": "Hmm.", "imported": True}]


# Refusals: a clear error, and nothing stored (no conversation, no message, no file).


def _nothing_stored(settings) -> None:
    assert Conversation.objects.count() == 0 and Message.objects.count() == 0
    assert Attachment.objects.count() == 0
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def _with_file(name: str, content: bytes, **entry) -> dict:
    conversation = one_turn()
    conversation["messages"][0]["attachments"] = [
        {"name": name, "data": base64.b64encode(content).decode()} | entry
    ]
    return conversation


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not json {", "not JSON"),
        (json.dumps({"format": "other", "version": 1}).encode(), "not a chatsite export"),
        (document(one_turn(), version=2), "version 2"),
        (document(), "no conversations"),
        (document(one_turn(content=[{"type": "image"}])), "Conversation 1, message 2"),
        (document(one_turn(parent=7)), "parent"),
        (document(one_turn(status="exploded")), "Unknown status"),
        (document(one_turn(usage={"input_tokens": "many"})), "usage"),
        (document(one_turn() | {"leaf": 9}), "visible branch"),
        (document(_with_file("page.html", HTML)), "page.html"),
        (document(_with_file("shot.png", png(), sha256="0" * 64)), "SHA-256"),
        (document(_with_file("shot.png", png(), data="%%%")), "base64"),
    ],
    ids=[
        "not-json",
        "other-format",
        "newer-version",
        "empty",
        "unknown-block",
        "bad-parent",
        "bad-status",
        "bad-usage",
        "bad-leaf",
        "html-attachment",
        "digest-mismatch",
        "bad-base64",
    ],
)
def test_a_malformed_file_is_refused_with_a_clear_error_and_creates_nothing(
    bob, settings, data, words
):
    response = import_file(logged_in(bob), data)

    assert response.status_code == 400
    assert words in response.content.decode()
    _nothing_stored(settings)


def test_a_second_conversation_that_fails_leaves_the_first_unstored_too(bob, settings):
    good = _with_file("shot.png", png())
    bad = _with_file("page.html", HTML)

    response = import_file(logged_in(bob), document(good, bad))

    assert response.status_code == 400 and "Conversation 2" in response.content.decode()
    _nothing_stored(settings)


def test_a_failure_while_storing_rolls_back_and_removes_the_files_it_wrote(
    bob, settings, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Attachment.objects, "bulk_create", broken)

    with pytest.raises(RuntimeError):
        import_file(logged_in(bob), document(_with_file("shot.png", png())))

    _nothing_stored(settings)


def test_a_file_over_the_import_limit_is_refused_before_it_is_read(bob, settings):
    settings.CHAT_IMPORT_MAX_BYTES = 100
    response = import_file(logged_in(bob), document(one_turn()))

    assert response.status_code == 400 and "too large" in response.content.decode()
    _nothing_stored(settings)


def test_posting_without_a_file_asks_for_one(bob):
    response = logged_in(bob).post("/export/")
    assert response.status_code == 400 and "Choose a file" in response.content.decode()


def test_the_import_form_needs_the_csrf_token(bob):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    response = client.post("/export/", {"file": SimpleUploadedFile("e.json", document(one_turn()))})
    assert response.status_code == 403 and Conversation.objects.count() == 0


# Exports: scope, the whole account, Markdown, the staff's export.


def test_another_members_conversation_does_not_export(alice, bob):
    theirs = make_conversation(bob)
    add_message(theirs, "private words")
    for extension in ("json", "md"):
        assert logged_in(alice).get(f"/c/{theirs.pk}/export.{extension}").status_code == 404
    assert logged_in(bob).get(f"/c/{theirs.pk}/export.txt").status_code == 404


def test_export_all_holds_every_conversation_of_the_member_and_no_one_elses(alice, bob):
    for title in ("First", "Second"):
        add_message(make_conversation(alice, title=title), f"In {title}")
    add_message(make_conversation(bob, title="Bob's"), "not alice's")

    response = logged_in(alice).get("/export/all.json")

    assert response["Content-Disposition"].startswith('attachment; filename="chatsite-')
    exported = json.loads(body(response))
    assert exported["format"] == "chatsite.conversations" and exported["version"] == 1
    assert sorted(c["title"] for c in exported["conversations"]) == ["First", "Second"]
    markdown = body(logged_in(alice).get("/export/all.md")).decode()
    assert "# First" in markdown and "# Second" in markdown and "Bob" not in markdown


def test_markdown_follows_the_visible_branch_with_thinking_tools_and_files(alice):
    conversation = make_conversation(alice, title="Sums")
    question = add_message(conversation, "Add them")
    add_message(conversation, "Hidden old version", role=Message.Role.ASSISTANT)
    Conversation.objects.filter(pk=conversation.pk).update(leaf=question)
    append_message(
        conversation,
        role=Message.Role.ASSISTANT,
        content=[
            {"type": "thinking", "thinking": "Use the tool.", "signature": "SIG"},
            {"type": "tool_use", "id": "t1", "name": "calculator", "input": {"expression": "1+1"}},
            {"type": "tool_result", "tool_use_id": "t1", "content": "```2```"},
            {"type": "text", "text": "It is **2**."},
        ],
    )
    attachment = attachments.store_file(alice, "notes.txt", b"some notes")
    attachments.link_to_message([attachment], question)

    markdown = body(logged_in(alice).get(f"/c/{conversation.pk}/export.md")).decode()

    assert markdown.startswith("# Sums\n")
    assert "Hidden old version" not in markdown and "SIG" not in markdown
    assert "> Use the tool." in markdown and "Tool call: calculator" in markdown
    assert "````\n```2```\n````" in markdown, "a fence the result's backticks cannot close"
    assert "It is **2**." in markdown and "notes.txt" in markdown


def test_staff_export_a_members_conversations_and_members_cannot(alice, bob, make_user):
    add_message(make_conversation(alice, title="Alice's"), "hello")
    staff = make_user("admin")
    staff.is_staff = staff.is_superuser = True
    staff.save()

    response = logged_in(staff).get(f"/staff/users/{alice.pk}/export.json")
    refused = logged_in(bob).get(f"/staff/users/{alice.pk}/export.json")

    assert [c["title"] for c in json.loads(body(response))["conversations"]] == ["Alice's"]
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]
    admin_page = logged_in(staff).get(f"/admin/accounts/user/{alice.pk}/change/")
    assert f"/staff/users/{alice.pk}/export.json" in admin_page.content.decode()


def test_the_chat_page_and_sidebar_link_the_exports_and_the_import(alice):
    conversation = make_conversation(alice)
    add_message(conversation, "hello")
    page = logged_in(alice).get(conversation.get_absolute_url()).content.decode()
    assert f"/c/{conversation.pk}/export.md" in page and f"/c/{conversation.pk}/export.json" in page
    assert 'href="/export/"' in page
    transfer = logged_in(alice).get("/export/").content.decode()
    assert "/export/all.json" in transfer and "/export/all.md" in transfer


def test_a_conversation_deleted_while_the_download_runs_leaves_valid_json(alice):
    kept = make_conversation(alice, title="Kept")
    add_message(kept, "hello")
    gone = make_conversation(alice, title="Gone")
    chunks = exports.json_chunks([gone.pk, kept.pk])
    head = next(chunks)
    gone.delete()

    exported = json.loads(head + "".join(chunks))

    assert [c["title"] for c in exported["conversations"]] == ["Kept"]
