"""Per-user sending limits and the per-socket frame rate, over the WebSocket."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from accounts import limits
from accounts.models import Quota
from conversations import sending_limits as limits_of_sending
from conversations.models import Conversation, Message

from .wsclient import ChatSocket, created

pytestmark = [pytest.mark.django_db(transaction=True)]

SLOW = "Take your time !tokens=400 !delay=50"  # about 20 s: still streaming while the test runs


@pytest.fixture(autouse=True)
def sending_limits(settings):
    settings.REDIS_URL = ""  # the database store; the two-worker test runs on Redis
    settings.CHAT_SENDS_PER_MINUTE = 0
    settings.CHAT_MAX_CONCURRENT_REPLIES = 0
    settings.WS_FRAMES_PER_SECOND = 10.0
    settings.WS_FRAME_BURST = 40


async def send_and_finish(socket: ChatSocket, text: str = "hi !tokens=2", **kwargs) -> list:
    await socket.send_text(text, **kwargs)
    return await socket.receive_until("message.completed")


async def refusal(socket: ChatSocket) -> dict:
    """The next error frame; deltas of replies still streaming may come first."""
    frames = await socket.receive_until("error")
    assert {f["type"] for f in frames[:-1]} <= {"message.delta"}, frames
    return frames[-1]


async def streaming_reply(socket: ChatSocket, client_id: str) -> int:
    """The id of the reply to `client_id`'s send, once its first delta has arrived.

    Deltas of replies already streaming may come before its frames (on a loaded machine they
    do), so this reads past them rather than taking the first delta for this reply's.
    """
    reply_id = None
    async with asyncio.timeout(10):
        while True:
            frame = await socket.receive()
            if frame["type"] == "message.created" and frame.get("client_id") == client_id:
                if frame["message"]["role"] == "assistant":
                    reply_id = frame["message"]["id"]
            elif frame["type"] == "message.delta" and frame["message"] == reply_id:
                return reply_id


async def set_quota(user, **fields) -> None:
    await Quota.objects.aupdate_or_create(user=user, defaults=fields)


async def test_a_send_over_the_per_minute_limit_is_refused_with_retry_after(
    upstream, alice, runner, settings
):
    settings.CHAT_SENDS_PER_MINUTE = 2
    socket = await ChatSocket.open(alice)
    for n in range(2):
        await send_and_finish(socket, client_id=f"c{n}")

    await socket.send_text("one more", client_id="third")
    frame = await refusal(socket)

    assert frame["code"] == "rate_limited" and frame["client_id"] == "third"
    assert isinstance(frame["retry_after"], int) and 1 <= frame["retry_after"] <= 60
    assert "too fast" in frame["detail"]
    assert await Conversation.objects.filter(user=alice).acount() == 2  # nothing stored
    # The socket stays open and serves the next frame.
    conversation = (await Conversation.objects.filter(user=alice).afirst()).pk
    await socket.send({"type": "subscribe", "conversation": conversation})
    assert await socket.receive_nothing(0.2)
    await socket.send({"type": "subscribe", "conversation": 10**9})
    assert (await socket.receive())["code"] == "not_found"
    await socket.close()


async def test_the_per_minute_limit_is_per_user(upstream, alice, bob, runner, settings):
    settings.CHAT_SENDS_PER_MINUTE = 1
    first = await ChatSocket.open(alice)
    await send_and_finish(first)

    second = await ChatSocket.open(bob)
    frames = await send_and_finish(second)

    assert frames[-1]["status"] == "complete"
    await first.close()
    await second.close()


async def test_an_admins_override_replaces_the_default_per_minute_limit(
    upstream, alice, runner, settings
):
    settings.CHAT_SENDS_PER_MINUTE = 1
    await set_quota(alice, sends_per_minute=3)
    socket = await ChatSocket.open(alice)
    for _ in range(3):
        await send_and_finish(socket)

    await socket.send_text("fourth")

    assert (await refusal(socket))["code"] == "rate_limited"
    await socket.close()


async def test_an_override_of_zero_lifts_the_limit(upstream, alice, runner, settings):
    settings.CHAT_SENDS_PER_MINUTE = 1
    await set_quota(alice, sends_per_minute=0)
    socket = await ChatSocket.open(alice)
    for _ in range(3):
        frames = await send_and_finish(socket)
        assert frames[-1]["status"] == "complete"
    await socket.close()


async def test_a_send_over_the_concurrent_replies_limit_is_refused(
    upstream, alice, runner, settings
):
    settings.CHAT_MAX_CONCURRENT_REPLIES = 2
    socket = await ChatSocket.open(alice)
    streaming = []
    for n in range(2):
        await socket.send_text(SLOW, client_id=f"slow{n}")
        streaming.append(await streaming_reply(socket, f"slow{n}"))

    await socket.send_text("a third at once", client_id="third")
    frame = await refusal(socket)

    assert frame["code"] == "rate_limited" and frame["client_id"] == "third"
    assert frame["retry_after"] == limits_of_sending.BUSY_RETRY_AFTER_SECONDS
    assert "2 replies being written" in frame["detail"]
    assert await Conversation.objects.filter(user=alice).acount() == 2

    # Once one of them ends, the next send goes through.
    await socket.send({"type": "stop", "message": streaming[0]})
    ended = [f for f in await socket.receive_until("message.completed")][-1]
    assert ended["message"] == streaming[0] and ended["status"] == "stopped"
    await socket.send_text("now it fits !tokens=2", client_id="fourth")
    frames = await socket.receive_until("message.created")
    assert frames[-1]["client_id"] == "fourth"
    await socket.send({"type": "stop", "message": streaming[1]})
    await socket.close()


async def test_other_users_replies_do_not_count(upstream, alice, bob, runner, settings):
    settings.CHAT_MAX_CONCURRENT_REPLIES = 1
    bobs = await ChatSocket.open(bob)
    await bobs.send_text(SLOW)
    await bobs.receive_until("message.delta")

    socket = await ChatSocket.open(alice)
    frames = await send_and_finish(socket)

    assert frames[-1]["status"] == "complete"
    await socket.close()
    await bobs.close()


async def test_an_admins_override_replaces_the_default_concurrency(
    upstream, alice, runner, settings
):
    settings.CHAT_MAX_CONCURRENT_REPLIES = 5
    await set_quota(alice, max_concurrent_replies=1)
    socket = await ChatSocket.open(alice)
    await socket.send_text(SLOW)
    frames = await socket.receive_until("message.delta")

    await socket.send_text("second")

    assert (await refusal(socket))["code"] == "rate_limited"
    await socket.send({"type": "stop", "message": created(frames, "assistant")["id"]})
    await socket.close()


async def test_a_retry_counts_against_the_per_minute_limit(upstream, alice, runner, settings):
    settings.CHAT_SENDS_PER_MINUTE = 1
    socket = await ChatSocket.open(alice)
    frames = await send_and_finish(socket, "fails !fault=401")
    failed = created(frames, "assistant")
    assert frames[-1]["status"] == "failed"

    await socket.send({"type": "retry", "message": failed["id"], "client_id": "again"})
    frame = await refusal(socket)

    assert frame["code"] == "rate_limited" and frame["client_id"] == "again"
    assert await Message.objects.filter(conversation__user=alice).acount() == 2
    await socket.close()


async def test_a_retry_counts_against_the_concurrent_replies_limit(
    upstream, alice, runner, settings
):
    settings.CHAT_MAX_CONCURRENT_REPLIES = 1
    socket = await ChatSocket.open(alice)
    frames = await send_and_finish(socket, "fails !fault=401")
    failed = created(frames, "assistant")
    await socket.send_text(SLOW)
    slow = await socket.receive_until("message.delta")

    await socket.send({"type": "retry", "message": failed["id"], "client_id": "again"})

    assert (await refusal(socket))["code"] == "rate_limited"
    await socket.send({"type": "stop", "message": created(slow, "assistant")["id"]})
    await socket.close()


async def test_limits_cost_one_read_when_they_are_off(upstream, alice, runner):
    """With both limits off, the send path reads the user's overrides and nothing else."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_of_limits() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            sending = limits_of_sending.sending_limits_for(alice)
            limits_of_sending.refuse_if_sending_too_fast(alice, sending)
            limits_of_sending.refuse_if_too_many_replies(alice, sending)
        return [q["sql"] for q in captured.captured_queries]

    assert len(await sync_to_async(queries_of_limits)()) == 1


async def test_too_many_frames_get_rate_limited_and_the_socket_stays_open(
    upstream, alice, runner, settings, monkeypatch
):
    settings.WS_FRAMES_PER_SECOND = 1.0
    settings.WS_FRAME_BURST = 3
    now = 500.0
    monkeypatch.setattr(limits, "monotonic", lambda: now)
    socket = await ChatSocket.open(alice)
    for _ in range(3):
        await socket.send({"type": "nonsense"})
        assert (await socket.receive())["code"] == "invalid_frame"

    await socket.send({"type": "nonsense"})
    frame = await socket.receive()

    assert frame["type"] == "error" and frame["code"] == "rate_limited"
    assert frame["retry_after"] == 1
    # A limited send is dropped unread: nothing is stored.
    await socket.send_text("flood")
    assert (await socket.receive())["code"] == "rate_limited"
    assert await Conversation.objects.filter(user=alice).acount() == 0

    now += 2  # two tokens back
    frames = await send_and_finish(socket)
    assert frames[0]["type"] == "conversation.created"
    assert frames[-1]["status"] == "complete"
    await socket.close()
