"""The fake upstream thinks when asked (a parameter or a gateway's "-thinking" id), continues
a prefill, and cuts a reply at max_tokens on `!cut=N`."""

from conversations.fake_upstream.script import plan_reply


def body(text: str, *, model: str = "claude-sonnet-4-5-20250929") -> dict:
    return {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": text}]}


def kinds(reply) -> list[str]:
    return [block.kind for block in reply.blocks]


def text(reply) -> str:
    return "".join("".join(b.pieces) for b in reply.blocks if b.kind == "text")


def test_thinking_enabled_in_the_request_streams_a_signed_thinking_block_first():
    request = body("Hi !tokens=2") | {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    reply = plan_reply(request, 0, 0)
    assert kinds(reply) == ["thinking", "text"] and reply.blocks[0].signature


def test_a_thinking_model_id_thinks_as_a_gateway_would():
    reply = plan_reply(body("Hi !tokens=2", model="claude-opus-4-1-20250805-thinking"), 0, 0)
    assert kinds(reply) == ["thinking", "text"]


def test_without_thinking_there_is_no_thinking_block():
    assert kinds(plan_reply(body("Hi !tokens=2"), 0, 0)) == ["text"]


def test_cut_stops_at_max_tokens_after_that_many_pieces():
    reply = plan_reply(body("Count !tokens=10 !cut=4"), 0, 0)
    assert reply.stop_reason == "max_tokens" and text(reply) == "w1 w2 w3 w4 "


def test_a_prefill_of_the_scripted_start_is_continued_where_it_ends():
    request = body("Count !tokens=6")
    request["messages"].append({"role": "assistant", "content": "w1 w2 w3"})
    reply = plan_reply(request, 0, 0)
    assert text(reply) == " w4 w5 w6 " and reply.stop_reason == "end_turn"


def test_any_other_prefill_is_followed_by_the_whole_reply():
    request = body("Write !tokens=2")
    request["messages"].append({"role": "assistant", "content": [{"type": "text", "text": "Dear"}]})
    assert text(plan_reply(request, 0, 0)) == " w1 w2 "
