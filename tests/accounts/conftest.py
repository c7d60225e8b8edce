"""Fixtures for account pages: a sign-up helper and invite links in any state."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Invite

PASSWORD = "correct horse battery"


@pytest.fixture
def signup(client):
    """POST the sign-up form (optionally through an invite link) as the test client."""

    def post(username: str, token: str | None = None, http_client=None):
        url = f"/accounts/invite/{token}/" if token else "/accounts/signup/"
        data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
        return (http_client or client).post(url, data)

    return post


@pytest.fixture
def admin_user(make_user):
    """The first account already exists, so sign-up modes apply to everyone else."""
    user = make_user("admin")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def make_invite(admin_user):
    def make(*, expires_in: timedelta = timedelta(days=7), used: bool = False) -> Invite:
        invite = Invite.objects.create(
            created_by=admin_user, expires_at=timezone.now() + expires_in
        )
        if used:
            invite.used_by, invite.used_at = admin_user, timezone.now()
            invite.save()
        return invite

    return make


@pytest.fixture
def client_factory():
    """Fresh browsers, for journeys that need more than one visitor."""
    return Client
