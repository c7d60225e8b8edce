"""Sign in, sign out, password change, and the login wall in front of the chat."""

import pytest
from django.conf import global_settings
from django.contrib.auth.hashers import identify_hasher

from .conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.real_password_hasher]


def signed_in(client) -> bool:
    return client.get("/accounts/password_change/").status_code == 200


@pytest.fixture
def alice(make_user):
    return make_user("alice", PASSWORD)


def test_passwords_are_stored_with_the_production_hasher(alice):
    # The rest of the run hashes with MD5 for speed; this module signs in as deployed.
    production = global_settings.PASSWORD_HASHERS[0].rsplit(".", 1)[1]
    assert type(identify_hasher(alice.password)).__name__ == production


def test_login_form_posts_username_and_password(client, alice):
    page = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in page and 'name="password"' in page

    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302 and response.url == "/"
    assert client.get(response.url).status_code == 200
    assert signed_in(client)


def test_login_follows_next_to_the_page_asked_for(client, alice):
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/sidebar/"}
    )

    assert response.status_code == 302 and response.url == "/sidebar/"


def test_wrong_password_shows_an_error_and_does_not_sign_in(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert 'class="form-error"' in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    assert not signed_in(client)


def test_sign_out_is_post_only(client, alice):
    client.force_login(alice)

    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert signed_in(client)


def test_sign_out_by_post_ends_the_session(client, alice):
    client.force_login(alice)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302 and response.url == "/accounts/login/"
    assert not signed_in(client)
    assert client.get("/").status_code == 302


def test_password_change_takes_the_new_password(client, alice, client_factory):
    client.force_login(alice)
    new = "a brand new passphrase 42"

    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )

    assert response.status_code == 302 and response.url == "/accounts/password_change/done/"
    assert client.get(response.url).status_code == 200
    assert signed_in(client)  # the session survives its own password change
    fresh = client_factory()
    assert not fresh.login(username="alice", password=PASSWORD)
    assert fresh.login(username="alice", password=new)


def test_password_change_with_wrong_old_password_changes_nothing(client, alice):
    client.force_login(alice)
    new = "a brand new passphrase 42"

    response = client.post(
        "/accounts/password_change/",
        {"old_password": "wrong", "new_password1": new, "new_password2": new},
    )

    assert response.status_code == 200
    assert 'class="form-error"' in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


@pytest.mark.parametrize("path", ["/", "/c/1/", "/sidebar/", "/accounts/password_change/"])
def test_signed_out_visitor_is_sent_to_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={path}"
