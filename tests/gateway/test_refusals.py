"""Bad input gets the API's answer and costs nothing: no upstream call, no ledger entry."""

import json
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from accounts import api_keys, limits
from accounts.ledger import quota_for
from accounts.models import ApiKey, LedgerEntry, Quota, UpstreamCall
from conversations.models import CatalogModel

from .conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)
VERSION = {"anthropic-version": "2023-06-01"}


def body(**changes) -> dict:
    base = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    return {**base, **changes}


def post(gateway: str, key: str | None, payload, *, headers=None, path="/v1/messages"):
    sent = {**VERSION, **({"x-api-key": key} if key else {}), **(headers or {})}
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(gateway + path, content=content, headers=sent, timeout=30)


def assert_refused(response, status: int, error_type: str, upstream, naming: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == error_type
    assert naming in response.json()["error"]["message"]
    assert upstream.requests == []  # nothing went upstream
    assert not UpstreamCall.objects.exists() and not LedgerEntry.objects.exists()


def test_a_missing_key_is_401(gateway, upstream):
    assert_refused(post(gateway, None, body()), 401, "authentication_error", upstream)


def test_a_wrong_key_is_401(gateway, member_key, upstream):
    wrong = member_key[1][:-4] + "AAAA"
    assert_refused(post(gateway, wrong, body()), 401, "authentication_error", upstream)


def test_a_revoked_key_is_401(gateway, member_key, upstream):
    api_keys.revoke(member_key[0])
    assert_refused(post(gateway, member_key[1], body()), 401, "authentication_error", upstream)


def test_an_expired_key_is_401(gateway, member_key, upstream):
    ApiKey.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert_refused(post(gateway, member_key[1], body()), 401, "authentication_error", upstream)


def test_a_deactivated_members_key_is_401(gateway, member, member_key, upstream):
    member.is_active = False
    member.save()
    assert_refused(post(gateway, member_key[1], body()), 401, "authentication_error", upstream)


def test_a_model_the_member_may_not_use_is_403_permission_error(
    gateway, member, member_key, upstream
):
    quota_for(member).allowed_models.set([CatalogModel.objects.get(model_id=MODEL)])
    response = post(gateway, member_key[1], body(model="claude-haiku-4-5-20251001"))
    assert_refused(response, 403, "permission_error", upstream, "claude-haiku-4-5-20251001")


def test_an_unknown_model_is_404_not_found_error(gateway, member_key, upstream):
    response = post(gateway, member_key[1], body(model="claude-nonexistent-1"))
    assert_refused(response, 404, "not_found_error", upstream, "claude-nonexistent-1")


def test_a_disabled_model_is_404(gateway, member_key, upstream):
    CatalogModel.objects.filter(model_id="claude-haiku-4-5-20251001").update(enabled=False)
    response = post(gateway, member_key[1], body(model="claude-haiku-4-5-20251001"))
    assert_refused(response, 404, "not_found_error", upstream)


def test_a_malformed_body_is_400(gateway, member_key, upstream):
    response = post(gateway, member_key[1], b'{"model": "claude-')
    assert_refused(response, 400, "invalid_request_error", upstream, "JSON")


def test_a_fifth_stop_sequence_is_400(gateway, member_key, upstream):
    response = post(gateway, member_key[1], body(stop_sequences=["a", "b", "c", "d", "e"]))
    assert_refused(response, 400, "invalid_request_error", upstream, "stop_sequences")


def test_max_tokens_above_the_models_cap_is_400(gateway, member_key, upstream):
    response = post(gateway, member_key[1], body(max_tokens=64001))
    assert_refused(response, 400, "invalid_request_error", upstream, "max_tokens")


def test_temperature_with_thinking_is_400(gateway, member_key, upstream):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    response = post(
        gateway, member_key[1], body(max_tokens=2000, thinking=thinking, temperature=0.5)
    )
    assert_refused(response, 400, "invalid_request_error", upstream, "temperature")


def test_a_missing_max_tokens_is_400(gateway, member_key, upstream):
    payload = body()
    del payload["max_tokens"]
    assert_refused(post(gateway, member_key[1], payload), 400, "invalid_request_error", upstream)


def test_a_field_outside_the_allow_list_is_400_naming_it(gateway, member_key, upstream):
    response = post(gateway, member_key[1], body(service_tier="priority"))
    assert_refused(response, 400, "invalid_request_error", upstream, "service_tier")


def test_a_setting_extends_the_field_allow_list(gateway, member_key, upstream, settings):
    settings.GATEWAY_EXTRA_FIELDS = ["service_tier"]
    response = post(gateway, member_key[1], body(service_tier="auto"))
    assert response.status_code == 200
    assert upstream.message_bodies()[-1]["service_tier"] == "auto"


def test_a_server_tool_billed_per_use_is_400_naming_it(gateway, member_key, upstream):
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]
    response = post(gateway, member_key[1], body(tools=tools))
    assert_refused(response, 400, "invalid_request_error", upstream, "web_search_20250305")


def test_a_beta_outside_the_allow_list_is_400_naming_it(gateway, member_key, upstream):
    headers = {"anthropic-beta": "context-1m-2025-08-07"}
    response = post(gateway, member_key[1], body(), headers=headers)
    assert_refused(response, 400, "invalid_request_error", upstream, "context-1m-2025-08-07")


def test_an_allowed_beta_is_sent_upstream(gateway, member_key, upstream):
    headers = {"anthropic-beta": "interleaved-thinking-2025-05-14"}
    assert post(gateway, member_key[1], body(), headers=headers).status_code == 200
    assert upstream.requests[-1]["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"


def test_a_missing_anthropic_version_is_400(gateway, member_key, upstream):
    response = httpx.post(
        gateway + "/v1/messages", json=body(), headers={"x-api-key": member_key[1]}
    )
    assert_refused(response, 400, "invalid_request_error", upstream, "anthropic-version")


def test_a_body_over_the_size_limit_is_413(gateway, member_key, upstream, settings):
    settings.GATEWAY_MAX_REQUEST_BYTES = 50_000
    payload = body(messages=[{"role": "user", "content": "x" * 60_000}])
    assert_refused(post(gateway, member_key[1], payload), 413, "request_too_large", upstream)


def test_a_body_above_djangos_form_limit_but_within_32_mb_passes(
    gateway, member, member_key, upstream
):
    quota_for(member)
    Quota.objects.filter(user=member).update(cost_limit=None)  # the bound of 3 MB costs $9
    # The size of a large screenshot: more than Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
    payload = body(messages=[{"role": "user", "content": "x" * 3_000_000}])
    response = post(gateway, member_key[1], payload)
    assert response.status_code == 200, response.text


def test_an_exhausted_quota_is_429_with_retry_after_at_the_reset(
    gateway, member, member_key, upstream
):
    Quota.objects.filter(user=member).delete()
    Quota.objects.create(user=member, period=Quota.Period.DAY, cost_limit=Decimal(0))
    response = post(gateway, member_key[1], body())
    assert_refused(response, 429, "rate_limit_error", upstream, "quota")
    tomorrow = timezone.localtime().replace(hour=0, minute=0, second=0) + timedelta(days=1)
    expected = (tomorrow - timezone.now()).total_seconds()
    assert abs(int(response.headers["retry-after"]) - expected) < 60


def test_a_quota_that_covers_less_than_max_tokens_lowers_it_and_says_so(
    gateway, member, member_key, upstream
):
    Quota.objects.filter(user=member).delete()
    Quota.objects.create(user=member, period=Quota.Period.DAY, token_limit=5_000)
    response = post(gateway, member_key[1], body(max_tokens=60_000))
    assert response.status_code == 200
    lowered = upstream.message_bodies()[-1]["max_tokens"]
    assert lowered < 5_000
    assert response.headers["chatsite-max-tokens"] == str(lowered)


def test_past_the_keys_requests_per_minute_is_429_with_retry_after(
    gateway, member_key, upstream, settings
):
    settings.GATEWAY_REQUESTS_PER_MINUTE = 2
    limits.reset(f"gateway:{member_key[0].pk}")
    assert post(gateway, member_key[1], body()).status_code == 200
    assert post(gateway, member_key[1], body()).status_code == 200
    upstream.requests.clear()
    third = post(gateway, member_key[1], body())
    assert third.status_code == 429 and third.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(third.headers["retry-after"]) <= 60
    assert upstream.requests == []
    assert UpstreamCall.objects.count() == 2


def test_a_keys_own_limit_overrides_the_setting(gateway, member_key, upstream, settings):
    settings.GATEWAY_REQUESTS_PER_MINUTE = 100
    ApiKey.objects.update(requests_per_minute=1)
    limits.reset(f"gateway:{member_key[0].pk}")
    assert post(gateway, member_key[1], body()).status_code == 200
    assert post(gateway, member_key[1], body()).status_code == 429


def test_count_tokens_counts_against_the_requests_per_minute(
    gateway, member_key, upstream, settings
):
    settings.GATEWAY_REQUESTS_PER_MINUTE = 1
    limits.reset(f"gateway:{member_key[0].pk}")
    counting = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    path = "/v1/messages/count_tokens"
    assert post(gateway, member_key[1], counting, path=path).status_code == 200
    assert post(gateway, member_key[1], counting, path=path).status_code == 429


@pytest.mark.parametrize(
    "cap, says",
    [("GATEWAY_CONCURRENT_STREAMS", "This key"), ("CHAT_MAX_CONCURRENT_REPLIES", "chat and API")],
)
def test_past_the_keys_or_the_members_calls_at_once_is_429_with_retry_after(
    gateway, member, member_key, upstream, settings, cap, says
):
    setattr(settings, cap, 1)
    with httpx.stream(
        "POST",
        gateway + "/v1/messages",
        json=body(messages=[{"role": "user", "content": "!tokens=400 !delay=20"}], stream=True),
        headers={**VERSION, "x-api-key": member_key[1]},
        timeout=30,
    ) as first:
        assert first.status_code == 200
        chunks = first.iter_raw()
        next(chunks)  # the first stream is open
        second = post(gateway, member_key[1], body())
        assert second.status_code == 429
        assert second.json()["error"]["type"] == "rate_limit_error"
        assert says in second.json()["error"]["message"]
        assert second.headers["retry-after"]
    assert len(upstream.message_bodies()) == 1


def test_a_wrong_method_is_405_in_the_apis_shape(gateway, member_key, upstream):
    response = httpx.get(gateway + "/v1/messages", headers={**VERSION, "x-api-key": member_key[1]})
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert upstream.requests == []
