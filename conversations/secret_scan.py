"""Credential patterns: find text that looks like a key before it is sent, here and in the page."""

import re
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.api_keys import KEY_PATTERN

from .errors import ChatError

# Every pattern is written in the common subset of Python's `re` (with re.ASCII) and
# JavaScript's RegExp, because the chat page runs the same list (chat.js): no (?P<...>), no
# inline flags, no \A or \Z, no possessive quantifiers, explicit classes instead of \w and \s.
# "Not preceded/followed by a key character" keeps a prefix inside a longer run (a base64
# image, a hash, an identifier) from matching.
_B = r"(?<![A-Za-z0-9_+/-])"  # no key character before (but "KEY=sk-..." is one)
_E = r"(?![A-Za-z0-9_+/=-])"  # no key character after
_HAS_DIGIT = r"(?=[A-Za-z0-9_-]*[0-9])"
_AWS_ID = r"(?:AKIA|ASIA)[0-9A-Z]{16}"
# 40 base64 characters with both cases: an AWS secret key, but not a 40-digit hex hash.
_AWS_SECRET = (
    r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
    r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
_NEAR = r"[\s\S]{0,200}?"  # "near": within a few lines, as in a credentials file or a shell


@dataclass(frozen=True)
class Pattern:
    kind: str
    regex: str
    ignore_case: bool = False


@dataclass(frozen=True)
class Finding:
    """Where a secret-looking string is: its kind and span, never its text."""

    kind: str
    start: int
    end: int


# A kind may have several patterns.
BUILTIN_PATTERNS: tuple[Pattern, ...] = (
    # chatsite's own personal keys, from the one definition that also parses them. A key's
    # shown prefix alone (chatsite_<id>) is not a secret and is not matched.
    Pattern("chatsite_api_key", _B + KEY_PATTERN.pattern + _E),
    Pattern("anthropic_api_key", _B + r"sk-ant-[A-Za-z0-9_-]{32,}" + _E),
    Pattern(
        "openai_api_key",
        _B
        + r"sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|"
        + _HAS_DIGIT
        + r"[A-Za-z0-9]{40,})"
        + _E,
    ),
    Pattern(
        "github_token", _B + r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})" + _E
    ),
    Pattern("slack_token", _B + r"xox[abpr]-[0-9]{6,}-[A-Za-z0-9-]{10,}" + _E),
    Pattern("google_api_key", _B + r"AIza[A-Za-z0-9_-]{35}" + _E),
    Pattern("stripe_secret_key", _B + r"(?:sk|rk)_live_[A-Za-z0-9]{20,}" + _E),
    Pattern("aws_access_key_id", _B + _AWS_ID + _E),
    Pattern("aws_secret_access_key", _B + _AWS_ID + _E + _NEAR + _AWS_SECRET),
    Pattern("aws_secret_access_key", _AWS_SECRET + _NEAR + _B + _AWS_ID + _E),
    Pattern(
        "aws_secret_access_key",
        r"(?:aws_?secret_?access_?key|aws_?secret_?key|SecretAccessKey)[\"' \t]*[:=][\"' \t]*"
        + _AWS_SECRET,
        ignore_case=True,
    ),
    # The header alone is often quoted in code; a header followed by key material is a key.
    # Header lines ("Proc-Type: ...") end at their line break, so that "a: a: a: ..." cannot
    # be split in exponentially many ways.
    Pattern(
        "private_key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\r\n \t]+"
        r"(?:[A-Za-z-]+:[^\r\n]*\r?\n[\r\n \t]*)*[A-Za-z0-9+/=]{40}",
    ),
    Pattern(
        "jwt",
        _B + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}" + _E,
    ),
)

LABELS: dict[str, Promise] = {
    "chatsite_api_key": gettext_lazy("a chatsite API key"),
    "anthropic_api_key": gettext_lazy("an Anthropic API key"),
    "openai_api_key": gettext_lazy("an OpenAI API key"),
    "github_token": gettext_lazy("a GitHub token"),
    "slack_token": gettext_lazy("a Slack token"),
    "google_api_key": gettext_lazy("a Google API key"),
    "stripe_secret_key": gettext_lazy("a Stripe secret key"),
    "aws_access_key_id": gettext_lazy("an AWS access key"),
    "aws_secret_access_key": gettext_lazy("an AWS secret access key"),
    "private_key": gettext_lazy("a private key"),
    "jwt": gettext_lazy("a JSON Web Token"),
}
CUSTOM_KIND = "custom"  # patterns added by SECRET_PATTERNS_EXTRA


def label(kind: str) -> str:
    return str(LABELS.get(kind, gettext_lazy("a password or secret key")))


def active_patterns() -> tuple[Pattern, ...]:
    """The built-in patterns minus SECRET_PATTERNS_DISABLED, plus SECRET_PATTERNS_EXTRA."""
    return _active()[0]


def _active() -> tuple[tuple[Pattern, ...], tuple[re.Pattern, ...]]:
    extra = settings.SECRET_PATTERNS_EXTRA
    return _compile(tuple(extra), frozenset(settings.SECRET_PATTERNS_DISABLED))


@lru_cache(maxsize=4)
def _compile(
    extra: tuple[str, ...], disabled: frozenset[str]
) -> tuple[tuple[Pattern, ...], tuple[re.Pattern, ...]]:
    """Compiled once per value of the settings (tests change them; the cache follows)."""
    builtin = [] if "all" in disabled else [p for p in BUILTIN_PATTERNS if p.kind not in disabled]
    custom = [] if CUSTOM_KIND in disabled else [Pattern(CUSTOM_KIND, regex) for regex in extra]
    compiled = []
    for pattern in builtin:
        flags = re.ASCII | (re.IGNORECASE if pattern.ignore_case else 0)
        compiled.append(re.compile(pattern.regex, flags))
    for number, pattern in enumerate(custom, start=1):
        try:
            compiled.append(re.compile(pattern.regex, re.ASCII))
        except re.error as exc:
            # Its position, not its text: an administrator's regex may quote a real key.
            raise ImproperlyConfigured(
                f"SECRET_PATTERNS_EXTRA: pattern {number} is not a valid regular expression "
                f"({exc.msg})"
            ) from None
    return tuple(builtin + custom), tuple(compiled)


def find_secrets(text: str) -> list[Finding]:
    """Each span of `text` that looks like a credential, in order of position."""
    findings = []
    for pattern, regex in zip(*_active(), strict=True):
        findings += [Finding(pattern.kind, m.start(), m.end()) for m in regex.finditer(text)]
    return sorted(findings, key=lambda f: (f.start, f.end, f.kind))


def kinds_of(findings: list[Finding]) -> list[str]:
    """The distinct kinds found, in order of first appearance."""
    return list(dict.fromkeys(f.kind for f in findings))


def refuse_if_secrets(text: str, confirmed: bool = False) -> None:
    """Refuse a message that seems to carry a credential, unless the user confirmed it."""
    if confirmed:
        return
    kinds = kinds_of(find_secrets(text))
    if not kinds:
        return
    detail = _(
        "This message looks like it contains %(what)s. Sending it stores it in the conversation "
        "and sends it to the model provider. Remove it, or send anyway."
    ) % {"what": label(kinds[0])}
    raise ChatError("secret_detected", detail, kinds=kinds)


def patterns_for_page() -> list[dict[str, str]]:
    """The active patterns for the chat page's data block, labels in the page's language."""
    return [
        {
            "kind": p.kind,
            "pattern": p.regex,
            "flags": "i" if p.ignore_case else "",
            "label": label(p.kind),
        }
        for p in active_patterns()
    ]
