"""The fake upstream answers a title request (conversations/titles.py) with a short title."""

from conversations.fake_upstream.script import plan_reply
from conversations.models import Message
from conversations.titles import TITLE_SYSTEM, title_prompt


def title_body(first: str, answer: str = "Sure.") -> dict:
    question = Message(role="user", content=[{"type": "text", "text": first}])
    reply = Message(role="assistant", content=[{"type": "text", "text": answer}])
    text = title_prompt(question, reply)
    return {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 40,
        "system": TITLE_SYSTEM,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }


def text_of(reply) -> str:
    return "".join("".join(b.pieces) for b in reply.blocks)


def test_a_title_request_gets_the_first_words_of_the_first_message_without_directives():
    reply = plan_reply(title_body("plan the team offsite in Kyoto !tokens=3"), 0, 0)
    assert text_of(reply) == "Plan the team offsite in"
    assert reply.stop_reason == "end_turn" and reply.fault is None
    assert reply.usage["output_tokens"] == 5


def test_a_title_in_a_language_without_spaces_is_its_first_characters():
    reply = plan_reply(title_body("来週の京都出張の予定を一緒に考えてください"), 0, 0)
    assert text_of(reply) == "来週の京都出張の予定を一緒に考えて"[:16]


def test_titlefault_makes_only_the_title_call_fail():
    assert plan_reply(title_body("Trip !titlefault=400"), 0, 0).fault == "400"
    chat = {
        "model": "m",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Trip !titlefault=400 !tokens=2"}],
    }
    assert plan_reply(chat, 0, 0).fault is None
