"""Conversation settings over the socket: what the fake upstream received, what was stored and
charged, and every rule refused before any upstream call."""

import pytest
from asgiref.sync import sync_to_async

from accounts.models import LedgerEntry, UpstreamCall
from conversations.models import Conversation, Message, Preset

from .wsclient import ChatSocket, created, text_of

pytestmark = [pytest.mark.django_db(transaction=True)]


async def send(socket: ChatSocket, text: str, conversation=None, **extra) -> list[dict]:
    frame = {"type": "send", "conversation": conversation, "text": text, "client_id": "c1"}
    await socket.send(frame | extra)
    frames = []
    while not frames or frames[-1]["type"] not in ("message.completed", "error"):
        frames.append(await socket.receive(10))
    return frames


def body(upstream) -> dict:
    return upstream.requests[-1]["body"]


async def charges() -> list[LedgerEntry]:
    return [e async for e in LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE)]


async def test_each_setting_reaches_the_request_and_the_stop_sequence_is_stored_and_charged(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    settings = {"temperature": 0.3, "top_k": 5, "max_tokens": 300, "stop_sequences": ["w3", "##"]}
    frames = await send(
        socket, "Count !tokens=6", settings=settings, system_prompt="Answer in one line."
    )

    sent = body(upstream)
    assert sent["system"] == "Answer in one line."
    assert (sent["temperature"], sent["top_k"], sent["max_tokens"]) == (0.3, 5, 300)
    assert sent["stop_sequences"] == ["w3", "##"]
    assert "top_p" not in sent and "thinking" not in sent
    reply = created(frames, "assistant")
    completed = frames[-1]
    assert (completed["stop_reason"], completed["stop_sequence"]) == ("stop_sequence", "w3")
    assert text_of(frames, reply["id"]) == "w1 w2 "
    stored = await Message.objects.aget(pk=reply["id"])
    assert (stored.stop_reason, stored.stop_sequence, stored.text) == (
        "stop_sequence",
        "w3",
        "w1 w2 ",
    )
    [charge] = await charges()
    assert charge.output_tokens == 2 and not charge.estimated
    conversation = await Conversation.objects.aget(pk=reply["conversation"])
    assert conversation.settings == settings
    assert conversation.system_prompt == "Answer in one line."
    await socket.close()


async def test_top_p_alone_and_absent_settings_are_the_apis_defaults(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "Plain !tokens=2")
    sent = body(upstream)
    assert not {"temperature", "top_p", "top_k", "stop_sequences", "system"} & set(sent)
    assert sent["max_tokens"] == 4096, "CHAT_MAX_TOKENS by default"

    conversation = frames[0]["conversation"]["id"]
    await send(socket, "Again !tokens=2", conversation, settings={"top_p": 0.8, "top_k": ""})
    sent = body(upstream)
    assert sent["top_p"] == 0.8 and "top_k" not in sent, "an empty value is the default"
    await socket.close()


async def test_settings_saved_with_the_conversation_are_used_from_the_next_turn(
    upstream, alice, runner, client
):
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "First !tokens=2")
    conversation = frames[0]["conversation"]["id"]

    await sync_to_async(client.force_login)(alice)
    saved = await sync_to_async(client.post)(
        f"/c/{conversation}/settings/",
        {"settings": {"temperature": 0.9, "stop_sequences": ["END"]}, "system_prompt": "Hi"},
        content_type="application/json",
    )
    assert saved.status_code == 200, saved.content
    assert saved.json() == {
        "settings": {"temperature": 0.9, "stop_sequences": ["END"]},
        "system_prompt": "Hi",
    }
    await send(socket, "Second !tokens=2", conversation)
    sent = body(upstream)
    assert (sent["temperature"], sent["stop_sequences"], sent["system"]) == (0.9, ["END"], "Hi")
    await socket.close()


async def test_a_team_presets_prompt_and_the_members_go_as_two_system_blocks(
    upstream, alice, runner, chat_model
):
    team = await Preset.objects.acreate(
        name="Support",
        model=chat_model.model_id,
        system_prompt="You answer for ACME support.",
        settings={"temperature": 0.2},
    )
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "Hello !tokens=2", preset=team.pk, system_prompt="Call me Alice.")
    sent = body(upstream)
    assert sent["system"] == [
        {"type": "text", "text": "You answer for ACME support."},
        {"type": "text", "text": "Call me Alice."},
    ]
    assert sent["temperature"] == 0.2, "the preset's settings, as the frame sent none"

    # The team's prompt stays in front whatever the member writes; alone, it is one block.
    conversation = frames[0]["conversation"]["id"]
    await send(socket, "More !tokens=2", conversation, system_prompt="")
    assert body(upstream)["system"] == [{"type": "text", "text": "You answer for ACME support."}]
    await socket.close()


async def test_a_members_preset_is_copied_into_the_new_chat(upstream, alice, runner, chat_model):
    mine = await Preset.objects.acreate(
        owner=alice,
        name="Terse",
        model=chat_model.model_id,
        system_prompt="Be terse.",
        settings={"max_tokens": 50, "stop_sequences": ["\n\n"]},
    )
    socket = await ChatSocket.open(alice)
    await send(socket, "Hello !tokens=2", preset=mine.pk)
    sent = body(upstream)
    assert sent["system"] == "Be terse."
    assert (sent["max_tokens"], sent["stop_sequences"]) == (50, ["\n\n"])
    conversation = await Conversation.objects.aget()
    assert conversation.preset_id is None and conversation.system_prompt == "Be terse."
    await socket.close()


async def test_someone_elses_preset_is_not_found(upstream, alice, bob, runner, chat_model):
    theirs = await Preset.objects.acreate(owner=bob, name="Bob's", model=chat_model.model_id)
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "Hello", preset=theirs.pk)
    assert (frames[-1]["type"], frames[-1]["code"]) == ("error", "not_found")
    assert not upstream.requests and not await Message.objects.aexists()
    await socket.close()


THINKING_ON = {"enabled": True, "budget_tokens": 2048}
REFUSED = {
    "five stop sequences": ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
    "temperature over 1": ({"temperature": 1.5}, "temperature"),
    "top_p below 0": ({"top_p": -0.5}, "top_p"),
    "top_k of 0": ({"top_k": 0}, "top_k"),
    "max_tokens over the model's": ({"max_tokens": 64001}, "max_tokens"),
    "temperature and top_p on Sonnet 4.5": ({"temperature": 0.5, "top_p": 0.5}, "top_p"),
    "thinking with temperature": ({"thinking": THINKING_ON, "temperature": 0.5}, "temperature"),
    "thinking with top_k": ({"thinking": THINKING_ON, "top_k": 10}, "top_k"),
    "thinking with top_p 0.9": ({"thinking": THINKING_ON, "top_p": 0.9}, "top_p"),
    "a budget under 1024": ({"thinking": {"enabled": True, "budget_tokens": 512}}, "thinking"),
    "a budget not below max_tokens": (
        {"thinking": THINKING_ON, "max_tokens": 2048},
        "thinking",
    ),
    "a string temperature": ({"temperature": "hot"}, "temperature"),
    "an unknown setting": ({"seed": 7}, "settings"),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_each_rule_is_refused_before_any_upstream_call(upstream, alice, runner, case):
    await sync_to_async(_thinking_model)()
    settings, field = REFUSED[case]
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "Hello !tokens=2", settings=settings)
    error = frames[-1]
    assert (error["type"], error["code"], error["field"]) == ("error", "invalid_settings", field)
    assert error["detail"] and error["fields"][field] == error["detail"]
    assert error["client_id"] == "c1"
    assert not upstream.requests, "nothing was sent upstream"
    assert not await Message.objects.aexists() and not await Conversation.objects.aexists()
    assert not await UpstreamCall.objects.aexists() and not await LedgerEntry.objects.aexists()

    frames = await send(socket, "Hello !tokens=2")  # the next send works
    assert frames[-1]["type"] == "message.completed" and frames[-1]["status"] == "complete"
    await socket.close()


def _thinking_model() -> None:
    from conversations.models import CatalogModel

    CatalogModel.objects.filter(model_id="claude-sonnet-4-5-20250929").update(thinking_budget=2048)


async def test_stored_settings_the_model_refuses_stop_the_send_before_upstream(
    upstream, alice, runner
):
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "First !tokens=2")
    conversation_id = frames[0]["conversation"]["id"]
    # Saved while another model was chosen, say: Sonnet 4.5 takes only one of the two.
    await Conversation.objects.filter(pk=conversation_id).aupdate(
        settings={"temperature": 0.5, "top_p": 0.5}
    )
    upstream.requests.clear()
    messages = await Message.objects.acount()
    charged = len(await charges())

    frames = await send(socket, "Second !tokens=2", conversation_id)
    assert (frames[-1]["code"], frames[-1]["field"]) == ("invalid_settings", "top_p")
    assert "temperature or top P" in frames[-1]["detail"]
    assert not upstream.requests
    assert await Message.objects.acount() == messages and len(await charges()) == charged

    frames = await send(socket, "Third !tokens=2", conversation_id, settings={"top_p": 0.5})
    assert frames[-1]["status"] == "complete" and body(upstream)["top_p"] == 0.5
    await socket.close()


async def test_thinking_sends_its_budget_and_makes_room_for_the_answer(upstream, alice, runner):
    await sync_to_async(_thinking_model)()
    socket = await ChatSocket.open(alice)
    await send(socket, "Think !tokens=2", settings={"thinking": {"enabled": True}})
    sent = body(upstream)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent["max_tokens"] == 4096 + 2048
    await socket.close()


async def test_a_send_refused_for_its_settings_does_not_count_against_sends_per_minute(
    upstream, alice, runner, settings
):
    settings.CHAT_SENDS_PER_MINUTE = 1
    socket = await ChatSocket.open(alice)
    frames = await send(socket, "Hello !tokens=2", settings={"stop_sequences": list("abcde")})
    assert frames[-1]["code"] == "invalid_settings"
    frames = await send(socket, "Hello !tokens=2", settings={"stop_sequences": list("abcd")})
    assert frames[-1]["type"] == "message.completed", "the corrected send is the one counted"
    await socket.close()
