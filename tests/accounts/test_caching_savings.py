"""What prompt caching saved this period: the usage page and the admin report (decision 82)."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.urls import include, path, reverse

from accounts import ledger
from accounts.models import UpstreamCall
from accounts.pricing import caching_saved
from accounts.reports import caching_savings
from chatsite import urls as root_urls
from conversations.models import CatalogModel

urlpatterns = [
    path("admin/reports/", include("accounts.admin_urls")),
    *root_urls.urlpatterns,
]
REPORT_URL = "/admin/reports/usage/"
pytestmark = pytest.mark.django_db


def priced_model() -> CatalogModel:
    model, _ = CatalogModel.objects.update_or_create(
        model_id="claude-sonnet-4-5-20250929",
        defaults={
            "price_input": Decimal("3"),
            "price_output": Decimal("15"),
            "price_cache_write": Decimal("3.75"),
            "price_cache_read": Decimal("0.3"),
        },
    )
    return model


def charge(user, *, read: int = 0, written: int = 0, plain: int = 100):
    """One chat call settled by the ledger with these cache figures."""
    with transaction.atomic():
        admission = ledger.admit(
            user, priced_model(), 200_000, 1000, source=UpstreamCall.Source.CHAT
        )
    usage = {
        "input_tokens": plain,
        "output_tokens": 50,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }
    return ledger.settle(admission.call, usage, estimated=False)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_savings_are_reads_at_the_input_price_less_their_cost_less_the_write_surcharge():
    rates = {"input": "3", "cache_write": "3.75", "cache_read": "0.3", "output": "15"}
    usage = {"cache_read_input_tokens": 1_000_000, "cache_creation_input_tokens": 200_000}
    # 1M reads: $3.00 at the input price, $0.30 as reads; 200k writes: $0.15 surcharge.
    assert caching_saved(usage, rates) == Decimal("2.55")
    assert caching_saved({"cache_creation_input_tokens": 1_000_000}, rates) == Decimal("-0.75")


def test_the_period_sums_each_members_own_savings(make_user):
    kim, lee = make_user("kim"), make_user("lee")
    charge(kim, written=10_000)
    charge(kim, read=10_000, written=2_000)
    charge(kim)  # no caching: saves nothing
    charge(lee, read=50_000)
    # kim: 10k reads save 10k * 2.70 / 1M = $0.027; 12k writes cost 12k * 0.75 / 1M = $0.009.
    assert caching_savings(user=kim) == Decimal("0.018")
    assert caching_savings() == Decimal("0.018") + Decimal("0.135")


def test_the_usage_page_shows_what_caching_saved(client, make_user):
    kim = make_user("kim")
    charge(kim, written=10_000)
    charge(kim, read=10_000, written=2_000)
    client.force_login(kim)

    page = client.get(reverse("usage")).content.decode()

    saved = text_of(page.split('id="usage-caching-saved"')[1].split("</div>")[0])
    assert "Saved by prompt caching $0.018 " in saved


def test_the_usage_page_shows_no_savings_without_caching(client, make_user):
    kim = make_user("kim")
    charge(kim)
    client.force_login(kim)

    page = client.get(reverse("usage")).content.decode()

    saved = text_of(page.split('id="usage-caching-saved"')[1].split("</div>")[0])
    assert "Saved by prompt caching $0 " in saved


@pytest.mark.urls(__name__)
def test_the_admin_report_shows_what_caching_saved_in_its_period(client, make_user):
    staff = make_user("boss")
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_usage_report"))
    client.force_login(staff)
    charge(make_user("kim"), read=100_000, written=20_000)  # below the long-prompt tier

    response = client.get(REPORT_URL, {"group_by": "user"})

    assert response.status_code == 200
    assert response.context["caching_saved"] == Decimal("0.255")
    assert "Prompt caching saved $0.255 in this period" in text_of(response.content.decode())
