"""Per-call timing inside a bench server: thread CPU and wall time of every database call.

Loaded by Python at start-up when this folder is on PYTHONPATH (see bench/call_times/__main__.py);
active only in a Daphne process with BENCH_CALL_TIMES set, where it wraps channels'
`database_sync_to_async` handler, `chatsite.db_hop`'s and SQLite's `execute`, and writes
{name: [calls, cpu seconds, wall seconds]} to BENCH_CALL_TIMES.<pid>.json every two seconds.
"""

import os
import sys

if os.environ.get("BENCH_CALL_TIMES") and "daphne" in os.path.basename(sys.argv[0]):
    import collections
    import json
    import threading
    import time

    _totals: dict = collections.defaultdict(lambda: [0, 0.0, 0.0])

    def _timed(name: str, call):
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            return call()
        finally:
            entry = _totals[name]
            entry[0] += 1
            entry[1] += time.thread_time() - cpu
            entry[2] += time.perf_counter() - wall

    def _name(function) -> str:
        return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '?')}"

    import channels.db
    from django.db.backends.sqlite3 import base as sqlite_base

    _handler = channels.db.DatabaseSyncToAsync.thread_handler

    def _thread_handler(self, loop, *args, **kwargs):
        return _timed(_name(self.func), lambda: _handler(self, loop, *args, **kwargs))

    channels.db.DatabaseSyncToAsync.thread_handler = _thread_handler

    _execute = sqlite_base.SQLiteCursorWrapper.execute

    def _sql(self, query, params=None):
        name = "SQL " + " ".join(query.split()[:6])[:80]
        return _timed(name, lambda: _execute(self, query, params))

    sqlite_base.SQLiteCursorWrapper.execute = _sql

    sys.path.insert(0, os.getcwd())  # the checkout the server runs from
    import chatsite.db_hop

    _on = chatsite.db_hop._on_database_thread

    def _on_database_thread(context, loop, function, args, kwargs):
        return _timed(
            "parked " + _name(function), lambda: _on(context, loop, function, args, kwargs)
        )

    chatsite.db_hop._on_database_thread = _on_database_thread

    def _write() -> None:
        path = f"{os.environ['BENCH_CALL_TIMES']}.{os.getpid()}.json"
        while True:
            time.sleep(2)
            with open(path, "w") as out:
                json.dump(dict(_totals), out)

    threading.Thread(target=_write, daemon=True, name="bench-call-times").start()
