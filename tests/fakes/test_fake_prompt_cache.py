"""The fake upstream's prompt cache: reads and writes measured from hashed prefixes."""

from conversations.fake_upstream.cache import LIFETIME_SECONDS, PromptCache

MARK = {"type": "ephemeral"}
SONNET = "claude-sonnet-4-5-20250929"
LONG = "x" * 8000  # 2,000 of the fake's tokens (four characters a token)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def text(value: str, marked: bool = False) -> dict:
    return {"type": "text", "text": value, **({"cache_control": MARK} if marked else {})}


def request(*turns: str, model: str = SONNET, system: str = LONG) -> dict:
    """`system` marked, then alternating turns, the last one marked."""
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": [text(t, i == len(turns) - 1)]}
        for i, t in enumerate(turns)
    ]
    return {"model": model, "system": [text(system, True)], "messages": messages}


def test_a_new_prefix_is_written_then_read_with_only_the_new_part_written():
    cache = PromptCache()
    first = cache.usage(request("q" * 400), total=2100)
    assert first == {
        "input_tokens": 0,
        "cache_creation_input_tokens": 2100,
        "cache_read_input_tokens": 0,
    }
    second = cache.usage(request("q" * 400, "a" * 400, "r" * 400), total=2300)
    assert second["cache_read_input_tokens"] == 2100, "the first request's prefix"
    assert second["cache_creation_input_tokens"] == 200, "the reply and the new question"


def test_a_changed_system_prompt_misses_the_cache():
    cache = PromptCache()
    cache.usage(request("q" * 400), total=2100)
    changed = cache.usage(request("q" * 400, system=LONG + "!"), total=2100)
    assert changed["cache_read_input_tokens"] == 0
    assert changed["cache_creation_input_tokens"] == 2100


def test_a_prefix_older_than_five_minutes_is_gone():
    clock = Clock()
    cache = PromptCache(clock)
    cache.usage(request("q" * 400), total=2100)
    clock.now += LIFETIME_SECONDS - 1
    assert cache.usage(request("q" * 400), total=2100)["cache_read_input_tokens"] == 2100
    clock.now += LIFETIME_SECONDS + 1  # the read refreshed it; now it expires
    assert cache.usage(request("q" * 400), total=2100)["cache_read_input_tokens"] == 0


def test_nothing_is_cached_below_the_models_minimum_or_without_markers():
    cache = PromptCache()
    short = request("q" * 40, system="Be brief.")
    for _ in range(2):
        figures = cache.usage(short, total=15)
        assert figures == {
            "input_tokens": 15,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
    # 2,100 tokens: enough for Sonnet 4.5 (1,024), not for Haiku 4.5 (4,096).
    haiku = cache.usage(request("q" * 400, model="claude-haiku-4-5-20251001"), total=2100)
    assert haiku["cache_creation_input_tokens"] == 0
    unmarked = {"model": SONNET, "system": LONG, "messages": [{"role": "user", "content": "q"}]}
    assert cache.usage(unmarked, total=2000)["cache_creation_input_tokens"] == 0


def test_the_prefix_is_kept_per_model():
    cache = PromptCache()
    cache.usage(request("q" * 400), total=2100)
    other = cache.usage(request("q" * 400, model="claude-opus-4-1-20250805"), total=2100)
    assert other["cache_read_input_tokens"] == 0
