"""still_signed_in: the per-frame check of a socket's session, by the rules of a page load."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts.live_sessions import still_signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user):
    return make_user("alice")


def session_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def test_a_signed_in_session_passes_in_one_query(alice, django_assert_num_queries):
    session = session_of(alice)
    with django_assert_num_queries(1):
        assert still_signed_in(alice.pk, session)


def test_an_inactive_user_fails(alice):
    session = session_of(alice)
    alice.is_active = False
    alice.save()
    assert not still_signed_in(alice.pk, session)


def test_a_deleted_user_fails(alice):
    session = session_of(alice)
    alice.delete()
    assert not still_signed_in(alice.pk, session)


def test_a_flushed_or_missing_session_fails(alice):
    session = session_of(alice)
    Session.objects.filter(session_key=session).delete()
    assert not still_signed_in(alice.pk, session)
    assert not still_signed_in(alice.pk, None)
    assert not still_signed_in(alice.pk, "")


def test_an_expired_session_fails(alice):
    session = session_of(alice)
    Session.objects.filter(session_key=session).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    assert not still_signed_in(alice.pk, session)


def test_a_session_of_another_user_fails(alice, make_user):
    bob = make_user("bob")
    assert not still_signed_in(bob.pk, session_of(alice))


def test_a_new_password_fails_the_old_sessions(alice):
    session = session_of(alice)
    alice.set_password("another-Secret-9")
    alice.save()
    assert not still_signed_in(alice.pk, session)
    assert still_signed_in(alice.pk, session_of(alice))


def test_a_session_without_the_hash_fails(alice):
    session = Session.objects.get(session_key=session_of(alice))
    data = session.get_decoded()
    data.pop("_auth_user_hash")
    Session.objects.save(session.session_key, data, session.expire_date)
    assert not still_signed_in(alice.pk, session.session_key)


def test_a_hash_made_with_a_fallback_secret_passes(alice, settings):
    session = session_of(alice)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-that-is-long-enough-for-django-checks"
    # Session data is signed with the current key: re-sign it, keeping the old password hash.
    session_row = Session.objects.get(session_key=session)
    Session.objects.save(session, session_row.get_decoded(), session_row.expire_date)
    assert still_signed_in(alice.pk, session)


def test_other_session_engines_are_checked_too(alice, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    session = session_of(alice)
    assert still_signed_in(alice.pk, session)
    alice.is_active = False
    alice.save()
    assert not still_signed_in(alice.pk, session)
