"""The member's API keys page: a key shown once, then its prefix; revoke; the envelope switch."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import api_keys
from accounts.models import ApiKey, AuditEntry

pytestmark = pytest.mark.django_db
URL = "/accounts/api-keys/"


@pytest.fixture
def ann(make_user):
    return make_user("ann")


@pytest.fixture
def ann_client(client, ann):
    client.force_login(ann)
    return client


def make_key(client, **fields):
    data = {"name": "laptop", "expires": "", **fields}
    return client.post(URL, {k: v for k, v in data.items() if v is not None})


def shown_key(response) -> str:
    match = api_keys.KEY_PATTERN.search(response.content.decode())
    assert match, "no key on the page"
    return match.group(0)


def test_the_page_needs_a_signed_in_member(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_header_links_to_the_key_page(ann_client):
    assert f'href="{URL}"' in ann_client.get("/accounts/usage/").content.decode()


def test_a_new_key_is_shown_once_with_a_curl_example_then_only_its_prefix(ann_client, ann):
    response = make_key(ann_client, name="laptop")
    assert response.status_code == 200
    raw = shown_key(response)
    page = response.content.decode()
    key = ApiKey.objects.get(user=ann)
    assert api_keys.authenticate(raw) == key and key.name == "laptop"
    assert "you will not see it again" in page
    assert "curl http://testserver/v1/messages" in page and f"x-api-key: {raw}" in page
    assert "no-store" in response["Cache-Control"]  # the key's page is kept by no cache

    again = ann_client.get(URL).content.decode()
    assert raw not in again and api_keys.KEY_PATTERN.search(again) is None
    assert f"{key.prefix}…" in again and "laptop" in again


def test_reloading_the_page_that_showed_a_key_makes_no_second_key(ann_client):
    page = ann_client.get(URL).content.decode()
    once = re.search(r'name="once" value="([^"]+)"', page).group(1)
    first = ann_client.post(URL, {"name": "laptop", "once": once})
    raw = shown_key(first)

    again = ann_client.post(URL, {"name": "laptop", "once": once})  # what a reload sends
    assert again.status_code == 302 and again["Location"] == URL
    assert ApiKey.objects.count() == 1
    assert raw not in ann_client.get(URL).content.decode()

    other = re.search(r'name="once" value="([^"]+)"', first.content.decode()).group(1)
    assert other != once  # the page that showed the key offers a fresh form
    assert ann_client.post(URL, {"name": "ci", "once": other}).status_code == 200
    assert ApiKey.objects.count() == 2


def test_the_list_shows_last_use_expiry_envelope_and_status(ann_client, ann):
    used, _ = api_keys.create_key(ann, "used")
    api_keys.touch(used)
    api_keys.create_key(ann, "gone", expires_at=timezone.now() - timedelta(days=1))
    revoked, _ = api_keys.create_key(ann, "old", envelope=True)
    api_keys.revoke(revoked)

    rows = key_rows(ann_client.get(URL).content.decode())
    # name, key, created, last used, expires, envelope, status, buttons
    assert rows["used"][3] != "Never" and rows["used"][4:7] == ["Never", "Off", "Active"]
    assert rows["used"][1] == f"{used.prefix}…"
    assert rows["gone"][3] == "Never" and rows["gone"][6] == "Expired"
    assert rows["old"][5:] == ["On", "Revoked", ""]  # nothing left to do with it
    assert rows["used"][7] == "Turn the envelope on Revoke"


def key_rows(page: str) -> dict[str, list[str]]:
    """Each key's row of the table, by name: the text of its cells."""
    rows = {}
    for row in re.findall(r'<tr class="api-key".*?</tr>', page, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        texts = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in cells]
        rows[texts[0]] = texts
    return rows


def test_a_key_with_a_last_day_works_through_that_day(ann_client, ann):
    day = timezone.localdate() + timedelta(days=3)
    make_key(ann_client, expires=day.isoformat(), envelope="on")
    key = ApiKey.objects.get()
    assert timezone.localtime(key.expires_at).date() == day and key.envelope
    assert timezone.localtime(key.expires_at).hour == 23


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"expires": "2001-01-01"}, "That day is in the past"),
        ({"expires": "tomorrow"}, "Enter a valid date."),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_keeps_what_was_typed(ann_client, fields, message):
    response = make_key(ann_client, **{"name": "keep me", **fields})
    page = response.content.decode()
    assert response.status_code == 200 and message in page
    assert ApiKey.objects.count() == 0 and api_keys.KEY_PATTERN.search(page) is None
    if fields.get("name") is None:
        assert 'value="keep me"' in page


def test_yesterday_is_refused_and_today_is_accepted(ann_client):
    yesterday = timezone.localdate() - timedelta(days=1)
    assert "in the past" in make_key(ann_client, expires=yesterday.isoformat()).content.decode()
    make_key(ann_client, expires=timezone.localdate().isoformat())
    assert ApiKey.objects.get().expires_at > timezone.now()


def test_the_limit_of_active_keys_is_refused_with_a_clear_error(ann_client, ann, settings):
    settings.API_KEYS_PER_USER = 1
    make_key(ann_client, name="first")
    page = ann_client.get(URL).content.decode()
    assert "You already have 1 active key, the most allowed." in page
    assert re.search(r'<button type="submit" class="primary" disabled>', page)

    refused = make_key(ann_client, name="second").content.decode()
    assert "You already have 1 active key, the most allowed." in refused
    assert list(ApiKey.objects.values_list("name", flat=True)) == ["first"]


def test_revoke_asks_first_then_stops_the_key(ann_client, ann):
    key, raw = api_keys.create_key(ann, "laptop")
    url = f"{URL}{key.pk}/revoke/"

    confirm = ann_client.get(url)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert api_keys.authenticate(raw) == key  # asking changed nothing

    done = ann_client.post(url, follow=True)
    assert done.redirect_chain[-1][0] == URL
    assert "programs using it are refused now" in done.content.decode()
    assert api_keys.authenticate(raw) is None
    entry = AuditEntry.objects.get(action="api_key_revoked")
    assert entry.actor == ann and entry.target_id == str(key.pk)


def test_the_envelope_is_switched_to_the_posted_value(ann_client, ann):
    key, _ = api_keys.create_key(ann, "k")
    url = f"{URL}{key.pk}/envelope/"
    for value, expected in [("on", True), ("on", True), ("off", False)]:
        assert ann_client.post(url, {"envelope": value}).status_code == 302
        key.refresh_from_db()
        assert key.envelope is expected
    assert AuditEntry.objects.filter(action="api_key_envelope").count() == 2
    assert ann_client.post(url, {"envelope": "yes"}).status_code == 400
    assert ann_client.get(url).status_code == 405  # no change on GET


def test_a_revoked_keys_envelope_stays_as_it_was(ann_client, ann):
    key, _ = api_keys.create_key(ann, "k")
    api_keys.revoke(key)
    page = ann_client.post(f"{URL}{key.pk}/envelope/", {"envelope": "on"}, follow=True)
    assert "can no longer be changed" in page.content.decode()
    key.refresh_from_db()
    assert key.envelope is False


def test_another_members_key_is_a_404_everywhere(ann_client, make_user):
    bob = make_user("bob")
    key, raw = api_keys.create_key(bob, "bob's")
    assert ann_client.get(f"{URL}{key.pk}/revoke/").status_code == 404
    assert ann_client.post(f"{URL}{key.pk}/revoke/").status_code == 404
    assert ann_client.post(f"{URL}{key.pk}/envelope/", {"envelope": "on"}).status_code == 404
    assert key.prefix not in ann_client.get(URL).content.decode()
    key.refresh_from_db()
    assert api_keys.authenticate(raw) == key and not key.envelope


def test_every_change_needs_the_csrf_token(ann, make_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(ann)
    key, raw = api_keys.create_key(ann, "k")
    assert browser.post(URL, {"name": "x"}).status_code == 403
    assert browser.post(f"{URL}{key.pk}/revoke/").status_code == 403
    assert browser.post(f"{URL}{key.pk}/envelope/", {"envelope": "on"}).status_code == 403
    assert ApiKey.objects.count() == 1 and api_keys.authenticate(raw) == key

    page = browser.get(URL).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(URL, {"name": "x", "csrfmiddlewaretoken": token}).status_code == 200
    assert ApiKey.objects.count() == 2


def test_making_a_key_is_audited_without_the_key(ann_client, ann):
    raw = shown_key(make_key(ann_client, name="ci"))
    entry = AuditEntry.objects.get(action="api_key_created")
    assert entry.actor == ann and entry.after["name"] == "ci"
    assert raw not in str(entry.after)
