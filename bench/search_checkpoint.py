"""What search costs a streaming checkpoint: `settlement.checkpoint_replies` timed with the
search column and its trigram index, without the index, and without the column's value.

`python -m bench.search_checkpoint [--streams 10] [--rounds 60]` runs itself once on SQLite and
once on a throwaway PostgreSQL cluster (tests/pg.py), each in a fresh database with 20,000
earlier messages, and prints one line per variant: the median and p90 milliseconds of one
checkpoint of STREAMS replies that each grew by about 40 English and Japanese words.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WORDS = "the reply goes on about trains and weather 東京の天気は晴れです "


def measure(streams: int, rounds: int) -> dict[str, list[float]]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import User
    from conversations import settlement
    from conversations.models import Conversation, Message

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="x")
    conversation = Conversation.objects.create(user=user, model="m", title="bench")
    old = [{"type": "text", "text": f"earlier message {n} " + WORDS * 5} for n in range(20_000)]
    Message.objects.bulk_create(
        [Message(conversation=conversation, role="user", content=[c]) for c in old],
        batch_size=2000,
    )
    real = settlement.search_text_of
    phases = [{"with index": real, "no value": lambda content: ""}]
    if connection.vendor == "postgresql":
        phases.append({"no index": real, "no value, no index": lambda content: ""})
    timings: dict[str, list[float]] = {}
    for number, variants in enumerate(phases):
        if number:
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX message_search_text_trgm")
        # Each variant its own replies, taking turns round by round: drift hits both alike.
        replies = {
            name: [
                Message.objects.create(
                    conversation=conversation, role="assistant", status="streaming"
                )
                for _ in range(streams)
            ]
            for name in variants
        }
        for n in range(rounds):
            text = WORDS * 4 * (n + 1)  # about 40 more words a second of streaming
            order = list(variants) if n % 2 else list(reversed(variants))
            for name in order:
                settlement.search_text_of = variants[name]
                batch = [
                    settlement.ReplyCheckpoint(r.pk, [{"type": "text", "text": text}], n, {})
                    for r in replies[name]
                ]
                started = time.perf_counter()
                settlement.checkpoint_replies(batch)
                timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
    settlement.search_text_of = real
    text = WORDS * 4 * rounds
    started = time.perf_counter()
    for _ in range(1000):
        real([{"type": "text", "text": text}])
    timings["search_text_of alone"] = [(time.perf_counter() - started)]  # ms per call
    return timings


def run_on(database_url: str | None, data_dir: str, streams: int, rounds: int) -> dict:
    env = {**os.environ, "DATA_DIR": data_dir}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "bench.search_checkpoint", "--child", str(streams), str(rounds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--child", nargs=2, type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    from tests.pg import postgres_cluster

    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        results["sqlite"] = run_on(None, data_dir, args.streams, args.rounds)
    with tempfile.TemporaryDirectory() as data_dir, postgres_cluster() as url:
        results["postgresql"] = run_on(url, data_dir, args.streams, args.rounds)
    for database, timings in results.items():
        alone = timings.pop("search_text_of alone")[0]
        print(f"{database:10} search_text_of of the last checkpoint's text: {alone:.3f} ms")
        for variant, ms in timings.items():
            p90 = statistics.quantiles(ms, n=10)[-1]
            print(
                f"{database:10} {variant:10} checkpoint of {args.streams} replies: "
                f"median {statistics.median(ms):.2f} ms, p90 {p90:.2f} ms"
            )


if __name__ == "__main__":
    main()
