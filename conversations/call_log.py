"""The log line of a reply's upstream call once it is settled (logger chatsite.upstream)."""

import logging

from django.conf import settings

from accounts.models import LedgerEntry
from accounts.usage import USAGE_FIELDS

log = logging.getLogger("chatsite.upstream")
CHARGE_FIELDS = ("user_id", "model", *USAGE_FIELDS, "estimated")


def log_call_end(call_id: int | None, message_id: int, status: str, error: dict | None) -> None:
    """One line with what the ledger charged for the call: its tokens, estimated or not.

    Read from the charge rather than the runner's own figures, so the line says what the user
    was billed; a failure to read it leaves those fields out, never the line or the reply.
    """
    try:
        fields = _charged(call_id) if call_id is not None else {}
    except Exception:
        log.warning("reading the charge of call %s failed", call_id, exc_info=True)
        fields = {}
    log.info(
        "call ended",
        extra={
            "call_id": call_id,
            "message_id": message_id,
            "user_id": fields.get("user_id"),
            "model": fields.get("model"),
            "status": status,
            "error": (error or {}).get("code"),
            **{f: fields.get(f) for f in USAGE_FIELDS},
            "estimated": fields.get("estimated"),
            "duration_ms": fields.get("duration_ms"),
            "worker": settings.WORKER_ID,
        },
    )


def _charged(call_id: int) -> dict:
    charge = (
        LedgerEntry.objects.filter(call_id=call_id, kind=LedgerEntry.Kind.CHARGE)
        .values("call__created_at", "call__settled_at", *CHARGE_FIELDS)
        .first()
    )
    if charge is None:
        return {}
    started, settled = charge.pop("call__created_at"), charge.pop("call__settled_at")
    if started and settled:
        # From admission to settlement: the whole life of the call, as the ledger saw it.
        charge["duration_ms"] = round((settled - started).total_seconds() * 1000, 1)
    return charge
