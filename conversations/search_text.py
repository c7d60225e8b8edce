"""Search text: a message's searchable words, the any-case "contains" match, and highlights."""

import re
import unicodedata

from django.db.models import Lookup


def normalise(text: str) -> str:
    """The form both the stored text and a query take: NFKC (full-width letters, half-width
    kana) and runs of whitespace as one space, so a query matches across line breaks."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def search_text_of(content: list) -> str:
    """What a message's search finds: the text blocks a reader sees, normalised.

    Thinking, tool inputs and results are left out: they are not the words of the thread.
    """
    texts = [
        b.get("text") or ""
        for b in content or ()
        if isinstance(b, dict) and b.get("type") == "text"
    ]
    return normalise(" ".join(texts))


def like_pattern(needle: str) -> str:
    """`needle` anywhere, its LIKE wildcards taken literally (the escape is a backslash)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ContainsAnyCase(Lookup):
    """`lhs` holds `rhs` in any case: ILIKE on PostgreSQL, which a pg_trgm GIN index serves
    (Django's icontains writes UPPER(column) LIKE UPPER(%s), which no index on the column
    serves); LIKE elsewhere (SQLite's LIKE ignores ASCII case only).

    Used as an expression: `.filter(ContainsAnyCase(F("search_text"), like_pattern(q)))`.
    """

    lookup_name = "contains_any_case"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


EXCERPT_CHARS = 160
EXCERPT_BEFORE = 50


def _matcher(needle: str) -> re.Pattern:
    return re.compile(r"\s+".join(re.escape(w) for w in needle.split()), re.IGNORECASE)


def excerpt(text: str, needle: str) -> str:
    """About EXCERPT_CHARS of `text` around the first match of `needle` (its start if none)."""
    found = _matcher(needle).search(text)
    start = max(0, found.start() - EXCERPT_BEFORE) if found else 0
    piece = text[start : start + EXCERPT_CHARS]
    return ("…" if start else "") + piece + ("…" if start + EXCERPT_CHARS < len(text) else "")


def highlight(text: str, needle: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_match) pairs: a template escapes each piece and marks the
    matches, so no markup is ever built from the member's words."""
    parts: list[tuple[str, bool]] = []
    at = 0
    for found in _matcher(needle).finditer(text):
        if found.start() > at:
            parts.append((text[at : found.start()], False))
        parts.append((found.group(), True))
        at = found.end()
    if at < len(text):
        parts.append((text[at:], False))
    return parts
