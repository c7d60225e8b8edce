"""Branches: regenerate and edit make versions, the visible branch is server state that every
tab follows, and the history sent upstream, a reconnect and a share follow it only."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Quota
from conversations import shares
from conversations.attachments import store_file
from conversations.models import Conversation, Message
from conversations.prompt import build_request

from .attachment_files import png
from .test_views import add_message, make_conversation
from .wsclient import ChatSocket, created

pytestmark = [pytest.mark.django_db(transaction=True)]


def question(text: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def answer(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


async def first_turn(socket: ChatSocket, text: str = "First !tokens=3") -> tuple[int, list[dict]]:
    await socket.send_text(text)
    frames = await socket.receive_until("message.completed")
    return frames[0]["conversation"]["id"], frames


def ids(frame: dict) -> list[int]:
    return [m["id"] for m in frame["messages"]]


async def test_regenerate_twice_and_edit_once_then_the_next_turn_follows_the_visible_branch(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    conversation_id, frames = await first_turn(socket)
    first_question, first_reply = created(frames, "user"), created(frames, "assistant")
    assert first_reply["parent"] == first_question["id"] and first_question["parent"] is None

    versions = [first_reply["id"]]
    for count in (2, 3):
        await socket.send({"type": "regenerate", "message": versions[-1], "client_id": "r"})
        frames = await socket.receive_until("message.completed")
        kinds = [f["type"] for f in frames if f["type"] != "message.delta"]
        assert kinds == ["conversation.branch", "message.created", "message.completed"]
        assert ids(frames[0]) == [first_question["id"]], "the branch before the new version"
        reply = created(frames, "assistant")
        versions.append(reply["id"])
        assert reply["parent"] == first_question["id"] and frames[1]["client_id"] == "r"
        assert reply["versions"] == {"index": count - 1, "count": count, "ids": versions}
        assert frames[-1]["status"] == "complete"

    await socket.send_text("Second !tokens=2", conversation=conversation_id)
    frames = await socket.receive_until("message.completed")
    second = created(frames, "user")
    assert second["parent"] == versions[-1]

    await socket.send(
        {
            "type": "edit",
            "message": second["id"],
            "text": "Second, edited !tokens=2",
            "client_id": "e",
        }
    )
    frames = await socket.receive_until("message.completed")
    kinds = [f["type"] for f in frames if f["type"] != "message.delta"]
    assert kinds == [
        "conversation.branch",
        "message.created",
        "message.created",
        "message.completed",
    ]
    assert ids(frames[0]) == [first_question["id"], versions[-1]]
    edited = created(frames, "user")
    assert edited["parent"] == versions[-1] and edited["versions"]["ids"] == [
        second["id"],
        edited["id"],
    ]
    assert edited["versions"]["index"] == 1

    await socket.send_text("Third !tokens=2", conversation=conversation_id)
    await socket.receive_until("message.completed")

    assert upstream.message_bodies()[-1]["messages"] == [
        question("First !tokens=3"),
        answer("w1 w2 w3"),
        question("Second, edited !tokens=2"),
        answer("w1 w2"),
        question("Third !tokens=2"),
    ], "one version of each turn: the visible one"
    assert await Message.objects.acount() == 10
    await socket.close()


async def test_a_regenerate_may_name_another_model(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    _, frames = await first_turn(socket)
    reply = created(frames, "assistant")
    await socket.send(
        {"type": "regenerate", "message": reply["id"], "model": "claude-haiku-4-5-20251001"}
    )
    frames = await socket.receive_until("message.completed")
    assert created(frames, "assistant")["model"] == "claude-haiku-4-5-20251001"
    assert upstream.message_bodies()[-1]["model"] == "claude-haiku-4-5-20251001"
    await socket.close()


async def test_switch_branch_is_broadcast_to_every_tab_and_the_next_send_follows_it(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    conversation_id, frames = await first_turn(socket, "Alpha !tokens=2")
    first = created(frames, "user")
    await socket.send({"type": "edit", "message": first["id"], "text": "Beta !tokens=3"})
    frames = await socket.receive_until("message.completed")
    assert frames[0]["type"] == "conversation.branch" and frames[0]["messages"] == [], (
        "an edited first message: nothing comes before the new version"
    )
    assert created(frames, "user")["parent"] is None
    other = await ChatSocket.open(alice)
    await other.send({"type": "subscribe", "conversation": conversation_id})
    assert await other.receive_nothing()

    await socket.send({"type": "switch_branch", "message": first["id"], "client_id": "s"})
    mine, theirs = await socket.receive(), await other.receive()

    assert mine == theirs and mine["type"] == "conversation.branch"
    assert mine["conversation"] == conversation_id
    branch = mine["messages"]
    assert [m["role"] for m in branch] == ["user", "assistant"]
    assert branch[0]["id"] == first["id"] and branch[0]["versions"]["index"] == 0
    assert branch[0]["versions"]["count"] == 2
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.leaf_id == branch[1]["id"]

    await socket.send_text("Gamma !tokens=2", conversation=conversation_id)
    frames = await socket.receive_until("message.completed")
    assert created(frames, "user")["parent"] == branch[1]["id"]
    assert upstream.message_bodies()[-1]["messages"] == [
        question("Alpha !tokens=2"),
        answer("w1 w2"),
        question("Gamma !tokens=2"),
    ]
    await socket.close()
    await other.close()


async def test_a_switch_goes_down_to_the_newest_message_under_the_version(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    conversation_id, frames = await first_turn(socket, "Alpha !tokens=2")
    first_reply = created(frames, "assistant")
    await socket.send_text("Deeper !tokens=2", conversation=conversation_id)
    frames = await socket.receive_until("message.completed")
    deep_reply = created(frames, "assistant")
    await socket.send({"type": "regenerate", "message": first_reply["id"]})
    await socket.receive_until("message.completed")

    await socket.send({"type": "switch_branch", "message": first_reply["id"]})
    frame = await socket.receive()

    assert ids(frame)[1:] == [first_reply["id"], deep_reply["id"] - 1, deep_reply["id"]]
    await socket.close()


async def test_a_reconnecting_socket_receives_only_the_visible_branch(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    conversation_id, frames = await first_turn(socket)
    first, old_reply = created(frames, "user"), created(frames, "assistant")
    await socket.send({"type": "regenerate", "message": old_reply["id"]})
    frames = await socket.receive_until("message.completed")
    new_reply = created(frames, "assistant")
    await socket.close()

    # A tab that had the question only: the visible version, not the one set aside.
    behind = await ChatSocket.open(alice)
    await behind.send({"type": "subscribe", "conversation": conversation_id, "after": first["id"]})
    frame = await behind.receive()
    assert frame["type"] == "message.created" and frame["message"]["id"] == new_reply["id"]
    assert frame["message"]["versions"]["count"] == 2
    assert await behind.receive_nothing()
    await behind.close()

    # A tab that showed the version set aside: it gets the whole visible branch instead.
    stale = await ChatSocket.open(alice)
    frame = {"type": "subscribe", "conversation": conversation_id, "after": old_reply["id"]}
    await stale.send(frame)
    frame = await stale.receive()
    assert frame["type"] == "conversation.branch" and ids(frame) == [first["id"], new_reply["id"]]
    assert await stale.receive_nothing()
    await stale.close()


async def test_the_page_shows_the_visible_branch_with_versions(
    upstream, alice, runner, async_client
):
    socket = await ChatSocket.open(alice)
    conversation_id, frames = await first_turn(socket, "Alpha !tokens=2")
    first = created(frames, "user")
    await socket.send({"type": "edit", "message": first["id"], "text": "Beta !tokens=2"})
    await socket.receive_until("message.completed")
    await socket.close()

    await async_client.aforce_login(alice)
    page = (await async_client.get(f"/c/{conversation_id}/")).content.decode()
    assert '"text": "Beta !tokens=2"' in page and '"text": "Alpha !tokens=2"' not in page
    assert '"count": 2' in page


async def busy_reply(socket: ChatSocket) -> tuple[int, dict, dict]:
    conversation_id, frames = await first_turn(socket, "Alpha !tokens=2")
    await socket.send_text("Slow !tokens=200 !delay=20", conversation=conversation_id)
    frames = await socket.receive_deltas(1)
    return conversation_id, created(frames, "user"), created(frames, "assistant")


async def test_regenerate_edit_and_switch_are_refused_while_a_reply_is_written(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    _, user_message, reply = await busy_reply(socket)
    count = await Message.objects.acount()
    for frame in (
        {"type": "regenerate", "message": reply["id"]},
        {"type": "edit", "message": user_message["id"], "text": "Other"},
        {"type": "switch_branch", "message": user_message["parent"]},
    ):
        await socket.send({**frame, "client_id": "x"})
        answer_frame = await socket.receive()
        while answer_frame["type"] == "message.delta":
            answer_frame = await socket.receive()
        assert (answer_frame["type"], answer_frame["code"]) == ("error", "busy"), frame
    assert await Message.objects.acount() == count
    await socket.send({"type": "stop", "message": reply["id"]})
    await socket.receive_until("message.completed")
    await socket.close()


async def test_wrong_ids_are_refused_and_change_nothing(upstream, alice, bob, runner):
    mine = await ChatSocket.open(alice)
    _, frames = await first_turn(mine)
    user_message, reply = created(frames, "user"), created(frames, "assistant")
    theirs = await ChatSocket.open(bob)
    count = await Message.objects.acount()

    cases = [
        (theirs, {"type": "regenerate", "message": reply["id"]}, "not_found"),
        (theirs, {"type": "edit", "message": user_message["id"], "text": "x"}, "not_found"),
        (theirs, {"type": "switch_branch", "message": reply["id"]}, "not_found"),
        (mine, {"type": "regenerate", "message": 10**9}, "not_found"),
        (mine, {"type": "switch_branch", "message": 10**9}, "not_found"),
        (mine, {"type": "regenerate", "message": user_message["id"]}, "invalid_frame"),
        (mine, {"type": "edit", "message": reply["id"], "text": "x"}, "invalid_frame"),
        (mine, {"type": "edit", "message": user_message["id"], "text": "  "}, "invalid_frame"),
        (mine, {"type": "edit", "message": "seven", "text": "x"}, "invalid_frame"),
        (mine, {"type": "regenerate", "message": reply["id"], "model": 7}, "invalid_frame"),
    ]
    for socket, frame, code in cases:
        await socket.send({**frame, "client_id": "w"})
        refused = await socket.receive()
        assert (refused["type"], refused["code"], refused["client_id"]) == ("error", code, "w")
    assert await Message.objects.acount() == count
    await mine.close()
    await theirs.close()


async def test_continue_and_retry_act_on_the_end_of_the_visible_branch(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    _, frames = await first_turn(socket, "Count !tokens=10 !cut=4")
    user_message, cut = created(frames, "user"), created(frames, "assistant")
    await socket.send({"type": "edit", "message": user_message["id"], "text": "Other !tokens=2"})
    await socket.receive_until("message.completed")

    await socket.send({"type": "continue", "message": cut["id"]})
    refused = await socket.receive()
    assert refused["code"] == "invalid_frame", "set aside: not the end of the visible branch"

    await socket.send({"type": "switch_branch", "message": cut["id"]})
    await socket.receive()
    await socket.send({"type": "continue", "message": cut["id"]})
    frames = await socket.receive_until("message.completed")
    assert frames[0]["type"] == "message.continued"
    assert frames[0]["message"]["versions"]["count"] == 1
    assert (await Message.objects.aget(pk=cut["id"])).text.startswith("w1 w2 w3 w4 w5")
    await socket.close()


async def test_an_edit_keeps_the_attachments_it_names_and_claims_new_ones(upstream, alice, runner):
    kept = await sync_to_async(store_file)(alice, "a.png", png())
    socket = await ChatSocket.open(alice)
    await socket.send(
        {"type": "send", "conversation": None, "text": "See !tokens=2", "attachments": [kept.pk]}
    )
    frames = await socket.receive_until("message.completed")
    user_message = created(frames, "user")
    added = await sync_to_async(store_file)(alice, "b.png", png(color="blue"))

    await socket.send(
        {
            "type": "edit",
            "message": user_message["id"],
            "text": "See both !tokens=2",
            "attachments": [kept.pk, added.pk],
        }
    )
    frames = await socket.receive_until("message.completed")
    edited = created(frames, "user")
    assert sorted(a["name"] for a in edited["attachments"]) == ["a.png", "b.png"]
    original = await Message.objects.aget(pk=user_message["id"])
    assert await original.attachments.acount() == 1, "the original keeps its own"
    assert len(upstream.message_bodies()[-1]["messages"][0]["content"]) == 3
    await socket.close()


async def test_a_share_takes_the_visible_branch(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    conversation_id, frames = await first_turn(socket, "Alpha !tokens=2")
    first = created(frames, "user")
    await socket.send({"type": "edit", "message": first["id"], "text": "Beta !tokens=2"})
    await socket.receive_until("message.completed")
    await socket.close()

    share = await sync_to_async(shares.create_share)(alice, conversation_id)

    texts = [m["content"][0]["text"] for m in share.snapshot_messages]
    assert texts == ["Beta !tokens=2", "w1 w2 "]


def test_walking_a_branch_costs_the_same_queries_however_long_it_is(django_user_model):
    def queries_for(turns: int) -> int:
        conversation = make_conversation(django_user_model.objects.create_user(f"u{turns}"))
        for number in range(turns):
            add_message(conversation, f"Question {number}")
            reply = add_message(conversation, f"Answer {number}", role=Message.Role.ASSISTANT)
        reply.conversation = conversation
        with CaptureQueriesContext(connection) as context:
            build_request(reply)
        return len(context.captured_queries)

    assert queries_for(3) == queries_for(12)


async def test_an_edit_that_looks_like_a_secret_waits_for_confirmation(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    _, frames = await first_turn(socket)
    first = created(frames, "user")
    secret = "my key is AKIAIOSFODNN7EXAMPLE !tokens=2"
    count = await Message.objects.acount()

    await socket.send({"type": "edit", "message": first["id"], "text": secret})
    refused = await socket.receive()
    assert refused["code"] == "secret_detected" and await Message.objects.acount() == count

    frame = {"type": "edit", "message": first["id"], "text": secret, "allow_secrets": True}
    await socket.send(frame)
    frames = await socket.receive_until("message.completed")
    assert created(frames, "user")["content"][0]["text"] == secret
    await socket.close()


async def test_a_regenerate_over_quota_stores_and_switches_nothing(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    conversation_id, frames = await first_turn(socket)
    reply = created(frames, "assistant")
    await Quota.objects.aupdate_or_create(user=alice, defaults={"token_limit": 1})

    await socket.send({"type": "regenerate", "message": reply["id"]})
    refused = await socket.receive()

    assert refused["code"] == "quota_exceeded"
    assert await Message.objects.acount() == 2
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.leaf_id == reply["id"]
    await socket.close()
