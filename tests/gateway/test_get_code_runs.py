""" "Get code" run for real: a reply chatted over the socket, its cURL and Python snippets run
against chatsite's /v1/messages with a personal key, and the fake upstream receiving the same
body from all three (decision 83)."""

import json
import os
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from conversations.models import CatalogModel
from conversations.runner import get_runner
from conversations.upstream import close_client
from tests.conversations.wsclient import ChatSocket, created

from .conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)

# What the chat sends and the gateway's caller does not: the stream and the per-member id.
NOT_COMPARED = {"stream", "metadata"}

# Each case is one conversation's settings; the API refuses a temperature with thinking on, so
# the sampling parameters and the thinking switch are two conversations.
CASES = {
    "system_and_parameters": {
        "temperature": 0.3,
        "top_k": 5,
        "max_tokens": 700,
        "stop_sequences": ["zzz", "## End"],
    },
    "system_and_thinking_switch": {
        "max_tokens": 3000,
        "stop_sequences": ["zzz"],
        "thinking": {"enabled": True, "budget_tokens": 1024},
    },
    # A thinking model: the code names the catalog's "-thinking" id, which the gateway maps.
    "thinking_model": {"max_tokens": 4000},
    # Server tools switched on: the code carries their definitions and the choice.
    "tools": {
        "max_tokens": 700,
        "tools": ["calculator", "current_time"],
        "tool_choice": {"type": "auto"},
    },
}
MODELS = {"thinking_model": "claude-sonnet-4-5-20250929-thinking"}


@pytest.fixture
async def chat_runner(sonnet):
    """The chat's runner for the gateway's model (the shared `runner` seeds another default)."""
    yield get_runner()
    await get_runner().shutdown()
    await close_client()


async def chat_two_turns(member, settings: dict, model: str | None) -> dict:
    """A conversation of two turns with a system prompt; the second reply's payload."""
    socket = await ChatSocket.open(member)
    conversation = None
    for text in ("First question !tokens=4", "Second question, with 'quotes' & $HOME !tokens=5"):
        frame = {"type": "send", "conversation": conversation, "text": text, "client_id": "c"}
        frame |= {"settings": settings, "system_prompt": "Be brief. It's fine."}
        await socket.send(frame | ({"model": model} if model else {}))
        frames = []
        while not frames or frames[-1]["type"] not in ("message.completed", "error"):
            frames.append(await socket.receive(10))
        assert frames[-1]["type"] == "message.completed", frames[-1]
        reply = created(frames, "assistant")
        conversation = reply["conversation"]
    await socket.close()
    return reply


def snippets_for(member, reply: dict, live_port: int) -> dict:
    client = Client()
    client.force_login(member)
    url = f"/c/{reply['conversation']}/m/{reply['id']}/code/"
    response = client.get(url, HTTP_HOST=f"127.0.0.1:{live_port}")
    assert response.status_code == 200
    return response.json()


def run(command: list[str], key: str) -> dict:
    env = {"PATH": os.environ["PATH"], "ANTHROPIC_API_KEY": key}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


# The JavaScript snippet runs under Node with a stand-in for `@anthropic-ai/sdk` (no registry
# download in tests): it checks that the snippet parses and sends its body as the SDK would,
# with the key from the environment; the real SDK's own behaviour is not what is tested here.
SDK_STAND_IN = """
export default class Anthropic {
  constructor({ baseURL, apiKey = process.env.ANTHROPIC_API_KEY }) {
    this.messages = {
      create: async (body) => {
        const response = await fetch(baseURL + "/v1/messages", {
          method: "POST",
          headers: {
            "x-api-key": apiKey,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
          },
          body: JSON.stringify(body),
        });
        if (!response.ok) throw new Error(await response.text());
        return response.json();
      },
    };
  }
}
"""


def javascript_command(snippet: str, folder) -> list[str]:
    sdk = folder / "node_modules" / "@anthropic-ai" / "sdk"
    sdk.mkdir(parents=True)
    (sdk / "package.json").write_text(
        '{"name": "@anthropic-ai/sdk", "type": "module", "exports": "./index.js"}'
    )
    (sdk / "index.js").write_text(SDK_STAND_IN)
    script = folder / "get_code.mjs"
    script.write_text(snippet)
    return ["node", str(script)]


def chat_body(upstream) -> dict:
    body = [b for b in upstream.message_bodies() if b.get("stream")][-1]  # the second turn's
    return {k: v for k, v in body.items() if k not in NOT_COMPARED}


def last_body(upstream) -> dict:
    body = upstream.message_bodies()[-1]
    assert "stream" not in body, "the code asks for the whole message"
    return {k: v for k, v in body.items() if k not in NOT_COMPARED}


@pytest.mark.parametrize("settings_case", CASES)
async def test_get_code_sends_the_same_body_upstream_as_the_chat_did(
    settings_case,
    gateway,
    chatsite_live,
    member,
    member_key,
    upstream,
    chat_runner,
    settings,
    tmp_path,
):
    settings.CHAT_AUTO_TITLES = False
    await sync_to_async(upstream.requests.clear)()
    model = MODELS.get(settings_case)
    if model:
        await CatalogModel.objects.filter(model_id=model).aupdate(enabled=True)
    reply = await chat_two_turns(member, CASES[settings_case], model)
    chatted = chat_body(upstream)
    assert len(chatted["messages"]) == 3 and chatted["system"] == "Be brief. It's fine."
    assert ("thinking" in chatted) == ("thinking" in settings_case)
    assert ("tools" in chatted) == (settings_case == "tools")
    upstream.requests.clear()

    code = await sync_to_async(snippets_for)(member, reply, chatsite_live.port)
    assert code["request"]["model"] == (model or MODEL), "the catalog's id, as members send it"
    key = member_key[1]

    curl_out = await sync_to_async(run)(["bash", "-c", code["curl"]], key)
    assert json.loads(curl_out.stdout)["type"] == "message"
    assert last_body(upstream) == chatted

    python_out = await sync_to_async(run)([sys.executable, "-c", code["python"]], key)
    assert "TextBlock" in python_out.stdout
    assert last_body(upstream) == chatted

    javascript = javascript_command(code["javascript"], tmp_path)
    javascript_out = await sync_to_async(run)(javascript, key)
    assert "text" in javascript_out.stdout
    assert last_body(upstream) == chatted
