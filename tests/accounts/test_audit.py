"""The audit trail: every admin change of money or access leaves one entry, before and after."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from accounts import audit, services
from accounts.models import AuditEntry, LedgerEntry, Quota
from conversations.models import CatalogModel

from .html_forms import form_data

User = get_user_model()
Action = AuditEntry.Action
USERS_URL = "/admin/accounts/user/"
QUOTA_URL = "/admin/accounts/quota/"
AUDIT_URL = "/admin/accounts/auditentry/"
HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-5-20250929"

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice() -> User:
    user = User.objects.create(username="alice")
    Quota.objects.create(user=user, period="month", cost_limit=Decimal(10), token_limit=500)
    return user


def trail() -> list[tuple]:
    """Every entry as (actor name, action, target, before, after), oldest first."""
    entries = AuditEntry.objects.order_by("created_at", "id")
    return [(e.actor_name, e.action, e.target_label, e.before, e.after) for e in entries]


def post_page_form(client: Client, url: str, form_id: str, **changes: str):
    """Open an admin page and post its form as a browser would, with `changes` applied."""
    page = client.get(url).content.decode()
    return client.post(url, form_data(page, form_id, **changes))


# The one writer.


def test_record_keeps_only_the_fields_that_changed(alice):
    before = {"period": "month", "cost_limit": Decimal("10.0000"), "token_limit": 500}
    after = {"period": "month", "cost_limit": Decimal(10), "token_limit": 800}

    entry = audit.record("someone", Action.QUOTA, alice, before, after, reason="raise")

    entry.refresh_from_db()
    assert (entry.before, entry.after) == ({"token_limit": 500}, {"token_limit": 800})
    assert (entry.actor, entry.actor_name, entry.reason) == (None, "someone", "raise")
    assert (entry.target_type, entry.target_id, entry.target_label) == (
        "accounts.user",
        str(alice.pk),
        "alice",
    )


def test_record_of_nothing_changed_writes_nothing(alice):
    same = {"cost_limit": Decimal("10.0000"), "allowed_models": {HAIKU}}

    assert (
        audit.record(None, Action.QUOTA, alice, same, {**same, "cost_limit": Decimal(10)}) is None
    )
    assert not AuditEntry.objects.exists()


def test_an_entry_rolls_back_with_its_change(alice):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.change_quota(alice, by="test", token_limit=900)
        raise RuntimeError("the change fails after it was recorded")

    assert not AuditEntry.objects.exists()
    assert Quota.objects.get(user=alice).token_limit == 500


def test_entries_cannot_be_rewritten_or_deleted_in_code(alice):
    entry = audit.record(None, Action.QUOTA, alice, {"token_limit": 1}, {"token_limit": 2})

    entry.after = {"token_limit": 3}
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    entry.refresh_from_db()
    assert entry.after == {"token_limit": 2}


# Quotas: the Set quota action, the command, the quota admin and the user's inline.


def test_set_quota_action_records_the_changed_limit(admin_client, alice):
    page = admin_client.post(
        USERS_URL, {"action": "set_quota", "_selected_action": [alice.pk], "index": 0}
    ).content.decode()

    admin_client.post(USERS_URL, form_data(page, "set_quota-form", token_limit="2000"))

    assert trail() == [
        ("admin", Action.QUOTA, "alice", {"token_limit": 500}, {"token_limit": 2000})
    ]
    assert AuditEntry.objects.get().actor.username == "admin"


def test_set_quota_command_records_without_an_actor(alice):
    call_command("set_quota", "alice", "--cost-limit", "none", stdout=None)

    entry = AuditEntry.objects.get()
    assert entry.actor is None
    assert entry.actor_name == "manage.py set_quota"
    assert (entry.before, entry.after) == ({"cost_limit": "10"}, {"cost_limit": None})


def test_set_quota_command_changing_nothing_records_nothing(alice):
    call_command("set_quota", "alice", "--token-limit", "500", stdout=None)

    assert not AuditEntry.objects.exists()


def test_quota_change_form_records_only_the_field_changed(admin_client, alice):
    url = f"{QUOTA_URL}{alice.pk}/change/"

    post_page_form(admin_client, url, "quota_form", sends_per_minute="3")

    assert trail() == [
        ("admin", Action.QUOTA, "alice", {"sends_per_minute": None}, {"sends_per_minute": 3})
    ]


def test_quota_change_form_saved_unchanged_records_nothing(admin_client, alice):
    response = post_page_form(admin_client, f"{QUOTA_URL}{alice.pk}/change/", "quota_form")

    assert response.status_code == 302
    assert not AuditEntry.objects.exists()


def test_quota_list_editing_records_the_row_changed(admin_client, alice):
    changes = {"form-0-period": "day", "_save": "Save"}
    post_page_form(admin_client, QUOTA_URL, "changelist-form", **changes)

    assert trail() == [("admin", Action.QUOTA, "alice", {"period": "month"}, {"period": "day"})]


def test_user_inline_records_the_sending_override(admin_client, alice):
    url = f"{USERS_URL}{alice.pk}/change/"

    post_page_form(admin_client, url, "user_form", **{"quota-0-max_concurrent_replies": "1"})

    assert trail() == [
        (
            "admin",
            Action.QUOTA,
            "alice",
            {"max_concurrent_replies": None},
            {"max_concurrent_replies": 1},
        )
    ]


def test_user_inline_creating_the_row_records_what_differs_from_the_defaults(
    admin_client, settings
):
    settings.QUOTA_DEFAULT_TOKEN_LIMIT = 100_000
    bob = User.objects.create(username="bob")
    url = f"{USERS_URL}{bob.pk}/change/"

    post_page_form(admin_client, url, "user_form", **{"quota-0-token_limit": "7"})

    assert trail() == [("admin", Action.QUOTA, "bob", {"token_limit": 100_000}, {"token_limit": 7})]


def test_model_access_records_the_id_lists_as_one_entry(admin_client, alice):
    haiku, sonnet = (CatalogModel.objects.get(model_id=m) for m in (HAIKU, SONNET))
    alice.quota.allowed_models.set([haiku])
    url = f"{QUOTA_URL}{alice.pk}/change/"

    post_page_form(admin_client, url, "quota_form", allowed_models=[str(sonnet.pk)])

    assert trail() == [
        (
            "admin",
            Action.MODEL_ACCESS,
            "alice",
            {"allowed_models": [HAIKU]},
            {"allowed_models": [SONNET]},
        )
    ]


def test_deleting_a_quota_records_the_defaults_it_falls_back_to(admin_client, alice, settings):
    settings.QUOTA_DEFAULT_COST_LIMIT = Decimal(1)
    settings.QUOTA_DEFAULT_TOKEN_LIMIT = None
    settings.QUOTA_DEFAULT_PERIOD = "month"

    admin_client.post(f"{QUOTA_URL}{alice.pk}/delete/", {"post": "yes"})

    assert trail() == [
        (
            "admin",
            Action.QUOTA,
            "alice",
            {"cost_limit": "10", "token_limit": 500},
            {"cost_limit": "1", "token_limit": None},
        )
    ]


# Grants and adjustments.


def test_grant_action_records_the_amount_and_reason(admin_client, alice):
    admin_client.post(
        USERS_URL,
        {
            "action": "grant",
            "_selected_action": [alice.pk],
            "apply": "yes",
            "cost": "2.50",
            "tokens": "",
            "reason": "deadline week",
        },
    )

    grant = LedgerEntry.objects.get(kind=LedgerEntry.Kind.GRANT)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_label, entry.reason) == (
        Action.GRANT,
        "alice",
        "deadline week",
    )
    assert (entry.before, entry.after) == (
        {},
        {"cost": "2.5", "tokens": 0, "ledger_entry": grant.pk},
    )


def test_adjust_action_records_the_signed_amount(admin_client, alice):
    form = {"cost": "-1", "tokens": "-20", "reason": "refund"}
    admin_client.post(
        USERS_URL, {"action": "adjust", "_selected_action": [alice.pk], "apply": "yes", **form}
    )

    entry = AuditEntry.objects.get()
    assert entry.action == Action.ADJUSTMENT
    assert (entry.after["cost"], entry.after["tokens"]) == ("-1", -20)


# Deactivation and the user's access.


def test_deactivate_action_records_each_user_it_deactivates(admin_client, alice):
    gone = User.objects.create(username="gone", is_active=False)

    admin_client.post(USERS_URL, {"action": "deactivate", "_selected_action": [alice.pk, gone.pk]})

    assert trail() == [
        ("admin", Action.DEACTIVATION, "alice", {"is_active": True}, {"is_active": False})
    ]


def test_user_form_records_only_the_access_changed(admin_client, alice):
    url = f"{USERS_URL}{alice.pk}/change/"

    post_page_form(admin_client, url, "user_form", is_staff="on", first_name="Alice")

    assert trail() == [
        ("admin", Action.USER_ACCESS, "alice", {"is_staff": False}, {"is_staff": True})
    ]


def test_user_form_records_groups_and_permissions_by_name(admin_client, alice):
    support = Group.objects.create(name="support")
    view_quota = Permission.objects.get(codename="view_quota")
    url = f"{USERS_URL}{alice.pk}/change/"

    post_page_form(
        admin_client,
        url,
        "user_form",
        groups=[str(support.pk)],
        user_permissions=[str(view_quota.pk)],
    )

    [entry] = AuditEntry.objects.all()
    assert entry.before == {"groups": [], "user_permissions": []}
    assert entry.after == {"groups": ["support"], "user_permissions": ["accounts.view_quota"]}


def test_user_form_saved_unchanged_records_nothing(admin_client, alice):
    response = post_page_form(admin_client, f"{USERS_URL}{alice.pk}/change/", "user_form")

    assert response.status_code == 302
    assert not AuditEntry.objects.exists()


# Reading the trail in the admin.


@pytest.fixture
def entry(alice) -> AuditEntry:
    return audit.record(None, Action.QUOTA, alice, {"token_limit": 500}, {"token_limit": 9})


def test_trail_lists_who_what_and_the_change(admin_client, entry):
    page = admin_client.get(AUDIT_URL).content.decode()

    assert "manage.py" in page and "alice" in page
    assert "token_limit: 500 → 9" in page


def test_trail_shows_amounts_bare_and_a_removed_limit_as_none(admin_client, alice):
    services.change_quota(alice, by="test", cost_limit=None)

    page = admin_client.get(AUDIT_URL).content.decode()

    assert "cost_limit: 10 → (none)" in page


def test_trail_filters_by_action_and_searches_by_target(admin_client, entry, alice):
    services.deactivate_users(User.objects.filter(pk=alice.pk), by="test")
    bob = User.objects.create(username="bob")
    services.deactivate_users(User.objects.filter(pk=bob.pk), by="test")

    by_action = admin_client.get(AUDIT_URL, {"action": Action.QUOTA}).context["cl"]
    by_target = admin_client.get(AUDIT_URL, {"q": "bob"}).context["cl"]

    assert [e.pk for e in by_action.result_list] == [entry.pk]
    assert [e.target_label for e in by_target.result_list] == ["bob"]


def test_nobody_adds_changes_or_deletes_entries_not_even_a_superuser(admin_client, entry):
    assert admin_client.get(f"{AUDIT_URL}add/").status_code == 403
    assert admin_client.post(f"{AUDIT_URL}add/", {"action": "grant"}).status_code == 403
    change = admin_client.post(f"{AUDIT_URL}{entry.pk}/change/", {"reason": "edited"})
    assert change.status_code == 403
    assert admin_client.post(f"{AUDIT_URL}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    admin_client.post(AUDIT_URL, bulk)

    entry.refresh_from_db()
    assert entry.reason == "" and entry.after == {"token_limit": 9}
    page = admin_client.get(f"{AUDIT_URL}{entry.pk}/change/").content.decode()
    assert 'name="reason"' not in page  # the detail page is read-only


def test_the_trail_is_read_with_its_view_permission(client, entry):
    staff = User.objects.create(username="support", is_staff=True)
    client.force_login(staff)
    assert client.get(AUDIT_URL).status_code == 403

    staff.user_permissions.add(Permission.objects.get(codename="view_auditentry"))

    assert client.get(AUDIT_URL).status_code == 200
    assert client.get(f"{AUDIT_URL}{entry.pk}/change/").status_code == 200


def test_the_quota_admin_edits_under_the_admission_lock(admin_client, make_user, monkeypatch):
    # The admin saves the form itself; the service takes admission's row lock first.
    member = make_user("member")
    Quota.objects.create(user=member, period="month", cost_limit=Decimal("10"))
    locked = []
    real = services.begin_quota_edit
    monkeypatch.setattr(
        services, "begin_quota_edit", lambda user: locked.append(user.pk) or real(user)
    )
    url = f"/admin/accounts/quota/{member.pk}/change/"
    form = {"period": "week", "cost_limit": "10", "token_limit": ""}

    admin_client.post(url, form)

    assert locked == [member.pk]
    assert Quota.objects.get(user=member).period == "week"
