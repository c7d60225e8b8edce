"""Concurrency scenarios of the quota ledger, shared by the SQLite and the PostgreSQL runs.

Each function runs inside a transactional pytest-django test (`django_db(transaction=True)`)
on whatever database the settings point at, starts real threads that each use their own
connection, and asserts the ledger's invariants afterwards.
"""

import threading
import traceback
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal

from django.db import connection
from django.test import override_settings

from accounts import ledger
from accounts.ledger_check import problems
from accounts.models import LedgerEntry, Quota, User
from accounts.request_bound import request_token_bound
from conversations.models import CatalogModel, Conversation, Message
from conversations.services import ChatError, send_message

Kind = LedgerEntry.Kind
MODEL_ID = "claude-sonnet-4-5-20250929"
TEXT = "hi"
SENDERS = 20
FULL_REPLIES = 3  # the budget fits this many replies at full max_tokens...
JOIN_SECONDS = 60
# ...and half of one more: the next send is admitted with max_tokens lowered to fit.
PRICED = {"DEMO_MODE": False, "ANTHROPIC_API_KEY": "sk-ant-test-KEY", "CHAT_MODEL": MODEL_ID}


def _run_together(count: int, work: Callable[[int], object]) -> tuple[list, list[str]]:
    """Run work(0..count-1) in threads released together; results and unexpected tracebacks."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[str] = []

    def target(i: int) -> None:
        try:
            connection.ensure_connection()  # connect first, so the barrier releases real work
            barrier.wait(timeout=JOIN_SECONDS)
            results[i] = work(i)
        except BaseException:
            errors.append(f"thread {i}:\n{traceback.format_exc()}")
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    stuck = [i for i, thread in enumerate(threads) if thread.is_alive()]
    assert not stuck, f"threads {stuck} still running after {JOIN_SECONDS}s"
    return results, errors


def _budget(model: CatalogModel) -> tuple[int, int, Decimal, Decimal]:
    """(prompt tokens, wanted max_tokens, worst case of one full reply, the user's limit)."""
    from django.conf import settings

    request = {"messages": [{"role": "user", "content": [{"type": "text", "text": TEXT}]}]}
    prompt = request_token_bound(request)
    wanted = min(settings.CHAT_MAX_TOKENS, model.max_output_tokens)
    per_reply = model.pricing().worst_case_cost(prompt, wanted)
    limit = FULL_REPLIES * per_reply + per_reply / 2
    # Quota.cost_limit keeps 4 decimal places: round down so the stored limit is this one.
    return prompt, wanted, per_reply, limit.quantize(Decimal("0.0001"), rounding=ROUND_DOWN)


def concurrent_sends(*, quota_exists: bool = True) -> None:
    """20 simultaneous sends of one user whose budget fits 3.5 replies: exactly 4 admitted
    (the last with max_tokens lowered), never spent + holds past the limit, before or after
    settlement.

    quota_exists=False: the user has no quota row yet, so the racing sends make it from the
    defaults (the first-use path of ledger.quota_for).
    """
    model = CatalogModel.objects.get(model_id=MODEL_ID)
    prompt, wanted, per_reply, limit = _budget(model)
    prompt_cost = model.pricing().worst_case_cost(prompt, 0)
    lowered = int(
        (limit - FULL_REPLIES * per_reply - prompt_cost)
        / model.pricing().output_price_per_token(prompt)
    )
    assert ledger.MIN_REPLY_TOKENS <= lowered < wanted, "the scenario's budget is miscomputed"

    user = User.objects.create_user(username="spender", password="correct horse battery")
    if quota_exists:
        Quota.objects.create(user=user, period=Quota.Period.MONTH, cost_limit=limit)
    conversation_ids = [
        Conversation.objects.create(user=user, model=MODEL_ID, title=f"c{i}").pk
        for i in range(SENDERS)
    ]

    def send(i: int) -> tuple[str, object]:
        try:
            result = send_message(user, conversation_ids[i], TEXT, client_id=str(i))
        except ChatError as exc:
            return ("refused", exc.code)
        return ("admitted", result.reply.pk)

    with override_settings(**PRICED, QUOTA_DEFAULT_COST_LIMIT=limit, QUOTA_DEFAULT_PERIOD="month"):
        results, errors = _run_together(SENDERS, send)
        assert not errors, "sends failed with unexpected errors:\n" + "\n".join(errors)

        admitted = [value for outcome, value in results if outcome == "admitted"]
        refusals = [value for outcome, value in results if outcome == "refused"]
        assert set(refusals) <= {"quota_exceeded"}, refusals
        assert len(admitted) + len(refusals) == SENDERS
        assert Quota.objects.filter(user=user).count() == 1
        assert Quota.objects.get(user=user).cost_limit == limit

        current = ledger.balance(user)
        assert current.spent_cost + current.held_cost <= limit, (
            f"overspend: {len(admitted)} admitted, holds {current.held_cost} > limit {limit}"
        )
        assert len(admitted) == FULL_REPLIES + 1, f"{len(admitted)} admitted, {refusals}"

        holds = LedgerEntry.objects.filter(user=user, kind=Kind.HOLD).order_by("id")
        assert sorted(h.message_id for h in holds) == sorted(admitted)
        assert len({h.call_id for h in holds}) == len(admitted)
        assert all(h.input_tokens == prompt for h in holds), [h.input_tokens for h in holds]
        assert sorted((h.output_tokens for h in holds), reverse=True) == [wanted] * FULL_REPLIES + [
            lowered
        ]
        replies = Message.objects.filter(pk__in=admitted)
        assert sorted(r.max_tokens for r in replies) == sorted(h.output_tokens for h in holds)
        # A refused send stores nothing: its transaction rolled back.
        assert Message.objects.filter(conversation__user=user).count() == 2 * len(admitted)

        # The replies end using less than their holds: spent stays within the limit.
        for hold in holds:
            usage = {"input_tokens": hold.input_tokens, "output_tokens": hold.output_tokens // 2}
            charge = ledger.settle(hold.call, usage, estimated=False)
            assert charge is not None and charge.cost < hold.cost
        settled = ledger.balance(user)
        assert settled.held_cost == 0
        assert 0 < settled.spent_cost <= limit
        assert problems() == []


def racing_settlements(replies: int = 5, settlers: int = 4) -> None:
    """Several threads settle the same hold at once: one release and one charge per hold."""
    model = CatalogModel.objects.get(model_id=MODEL_ID)
    user = User.objects.create_user(username="settler", password="correct horse battery")
    Quota.objects.create(user=user, period=Quota.Period.MONTH, cost_limit=Decimal(100))
    with override_settings(**PRICED):
        sent = [send_message(user, None, TEXT, client_id=str(i)) for i in range(replies)]
        usage = {"input_tokens": 70, "output_tokens": 100}

        def settle(i: int) -> int | None:
            entry = ledger.settle(sent[i // settlers].call, usage, estimated=False)
            return entry.pk if entry is not None else None

        results, errors = _run_together(replies * settlers, settle)
        assert not errors, "settlements failed with unexpected errors:\n" + "\n".join(errors)

    for index, result in enumerate(sent):
        reply = result.reply
        wins = [pk for pk in results[index * settlers : (index + 1) * settlers] if pk is not None]
        assert len(wins) == 1, f"reply {index}: {len(wins)} settlements won"
        hold = LedgerEntry.objects.get(kind=Kind.HOLD, message=reply)
        assert hold.settled_by.filter(kind=Kind.RELEASE).count() == 1
        assert hold.settled_by.filter(kind=Kind.CHARGE).count() == 1
        assert LedgerEntry.objects.filter(message=reply, kind=Kind.CHARGE).get().pk == wins[0]
    current = ledger.balance(user)
    assert current.held_cost == 0
    assert current.spent_cost == replies * model.pricing().cost(usage)[0]
    assert problems() == []
