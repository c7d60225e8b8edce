"""The Japanese catalogues: complete, compiled, and really used.

If a test here fails after you added or changed a string, run `make messages`, translate
the new entries in locale/ja/LC_MESSAGES/*.po (no empty msgstr, no `#, fuzzy`), and run
`make messages` once more so that the .mo files are compiled from the final .po files.
"""

import ast
import gettext as gettext_module
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.commands import makemessages
from django.utils import translation

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
MESSAGES_DIR = LOCALE_DIR / "ja" / "LC_MESSAGES"
DOMAINS = ["django", "djangojs"]
IGNORE = [".venv/*", "staticfiles/*", "tests/*", "static/vendor/*", "data/*"]

# The words the UI must use, always the same way (a glossary, not a style preference).
GLOSSARY = {
    "Send": "送信",
    "Stop": "停止",
    "New chat": "新しいチャット",
    "Sign in": "サインイン",
    "Sign out": "サインアウト",
}
JS_GLOSSARY = {"Copy": "コピー", "Retry": "再試行"}
# Sign in / sign out are サインイン / サインアウト everywhere, never ログイン / ログアウト.
FORBIDDEN = ["ログイン", "ログアウト"]


# ---- a small .po reader ------------------------------------------------------------------

_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(\".*\")$")


def parse_po(text: str) -> list[dict]:
    """Entries of a .po file; obsolete (`#~`) entries are left out.

    Entries are told apart by structure, not only by blank lines: on a new catalogue
    makemessages puts the Plural-Forms line where the blank line after the header was, so
    the header and the first entry can touch.
    """
    entries: list[dict] = []
    entry: dict | None = None
    field: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            entry, field = None, None
            continue
        starts_entry = line.startswith(("#", "msgctxt ", "msgid "))
        if entry is None or (starts_entry and entry["msgstr"]):
            entry = {"line": number, "flags": set(), "refs": [], "msgctxt": None}
            entry.update({"msgid": None, "msgid_plural": None, "msgstr": {}})
            entries.append(entry)
            field = None
        if line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#:"):
            entry["refs"] += line[2:].split()
        elif line.startswith("#"):
            continue
        elif match := _KEYWORD.match(line):
            field, value = match.group(1), ast.literal_eval(match.group(2))
            if field.startswith("msgstr"):
                entry["msgstr"][field] = value
            else:
                entry[field] = value
        elif line.startswith('"') and field:
            value = ast.literal_eval(line)
            if field.startswith("msgstr"):
                entry["msgstr"][field] += value
            else:
                entry[field] += value
        else:
            raise ValueError(f"line {number}: cannot read {raw!r}")
    # Comment lines (`#, python-format`) kept above an obsolete entry start no entry of ours.
    return [entry for entry in entries if entry["msgid"] is not None]


def is_header(entry: dict) -> bool:
    return entry["msgid"] == "" and entry["msgctxt"] is None


def problems(entries: list[dict]) -> list[str]:
    """Human-readable reasons why these entries would not show up in Japanese."""
    found = []
    for entry in entries:
        where = " ".join(entry["refs"]) or f"line {entry['line']}"
        if "fuzzy" in entry["flags"]:
            found.append(f"fuzzy: {entry['msgid']!r} ({where})")
        if is_header(entry):
            continue
        if entry["msgid_plural"] is not None:
            # Japanese has one form (nplurals=1): exactly msgstr[0], filled in.
            if list(entry["msgstr"]) != ["msgstr[0]"] or not entry["msgstr"]["msgstr[0]"]:
                found.append(f"plural not translated as one form: {entry['msgid']!r} ({where})")
        elif not entry["msgstr"].get("msgstr"):
            found.append(f"untranslated: {entry['msgid']!r} ({where})")
    return found


def header_fields(entries: list[dict]) -> dict[str, str]:
    header = next(entry for entry in entries if is_header(entry))
    lines = header["msgstr"]["msgstr"].splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Mtime and hash of every file under root: proof that nothing was written."""
    return {
        str(path.relative_to(root)): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


class IsolatedMakeMessages(makemessages.Command):
    """makemessages that writes only into settings.LOCALE_PATHS[0].

    Run from the project root, stock makemessages also adopts ./locale (its "running inside
    an app" check, and its walk of the tree) and files every source of the project under
    it, whatever LOCALE_PATHS says: pointing LOCALE_PATHS at a copy is not enough.
    """

    def find_files(self, root):
        files = super().find_files(root)
        target = str(settings.LOCALE_PATHS[0])
        self.locale_paths = [target]  # also where .pot files are made and then removed
        self.default_locale_path = target
        for translatable in files:
            translatable.locale_dir = target
        return files


@pytest.fixture
def locale_copy(tmp_path, settings):
    """A copy of locale/ that the app reads from instead of the real one."""
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, copy)
    settings.LOCALE_PATHS = [copy]
    return copy


# ---- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_committed_catalogue_is_complete(domain):
    entries = parse_po((MESSAGES_DIR / f"{domain}.po").read_text(encoding="utf-8"))
    assert problems(entries) == []
    header = header_fields(entries)
    assert header["Language"] == "ja"
    assert "charset=UTF-8" in header["Content-Type"]
    assert header["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"


def test_makemessages_produces_no_new_empty_entries(locale_copy, monkeypatch):
    """Every string marked in the code already has a Japanese translation."""
    monkeypatch.chdir(settings.BASE_DIR)
    before = snapshot(LOCALE_DIR)
    for domain in DOMAINS:
        call_command(
            IsolatedMakeMessages(),
            locale=["ja"],
            domain=domain,
            ignore_patterns=list(IGNORE),
            verbosity=0,
        )
    assert snapshot(LOCALE_DIR) == before, "makemessages wrote into the real locale/"

    messages = locale_copy / "ja" / "LC_MESSAGES"
    catalogues = {d: parse_po((messages / f"{d}.po").read_text("utf-8")) for d in DOMAINS}
    # The walk found the sources: an empty catalogue would pass the check below.
    assert "Send" in {entry["msgid"] for entry in catalogues["django"]}
    assert "Copy" in {entry["msgid"] for entry in catalogues["djangojs"]}
    found = {domain: problems(entries) for domain, entries in catalogues.items()}
    assert found == {domain: [] for domain in DOMAINS}, (
        "New or changed strings need Japanese: run `make messages` and translate them."
    )


@pytest.mark.parametrize("domain", DOMAINS)
def test_compiled_catalogue_matches_po(domain, tmp_path, settings, monkeypatch):
    """The .mo next to each .po holds exactly what compiling that .po gives now."""
    compiled_dir = tmp_path / "locale" / "ja" / "LC_MESSAGES"
    compiled_dir.mkdir(parents=True)
    shutil.copy2(MESSAGES_DIR / f"{domain}.po", compiled_dir)
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)  # compilemessages also walks the working directory
    call_command("compilemessages", locale=["ja"], verbosity=0)

    def catalogue(path: Path) -> dict:
        with path.open("rb") as mo:
            return gettext_module.GNUTranslations(mo)._catalog

    committed = MESSAGES_DIR / f"{domain}.mo"
    assert committed.exists(), f"{committed} is missing: run `make messages`"
    assert catalogue(committed) == catalogue(compiled_dir / f"{domain}.mo"), (
        f"{committed.name} is older than {domain}.po: run `make messages`"
    )


@pytest.mark.parametrize(("english", "japanese"), GLOSSARY.items())
def test_key_strings_are_translated(english, japanese):
    with translation.override("ja"):
        assert translation.gettext(english) == japanese != english
    with translation.override("en"):
        assert translation.gettext(english) == english


def test_javascript_catalogue_is_served_in_japanese(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ja"
    response = client.get("/jsi18n/")
    assert response.status_code == 200
    body = response.content.decode()
    for english, japanese in JS_GLOSSARY.items():
        assert f"{json.dumps(english)}: {json.dumps(japanese)}" in body


@pytest.mark.parametrize("domain", DOMAINS)
def test_terminology_is_consistent(domain):
    entries = parse_po((MESSAGES_DIR / f"{domain}.po").read_text(encoding="utf-8"))
    offending = [
        (entry["msgid"], text)
        for entry in entries
        if not is_header(entry)
        for text in entry["msgstr"].values()
        if any(word in text for word in FORBIDDEN)
    ]
    assert offending == []
