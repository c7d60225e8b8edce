"""The tools themselves: the calculator's refusals, the search selector's scope, and how a
reply's stored tool steps become the API's turns (H15, H16)."""

import pytest

from conversations import selectors
from conversations.models import Conversation, Message
from conversations.prompt import reply_turns
from conversations.tools.calculator import evaluate
from conversations.tools.registry import ToolInputError


@pytest.mark.parametrize(
    "expression, value",
    [("(2 + 3) * 4", 20), ("2 ** 10", 1024), ("sqrt(16) + abs(-1)", 5.0), ("7 // 2 % 3", 0)],
)
def test_the_calculator_computes_arithmetic(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "(1).__class__",
        "open('/etc/passwd')",
        "lambda: 1",
        "[1, 2]",
        "'a' * 3",
        "9 ** 9 ** 9",
        "2 ** 5000",
        "10 ** 999 * 10 ** 999 * 10 ** 999 * 10 ** 999",
        "1 / 0",
        "x + 1",
        "1 +" * 300 + "1",
        "",
        "sqrt(-1)",
    ],
)
def test_the_calculator_refuses_anything_but_bounded_arithmetic(expression):
    with pytest.raises(ToolInputError):
        evaluate(expression)


@pytest.mark.django_db
def test_the_search_matches_titles_and_text_of_the_members_own_conversations_only(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    titled = Conversation.objects.create(user=alice, model="m", title="Tokyo trip")
    talked = Conversation.objects.create(user=alice, model="m", title="Other")
    Message.objects.create(
        conversation=talked, role="user", content=[{"type": "text", "text": "東京の天気は?"}]
    )
    theirs = Conversation.objects.create(user=bob, model="m", title="Tokyo secrets")

    found = selectors.search_conversations(alice.pk, "tokyo")
    assert [h.conversation_id for h in found] == [titled.pk]
    japanese = selectors.search_conversations(alice.pk, "東京")
    assert [h.conversation_id for h in japanese] == [talked.pk]
    assert "東京の天気" in japanese[0].excerpt
    assert theirs.pk not in [h.conversation_id for h in found]
    assert selectors.search_conversations(alice.pk, "   ") == []


def test_a_tool_use_without_its_result_is_not_replayed():
    content = [
        {"type": "thinking", "thinking": "hm", "signature": "sig"},
        {"type": "text", "text": "Let me. "},
        {"type": "tool_use", "id": "a", "name": "calculator", "input": {"expression": "1"}},
        {"type": "tool_result", "tool_use_id": "a", "content": "1"},
        {"type": "text", "text": "Again "},
        {"type": "tool_use", "id": "b", "name": "calculator", "input": {}},
    ]
    turns = reply_turns(content)
    assert [role for role, _ in turns] == ["assistant", "user", "assistant"]
    assert turns[2][1] == [{"type": "text", "text": "Again"}], "H16, and no trailing space"
    assert turns[0][1][0]["type"] == "text", "H3: earlier thinking is dropped"
    kept = reply_turns(content, thinking=True)
    assert kept[0][1][0] == {"type": "thinking", "thinking": "hm", "signature": "sig"}, "H13"
