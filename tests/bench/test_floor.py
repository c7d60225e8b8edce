"""The floor server answers a text send with the frames the bench's load client waits for."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bench.client import Client
from bench.floor import serve_floor
from conversations.fake_upstream.server import FakeUpstream


async def _with_floor(upstream_url: str, body) -> None:
    started: asyncio.Future = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(serve_floor(0, upstream_url, 0.04, started.set_result))
    try:
        port = await asyncio.wait_for(asyncio.shield(started), 30)
        await body(port)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


async def test_floor_streams_a_reply_the_load_client_counts_as_complete() -> None:
    with FakeUpstream(ttft=0, token_delay=0) as upstream:

        async def body(port: int) -> None:
            spec = {"servers": [f"http://127.0.0.1:{port}"], "upstream": upstream.base_url}
            client = Client({**spec, "cookies": ["sessionid=anything"], "tokens": 30})
            async with connect(f"ws://127.0.0.1:{port}/ws/chat/") as ws:
                result = await client._one(ws)
            assert result["error"] is None
            assert result["tokens"] == 30
            assert result["frames"] >= 1
            assert result["created"] is not None and result["ttfd"] is not None

        await _with_floor(upstream.base_url, body)


async def test_floor_sends_the_protocol_frames_of_a_send_in_order() -> None:
    with FakeUpstream(ttft=0, token_delay=0) as upstream:

        async def body(port: int) -> None:
            frames = []
            async with connect(f"ws://127.0.0.1:{port}/ws/chat/") as ws:
                send = {"type": "send", "conversation": None, "text": "bench !tokens=5"}
                await ws.send(json.dumps({**send, "attachments": [], "client_id": "c-1"}))
                async for raw in ws:
                    frames.append(json.loads(raw))
                    if frames[-1]["type"] == "message.completed":
                        break
            kinds = [f["type"] for f in frames]
            assert kinds[:3] == ["conversation.created", "message.created", "message.created"]
            assert [f["message"]["role"] for f in frames[1:3]] == ["user", "assistant"]
            assert frames[1]["client_id"] == "c-1"
            deltas = [f for f in frames if f["type"] == "message.delta"]
            assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
            completed = frames[-1]
            assert completed["status"] == "complete"
            assert completed["seq"] == deltas[-1]["seq"]
            assert completed["content"][0]["text"] == "".join(d["text"] for d in deltas)
            assert len(completed["content"][0]["text"].split()) == 5
            assert completed["usage"]["output_tokens"] >= 5

        await _with_floor(upstream.base_url, body)


async def test_floor_refuses_other_paths() -> None:
    async def body(port: int) -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{port}/ws/other/"):
                pass
        assert refused.value.response.status_code == 404

    await _with_floor("http://127.0.0.1:9", body)
