"""Settling an upstream call: the usage to charge, then its hold released and charged, once."""

import math
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from . import balance_rows
from .models import LedgerEntry, MoneyField, UpstreamCall
from .prepared import Prepared
from .pricing import PriceList
from .usage import PROMPT_FIELDS, USAGE_FIELDS
from .write_batch import WriteBatch

Kind = LedgerEntry.Kind
Status = UpstreamCall.Status


# Any usage figure above this is not a count (the API's context and output limits are far
# below it); it is charged as missing, so one bad figure cannot overflow a column or a sum.
MAX_USAGE_COUNT = 10**9


def settlement_usage(
    reported: dict, streamed_chars: int, complete: bool, input_estimate: int = 0
) -> tuple[dict, bool]:
    """The usage to charge: the reported figures, estimated where they are missing.

    A call that completed, streamed text or reported usage reached the model: a prompt or an
    output it did not report is estimated (the prompt from the request, the output from the
    characters streamed) and the charge is marked estimated; a gateway that sends no usage
    cannot make its replies free. A call with none of these never reached the model and costs
    nothing.
    """
    usage = {field: _count(reported.get(field)) for field in USAGE_FIELDS}
    if not complete and not streamed_chars and not any(usage.values()):
        return usage, False  # nothing reached the model
    estimated = not complete
    output_estimate = math.ceil(streamed_chars / 3)
    if usage["output_tokens"] < output_estimate and (not complete or not usage["output_tokens"]):
        usage["output_tokens"] = output_estimate
        estimated = True
    if not any(usage[f] for f in PROMPT_FIELDS):
        usage["input_tokens"] = input_estimate
        estimated = True
    return usage, estimated


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value if 0 <= value <= MAX_USAGE_COUNT else 0


def settle(call, usage: dict, *, estimated: bool) -> LedgerEntry | None:
    """Close a call's hold and charge its usage, once; None if it was settled already.

    `call` is an UpstreamCall or its id. Marking the call settled is the lock: of several
    settlers racing (the runner, a reaper, another worker), one UPDATE matches the running
    row and the others wait for it, then match nothing.

    The usage is priced at the prices its hold recorded at admission, not the catalog's of
    now (decision 47). Every hold has them (migration hold_price_snapshots gave them to open
    holds from before), unless its model was unknown then: such a call costs nothing.
    """
    return _settle(call, lambda hold: (usage, estimated))


def settle_call(
    call_id: int,
    reported: dict,
    streamed_chars: int,
    *,
    complete: bool,
    message_id=None,
    batch: WriteBatch | None = None,
) -> LedgerEntry | None:
    """Settle a call from what is known of it: the reported usage, else an estimate. With
    `message_id` (its reply), the charge carries `message_totals`: the reply's charges summed,
    this one included. With `batch`, the charge's writes are added to it, for the caller to
    add its own and run it in this transaction (the charge has its id once it has run)."""

    def charged(hold: LedgerEntry) -> tuple[dict, bool]:
        estimate = hold.call.input_estimate
        return settlement_usage(reported, streamed_chars, complete, estimate)

    return _settle(call_id, charged, message_id, batch)


def _settle(
    call, usage_of, message_id: int | None = None, batch: WriteBatch | None = None
) -> LedgerEntry | None:
    """Mark the call settled, read its hold (with its call, and the other charges of
    `message_id`, the reply it is for, when the caller names it), then write the release and
    the charge and move the balance row: three statements in the caller's transaction, the
    last one shared with the caller's own writes when it passes a `batch` (decisions 96, 100)."""
    call_id = getattr(call, "pk", call)
    now = timezone.now()
    with transaction.atomic(savepoint=False):  # inside a caller's: one transaction
        if not _mark_settled(call_id, now):
            return None
        # With the hold, the message's earlier charges (a tool round's, a continued reply's):
        # what the reply shows is their sum with this one, and no SUM is asked for after.
        if message_id is None:
            rows = _HOLD(call_id)
        else:
            rows = _HOLD_AND_CHARGES(call_id, message_id)
        hold = next((e for e in rows if e.kind == Kind.HOLD), None)
        if hold is None:
            raise LedgerEntry.DoesNotExist(f"call {call_id} has no hold")
        prior = [e for e in rows if e.kind == Kind.CHARGE]
        usage, estimated = usage_of(hold)
        cost, prices = Decimal(0), {}
        if hold.prices:
            cost, prices = PriceList.from_snapshot(hold.prices).cost(usage)
        common = {
            "user_id": hold.user_id,
            "model": hold.model,
            # The call itself when the caller has it: the charge then names its start too.
            "call": call if isinstance(call, UpstreamCall) else hold.call,
            "message_id": hold.message_id,
            "hold": hold,
            "created_at": now,
        }
        release = LedgerEntry(kind=Kind.RELEASE, tokens=-hold.tokens, cost=-hold.cost, **common)
        charge = LedgerEntry(
            kind=Kind.CHARGE,
            tokens=sum(usage.get(f, 0) for f in USAGE_FIELDS),
            cost=cost,
            prices=prices,
            estimated=estimated,
            **common,
            **{f: usage.get(f, 0) for f in USAGE_FIELDS},
        )
        # No savepoint around these: the UPDATE above already made this the only settler, and
        # should an insert fail anyway, the whole settlement (the call's mark too) rolls back
        # rather than leave a settled call with its hold open.
        moved = {
            "spent": (charge.cost, charge.tokens),
            "held": (-hold.cost, -hold.tokens),
            "running": -balance_rows.counts_as_reply(hold.call.source),
        }
        writes = batch or WriteBatch()
        writes.insert("release", release)
        writes.insert("charge", charge)
        writes.update(*balance_rows.move_statement(hold.user_id, now, **moved), name="settled")

        def without_row(found: dict) -> None:
            if not found["settled"]:
                balance_rows.move(hold.user_id, now, **moved)  # no row yet: made, then moved

        writes.then(without_row)
        if batch is None:
            writes.run()
        if message_id is not None and hold.message_id == message_id:
            charge.message_totals = _totals([*prior, charge])
        return charge


def _mark_settled(call_id: int, now) -> bool:
    """The call's running → settled, if it is still running: the settlers' lock (above)."""
    sql = (
        f"UPDATE {UpstreamCall._meta.db_table} SET status = %s, settled_at = %s, "
        "heartbeat_at = NULL WHERE id = %s AND status = %s"
    )
    settled_at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, [Status.SETTLED, settled_at, call_id, Status.RUNNING])
        return cursor.rowcount > 0


def _entries(wanted: Q):
    return LedgerEntry.objects.select_related("call").filter(wanted).order_by()


# Every settlement reads them: compiled once (accounts/prepared.py).
_HOLD = Prepared(lambda call_id: _entries(Q(kind=Kind.HOLD, call_id=call_id)))
_HOLD_AND_CHARGES = Prepared(
    lambda call_id, message_id: _entries(
        Q(kind=Kind.HOLD, call_id=call_id) | Q(kind=Kind.CHARGE, message_id=message_id)
    )
)


def _totals(charges: list[LedgerEntry]) -> tuple[dict, Decimal]:
    """(usage, cost) of these charges summed, as `settlement.charged_totals` sums them."""
    usage = {f: sum(getattr(c, f) for c in charges) for f in USAGE_FIELDS}
    # As stored: each cost rounded to the picodollar, as the sum of stored charges is.
    picodollars = sum(MoneyField().get_prep_value(c.cost) for c in charges)
    return usage, Decimal(picodollars) / MoneyField.SCALE
