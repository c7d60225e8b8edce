"""Per-user sending limits (sends per minute, replies in flight), for the chat and the gateway."""

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import ngettext

from accounts import ledger, limits
from accounts.models import Quota, UpstreamCall, User

from . import model_cache
from .errors import ChatError

SEND_WINDOW_SECONDS = 60
# What a client refused for too many replies at once is told to wait: any of them may end now.
BUSY_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class SendingLimits:
    """A user's sending limits (0: none): their quota's overrides, else the settings."""

    sends_per_minute: int
    max_concurrent_replies: int


def sending_limits_for(user: User) -> SendingLimits:
    """The user's limits, from the per-process cache (decision 95) or in one read (a user
    without a quota row has the defaults)."""
    overrides = model_cache.quota_overrides(user.pk)
    if overrides is model_cache.UNKNOWN:
        row = Quota.objects.filter(user=user)
        overrides = row.values_list("sends_per_minute", "max_concurrent_replies").first()
    per_minute, concurrent = overrides or (None, None)
    return SendingLimits(
        settings.CHAT_SENDS_PER_MINUTE if per_minute is None else per_minute,
        settings.CHAT_MAX_CONCURRENT_REPLIES if concurrent is None else concurrent,
    )


def replies_in_flight(user: User) -> int:
    """How many upstream calls of this user are running now (what max_concurrent_replies caps):
    chat replies, and gateway streams once they exist; a title is not a reply."""
    return (
        UpstreamCall.objects.filter(user=user, status=UpstreamCall.Status.RUNNING)
        .exclude(source=UpstreamCall.Source.TITLE)
        .count()
    )


def _rate_limited(detail: str, retry_after: float) -> ChatError:
    return ChatError("rate_limited", detail, retry_after=limits.retry_seconds(retry_after))


def refuse_if_sending_too_fast(user: User, sending: SendingLimits) -> None:
    """Count this send in the user's minute, across every worker (accounts/limits.py)."""
    if not sending.sends_per_minute:
        return
    wait = limits.hit(f"send:{user.pk}", sending.sends_per_minute, SEND_WINDOW_SECONDS)
    if wait is not None:
        seconds = limits.retry_seconds(wait)
        detail = ngettext(
            "You are sending messages too fast. Try again in %(seconds)d second.",
            "You are sending messages too fast. Try again in %(seconds)d seconds.",
            seconds,
        )
        raise _rate_limited(detail % {"seconds": seconds}, wait)


def refuse_if_too_many_replies(user: User, sending: SendingLimits) -> ledger.Balance | None:
    """Inside the send transaction. The balance row's lock, which admission takes next anyway,
    is taken first so that racing sends count each other's replies; returns the balance it
    read (locked), for admission to use rather than read it again (None: no cap, not read)."""
    cap = sending.max_concurrent_replies
    if not cap:
        return None
    current = ledger.locked_balance(user)
    # Counted on the balance row, moved with every call's hold and settlement (decision 96).
    if current.replies_running >= cap:
        detail = ngettext(
            "You already have %(count)d reply being written. Wait for it to end, or stop it.",
            "You already have %(count)d replies being written. Wait for one to end, or stop it.",
            cap,
        )
        raise _rate_limited(detail % {"count": cap}, BUSY_RETRY_AFTER_SECONDS)
    return current
