"""The log line of an upstream call once it is settled (logger chatsite.upstream)."""

import logging

from django.conf import settings

from accounts.models import LedgerEntry, UpstreamCall
from accounts.usage import USAGE_FIELDS

log = logging.getLogger("chatsite.upstream")


def log_call_end(
    charge: LedgerEntry, *, message_id: int | None, status: str, error: dict | None = None
) -> None:
    """One line with what the ledger charged for the call: its tokens, estimated or not.

    Written from the charge just made, so the line says what the user was billed without
    reading it back.
    """
    duration_ms = None
    if LedgerEntry.call.is_cached(charge):  # the settler had the call: its start is known
        call: UpstreamCall = charge.call
        duration_ms = round((charge.created_at - call.created_at).total_seconds() * 1000, 1)
    log.info(
        "call ended",
        extra={
            "call_id": charge.call_id,
            "message_id": message_id,
            "user_id": charge.user_id,
            "model": charge.model,
            "status": status,
            "error": (error or {}).get("code"),
            **{f: getattr(charge, f) for f in USAGE_FIELDS},
            "estimated": charge.estimated,
            "duration_ms": duration_ms,
            "worker": settings.WORKER_ID,
        },
    )
