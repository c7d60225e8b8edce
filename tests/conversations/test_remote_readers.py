"""Deltas go through the Redis channel layer only when a socket of another process follows the
conversation (decision 103); every other frame always goes."""

import asyncio

import pytest
from channels_redis.core import RedisChannelLayer

from conversations import runner as runner_module
from conversations.frames import delta_frame, reply_completed_frame
from conversations.runner import Generation, GenerationRunner, group_name
from tests.redis_server import redis_server

CONVERSATION = 7
GROUP = group_name(CONVERSATION)


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture
async def here(redis_url):
    """A runner on the Redis layer, as a worker of a two-process deployment has."""
    runner = GenerationRunner()
    runner.layer = RedisChannelLayer(hosts=[redis_url])
    runner.cross_process = True
    yield runner
    await runner.layer.flush()
    await runner.layer.close_pools()


@pytest.fixture
async def elsewhere(redis_url):
    """The channel layer of another process (its own client prefix)."""
    layer = RedisChannelLayer(hosts=[redis_url])
    yield layer
    await layer.close_pools()


async def received(layer, channel: str, wait: float = 0.5) -> dict | None:
    try:
        return await asyncio.wait_for(layer.receive(channel), wait)
    except TimeoutError:
        return None


def delta(seq: int) -> dict:
    return delta_frame(1, seq, 0, "text", f"word{seq} ")


async def test_deltas_followed_only_here_stay_off_the_layer(here):
    own_socket = await here.layer.new_channel()
    await here.layer.group_add(GROUP, own_socket)
    await here.publish(CONVERSATION, delta(1))
    assert await received(here.layer, own_socket) is None
    completed = reply_completed_frame(
        1, status="complete", stop_reason="end_turn", usage={}, error=None, content=[], seq=1
    )
    await here.publish(CONVERSATION, completed)
    assert (await received(here.layer, own_socket))["type"] == "chat.frame"


async def test_a_socket_of_another_process_gets_the_deltas(here, elsewhere):
    their_socket = await elsewhere.new_channel()
    await elsewhere.group_add(GROUP, their_socket)
    await here.publish(CONVERSATION, delta(1))
    frame = await received(elsewhere, their_socket)
    assert frame is not None and '"word1 "' in frame["text"]


async def test_a_snapshot_request_from_another_process_opens_the_layer_at_once(here, elsewhere):
    await here.publish(CONVERSATION, delta(1))  # nobody elsewhere: remembered for a second
    their_socket = await elsewhere.new_channel()
    await elsewhere.group_add(GROUP, their_socket)
    here.generations[1] = Generation(1, CONVERSATION)
    await here._send_snapshot({"message": 1, "reply_to": their_socket})
    assert '"message.snapshot"' in (await received(elsewhere, their_socket))["text"]
    await here.publish(CONVERSATION, delta(2))
    frame = await received(elsewhere, their_socket)
    assert frame is not None and '"word2 "' in frame["text"]


async def test_a_reader_elsewhere_is_noticed_within_the_recheck(here, elsewhere, monkeypatch):
    monkeypatch.setattr(runner_module, "REMOTE_READERS_SECONDS", 0.1)
    await here.publish(CONVERSATION, delta(1))
    their_socket = await elsewhere.new_channel()
    await elsewhere.group_add(GROUP, their_socket)
    await asyncio.sleep(0.15)
    await here.publish(CONVERSATION, delta(2))
    frame = await received(elsewhere, their_socket)
    assert frame is not None and '"word2 "' in frame["text"]


async def test_when_redis_cannot_be_asked_the_delta_is_sent_as_before(here, monkeypatch):
    sent = []

    def redis_away(group):
        raise ConnectionError("redis away")

    async def group_send(group, message):
        sent.append(group)

    monkeypatch.setattr(here.layer, "group_send", group_send)
    monkeypatch.setattr(here.layer, "_group_key", redis_away)
    await here.publish(CONVERSATION, delta(1))
    assert sent == [GROUP]
