"""The fake upstream's tool calls: it calls a declared tool when asked, answers a result, and
refuses unpaired tool blocks as the API does."""

from conversations.fake_upstream.rules import parameter_problem
from conversations.fake_upstream.script import plan_reply

TOOLS = [{"name": "calculator", "description": "", "input_schema": {"type": "object"}}]


def _body(messages, **extra) -> dict:
    return {"model": "claude-sonnet-4-5-20250929", "max_tokens": 500, "messages": messages} | extra


def test_it_calls_only_a_tool_the_request_declares():
    ask = [{"role": "user", "content": "Add !usetool=calculator !expr=1+1"}]
    called = plan_reply(_body(ask, tools=TOOLS), 0, 0)
    assert called.stop_reason == "tool_use"
    use = called.blocks[-1]
    assert (use.kind, use.tool_name, "".join(use.pieces)) == (
        "tool_use",
        "calculator",
        '{"expression": "1+1"}',
    )
    assert plan_reply(_body(ask), 0, 0).stop_reason == "end_turn", "undeclared: no call"


def test_a_named_tool_choice_makes_it_call_that_tool():
    ask = [{"role": "user", "content": "Hello"}]
    forced = plan_reply(
        _body(ask, tools=TOOLS, tool_choice={"type": "tool", "name": "calculator"}), 0, 0
    )
    assert forced.blocks[-1].tool_name == "calculator"


def test_it_answers_a_tool_result_by_quoting_it():
    messages = [
        {"role": "user", "content": "Add !usetool=calculator"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "calculator", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}],
        },
    ]
    answer = plan_reply(_body(messages, tools=TOOLS), 0, 0)
    assert answer.stop_reason == "end_turn"
    assert "".join(answer.blocks[-1].pieces) == "Tool t1 said: 42"


def test_unpaired_tool_blocks_are_refused():
    use = {"type": "tool_use", "id": "t1", "name": "calculator", "input": {}}
    alone = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": "Next"},
    ]
    assert "tool_result" in parameter_problem(_body(alone, tools=TOOLS))
    orphan = [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": ""}]}
    ]
    assert "tool_use_id" in parameter_problem(_body(orphan, tools=TOOLS))


def test_tool_blocks_without_tools_are_refused():
    messages = [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "c", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "1"}]},
    ]
    assert "must define tools" in parameter_problem(_body(messages))
    assert parameter_problem(_body(messages, tools=TOOLS)) is None
