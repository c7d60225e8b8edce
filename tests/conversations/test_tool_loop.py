"""The tool loop (issue 13): what the fake upstream received each round, what the reply
stored, how each round was charged, and the pairs replayed in a later turn (H13, H15)."""

import pytest
from asgiref.sync import sync_to_async

from accounts import ledger
from accounts.models import LedgerEntry, UpstreamCall
from conversations.models import Message
from conversations.tools import registry

from .wsclient import ChatSocket, deltas

pytestmark = [pytest.mark.django_db(transaction=True)]

CALCULATOR = {"tools": ["calculator"]}


async def chat(socket, text: str, conversation: int | None = None, **frame) -> list[dict]:
    await socket.send(
        {"type": "send", "conversation": conversation, "text": text, "client_id": "t", **frame}
    )
    return await socket.receive_until("message.completed")


async def charges() -> int:
    return await LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).acount()


class _Provider:
    """Tools that only tests have: one that fails, one that spends the quota on its 2nd call."""

    def __init__(self) -> None:
        self.drained = 0
        provider = self

        class Explode:
            name = "explode"
            description = "Always fails."
            input_schema = {"type": "object", "properties": {}}

            def call(self, arguments, context):
                raise RuntimeError("the tool broke")

        class Drain:
            name = "drain"
            description = "Spends what is left of the quota on its second call."
            input_schema = {"type": "object", "properties": {}}

            def call(self, arguments, context):
                provider.drained += 1
                if provider.drained == 2:
                    quota = ledger.quota_for(_user(context.user_id))
                    quota.token_limit, quota.period = 1, "month"
                    quota.save()
                return "drained" if provider.drained == 2 else "fine"

        self._tools = [Explode(), Drain()]

    def tools(self):
        return self._tools


def _user(user_id: int):
    from accounts.models import User

    return User.objects.get(pk=user_id)


@pytest.fixture
def test_tools():
    provider = _Provider()
    registry.add_provider(provider)
    yield provider
    registry.remove_provider(provider)


async def test_a_named_tool_choice_goes_upstream_and_its_result_comes_back_to_the_model(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    chosen = CALCULATOR | {"tool_choice": {"type": "tool", "name": "calculator"}}
    frames = await chat(socket, "How much? !expr=6*7", settings=chosen)

    first, second = (r["body"] for r in upstream.requests)
    assert [t["name"] for t in first["tools"]] == ["calculator"]
    assert first["tools"][0]["input_schema"]["required"] == ["expression"]
    assert first["tool_choice"] == {"type": "tool", "name": "calculator"}
    use = second["messages"][-2]["content"][-1]
    assert use == {
        "type": "tool_use",
        "id": "toolu_fake_r1",
        "name": "calculator",
        "input": {"expression": "6*7"},
    }
    result = second["messages"][-1]
    assert result["role"] == "user"
    assert result["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_fake_r1",
            "content": '{"expression": "6*7", "value": 42}',
        }
    ]
    reply = await Message.objects.aget(role="assistant")
    assert [b["type"] for b in reply.content] == ["text", "tool_use", "tool_result", "text"]
    assert '"value": 42' in reply.content[-1]["text"], "the model quoted the result"
    assert reply.status == "complete" and reply.stop_reason == "end_turn"
    kinds = [f["kind"] for f in deltas(frames)]
    assert "tool_input" in kinds and "tool_result" in kinds
    assert kinds.index("tool_result") > kinds.index("tool_input")
    first_input = next(f for f in deltas(frames) if f["kind"] == "tool_input")
    assert (first_input["id"], first_input["name"]) == ("toolu_fake_r1", "calculator")
    result_frame = next(f for f in deltas(frames) if f["kind"] == "tool_result")
    assert result_frame["tool_use_id"] == "toolu_fake_r1" and result_frame["is_error"] is False
    assert frames[-1]["content"][2]["tool_use_id"] == "toolu_fake_r1"
    assert await charges() == 2, "each round is its own call, charged on its own"
    await socket.close()


async def test_a_later_turn_replays_the_tool_pairs_exactly(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    first = await chat(socket, "Sum !usetool=calculator !expr=2+2", settings=CALCULATOR)
    conversation = first[0]["conversation"]["id"]
    stored = (await Message.objects.aget(role="assistant")).content
    upstream.requests.clear()

    await chat(socket, "Thanks", conversation)

    messages = upstream.requests[0]["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"type": "text", "text": stored[0]["text"]},
        {k: stored[1][k] for k in ("type", "id", "name", "input")},
    ]
    assert messages[2]["content"] == [stored[2]]
    assert messages[3]["content"] == [{"type": "text", "text": stored[3]["text"].rstrip()}]
    assert messages[4]["content"] == [{"type": "text", "text": "Thanks"}]
    await socket.close()


async def test_a_three_round_loop_is_one_reply_charged_three_times(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await chat(socket, "Again and again !usetool=calculator !toolrounds=2", settings=CALCULATOR)

    assert len(upstream.requests) == 3
    last = upstream.requests[-1]["body"]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "user", "assistant", "user"]
    reply = await Message.objects.aget(role="assistant")
    types = [b["type"] for b in reply.content]
    assert types.count("tool_use") == 2 and types.count("tool_result") == 2
    calls = UpstreamCall.objects.filter(message=reply, status=UpstreamCall.Status.SETTLED)
    assert await calls.acount() == 3 and await charges() == 3
    entries = LedgerEntry.objects.filter(message=reply, kind=LedgerEntry.Kind.CHARGE)
    total = sum([e.tokens async for e in entries])
    assert reply.usage and total > 0
    await socket.close()


async def test_the_loop_stops_after_tool_max_rounds(upstream, alice, runner, settings):
    settings.TOOL_MAX_ROUNDS = 2
    socket = await ChatSocket.open(alice)
    frames = await chat(socket, "Forever !usetool=calculator !toolrounds=9", settings=CALCULATOR)

    assert len(upstream.requests) == 2
    reply = await Message.objects.aget(role="assistant")
    assert reply.status == "complete" and reply.stop_reason == "tool_use"
    assert [b["type"] for b in reply.content][-1] == "tool_use", "the last call's tool not run"
    assert frames[-1]["stop_reason"] == "tool_use"
    assert await charges() == 2
    await socket.close()


async def test_a_quota_that_runs_out_between_rounds_ends_the_reply_with_what_it_has(
    upstream, alice, runner, test_tools
):
    socket = await ChatSocket.open(alice)
    frames = await chat(
        socket, "Drain it !usetool=drain !toolrounds=5", settings={"tools": ["drain"]}
    )

    assert len(upstream.requests) == 2, "round 3 was never sent"
    reply = await Message.objects.aget(role="assistant")
    types = [b["type"] for b in reply.content]
    assert types == ["text", "tool_use", "tool_result", "text", "tool_use", "tool_result"]
    assert reply.content[-1]["content"] == "drained"
    assert reply.status == "complete" and reply.stop_reason == "tool_use"
    assert frames[-1]["status"] == "complete"
    calls = UpstreamCall.objects.filter(message=reply)
    assert [c.status async for c in calls] == ["settled", "settled"]
    assert await charges() == 2, "rounds 1 and 2 kept and charged"
    await socket.close()


async def test_a_failing_tool_reaches_the_model_as_is_error(upstream, alice, runner, test_tools):
    socket = await ChatSocket.open(alice)
    await chat(socket, "Try !usetool=explode", settings={"tools": ["explode"]})

    result = upstream.requests[1]["body"]["messages"][-1]["content"][0]
    assert result["is_error"] is True
    assert result["content"] == "RuntimeError: the tool broke"
    reply = await Message.objects.aget(role="assistant")
    assert reply.status == "complete"
    assert "(error)" in reply.content[-1]["text"], "the model was told it failed"
    await socket.close()


async def test_a_tool_not_switched_on_is_never_offered(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    await chat(socket, "Use it !usetool=calculator")

    body = upstream.requests[0]["body"]
    assert "tools" not in body and "tool_choice" not in body
    assert len(upstream.requests) == 1
    await socket.close()


async def test_the_search_tool_finds_only_the_members_own_conversations(
    upstream, alice, bob, runner
):
    bob_socket = await ChatSocket.open(bob)
    await chat(bob_socket, "Secret pelican plans")
    await bob_socket.close()
    socket = await ChatSocket.open(alice)
    await chat(socket, "My pelican drawing")
    await chat(
        socket,
        "Find !usetool=search_conversations !query=pelican",
        settings={"tools": ["search_conversations"]},
    )

    result = upstream.requests[-1]["body"]["messages"][-1]["content"][0]["content"]
    assert "My pelican drawing" in result and "Secret" not in result
    await socket.close()


async def test_settings_refuse_unknown_tools_and_a_choice_outside_them(alice, chat_model):
    from conversations import chat_settings

    with pytest.raises(chat_settings.SettingsInvalid) as unknown:
        chat_settings.clean_settings({"tools": ["rm_rf"]})
    assert unknown.value.field == "tools"
    with pytest.raises(chat_settings.SettingsInvalid) as outside:
        chat_settings.clean_settings(
            {"tools": ["calculator"], "tool_choice": {"type": "tool", "name": "current_time"}}
        )
    assert outside.value.field == "tool_choice"
    forced = {
        "tools": ["calculator"],
        "tool_choice": {"type": "any"},
        "thinking": {"enabled": True},
    }
    chat_model.supports_thinking = True
    found = chat_settings.problems(chat_settings.clean_settings(forced), chat_model)
    assert "tool_choice" in found, "A11: thinking cannot be forced to use a tool"


async def test_the_clock_says_which_zone_it_used(upstream, alice, runner, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    socket = await ChatSocket.open(alice)
    await chat(socket, "Time? !usetool=current_time", settings={"tools": ["current_time"]})

    said = upstream.requests[1]["body"]["messages"][-1]["content"][0]["content"]
    assert '"time_zone": "Asia/Tokyo"' in said and '"time_zone_source": "server"' in said
    assert "+09:00" in said
    await socket.close()


async def test_the_rounds_thinking_goes_back_signed_in_the_next_round(
    upstream, alice, runner, chat_model
):
    chat_model.supports_thinking = True
    await chat_model.asave()
    socket = await ChatSocket.open(alice)
    chosen = CALCULATOR | {"thinking": {"enabled": True}}
    await chat(socket, "Think, then add !usetool=calculator", settings=chosen)

    turn = upstream.requests[1]["body"]["messages"][-2]
    assert turn["role"] == "assistant"
    assert turn["content"][0]["type"] == "thinking"
    assert turn["content"][0]["signature"] == "ZmFrZS1zaWduYXR1cmU=", "H13: unchanged"
    upstream.requests.clear()
    conversation = (await Message.objects.aget(role="assistant")).conversation_id
    await chat(socket, "And?", conversation)
    earlier = upstream.requests[0]["body"]["messages"][1]["content"]
    assert all(b["type"] != "thinking" for b in earlier), "H3: an earlier turn's is not"
    await socket.close()


async def test_tools_switched_off_after_a_loop_still_define_the_replayed_pairs(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    first = await chat(socket, "Sum !usetool=calculator", settings=CALCULATOR)
    conversation = first[0]["conversation"]["id"]
    upstream.requests.clear()

    frames = await chat(socket, "No tools now !usetool=calculator", conversation, settings={})

    body = upstream.requests[0]["body"]
    assert [t["name"] for t in body["tools"]] == ["calculator"], "H17"
    assert body["tool_choice"] == {"type": "none"}
    assert len(upstream.requests) == 1 and frames[-1]["status"] == "complete"
    await socket.close()


async def test_stopping_in_the_second_round_keeps_the_first_and_charges_both(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    await socket.send(
        {
            "type": "send",
            "conversation": None,
            "text": "Slowly !usetool=calculator !delay=150",
            "client_id": "t",
            "settings": CALCULATOR,
        }
    )
    frames = await socket.receive_until("message.delta")
    while not any(f.get("kind") == "tool_result" for f in frames):
        frames.append(await socket.receive())
    frames.append(await socket.receive())  # round 2 has begun
    reply_id = frames[-1]["message"]
    await socket.send({"type": "stop", "message": reply_id})
    frames += await socket.receive_until("message.completed")

    reply = await Message.objects.aget(pk=reply_id)
    assert reply.status == "stopped"
    assert [b["type"] for b in reply.content][:3] == ["text", "tool_use", "tool_result"]
    calls = UpstreamCall.objects.filter(message=reply)
    assert [c.status async for c in calls] == ["settled", "settled"]
    assert await charges() == 2
    await socket.close()


async def test_a_preset_carries_the_tools_into_the_chat_it_starts(
    upstream, alice, runner, settings
):
    from conversations.presets import save_preset

    chosen = CALCULATOR | {"tool_choice": {"type": "any"}}
    preset = await sync_to_async(save_preset)(alice, "Maths", settings.CHAT_MODEL, chosen, "")
    socket = await ChatSocket.open(alice)
    await chat(socket, "Sum !expr=1+1", preset=preset.pk)

    first = upstream.requests[0]["body"]
    assert [t["name"] for t in first["tools"]] == ["calculator"]
    assert first["tool_choice"] == {"type": "any"}
    await socket.close()
