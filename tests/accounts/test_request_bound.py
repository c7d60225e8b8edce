"""The admission bound counts every block kind of a request, wherever it sits, and never less
than the upstream would."""

import json
import random

import httpx
import pytest

from accounts.request_bound import (
    ANTHROPIC_TOOL_TOKENS,
    BLOCK_OVERHEAD_TOKENS,
    BOUND_HINT_KEY,
    CITATIONS_TOKENS,
    HIGH_RES_VISION,
    LARGEST_CONTEXT_WINDOW,
    MESSAGE_OVERHEAD_TOKENS,
    PDF_MAX_PAGES,
    REQUEST_OVERHEAD_TOKENS,
    SERVER_TOOL_DEFAULT_USES,
    SERVER_TOOL_RESULT_TOKENS,
    STANDARD_VISION,
    TOOL_SYSTEM_PROMPT_TOKENS,
    BoundHint,
    image_tokens,
    pdf_page_tokens,
    request_token_bound,
    strip_bound_hints,
    vision_limits_for,
)
from conversations.fake_upstream import count_input_tokens

from .media_samples import b64, jpeg, pdf, pdf_with_object_stream, png

MODEL = "claude-sonnet-4-5-20250929"
EMPTY = request_token_bound({"model": MODEL, "messages": [{"role": "user", "content": []}]})


def bound_of(*blocks, model: str = MODEL, **extra) -> int:
    """The bound of one user turn holding `blocks`, less that of the same turn empty."""
    request = {"model": model, "messages": [{"role": "user", "content": list(blocks)}], **extra}
    return request_token_bound(request) - EMPTY


def image(data: bytes, media_type: str = "image/png", **block) -> dict:
    source = {"type": "base64", "media_type": media_type, "data": b64(data)}
    return {"type": "image", "source": source, **block}


def pdf_block(data: bytes, **block) -> dict:
    source = {"type": "base64", "media_type": "application/pdf", "data": b64(data)}
    return {"type": "document", "source": source, **block}


# Text, and what decision 14 already counted


def test_text_counts_one_token_per_utf8_byte_plus_framing():
    assert bound_of({"type": "text", "text": "héllo"}) == 6 + BLOCK_OVERHEAD_TOKENS
    assert bound_of({"type": "text", "text": "日本"}) == 6 + BLOCK_OVERHEAD_TOKENS


def test_the_request_and_each_turn_carry_their_overhead():
    empty = {"model": MODEL, "messages": [{"role": "user", "content": ""}]}
    assert request_token_bound(empty) == REQUEST_OVERHEAD_TOKENS + MESSAGE_OVERHEAD_TOKENS


def test_system_counts_as_a_string_and_as_blocks():
    as_string = {"model": MODEL, "system": "be brief", "messages": []}
    as_blocks = {"model": MODEL, "system": [{"type": "text", "text": "be brief"}], "messages": []}
    assert request_token_bound(as_string) == REQUEST_OVERHEAD_TOKENS + 8
    assert request_token_bound(as_blocks) == REQUEST_OVERHEAD_TOKENS + 8 + BLOCK_OVERHEAD_TOKENS


def test_message_content_counts_as_a_string_too():
    request = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
    assert request_token_bound(request) == REQUEST_OVERHEAD_TOKENS + MESSAGE_OVERHEAD_TOKENS + 5


# Images


def test_an_image_of_known_size_is_held_by_the_api_formula():
    assert bound_of(image(png(200, 200))) == 67 + BLOCK_OVERHEAD_TOKENS  # padded to 224 px
    assert image_tokens(1000, 1000, STANDARD_VISION) >= 1334  # the guide's own example
    assert image_tokens(1092, 1092, STANDARD_VISION) == 1590  # the guide's largest square


@pytest.mark.parametrize("make", [png, jpeg])
def test_an_image_larger_than_the_resize_limit_is_held_at_its_downscaled_size(make):
    tokens = bound_of(image(make(8000, 8000))) - BLOCK_OVERHEAD_TOKENS
    assert tokens == image_tokens(8000, 8000, STANDARD_VISION)
    assert 1590 <= tokens <= STANDARD_VISION.image_ceiling


def test_an_image_by_url_is_held_at_the_ceiling():
    block = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    assert bound_of(block) == STANDARD_VISION.image_ceiling + BLOCK_OVERHEAD_TOKENS


def test_an_image_whose_bytes_do_not_tell_its_size_is_held_at_the_ceiling():
    block = image(b"not really a png")
    assert bound_of(block) == STANDARD_VISION.image_ceiling + BLOCK_OVERHEAD_TOKENS


def test_a_caller_may_pass_the_size_of_a_url_image_it_measured():
    block = {"type": "image", "source": {"type": "url", "url": "https://e.com/a.png"}}
    block[BOUND_HINT_KEY] = BoundHint(width=100, height=50)
    assert bound_of(block) == image_tokens(100, 50, STANDARD_VISION) + BLOCK_OVERHEAD_TOKENS


def test_a_hint_sent_as_json_by_an_api_client_is_ignored():
    block = {"type": "image", "source": {"type": "url", "url": "https://e.com/a.png"}}
    block[BOUND_HINT_KEY] = {"width": 1, "height": 1}
    assert bound_of(block) == STANDARD_VISION.image_ceiling + BLOCK_OVERHEAD_TOKENS
    document = {"type": "document", "source": {"type": "url", "url": "https://e.com/a.pdf"}}
    hinted = {**document, BOUND_HINT_KEY: {"pages": 1}}
    assert bound_of(hinted) == bound_of(document)


def test_a_hint_smaller_than_the_bytes_cannot_lower_the_hold():
    block = image(png(1500, 1000), **{BOUND_HINT_KEY: BoundHint(width=10, height=10)})
    expected = image_tokens(1500, 1000, STANDARD_VISION) + BLOCK_OVERHEAD_TOKENS
    assert bound_of(block) == expected


def test_no_image_of_any_shape_passes_the_ceiling():
    rng = random.Random(44)
    sizes = [(rng.randint(1, 9000), rng.randint(1, 9000)) for _ in range(3000)]
    sizes += [(1, 8000), (8000, 1), (1568, 784), (1092, 1092), (2576, 1456), (8000, 8000)]
    for vision in (STANDARD_VISION, HIGH_RES_VISION):
        assert max(image_tokens(w, h, vision) for w, h in sizes) <= vision.image_ceiling


def test_models_not_known_to_use_the_standard_size_get_the_larger_ceiling():
    assert vision_limits_for("claude-haiku-4-5-20251001") is STANDARD_VISION
    assert vision_limits_for("claude-opus-4-1-20250805-thinking") is STANDARD_VISION
    assert vision_limits_for("claude-opus-4-7") is HIGH_RES_VISION
    assert vision_limits_for("gateway-alias") is HIGH_RES_VISION
    block = {"type": "image", "source": {"type": "url", "url": "https://e.com/a.png"}}
    assert bound_of(block, model="claude-opus-4-7") == HIGH_RES_VISION.image_ceiling + 8


# Documents


def test_a_pdf_is_held_per_page_it_contains():
    per_page = pdf_page_tokens(STANDARD_VISION)
    assert bound_of(pdf_block(pdf(3))) == 3 * per_page + BLOCK_OVERHEAD_TOKENS
    assert bound_of(pdf_block(pdf_with_object_stream(5))) == 5 * per_page + BLOCK_OVERHEAD_TOKENS


def test_a_pdf_whose_pages_cannot_be_counted_is_held_at_the_page_limit():
    ceiling = PDF_MAX_PAGES * pdf_page_tokens(STANDARD_VISION) + BLOCK_OVERHEAD_TOKENS
    assert bound_of(pdf_block(pdf_with_object_stream(2, b"/ASCIIHexDecode"))) == ceiling
    assert bound_of(pdf_block(b"%PDF-garbage")) == ceiling


def test_a_pdf_by_url_is_held_at_the_page_limit():
    block = {"type": "document", "source": {"type": "url", "url": "https://e.com/a.pdf"}}
    assert bound_of(block) == PDF_MAX_PAGES * pdf_page_tokens(STANDARD_VISION) + 8


def test_a_page_count_hint_counts_when_larger_than_what_the_bytes_show():
    block = pdf_block(pdf(2), **{BOUND_HINT_KEY: BoundHint(pages=9)})
    assert bound_of(block) == 9 * pdf_page_tokens(STANDARD_VISION) + BLOCK_OVERHEAD_TOKENS


def test_a_page_count_hint_stands_in_for_pages_the_bytes_hide():
    hidden = pdf_with_object_stream(3, b"/ASCIIHexDecode")
    block = pdf_block(hidden, **{BOUND_HINT_KEY: BoundHint(pages=3)})
    assert bound_of(block) == 3 * pdf_page_tokens(STANDARD_VISION) + BLOCK_OVERHEAD_TOKENS


def test_a_document_with_citations_holds_their_extra_tokens():
    source = {"type": "text", "media_type": "text/plain", "data": "x"}
    plain = {"type": "document", "source": source}
    cited = {**plain, "citations": {"enabled": True}}
    assert bound_of(cited) == bound_of(plain) + CITATIONS_TOKENS


def test_a_plain_text_document_counts_its_bytes_title_and_context():
    source = {"type": "text", "media_type": "text/plain", "data": "x" * 500}
    block = {"type": "document", "source": source, "title": "Notes", "context": "ctx"}
    assert bound_of(block) == 500 + 5 + 3 + BLOCK_OVERHEAD_TOKENS


def test_a_content_document_counts_its_blocks():
    content = [{"type": "text", "text": "abc"}, image(png(100, 100))]
    block = {"type": "document", "source": {"type": "content", "content": content}}
    expected = 3 + image_tokens(100, 100, STANDARD_VISION) + 3 * BLOCK_OVERHEAD_TOKENS
    assert bound_of(block) == expected


def test_a_document_by_file_id_is_held_at_the_largest_context_window():
    block = {"type": "document", "source": {"type": "file", "file_id": "file_1"}}
    assert bound_of(block) >= LARGEST_CONTEXT_WINDOW


# Tools


WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.mark.parametrize("choice", ["auto", "any", "tool", "none"])
def test_tool_definitions_count_their_json_and_the_tool_use_system_prompt(choice):
    tool_choice = {"type": choice, "name": "get_weather"} if choice == "tool" else {"type": choice}
    tokens = bound_of(tools=[WEATHER], tool_choice=tool_choice)
    definition = len(json.dumps(WEATHER, separators=(",", ":")))
    assert tokens >= definition + TOOL_SYSTEM_PROMPT_TOKENS[choice]


def test_without_tool_choice_the_auto_prompt_is_held():
    assert bound_of(tools=[WEATHER]) > TOOL_SYSTEM_PROMPT_TOKENS["auto"]


def test_anthropic_defined_and_server_tools_hold_their_constants():
    bash = bound_of(tools=[{"type": "bash_20250124", "name": "bash"}])
    assert bash > ANTHROPIC_TOOL_TOKENS + TOOL_SYSTEM_PROMPT_TOKENS["auto"]
    search = bound_of(tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert search > SERVER_TOOL_DEFAULT_USES * SERVER_TOOL_RESULT_TOKENS
    limited = bound_of(tools=[{"type": "web_search_20250305", "name": "s", "max_uses": 2}])
    assert SERVER_TOOL_RESULT_TOKENS * 2 < limited < search


def test_tool_use_counts_its_name_and_input_json():
    block = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "東京"}}
    assert bound_of(block) >= len("toolu_1get_weather") + len('{"city":"東京"}'.encode())


def test_tool_result_counts_string_and_block_content():
    as_string = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x" * 300}
    as_blocks = {**as_string, "content": [{"type": "text", "text": "x" * 300}]}
    assert bound_of(as_string) == 7 + 300 + BLOCK_OVERHEAD_TOKENS
    assert bound_of(as_blocks) == 7 + 300 + 2 * BLOCK_OVERHEAD_TOKENS


def test_an_image_inside_a_tool_result_is_held():
    result = {"type": "tool_result", "tool_use_id": "t", "content": [image(png(1500, 1500))]}
    assert bound_of(result) >= image_tokens(1500, 1500, STANDARD_VISION) >= 1500


def test_tool_results_nested_deeply_are_counted_without_recursion():
    block: dict = {"type": "text", "text": "leaf"}
    for _ in range(50_000):
        block = {"type": "tool_result", "tool_use_id": "t", "content": [block]}
    assert bound_of(block) >= 50_000 * BLOCK_OVERHEAD_TOKENS


# Thinking and unknown blocks


def test_thinking_counts_its_text_and_signature():
    block = {"type": "thinking", "thinking": "a" * 100, "signature": "s" * 40}
    assert bound_of(block) == 140 + BLOCK_OVERHEAD_TOKENS


def test_redacted_thinking_counts_its_data():
    assert bound_of({"type": "redacted_thinking", "data": "d" * 256}) == 256 + 8


def test_an_unknown_block_counts_its_json_and_never_zero():
    assert bound_of({"type": "hologram", "payload": "p" * 1000}) > 1000
    assert bound_of({}) > BLOCK_OVERHEAD_TOKENS


def test_unknown_fields_on_known_blocks_count_too():
    plain = bound_of({"type": "text", "text": "hi"})
    assert (
        bound_of({"type": "text", "text": "hi", "citations": [{"cited_text": "c" * 90}]})
        > plain + 90
    )


# Malformed requests never raise and still count


@pytest.mark.parametrize(
    "request_",
    [
        None,
        "not a dict",
        {"messages": "nope"},
        {"messages": [None, 3, "text", {"content": 7}]},
        {"messages": [{"role": "user", "content": [{"type": 5}, {"type": None, "text": 1}]}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": ["a", {"b": 2}]}]}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "\ud800 lone"}]}]},
        {"messages": [{"role": "user", "content": [{"type": "image"}]}]},
        {"messages": [{"role": "user", "content": [{"type": "image", "source": "x"}]}]},
        {"messages": [{"content": [{"type": "image", "source": {"type": "base64", "data": 5}}]}]},
        {"messages": [{"content": [{"type": "image", "_bound": {"width": "9", "height": -1}}]}]},
        {"messages": [{"content": [{"type": "document", "source": None}]}]},
        {"messages": [{"content": [{"type": "document", "source": {"type": "base64"}}]}]},
        {"messages": [{"content": [{"type": "tool_result", "content": {"type": "text"}}]}]},
        {"messages": [{"content": [{"type": "tool_use", "input": {1, 2}, "name": 3}]}]},
        {"messages": [{"content": [{"type": "tool_use", "input": 10**6000}]}]},
        {"messages": [], "tools": "bash", "tool_choice": "auto"},
        {"messages": [], "tools": [None, 3, {"type": 1}], "tool_choice": {"type": "weird"}},
        {"messages": [], "mcp_servers": {"url": "https://mcp.example"}},
    ],
)
def test_malformed_requests_are_counted_conservatively_without_raising(request_):
    assert request_token_bound(request_) >= REQUEST_OVERHEAD_TOKENS


def test_deeply_nested_tool_input_is_counted_without_recursion():
    value: object = "leaf"
    for _ in range(100_000):
        value = {"k": [value]}
    assert bound_of({"type": "tool_use", "id": "t", "name": "n", "input": value}) > 100_000


# Hints are private


def test_strip_bound_hints_removes_them_everywhere_and_leaves_the_original():
    inner = image(png(10, 10), **{BOUND_HINT_KEY: BoundHint(width=10, height=10)})
    request = {
        "messages": [{"role": "user", "content": [{"type": "tool_result", "content": [inner]}]}]
    }
    stripped = strip_bound_hints(request)
    assert BOUND_HINT_KEY not in json.dumps(stripped)
    assert BOUND_HINT_KEY in inner
    assert stripped["messages"][0]["content"][0]["content"][0]["source"] == inner["source"]


# Never below what the upstream counts


def random_request(rng: random.Random) -> dict:
    words = ["hello", "日本語", "ü", "", " ", "\n", "tool", "😀", "a" * 40]

    def text() -> str:
        return "".join(rng.choice(words) for _ in range(rng.randint(0, 30)))

    def block(depth: int) -> dict:
        kind = rng.choice(["text", "text", "image", "tool_use", "tool_result", "thinking"])
        if kind == "image":
            return image(png(rng.randint(1, 3000), rng.randint(1, 3000)))
        if kind == "tool_use":
            return {"type": "tool_use", "id": "toolu_x", "name": "f", "input": {"q": text()}}
        if kind == "tool_result" and depth < 3:
            content = text() if rng.random() < 0.5 else [block(depth + 1) for _ in range(3)]
            return {"type": "tool_result", "tool_use_id": "toolu_x", "content": content}
        if kind == "thinking":
            return {"type": "thinking", "thinking": text(), "signature": "sig"}
        return {"type": "text", "text": text()}

    def content() -> str | list:
        return text() if rng.random() < 0.3 else [block(0) for _ in range(rng.randint(0, 4))]

    messages = [
        {"role": rng.choice(["user", "assistant"]), "content": content()}
        for _ in range(rng.randint(1, 6))
    ]
    request = {"model": MODEL, "max_tokens": 64, "messages": messages}
    if rng.random() < 0.5:
        request["system"] = content()
    return request


def test_the_bound_is_never_below_the_fake_upstreams_input_tokens():
    rng = random.Random(14)
    for _ in range(500):
        request = random_request(rng)
        assert request_token_bound(request) >= count_input_tokens(request)


def test_the_fake_upstream_agrees_over_http(fake_upstream):
    rng = random.Random(44)
    headers = {"x-api-key": "sk-ant-test-SECRET-KEY", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=fake_upstream.base_url, headers=headers) as client:
        for _ in range(20):
            request = random_request(rng)
            answer = client.post("/v1/messages/count_tokens", json=request)
            assert request_token_bound(request) >= answer.json()["input_tokens"]
