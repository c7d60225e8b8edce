"""Sign-up through /accounts/signup/ and invite links, in each SIGNUP_MODE."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

pytestmark = [pytest.mark.django_db, pytest.mark.real_password_hasher]

User = get_user_model()


def signed_in_username(client) -> str | None:
    user = client.get("/").wsgi_request.user
    return user.username if user.is_authenticated else None


@pytest.mark.parametrize("mode", ["open", "invite", "closed"])
def test_first_account_becomes_admin_and_is_signed_in(client, signup, settings, mode):
    settings.SIGNUP_MODE = mode

    response = signup("founder")

    assert response.status_code == 302 and response.url == "/"
    founder = User.objects.get(username="founder")
    assert founder.is_staff and founder.is_superuser
    assert signed_in_username(client) == "founder"


def test_second_account_is_a_normal_user_in_open_mode(client, signup, settings):
    settings.SIGNUP_MODE = "open"
    signup("founder")
    client.post("/accounts/logout/")

    response = signup("member")

    assert response.status_code == 302
    member = User.objects.get(username="member")
    assert not member.is_staff and not member.is_superuser
    assert signed_in_username(client) == "member"


def test_signup_form_is_shown_on_empty_database(client):
    response = client.get("/accounts/signup/")

    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


def test_invite_mode_refuses_signup_without_invite(client, signup, settings, admin_user):
    settings.SIGNUP_MODE = "invite"

    page = client.get("/accounts/signup/")
    response = signup("intruder")

    assert page.status_code == 403 and response.status_code == 403
    assert "accounts/signup_closed.html" in [t.name for t in response.templates]
    assert not User.objects.filter(username="intruder").exists()


def test_invite_link_works_once_and_is_marked_used(client, signup, settings, make_invite):
    settings.SIGNUP_MODE = "invite"
    invite = make_invite()

    assert client.get(f"/accounts/invite/{invite.token}/").status_code == 200
    response = signup("guest", token=invite.token)

    assert response.status_code == 302 and response.url == "/"
    guest = User.objects.get(username="guest")
    assert not guest.is_staff and not guest.is_superuser
    assert signed_in_username(client) == "guest"
    invite.refresh_from_db()
    assert invite.used_by == guest and invite.used_at is not None


def test_used_invite_link_is_refused_the_second_time(client_factory, signup, settings, make_invite):
    settings.SIGNUP_MODE = "invite"
    invite = make_invite()
    signup("guest", token=invite.token, http_client=client_factory())

    second = client_factory()
    page = second.get(f"/accounts/invite/{invite.token}/")
    response = signup("gatecrasher", token=invite.token, http_client=second)

    assert page.status_code == 403 and response.status_code == 403
    assert not User.objects.filter(username="gatecrasher").exists()
    invite.refresh_from_db()
    assert invite.used_by.username == "guest"


@pytest.mark.parametrize(
    "state",
    [{"expires_in": timedelta(seconds=-1)}, {"used": True}],
    ids=["expired", "used"],
)
def test_unusable_invite_is_refused(client, signup, settings, make_invite, state):
    settings.SIGNUP_MODE = "invite"
    invite = make_invite(**state)

    page = client.get(f"/accounts/invite/{invite.token}/")
    response = signup("latecomer", token=invite.token)

    assert page.status_code == 403 and response.status_code == 403
    assert "not valid" in response.content.decode()
    assert not User.objects.filter(username="latecomer").exists()


def test_unknown_invite_token_is_refused(client, signup, settings, admin_user):
    settings.SIGNUP_MODE = "invite"

    response = signup("stranger", token="no-such-token")

    assert response.status_code == 403
    assert not User.objects.filter(username="stranger").exists()


def test_closed_mode_refuses_even_with_a_valid_invite(client, signup, settings, make_invite):
    settings.SIGNUP_MODE = "closed"
    invite = make_invite()

    plain = signup("walkin")
    invited = signup("guest", token=invite.token)

    assert plain.status_code == 403 and invited.status_code == 403
    assert not User.objects.filter(username__in=["walkin", "guest"]).exists()
    invite.refresh_from_db()
    assert invite.used_at is None


def test_signed_in_user_visiting_signup_goes_to_chat(client, admin_user):
    client.force_login(admin_user)

    response = client.get("/accounts/signup/")

    assert response.status_code == 302 and response.url == "/"


def test_mismatched_passwords_show_an_error_and_create_nobody(client, settings):
    settings.SIGNUP_MODE = "open"

    response = client.post(
        "/accounts/signup/",
        {"username": "typo", "password1": "correct horse battery", "password2": "other"},
    )

    assert response.status_code == 200
    assert 'class="form-error"' in response.content.decode()
    assert not User.objects.exists()
