"""Personal API keys (accounts/api_keys.py) and their two management commands."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts import api_keys
from accounts.models import ApiKey, AuditEntry, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann():
    return User.objects.create_user("ann", password="pw")


def test_a_key_is_shown_once_and_stored_only_as_a_hash(ann):
    key, raw = api_keys.create_key(ann, "laptop")
    assert api_keys.KEY_PATTERN.fullmatch(raw)
    assert raw.startswith(key.prefix + "_") and key.prefix.startswith("chatsite_")
    stored = ApiKey.objects.values()[0]
    assert raw not in str(stored) and stored["key_hash"] == api_keys.key_hash(raw)
    assert api_keys.authenticate(raw) == key
    assert api_keys.authenticate(f"  {raw}\n") == key  # pasted with whitespace


@pytest.mark.parametrize("wrong", ["", None, "sk-ant-xyz", "chatsite_", "chatsite_abc_def"])
def test_text_that_is_not_a_key_authenticates_no_one(ann, wrong):
    api_keys.create_key(ann, "k")
    assert api_keys.authenticate(wrong) is None


def test_a_right_prefix_with_a_wrong_secret_is_refused(ann):
    _, raw = api_keys.create_key(ann, "k")
    last = raw[-1]
    forged = raw[:-1] + ("A" if last != "A" else "B")
    assert api_keys.authenticate(forged) is None


def test_revoked_expired_and_deactivated_keys_stop_at_once(ann):
    revoked, raw_revoked = api_keys.create_key(ann, "r")
    assert api_keys.revoke(revoked) and not api_keys.revoke(revoked)
    assert api_keys.authenticate(raw_revoked) is None

    past = timezone.now() - timedelta(seconds=1)
    _, raw_expired = api_keys.create_key(ann, "e", expires_at=past)
    assert api_keys.authenticate(raw_expired) is None

    _, raw = api_keys.create_key(ann, "d")
    assert api_keys.authenticate(raw) is not None
    ann.is_active = False
    ann.save()
    assert api_keys.authenticate(raw) is None


def test_last_used_is_written_at_most_once_a_minute(ann):
    key, _ = api_keys.create_key(ann, "k")
    api_keys.touch(key)
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    api_keys.touch(key)
    assert ApiKey.objects.get().last_used_at == first
    key.last_used_at = first - timedelta(minutes=2)
    api_keys.touch(key)
    assert ApiKey.objects.get().last_used_at > first


def test_create_api_key_prints_the_key_alone(ann):
    out = StringIO()
    call_command(
        "create_api_key", "ann", "--name", "ci", "--expires", "2999-01-31", "--envelope", stdout=out
    )
    raw = out.getvalue().strip()
    assert api_keys.KEY_PATTERN.fullmatch(raw)
    key = api_keys.authenticate(raw)
    assert key.name == "ci" and key.envelope and key.expires_at.date().isoformat() == "2999-01-31"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No user"),
        (["ann", "--expires", "2000-01-01"], "in the past"),
        (["ann", "--expires", "tomorrow"], "is not a date"),
    ],
)
def test_create_api_key_refuses_bad_input(ann, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", *args, stdout=StringIO())
    assert ApiKey.objects.count() == 0


def test_revoke_api_key_by_prefix(ann):
    key, raw = api_keys.create_key(ann, "k")
    out = StringIO()
    call_command("revoke_api_key", key.prefix, stdout=out)
    assert "Revoked" in out.getvalue() and api_keys.authenticate(raw) is None
    with pytest.raises(CommandError, match="No API key"):
        call_command("revoke_api_key", "chatsite_nosuchkey0", stdout=StringIO())


def test_every_change_of_a_key_is_audited_with_who_did_it(ann):
    key, raw = api_keys.create_key(ann, "laptop", envelope=False, by=ann)
    api_keys.set_envelope(key, True, by=ann)
    api_keys.set_envelope(key, True, by=ann)  # no change: no entry
    api_keys.revoke(key, by="manage.py revoke_api_key")
    api_keys.revoke(key, by=ann)  # already revoked: no entry

    entries = list(AuditEntry.objects.order_by("id").values_list("action", "actor_name"))
    assert entries == [
        ("api_key_created", "ann"),
        ("api_key_envelope", "ann"),
        ("api_key_revoked", "manage.py revoke_api_key"),
    ]
    created = AuditEntry.objects.get(action="api_key_created")
    assert created.after["prefix"] == key.prefix and created.after["user"] == "ann"
    assert raw not in str(list(AuditEntry.objects.values()))
    assert ApiKey.objects.get().envelope is True


def test_the_commands_audit_under_their_own_names(ann):
    call_command("create_api_key", "ann", stdout=StringIO())
    key = ApiKey.objects.get()
    call_command("revoke_api_key", key.prefix, stdout=StringIO())
    actors = set(AuditEntry.objects.values_list("actor_name", flat=True))
    assert actors == {"manage.py create_api_key", "manage.py revoke_api_key"}


def test_active_keys_are_limited_and_revoked_or_expired_ones_do_not_count(ann, settings):
    settings.API_KEYS_PER_USER = 2
    first, _ = api_keys.create_key(ann, "a")
    api_keys.create_key(ann, "b")
    with pytest.raises(api_keys.TooManyKeys):
        api_keys.create_key(ann, "c")
    with pytest.raises(CommandError, match="already has 2 active API keys"):
        call_command("create_api_key", "ann", stdout=StringIO())

    api_keys.revoke(first)
    api_keys.create_key(ann, "c")
    ApiKey.objects.filter(name="c").update(expires_at=timezone.now() - timedelta(seconds=1))
    api_keys.create_key(ann, "d")
    assert ApiKey.objects.count() == 4

    settings.API_KEYS_PER_USER = 0  # no limit
    api_keys.create_key(ann, "e")


def test_status_says_why_a_key_works_or_not(ann):
    key, _ = api_keys.create_key(ann, "k")
    assert api_keys.status_of(key) == api_keys.KeyStatus.ACTIVE
    key.expires_at = timezone.now() - timedelta(seconds=1)
    assert api_keys.status_of(key) == api_keys.KeyStatus.EXPIRED
    ann.is_active = False
    key.expires_at = None
    assert api_keys.status_of(key) == api_keys.KeyStatus.USER_INACTIVE
    api_keys.revoke(key)
    assert api_keys.status_of(key) == api_keys.KeyStatus.REVOKED
