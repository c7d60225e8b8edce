"""Sign-in brute force: failures counted per account and per address, in the app and the admin."""

import threading
import time

import pytest
from django.contrib.auth import forms as forms_module
from django.contrib.auth.backends import ModelBackend
from django.core.management import call_command
from django.db import connection
from django.test import Client

from accounts import limits

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-in attempts"
APP = "/accounts/login/"
ADMIN = "/admin/login/"


@pytest.fixture(autouse=True)
def throttle(settings):
    settings.REDIS_URL = ""  # the database store (the limiter's own tests cover Redis)
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 30
    settings.LOGIN_FAILURE_WINDOW = 900
    settings.CLIENT_ADDRESS_HEADER = ""


@pytest.fixture
def alice(make_user):
    return make_user("alice", PASSWORD)


@pytest.fixture
def staff(make_user):
    user = make_user("root", PASSWORD)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """Usernames whose password the authentication backend was asked to check."""
    checks: list[str] = []
    real = ModelBackend.authenticate

    def spy(self, request, username=None, password=None, **kwargs):
        checks.append(username)
        return real(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)
    return checks


def sign_in(client, username, password, url=APP, address="192.0.2.1", **headers):
    data = {"username": username, "password": password}
    return client.post(url, data, REMOTE_ADDR=address, **headers)


def fail(client, username, times, url=APP, address="192.0.2.1"):
    for _ in range(times):
        response = sign_in(client, username, "wrong", url, address)
        assert response.status_code == 200 and LOCKED not in response.content.decode()


def test_sixth_attempt_after_five_failures_is_refused_on_the_same_form(
    client, alice, password_checks
):
    fail(client, "alice", 5)
    password_checks.clear()

    response = sign_in(client, "alice", PASSWORD)

    page = response.content.decode()
    assert response.status_code == 200
    assert LOCKED in page and "Try again in 15 minutes." in page
    assert 'class="form-error"' in page
    assert 'name="username"' in page and 'value="alice"' in page and 'name="password"' in page
    assert not response.wsgi_request.user.is_authenticated
    assert password_checks == []  # refused without checking the password


def test_a_success_under_the_limit_signs_in_and_clears_the_accounts_failures(client, alice):
    fail(client, "alice", 4)

    response = sign_in(client, "alice", PASSWORD)

    assert response.status_code == 302 and response.url == "/"
    client.post("/accounts/logout/")
    fail(client, "alice", 4)
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_an_accounts_lock_out_holds_from_every_address_once_its_total_is_reached(
    client, alice, settings
):
    settings.LOGIN_FAILURES_PER_ACCOUNT_TOTAL = 10
    fail(client, "alice", 5, address="192.0.2.1")
    fail(client, "alice", 5, address="192.0.2.2")

    response = sign_in(client, "alice", PASSWORD, address="198.51.100.7")

    assert response.status_code == 200 and LOCKED in response.content.decode()


def test_guesses_from_elsewhere_do_not_lock_a_member_out_of_their_own_address(client, alice):
    fail(client, "ALICE", 5, address="203.0.113.9")

    assert LOCKED in sign_in(client, "alice", PASSWORD, address="203.0.113.9").content.decode()
    assert sign_in(client, "alice", PASSWORD, address="198.51.100.7").status_code == 302


def test_the_right_password_on_the_admin_sign_in_is_not_a_guess(client, alice):
    for _ in range(6):
        response = client.post(
            "/admin/login/?next=/admin/",
            {"username": "alice", "password": PASSWORD},
            REMOTE_ADDR="192.0.2.1",
        )
        assert LOCKED not in response.content.decode()  # refused as not staff, not locked

    assert sign_in(client, "alice", PASSWORD, address="192.0.2.1").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_cannot_all_pass_the_check(alice, monkeypatch):
    checked = []
    real = forms_module.authenticate

    def slow_authenticate(*args, **kwargs):
        checked.append(1)
        time.sleep(0.2)  # every parallel guess is past the check before any is counted
        return real(*args, **kwargs)

    monkeypatch.setattr(forms_module, "authenticate", slow_authenticate)
    barrier = threading.Barrier(12)

    def guess(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            Client().post(
                "/accounts/login/",
                {"username": "alice", "password": f"guess-{i}"},
                REMOTE_ADDR="192.0.2.1",
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(checked) == 5  # the limit, however many arrive at once


def test_one_address_guessing_many_accounts_is_locked_out(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 6
    for name in ("bob", "carol", "dave"):
        fail(client, name, 2, address="192.0.2.66")

    locked = sign_in(client, "alice", PASSWORD, address="192.0.2.66")
    elsewhere = sign_in(client, "alice", PASSWORD, address="192.0.2.1")

    assert locked.status_code == 200 and LOCKED in locked.content.decode()
    assert elsewhere.status_code == 302


def test_ipv6_addresses_of_one_64_count_as_one_address(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 6
    # One subscriber's /64: a fresh address per guess must not mean a fresh count.
    for n, name in enumerate(("bob", "carol", "dave")):
        fail(client, name, 2, address=f"2001:db8:1:2::{n + 1:x}")

    locked = sign_in(client, "alice", PASSWORD, address="2001:db8:1:2:ffff::9")
    next_64 = sign_in(client, "alice", PASSWORD, address="2001:db8:1:3::1")

    assert locked.status_code == 200 and LOCKED in locked.content.decode()
    assert next_64.status_code == 302


def test_reset_login_throttle_lifts_an_ipv6_64s_lock_out_from_any_of_its_addresses(
    client, alice, settings
):
    settings.LOGIN_FAILURES_PER_ADDRESS = 2
    fail(client, "mallory", 2, address="2001:db8::1")

    call_command("reset_login_throttle", "2001:db8::abcd")

    assert sign_in(client, "alice", PASSWORD, address="2001:db8::2").status_code == 302


def test_admin_sign_in_is_throttled_and_shares_the_apps_counts(client, staff, password_checks):
    fail(client, "root", 3, url=APP)
    fail(client, "root", 2, url=ADMIN)
    password_checks.clear()

    response = sign_in(client, "root", PASSWORD, url=ADMIN)

    assert response.status_code == 200 and LOCKED in response.content.decode()
    assert password_checks == []
    assert client.get("/admin/").status_code == 302  # still signed out


def test_admin_sign_in_works_under_the_limit(client, staff):
    fail(client, "root", 4, url=ADMIN)

    response = sign_in(client, "root", PASSWORD, url=ADMIN)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_forwarded_for_header_is_not_trusted_without_the_setting(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for n in range(3):
        response = sign_in(client, f"user{n}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        assert LOCKED not in response.content.decode()

    response = sign_in(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert LOCKED in response.content.decode()


def test_a_trusted_proxys_header_gives_the_address_and_the_clients_part_is_ignored(
    client, alice, settings
):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    proxy = "127.0.0.1"
    for n in range(3):
        # The client writes what it likes before the address the proxy appends.
        forwarded = f"203.0.113.{n}, 198.51.100.5"
        sign_in(client, f"user{n}", "wrong", address=proxy, HTTP_X_FORWARDED_FOR=forwarded)

    locked = sign_in(
        client, "alice", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.5"
    )
    other = sign_in(client, "alice", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.6")

    assert LOCKED in locked.content.decode()
    assert other.status_code == 302


@pytest.mark.parametrize("total", [50, 5])  # locked from one address; from every address
def test_reset_login_throttle_lifts_an_accounts_lock_out(client, alice, settings, total):
    settings.LOGIN_FAILURES_PER_ACCOUNT_TOTAL = total
    fail(client, "alice", 5)
    assert LOCKED in sign_in(client, "alice", PASSWORD, address="192.0.2.1").content.decode()

    call_command("reset_login_throttle", "alice")

    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_reset_login_throttle_lifts_an_addresss_lock_out(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 2
    fail(client, "mallory", 2, address="192.0.2.66")

    call_command("reset_login_throttle", "192.0.2.66")

    assert sign_in(client, "alice", PASSWORD, address="192.0.2.66").status_code == 302


def test_a_lock_out_ends_with_its_window(client, alice, monkeypatch):
    now = 1_000_000.0
    monkeypatch.setattr(limits, "time", lambda: now)
    fail(client, "alice", 5)
    now += 899
    assert LOCKED in sign_in(client, "alice", PASSWORD).content.decode()

    now += 2

    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_limits_set_to_zero_switch_the_throttle_off(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 0
    settings.LOGIN_FAILURES_PER_ADDRESS = 0
    fail(client, "alice", 8)

    assert sign_in(client, "alice", PASSWORD).status_code == 302
