"""The fake upstream's `!echo`: the reply is the question's own words, lines and all, so a test
can script a reply's markdown (math, for one)."""

from conversations.fake_upstream.script import plan_reply


def reply_text(question: str) -> str:
    body = {"model": "m", "max_tokens": 500, "messages": [{"role": "user", "content": question}]}
    reply = plan_reply(body, 0, 0)
    return "".join("".join(block.pieces) for block in reply.blocks if block.kind == "text")


def test_echo_replies_with_the_question_without_its_directives():
    question = "Inline $x^2$ costs $5.\n\n$$\n\\frac{1}{2}\n$$ !echo !delay=5"
    assert reply_text(question) == "Inline $x^2$ costs $5.\n\n$$\n\\frac{1}{2}\n$$"


def test_a_factorial_is_not_a_directive():
    assert reply_text("!echo $n!$ and $3!=6$") == "$n!$ and $3!=6$"


def test_echo_of_nothing_says_so():
    assert reply_text("!echo") == "(nothing)"
