"""A gateway call's passage through the chat's limiter and ledger: admitted, kept alive, settled.

The same `ledger.admit` and settlement as a chat reply (source "gateway", no message, the key
recorded), the same limiter (accounts/limits.py for the minute, running calls under the quota
row's lock for concurrency), but not `send_message`: nothing is stored in a conversation
(decision 64).
"""

import asyncio
import functools
import json
import logging
import math
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts import api_keys, ledger, limits
from accounts.models import ApiKey, UpstreamCall
from accounts.request_bound import request_token_bound

from .. import settlement
from ..models import CatalogModel
from ..prompt import upstream_user_id
from ..selectors import available_models, usable_model
from ..sending_limits import BUSY_RETRY_AFTER_SECONDS
from .bodies import check_fields, lower_max_tokens, upstream_body
from .wire import GatewayError, rate_limited

log = logging.getLogger(__name__)
MINUTE = 60
HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True)
class Admitted:
    """An admitted gateway call: its ledger anchor and the exact bytes to send upstream."""

    call_id: int
    body: bytes
    stream: bool
    requested_max_tokens: int | None
    max_tokens: int | None
    input_estimate: int


def authenticate(raw: str | None) -> ApiKey:
    """The usable key the client sent, marked as used; 401 otherwise."""
    if not raw:
        raise GatewayError(401, "authentication_error", "x-api-key: header is required")
    key = api_keys.authenticate(raw)
    if key is None:
        raise GatewayError(401, "authentication_error", "invalid x-api-key")
    api_keys.touch(key)
    return key


def _per_minute(key: ApiKey) -> int:
    value = key.requests_per_minute
    return settings.GATEWAY_REQUESTS_PER_MINUTE if value is None else value


def _concurrent(key: ApiKey) -> int:
    value = key.max_concurrent_streams
    return settings.GATEWAY_CONCURRENT_STREAMS if value is None else value


def count_request(key: ApiKey) -> None:
    """One request in the key's minute, across every worker; 429 with retry-after past it."""
    cap = _per_minute(key)
    if not cap:
        return
    wait = limits.hit(f"gateway:{key.pk}", cap, MINUTE)
    if wait is not None:
        seconds = limits.retry_seconds(wait)
        raise rate_limited(
            f"This key may make {cap} requests per minute. Try again in {seconds} seconds.",
            seconds,
        )


def _refuse_if_too_many_at_once(key: ApiKey) -> None:
    """The key's cap, and the member's own on calls at once (chat and gateway together, as
    `sending_limits.replies_in_flight` counts them), in one count under the quota row's lock
    (which admission takes next anyway), so racing requests count each other."""
    quota = ledger.quota_for(key.user, lock=True)
    key_cap = _concurrent(key)
    member_cap = quota.max_concurrent_replies
    if member_cap is None:
        member_cap = settings.CHAT_MAX_CONCURRENT_REPLIES
    if not key_cap and not member_cap:
        return
    running = (
        UpstreamCall.objects.filter(user=key.user, status=UpstreamCall.Status.RUNNING)
        .exclude(source=UpstreamCall.Source.TITLE)
        .aggregate(member=Count("id"), key=Count("id", filter=Q(api_key=key)))
    )
    if key_cap and running["key"] >= key_cap:
        raise rate_limited(
            f"This key may have {key_cap} requests in flight at once. Wait for one to end.",
            BUSY_RETRY_AFTER_SECONDS,
        )
    if member_cap and running["member"] >= member_cap:
        raise rate_limited(
            f"You may have {member_cap} replies and API requests in flight at once, chat and "
            "API together. Wait for one to end.",
            BUSY_RETRY_AFTER_SECONDS,
        )


def resolve_model(user, model_id: str) -> CatalogModel:
    """The catalog row of `model_id` if this member may use it: 404 unknown, 403 not theirs."""
    model = usable_model(user, model_id)
    if model is not None:
        return model
    if CatalogModel.objects.filter(model_id=model_id, enabled=True).exists():
        raise GatewayError(403, "permission_error", f"model: {model_id} is not available to you")
    raise GatewayError(404, "not_found_error", f"model: {model_id}")


def quota_refusal(balance: ledger.Balance) -> GatewayError:
    if balance.resets_at is None:
        return rate_limited("Your quota is used up. Ask an administrator for more.", None)
    seconds = max(1, math.ceil((balance.resets_at - timezone.now()).total_seconds()))
    if ledger.is_exhausted(balance):
        message = f"Your quota is used up. It resets at {balance.resets_at.isoformat()}."
    else:
        message = (
            "This request is too large for what is left of your quota. It resets at "
            f"{balance.resets_at.isoformat()}."
        )
    return rate_limited(message, seconds)


def authenticate_and_admit(
    raw_key: str | None, check: Callable[[ApiKey], dict], *, counting: bool
) -> tuple[ApiKey, Admitted]:
    """One trip to the database threads for a request: its key, then (`check` reading the
    headers and the body, which may refuse in the key's envelope) its admission."""
    key = authenticate(raw_key)
    try:
        return key, admit(key, check(key), counting=counting)
    except GatewayError as error:
        error.key = key
        raise


def admit(key: ApiKey, body: dict, *, counting: bool) -> Admitted:
    """Check a request and admit its call, or raise the API's refusal; nothing goes upstream
    before this returns, and a refusal leaves no trace in the ledger."""
    user = key.user
    count_request(key)
    check_fields(body, counting=counting)
    model = resolve_model(user, body["model"])
    sent = upstream_body(body, model, counting=counting)
    if not counting:
        sent["metadata"] = {**(body.get("metadata") or {}), "user_id": upstream_user_id(user.pk)}
    wanted = 0 if counting else sent["max_tokens"]
    estimate = 0 if counting else ledger.estimate_prompt_tokens(sent)
    with transaction.atomic():
        if not counting:
            _refuse_if_too_many_at_once(key)
        try:
            admission = ledger.admit(
                user,
                model,
                0 if counting else request_token_bound(sent),
                wanted,
                source=UpstreamCall.Source.GATEWAY,
                input_estimate=estimate,
                api_key=key,
            )
        except ledger.QuotaExceeded as exc:
            raise quota_refusal(exc.balance) from None
        if not counting and admission.max_tokens < wanted:
            lower_max_tokens(sent, admission.max_tokens)  # may refuse: rolls back
    return Admitted(
        call_id=admission.call.pk,
        body=json.dumps(sent, ensure_ascii=False, separators=(",", ":")).encode(),
        stream=bool(sent.get("stream")),
        requested_max_tokens=None if counting else wanted,
        max_tokens=None if counting else admission.max_tokens,
        input_estimate=estimate,
    )


def settle(call_id: int, usage: dict, chars: int, *, complete: bool, status: str, error=None):
    settlement.settle_unattached_call(
        call_id, usage, chars, complete=complete, status=status, error=error
    )


_executor: ThreadPoolExecutor | None = None


def _db_executor() -> ThreadPoolExecutor:
    """The gateway's database threads, kept for the process: their connections are reused
    (a request's own thread would open one per request), and on SQLite there is one, so
    requests queue here for the single write lock instead of sleeping in its busy handler
    (docs/performance.md, the gateway row)."""
    global _executor
    if _executor is None:
        workers = 1 if connection.vendor == "sqlite" else 8
        _executor = ThreadPoolExecutor(workers, thread_name_prefix="gateway-db")
    return _executor


def _in_db_thread(function: Callable, *args: Any, **kwargs: Any) -> Any:
    close_old_connections()
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()


async def run_db(function: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run a database function of the gateway on its database threads."""
    call = functools.partial(_in_db_thread, function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_db_executor(), call)


async def settle_async(
    call_id: int, usage: dict, chars: int, *, complete: bool, status: str, error=None
):
    """Settle from a stream's end; shielded, so a cancelled request is still charged."""
    work = run_db(settle, call_id, usage, chars, complete=complete, status=status, error=error)
    await asyncio.shield(asyncio.ensure_future(work))


def model_list(user) -> list[dict]:
    """The member's models in the API's shape (`created_at` from the id's date when it has one)."""
    rows = available_models(user).order_by("display_name", "model_id")
    return [
        {
            "type": "model",
            "id": model.model_id,
            "display_name": model.display_name,
            "created_at": _released(model),
        }
        for model in rows
    ]


def _released(model: CatalogModel) -> str:
    for part in reversed(model.model_id.split("-")):
        if len(part) == 8 and part.isdigit():
            try:
                return datetime.strptime(part, "%Y%m%d").strftime("%Y-%m-%dT00:00:00Z")
            except ValueError:
                break
    return model.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def touch_calls(known: dict[int, tuple[dict, int]]) -> None:
    """Refresh running gateway calls' heartbeats with what is known of them so far, so that
    the reaper leaves them alone and, should this process die, charges what they used."""
    now = timezone.now()
    for call_id, (usage, chars) in known.items():
        UpstreamCall.objects.filter(pk=call_id, status=UpstreamCall.Status.RUNNING).update(
            heartbeat_at=now, usage=usage, output_chars=chars
        )


class InFlight:
    """This event loop's running gateway streams, their heartbeats refreshed every 10 s.

    A stream whose response Django never began to send (its client left between the view's
    return and the first byte) never runs its relay, so nothing would end its upstream call or
    settle it: the beat after it was added calls its `abandon` instead.
    """

    def __init__(self, interval: float = HEARTBEAT_SECONDS) -> None:
        self.interval = interval
        self.meters: dict[int, object] = {}
        self._abandon: dict[int, tuple[Callable, int]] = {}
        self._beats = 0
        self._task: asyncio.Task | None = None

    def add(self, call_id: int, meter, abandon: Callable | None = None) -> None:
        self.meters[call_id] = meter
        if abandon is not None:
            self._abandon[call_id] = (abandon, self._beats)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._beat())

    def started(self, call_id: int) -> None:
        """The relay runs: it ends the call itself, however the stream ends."""
        self._abandon.pop(call_id, None)

    def discard(self, call_id: int) -> None:
        self.meters.pop(call_id, None)
        self._abandon.pop(call_id, None)

    async def _beat(self) -> None:
        while self.meters:
            await asyncio.sleep(self.interval)
            self._beats += 1
            for call_id, (abandon, added) in list(self._abandon.items()):
                if added < self._beats - 1:  # a whole beat without its relay starting
                    self.discard(call_id)
                    await abandon()
            known = {c: (dict(m.usage), m.output_chars) for c, m in list(self.meters.items())}
            try:
                await run_db(touch_calls, known)
            except Exception:  # the next beat tries again; the timeout is three beats away
                log.warning("refreshing gateway calls' heartbeats failed", exc_info=True)


_in_flight: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, InFlight]" = (
    weakref.WeakKeyDictionary()
)


def in_flight() -> InFlight:
    loop = asyncio.get_running_loop()
    registry = _in_flight.get(loop)
    if registry is None:
        registry = _in_flight[loop] = InFlight()
    return registry
