"""The credential scanner: each kind found in realistic text, and ordinary text left alone."""

import base64
import hashlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from conversations.errors import ChatError
from conversations.secret_scan import (
    BUILTIN_PATTERNS,
    LABELS,
    find_secrets,
    patterns_for_page,
    refuse_if_secrets,
)

# Fake keys, assembled so no real-looking key sits in the source as one string.
ALNUM = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xYz"
FAKE = {
    "anthropic_api_key": "sk-ant-api03-" + ALNUM * 2 + "-x_AA",
    "openai_api_key": "sk-proj-" + ALNUM + "_" + ALNUM,
    "github_token": "ghp_" + ALNUM + "abc",
    "slack_token": "xoxb-" + "1234567890-9876543210-" + ALNUM[:24],
    "google_api_key": "AIza" + "Sy" + ALNUM,
    "stripe_secret_key": "sk_" + "live_" + ALNUM[:24],
    "aws_access_key_id": "AKIA" + "IOSFODNN7EXAMPL3",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA" + ALNUM * 2 + "\n"
    "-----END RSA PRIVATE KEY-----",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "chatsite_api_key": "chatsite_" + "k3y1d0abcd_" + ALNUM + "Q1w2E3r",
}
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def kinds(text: str) -> set[str]:
    return {f.kind for f in find_secrets(text)}


@pytest.mark.parametrize("kind", sorted(FAKE))
def test_each_kind_is_found_in_a_sentence(kind):
    text = f"here is my key: {FAKE[kind]} thanks"
    assert kind in kinds(text)
    finding = next(f for f in find_secrets(text) if f.kind == kind)
    assert text[finding.start : finding.end] in FAKE[kind]


@pytest.mark.parametrize("kind", sorted(FAKE))
def test_each_kind_is_found_in_quotes_and_assignments(kind):
    assert kind in kinds(f'API_KEY="{FAKE[kind]}"\n')


def test_legacy_openai_key_is_found():
    assert kinds("OPENAI_API_KEY=sk-" + ALNUM + "T3BlbkFJ" + ALNUM[:10]) == {"openai_api_key"}


def test_an_anthropic_key_is_not_also_an_openai_key():
    assert kinds(FAKE["anthropic_api_key"]) == {"anthropic_api_key"}


def test_a_chatsite_key_alone_is_found_but_not_its_shown_prefix():
    key = FAKE["chatsite_api_key"]
    assert kinds(key) == {"chatsite_api_key"}
    prefix = key.rsplit("_", 1)[0]  # what the key page and the admin show: not a secret
    assert kinds(f"my key {prefix}… stopped working") == set()
    assert kinds("x" + key) == set() and kinds(key + "Z") == set()  # inside a longer run


def test_github_fine_grained_token_is_found():
    assert kinds("github_pat_11ABCDEFG0" + ALNUM + "_" + ALNUM) == {"github_token"}


def test_aws_secret_key_is_found_near_its_access_key_in_either_order():
    credentials = f"[default]\naws_access_key_id = {FAKE['aws_access_key_id']}\n"
    assert "aws_secret_access_key" in kinds(credentials + f"secret = {AWS_SECRET}\n")
    assert "aws_secret_access_key" in kinds(f"{AWS_SECRET}\n{FAKE['aws_access_key_id']}")


def test_aws_secret_key_is_found_after_its_label_alone():
    assert kinds(f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}") == {"aws_secret_access_key"}
    assert kinds(f'"SecretAccessKey": "{AWS_SECRET}"') == {"aws_secret_access_key"}


def test_a_lone_forty_character_string_is_not_an_aws_secret():
    assert kinds(f"the value is {AWS_SECRET}") == set()


def test_pgp_and_encrypted_private_keys_are_found():
    pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\nlQOYBF" + ALNUM * 2
    encrypted = (
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        "DEK-Info: AES-128-CBC,ABCDEF\n\n" + ALNUM * 2
    )
    openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1rZXktdjEAAAAA" + ALNUM
    crlf = encrypted.replace("\n", "\r\n")
    assert kinds(pgp) == kinds(encrypted) == kinds(openssh) == kinds(crlf) == {"private_key"}


# -- ordinary text that must not warn ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "What does the sk- prefix of an API key mean?",
        "Keys look like sk-ant-... or sk-proj-..., GitHub's start with ghp_.",
        "pip install scikit-learn; sk-learn-is-a-common-misspelling-of-scikit-learn-package",
        "AKIA is the prefix of an AWS access key id; ASIA of a temporary one.",
        "Slack tokens start with xoxb- or xoxp-.",
        "if line.startswith('-----BEGIN RSA PRIVATE KEY-----'):\n    return True",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + ALNUM,
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa" + ALNUM,
        "JWTs start with eyJ because base64 of '{\"' is eyJ.",
        "const sk_live_mode = isLive && sk_live_enabled;",
        "The quick brown fox jumps over the lazy dog. " * 50,
        "def get_secret_key(self):\n    return os.environ['SECRET_KEY']\n",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b"
        " and a9993e364706816aba3e25717850c26c9cd0d89d",
        # Would take hours if the header lines could be split in many ways (backtracking).
        "-----BEGIN PRIVATE KEY-----\n" + "a: " * 40 + "!",
        "AIza",
        "ghp_",
    ],
)
def test_ordinary_prose_and_code_do_not_warn(text):
    assert find_secrets(text) == []


def test_uuids_and_hex_hashes_do_not_warn():
    ids = " ".join(str(uuid.UUID(int=i * 7919 + 12345)) for i in range(200))
    hashes = "\n".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(200))
    sha1s = "\n".join(hashlib.sha1(str(i).encode()).hexdigest() for i in range(200))
    assert find_secrets(ids) == find_secrets(hashes) == find_secrets(sha1s) == []


def test_a_base64_image_does_not_warn_even_with_key_prefixes_inside():
    # A data URL whose bytes happen to encode every prefix: inside a run of base64 no
    # prefix stands alone, so nothing matches.
    noise = bytes(range(256)) * 40
    inner = "AKIAIOSFODNN7EXAMPL3" + "AIzaSy" + ALNUM + "eyJhbGciOiJIUzI1NiJ9"
    image = base64.b64encode(noise).decode() + inner + base64.b64encode(noise).decode()
    assert find_secrets(f"![chart](data:image/png;base64,{image})") == []


# -- findings, settings, refusal ---------------------------------------------------------------


def test_findings_carry_kind_and_span_but_not_the_text():
    finding = find_secrets("key " + FAKE["github_token"])[0]
    assert (finding.kind, finding.start) == ("github_token", 4)
    assert FAKE["github_token"] not in repr(finding)


def test_extra_patterns_from_the_setting_are_found(settings):
    settings.SECRET_PATTERNS_EXTRA = [r"corp_[0-9a-f]{32}"]
    assert kinds("token corp_" + "0123456789abcdef" * 2) == {"custom"}


def test_a_built_in_kind_can_be_disabled(settings):
    settings.SECRET_PATTERNS_DISABLED = ["jwt"]
    assert kinds(FAKE["jwt"]) == set()
    assert kinds(FAKE["github_token"]) == {"github_token"}


def test_all_built_in_kinds_can_be_disabled(settings):
    settings.SECRET_PATTERNS_DISABLED = ["all"]
    assert find_secrets(" ".join(FAKE.values())) == []


def test_an_invalid_extra_pattern_is_named_by_position_not_text(settings):
    settings.SECRET_PATTERNS_EXTRA = [r"ok_[0-9]+", r"sk-REALKEY(unclosed"]
    with pytest.raises(ImproperlyConfigured, match="pattern 2") as raised:
        find_secrets("anything")
    assert "REALKEY" not in str(raised.value)


def test_refusal_names_the_kind_and_never_the_match():
    with pytest.raises(ChatError) as raised:
        refuse_if_secrets("deploy with " + FAKE["aws_access_key_id"])
    error = raised.value
    assert error.code == "secret_detected" and error.extra == {"kinds": ["aws_access_key_id"]}
    assert "AWS access key" in error.detail
    assert FAKE["aws_access_key_id"] not in error.detail + str(error) + repr(error)


def test_confirmed_text_is_not_refused():
    refuse_if_secrets("deploy with " + FAKE["aws_access_key_id"], confirmed=True)


def test_every_kind_has_a_label_and_every_pattern_fits_javascript():
    """The page compiles the same list with RegExp: only the syntax both languages share."""
    assert {p.kind for p in BUILTIN_PATTERNS} == set(LABELS)
    not_javascript = re.compile(r"\(\?P|\(\?[aiLmsux]+\)|\\[AZ]|[*+?}]\+|\\[wWsSdDb]")
    for pattern in BUILTIN_PATTERNS:
        # [\s\S] (any character) means the same in both.
        assert not not_javascript.search(pattern.regex.replace(r"[\s\S]", "")), pattern.kind


def test_the_page_gets_every_active_pattern_with_its_label(settings):
    settings.SECRET_PATTERNS_DISABLED = ["slack_token"]
    page = patterns_for_page()
    assert "slack_token" not in {p["kind"] for p in page}
    assert {p["kind"] for p in page} == set(LABELS) - {"slack_token"}
    assert all(p["label"] and p["flags"] in ("", "i") for p in page)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["ok_[0-9]+", "sk-REALKEY(unclosed"]', "pattern 2 is not a valid"),
        ('"sk-REALKEY"', "must be a JSON list"),
        ('["ok", ""]', "must be a JSON list"),
    ],
)
def test_bad_extra_patterns_stop_start_up_without_quoting_them(tmp_path, value, message):
    env = os.environ | {
        "SECRET_PATTERNS_EXTRA": value,
        "SECRET_KEY": "test-only",
        "DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import chatsite.settings"],
        cwd=settings_module_dir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and message in result.stderr
    assert "REALKEY" not in result.stderr


def settings_module_dir() -> Path:
    return Path(__file__).resolve().parents[2]
