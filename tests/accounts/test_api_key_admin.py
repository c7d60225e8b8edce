"""The admin's API keys: every key listed, revoked in bulk, edited but never added; permissions;
a deactivated member's keys refused at once by every deactivation path."""

import re

import pytest
from django.contrib.auth.models import Permission

from accounts import api_keys
from accounts.models import ApiKey, AuditEntry, User

from .html_forms import form_data

pytestmark = pytest.mark.django_db
KEYS_URL = "/admin/accounts/apikey/"
USERS_URL = "/admin/accounts/user/"


@pytest.fixture
def ann():
    return User.objects.create_user("ann", password="pw")


@pytest.fixture
def ann_key(ann):
    return api_keys.create_key(ann, "laptop")


@pytest.fixture
def staff_with(client):
    """Sign in a staff member holding exactly the given `accounts` permissions."""

    def sign_in(*codenames: str):
        staff = User.objects.create(username="support", is_staff=True)
        staff.user_permissions.set(
            Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames)
        )
        client.force_login(staff)
        return client

    return sign_in


def test_the_list_shows_every_members_keys_and_never_a_hash(admin_client, ann_key, make_user):
    key, raw = ann_key
    bob_key, _ = api_keys.create_key(make_user("bob"), "ci", envelope=True)
    page = admin_client.get(KEYS_URL).content.decode()

    assert f"{key.prefix}…" in page and f"{bob_key.prefix}…" in page
    assert "laptop" in page and "ann" in page and "bob" in page
    assert key.key_hash not in page and raw not in page and "key_hash" not in page
    assert "manage.py create_api_key" in page  # says where keys are made

    change = admin_client.get(f"{KEYS_URL}{key.pk}/change/").content.decode()
    assert key.key_hash not in change and raw not in change and "key_hash" not in change
    assert f"{key.prefix}…" in change


def test_search_finds_a_key_by_its_shown_prefix_or_its_member(admin_client, ann_key, make_user):
    key, _ = ann_key
    other, _ = api_keys.create_key(make_user("bob"), "ci")
    for term in (f"{key.prefix}…", key.prefix, "ann"):
        page = admin_client.get(KEYS_URL, {"q": term}).content.decode()
        assert key.prefix in page and other.prefix not in page, term


def test_status_filter(admin_client, ann_key, make_user):
    key, _ = ann_key
    revoked, _ = api_keys.create_key(make_user("bob"), "old")
    api_keys.revoke(revoked)
    active = admin_client.get(KEYS_URL, {"status": "active"}).content.decode()
    assert key.prefix in active and revoked.prefix not in active
    gone = admin_client.get(KEYS_URL, {"status": "revoked"}).content.decode()
    assert revoked.prefix in gone and key.prefix not in gone


def test_keys_cannot_be_added_or_deleted_in_the_admin(admin_client, ann_key):
    key, _ = ann_key
    assert admin_client.get(f"{KEYS_URL}add/").status_code == 403
    assert admin_client.get(f"{KEYS_URL}{key.pk}/delete/").status_code == 403
    actions = admin_client.get(KEYS_URL).context["action_form"].fields["action"].choices
    assert {name for name, _label in actions} - {""} == {"revoke_selected"}


def test_revoke_selected_keys_stops_them_at_once_and_is_audited(admin_client, ann_key, ann):
    key, raw = ann_key
    other, other_raw = api_keys.create_key(ann, "other")
    data = {"action": "revoke_selected", "_selected_action": [key.pk]}
    response = admin_client.post(KEYS_URL, data, follow=True)

    assert "Revoked 1 key." in response.content.decode()
    assert api_keys.authenticate(raw) is None and api_keys.authenticate(other_raw) == other
    entry = AuditEntry.objects.get(action="api_key_revoked")
    assert entry.actor.username == "admin" and entry.target_id == str(key.pk)


def test_the_change_form_edits_name_expiry_envelope_and_limits_only(admin_client, ann_key):
    key, raw = ann_key
    url = f"{KEYS_URL}{key.pk}/change/"
    page = admin_client.get(url).content.decode()
    editable = set(re.findall(r'<(?:input|select|textarea)[^>]* name="([a-z0-9_]+)', page))
    editable -= {"csrfmiddlewaretoken", "_save", "_continue", "_addanother"}
    assert editable == {
        "name",
        "expires_at_0",
        "expires_at_1",
        "envelope",
        "requests_per_minute",
        "max_concurrent_streams",
    }

    data = form_data(page, "apikey_form", name="renamed", envelope="on", requests_per_minute="5")
    assert admin_client.post(url, data).status_code == 302
    key.refresh_from_db()
    assert (key.name, key.envelope, key.requests_per_minute) == ("renamed", True, 5)
    assert api_keys.authenticate(raw) == key
    entry = AuditEntry.objects.get(action="api_key_envelope")
    assert (entry.before, entry.after) == ({"envelope": False}, {"envelope": True})


def test_a_revoked_key_can_no_longer_be_edited(admin_client, ann_key):
    key, _ = ann_key
    api_keys.revoke(key)
    page = admin_client.get(f"{KEYS_URL}{key.pk}/change/").content.decode()
    assert 'name="name"' not in page and 'name="envelope"' not in page


def test_staff_without_the_permissions_see_no_keys(staff_with, ann_key):
    client = staff_with()
    key, _ = ann_key
    assert client.get(KEYS_URL).status_code == 403
    assert client.get(f"{KEYS_URL}{key.pk}/change/").status_code == 403
    assert KEYS_URL not in client.get("/admin/").content.decode()


def test_view_permission_lists_keys_but_neither_edits_nor_revokes(staff_with, ann_key):
    client = staff_with("view_apikey")
    key, raw = ann_key
    listing = client.get(KEYS_URL)
    assert listing.status_code == 200 and key.prefix in listing.content.decode()
    assert listing.context["action_form"] is None

    client.post(KEYS_URL, {"action": "revoke_selected", "_selected_action": [key.pk]})
    url = f"{KEYS_URL}{key.pk}/change/"
    assert 'name="name"' not in client.get(url).content.decode()
    client.post(url, {"name": "hijacked", "envelope": "on"})
    key.refresh_from_db()
    assert key.name == "laptop" and not key.envelope and api_keys.authenticate(raw) == key


def test_change_permission_revokes(staff_with, ann_key):
    client = staff_with("view_apikey", "change_apikey")
    key, raw = ann_key
    client.post(KEYS_URL, {"action": "revoke_selected", "_selected_action": [key.pk]})
    assert api_keys.authenticate(raw) is None


# Deactivating a member stops their keys at once, by every path that deactivates.


def test_the_deactivate_action_stops_the_members_keys(admin_client, ann, ann_key):
    _, raw = ann_key
    admin_client.post(USERS_URL, {"action": "deactivate", "_selected_action": [ann.pk]})
    ann.refresh_from_db()
    assert not ann.is_active
    assert api_keys.authenticate(raw) is None


def test_unticking_active_on_the_user_form_stops_the_members_keys(admin_client, ann, ann_key):
    _, raw = ann_key
    url = f"{USERS_URL}{ann.pk}/change/"
    data = form_data(admin_client.get(url).content.decode(), "user_form", _save="Save")
    assert data.pop("is_active") == "on"
    assert admin_client.post(url, data).status_code == 302
    ann.refresh_from_db()
    assert not ann.is_active
    assert api_keys.authenticate(raw) is None


def test_a_key_works_again_when_its_member_is_reactivated(ann, ann_key):
    # Deactivation does not revoke: the key follows the account, as its sign-in does.
    key, raw = ann_key
    User.objects.filter(pk=ann.pk).update(is_active=False)
    assert api_keys.authenticate(raw) is None
    User.objects.filter(pk=ann.pk).update(is_active=True)
    assert api_keys.authenticate(raw) == key
    assert ApiKey.objects.get().revoked_at is None
