""" "Get code" (decision 83): who may see a reply's code, what its request holds and leaves out,
and that no key or upstream address reaches it. Running the code: tests/gateway."""

import ast
import base64
import json
import re
import shlex

import pytest

from conversations.get_code import ELIDE_DATA_OVER, code_request, literal, snippets
from conversations.models import CatalogModel, Conversation, Message

from .test_views import add_message

pytestmark = pytest.mark.django_db

VARIANT = "claude-sonnet-4-5-20250929-thinking"
TRICKY = 'It\'s "quoted", $HOME, `ticks`, \\ back, 日本語\nnew line'


@pytest.fixture
def turn(upstream, chat_model, make_user):
    """A member's conversation with a system prompt, settings and one answered question."""
    user = make_user("mia")
    conversation = Conversation.objects.create(
        user=user,
        model=chat_model.model_id,
        system_prompt="Answer briefly.",
        settings={"temperature": 0.5, "stop_sequences": ["END"], "max_tokens": 900},
    )
    add_message(conversation, TRICKY)
    reply = add_message(
        conversation, "The answer.", Message.Role.ASSISTANT, status=Message.Status.COMPLETE
    )
    return user, conversation, reply


def code_url(conversation_id: int, message_id: int) -> str:
    return f"/c/{conversation_id}/m/{message_id}/code/"


def test_the_member_gets_the_code_of_their_own_reply(client, turn):
    user, conversation, reply = turn
    client.force_login(user)
    response = client.get(code_url(conversation.pk, reply.pk))
    assert response.status_code == 200
    code = response.json()
    assert set(code) >= {"curl", "python", "javascript", "request"}
    assert code["request"] == {
        "model": conversation.model,
        "max_tokens": 900,
        "messages": [{"role": "user", "content": [{"type": "text", "text": TRICKY}]}],
        "system": "Answer briefly.",
        "temperature": 0.5,
        "stop_sequences": ["END"],
    }, "the first call's request, without metadata or stream, and without the reply's own text"
    assert "http://testserver/v1/messages" in code["curl"]
    assert 'base_url="http://testserver"' in code["python"]
    assert 'baseURL: "http://testserver"' in code["javascript"]


def test_another_members_reply_is_404(client, turn, make_user):
    _user, conversation, reply = turn
    client.force_login(make_user("bob"))
    assert client.get(code_url(conversation.pk, reply.pk)).status_code == 404


def test_a_user_message_or_a_reply_of_another_conversation_is_404(client, turn):
    user, conversation, reply = turn
    client.force_login(user)
    question = reply.parent_id
    assert client.get(code_url(conversation.pk, question)).status_code == 404
    other = Conversation.objects.create(user=user, model=conversation.model)
    assert client.get(code_url(other.pk, reply.pk)).status_code == 404


def test_signed_out_is_sent_to_sign_in(client, turn):
    _user, conversation, reply = turn
    response = client.get(code_url(conversation.pk, reply.pk))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_no_snippet_carries_the_servers_key_or_the_upstreams_address(client, turn, settings):
    user, conversation, reply = turn
    client.force_login(user)
    raw = client.get(code_url(conversation.pk, reply.pk)).content.decode()
    assert settings.ANTHROPIC_API_KEY not in raw
    assert settings.ANTHROPIC_BASE_URL not in raw
    code = json.loads(raw)
    assert '-H "x-api-key: $ANTHROPIC_API_KEY"' in code["curl"]
    for name in ("python", "javascript"):
        assert "api_key" not in code[name] and "apiKey" not in code[name], "the SDK reads the env"


def test_the_address_follows_the_proxys_scheme_and_host(client, turn, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = ["chat.example.com", "testserver"]
    user, conversation, reply = turn
    client.force_login(user)
    code = client.get(
        code_url(conversation.pk, reply.pk),
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="chat.example.com",
    ).json()
    assert "https://chat.example.com/v1/messages" in code["curl"]
    assert 'base_url="https://chat.example.com"' in code["python"]


def test_the_curl_body_is_the_request_once_the_shell_has_read_it(client, turn):
    user, conversation, reply = turn
    client.force_login(user)
    code = client.get(code_url(conversation.pk, reply.pk)).json()
    words = shlex.split(code["curl"].replace("\\\n", " "))
    assert json.loads(words[words.index("-d") + 1]) == code["request"]


def test_python_and_javascript_literals_read_back_as_the_request():
    value = {"a": [True, False, None, 1.5, TRICKY], "b": {}, "c": []}
    assert ast.literal_eval(literal(value, python=True)) == value
    # JavaScript's literal is JSON here but for trailing commas: strip them to read it back.
    js = re.sub(r",(\s*[}\]])", r"\1", literal(value, python=False))
    assert json.loads(js) == value


def test_a_thinking_variant_keeps_its_catalog_id_and_its_thinking(upstream, make_user):
    CatalogModel.objects.filter(model_id=VARIANT).update(enabled=True)
    variant = CatalogModel.objects.get(model_id=VARIANT)
    assert variant.upstream_id != VARIANT, "the official API's stand-in: the base id"
    conversation = Conversation.objects.create(user=make_user("mia"), model=VARIANT)
    add_message(conversation, "Think")
    reply = add_message(
        conversation, "Done", Message.Role.ASSISTANT, status=Message.Status.COMPLETE, model=VARIANT
    )
    request, _notes = code_request(reply)
    assert request["model"] == VARIANT, "the gateway maps catalog ids itself"
    assert request["thinking"]["type"] == "enabled"


def test_signatures_and_large_data_are_elided_with_a_note_small_data_kept(turn, monkeypatch):
    _user, _conversation, reply = turn
    large = base64.b64encode(b"x" * ELIDE_DATA_OVER).decode()
    small = base64.b64encode(b"tiny").decode()

    def with_blocks(first_call, model=None):
        image = {"type": "base64", "media_type": "image/png"}
        blocks = [
            {"type": "thinking", "thinking": "hm", "signature": "SIG-abc"},
            {"type": "image", "source": image | {"data": large}},
            {"type": "image", "source": image | {"data": small}},
        ]
        return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": blocks}]}

    monkeypatch.setattr("conversations.get_code.build_request", with_blocks)
    code = snippets(reply, "http://testserver/v1/messages")
    assert "SIG-abc" not in json.dumps(code) and large not in json.dumps(code)
    assert code["elided"] == ["attachment", "signature"]
    thought, big, tiny = code["request"]["messages"][0]["content"]
    assert thought["signature"].startswith("[ELIDED")
    assert big["source"]["data"].startswith("[ELIDED") and tiny["source"]["data"] == small
