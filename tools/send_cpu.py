"""CPU and statements of the send path in-process: N sends and their settlements, no network.

Usage (from a checkout): python tools/send_cpu.py [--sends 200] [--postgres]

Each send is what the consumer does for a text `send` frame (the signed-in re-check and
`services.send_message`), each settlement `finish_reply` of a completed reply; the replies
go to N conversations in turn, so each send continues a conversation (its history of earlier
turns included). SQLite in a temporary directory by default; `--postgres` runs a throwaway
PostgreSQL (tests/pg.py) with the limiter on a throwaway Redis (tests/redis_server.py).
Prints the median CPU (time.process_time) and statements of a send and of a settlement.
"""

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="also write a cProfile of the loop")
    args = parser.parse_args()
    with ExitStack() as stack:
        data = stack.enter_context(tempfile.TemporaryDirectory(prefix="send-cpu-"))
        os.environ["DATA_DIR"] = data
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
        if args.postgres:
            from tests.pg import postgres_cluster
            from tests.redis_server import redis_server

            os.environ["DATABASE_URL"] = stack.enter_context(postgres_cluster())
            os.environ["REDIS_URL"] = stack.enter_context(redis_server())
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{data}/db.sqlite3"
            os.environ["REDIS_URL"] = ""
        run(args.sends, args.conversations, args.profile)


def run(sends: int, conversations: int, profile: str | None = None) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    from django.conf import settings

    from accounts.models import User
    from conversations import services
    from conversations.consumers import _if_signed_in
    from conversations.settlement import finish_reply

    settings.CHAT_SENDS_PER_MINUTE = 0 if not settings.REDIS_URL else 10**6
    settings.ALLOWED_HOSTS = ["*"]
    user = User.objects.create_user("bench", password="x" * 12)
    client = Client()
    client.force_login(user)
    session_key = client.session.session_key
    ids: list[int | None] = [None] * conversations
    send_cpu, settle_cpu, send_statements, settle_statements = [], [], [], []
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    for i in range(sends):
        slot = i % conversations
        # Statements are counted on every tenth send only: capturing them costs CPU of its own
        # (formatting each statement), so those sends are left out of the CPU figures.
        counted = i % 10 == 9
        with CaptureQueriesContext(connection) if counted else nullcontext() as queries:
            start = time.process_time()
            result = _if_signed_in(
                session_key,
                user.pk,
                services.send_message,
                user,
                ids[slot],
                f"question {i}: how far is the Moon?",
            )
            send_cpu.append(None if counted else time.process_time() - start)
        send_statements.append(len(queries) if counted else None)
        ids[slot] = result.conversation.pk
        with CaptureQueriesContext(connection) if counted else nullcontext() as queries:
            start = time.process_time()
            finish_reply(
                result.reply.pk,
                call_id=result.call.pk,
                status="complete",
                content=[{"type": "text", "text": "About 384,400 km. " * 10}],
                seq=20,
                stop_reason="end_turn",
                usage={"input_tokens": 40 + i, "output_tokens": 60},
                complete=True,
            )
            settle_cpu.append(None if counted else time.process_time() - start)
        settle_statements.append(len(queries) if counted else None)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    steady = slice(conversations, None)  # past each conversation's first send
    print(f"database: {connection.vendor}, sends: {sends}, conversations: {conversations}")
    print(
        f"send: median CPU {_median(send_cpu[steady]) * 1000:.2f} ms, "
        f"statements {_median(send_statements[steady]):.0f}"
    )
    print(
        f"settlement: median CPU {_median(settle_cpu[steady]) * 1000:.2f} ms, "
        f"statements {_median(settle_statements[steady]):.0f}"
    )
    # The first send of each conversation (a new chat), the user's first one excluded.
    firsts = slice(1, conversations)
    print(
        f"send to a new chat: median CPU {_median(send_cpu[firsts]) * 1000:.2f} ms, "
        f"statements {_median(send_statements[firsts]):.0f}; its settlement "
        f"{_median(settle_cpu[firsts]) * 1000:.2f} ms, "
        f"{_median(settle_statements[firsts]):.0f} statements"
    )


def _median(values: list) -> float:
    return statistics.median(v for v in values if v is not None)


if __name__ == "__main__":
    main()
