"""`python -m bench`: start the fake upstream and the app as it ships, load it, print the table."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from . import report, stack

PASSWORD = "bench-Plum-orchard-7"
VARIANTS = {
    # name: (database, processes)
    "sqlite": ("sqlite", 1),
    "postgres-redis": ("postgres", 1),
    "postgres-redis-2": ("postgres", 2),
    # What-if (not in the default run): SQLite with persistent connections, see the docs.
    "sqlite-persistent": ("sqlite", 1),
}
DEFAULT_VARIANTS = "sqlite,postgres-redis,postgres-redis-2"
LOG_TAIL = 2_000_000
RESULTS = stack.BASE_DIR / "bench" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--streams", default="1,50,200,500", help="concurrent streams, by run")
    parser.add_argument("--tokens", type=int, default=100, help="tokens (deltas) per reply")
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="upstream time to 1st token")
    parser.add_argument("--token-delay-ms", type=float, default=10.0, help="upstream delay/token")
    parser.add_argument(
        "--ramp-ms",
        type=float,
        default=None,
        help="spread the N first sends over this window (default: one reply's duration, so N "
        "streams overlap in steady state; 0: all at once, a burst)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds a reply may take before it counts as an error",
    )
    parser.add_argument("--rounds", type=int, default=2, help="replies per socket, back to back")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=", ".join(VARIANTS))
    parser.add_argument("--idle", type=int, default=1000, help="idle sockets to hold")
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--page-requests", type=int, default=20)
    parser.add_argument("--http-logins", type=int, default=4, help="users signing in by POST")
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        help="py-spy the first variant's server for this many seconds at N=200 (else the "
        "largest N)",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL, 1000 times a second (a "
        "thread waiting for the GIL otherwise counts as busy: decision 102)",
    )
    parser.add_argument(
        "--redis-query",
        default="",
        help="appended to REDIS_URL, e.g. '?max_connections=1000' (what-if: the shipped "
        "REDIS_URL has redis-py's default pool of 100 connections)",
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run (under 2 minutes)")
    parser.add_argument("--out", default=str(RESULTS / "latest.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.streams, args.tokens, args.idle = "1,50,200", 50, 300
        args.variants, args.page_requests = "sqlite", 10
    if args.ramp_ms is None:
        args.ramp_ms = args.ttft_ms + args.tokens * args.token_delay_ms
    args.stream_counts = [int(n) for n in args.streams.split(",") if n.strip()]
    args.variant_names = [v for v in args.variants.split(",") if v.strip()]
    unknown = set(args.variant_names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def server_env(data_dir: Path, static_root: Path, upstream_url: str) -> dict[str, str]:
    drop = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DEBUG", "CHAT_MODEL", "LOG_LEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("STREAM_")}
    env.update(
        DJANGO_SETTINGS_MODULE="chatsite.settings",
        DATA_DIR=str(data_dir),
        STATIC_ROOT=str(static_root),
        SIGNUP_MODE="open",
        ANTHROPIC_API_KEY="sk-ant-bench",
        ANTHROPIC_BASE_URL=upstream_url,
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        QUOTA_DEFAULT_COST_LIMIT="none",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str, module: str | None = None) -> str:
    command = [stack.PYTHON, "-m", module, *args] if module else [stack.PYTHON, "manage.py", *args]
    done = subprocess.run(
        command, cwd=stack.BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class LoadClient:
    """The bench.client process, spoken to one JSON line at a time."""

    def __init__(self, workdir: Path, spec: dict) -> None:
        self.process = subprocess.Popen(
            [stack.PYTHON, "-m", "bench.client"],
            cwd=stack.BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(workdir / "client.log").open("w"),
            text=True,
        )
        self.call({"cmd": "setup", **spec})

    def send(self, command: dict) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the load client died (see its client.log)")
        return json.loads(line)

    def call(self, command: dict) -> dict:
        self.send(command)
        return self.read()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call({"cmd": "quit"})
                self.process.wait(10)
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)


class Counters:
    """Database statements (pg_stat_statements) and channel-layer commands (Redis INFO)."""

    def __init__(self, database_url: str | None, redis_url: str | None) -> None:
        self.db = self.redis = None
        if database_url:
            import psycopg

            self.db = psycopg.connect(database_url, autocommit=True)
            self.db.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)

    def sample(self) -> dict:
        out = {}
        if self.db is not None:
            row = self.db.execute(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"
                " WHERE query NOT ILIKE '%pg_stat_statements%'"
            ).fetchone()
            out["statements"] = int(row[0])
        if self.redis is not None:
            out["redis"] = int(self.redis.info("stats")["total_commands_processed"])
        return out

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def http_login(base_url: str, username: str) -> str:
    """Sign in through the login form; return the session cookie."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        http.get("/accounts/login/").raise_for_status()
        token = http.cookies["csrftoken"]
        response = http.post(
            "/accounts/login/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        if response.status_code != 302 or "sessionid" not in http.cookies:
            raise RuntimeError(f"sign-in of {username} failed: HTTP {response.status_code}")
        return f"sessionid={http.cookies['sessionid']}"


def time_pages(base_url: str, pages: dict, repeats: int) -> dict:
    from .queries import page_urls

    out = {}
    for size, fixture in pages.items():
        cookies = {"sessionid": fixture["session"]}
        with httpx.Client(base_url=base_url, cookies=cookies, timeout=60) as http:
            for name, url in page_urls(fixture).items():
                times = []
                for i in range(repeats + 2):
                    t0 = time.perf_counter()
                    response = http.get(url)
                    elapsed = (time.perf_counter() - t0) * 1000
                    response.raise_for_status()
                    if i >= 2:  # two warm-up requests
                        times.append(elapsed)
                out[f"{name}:{size}"] = {
                    "p50_ms": statistics.median(times),
                    "max_ms": max(times),
                    "bytes": len(response.content),
                }
    return out


def profile(pid: int, seconds: float, path: Path, gil: bool = False) -> subprocess.Popen:
    spy = shutil.which("py-spy") or str(Path(stack.PYTHON).with_name("py-spy"))
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    command += ["--format", "raw", "--nonblocking", "--output", str(path)]
    if gil:
        command += ["--gil", "--rate", "1000"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_streams(
    client: LoadClient,
    servers: list[stack.Process],
    upstream: stack.Process,
    counters: Counters,
    n: int,
    spy: tuple[float, Path, bool] | None,
) -> dict:
    base = client.call({"cmd": "baseline", "n": n})
    time.sleep(0.3)
    client.send({"cmd": "streams", "n": n})
    ready = client.read()
    before = {
        "cpu": sum(stack.cpu_seconds(s.pid) for s in servers),
        "up": stack.cpu_seconds(upstream.pid),
        **counters.sample(),
    }
    spy_process = profile(servers[0].pid, *spy) if spy else None
    t0 = time.perf_counter()
    client.send({"cmd": "go"})
    result = client.read()
    wall = time.perf_counter() - t0
    server_cpu = sum(stack.cpu_seconds(s.pid) for s in servers) - before["cpu"]
    after = counters.sample()
    if spy_process is not None:
        spy_process.wait(timeout=spy[0] + 60)
    memory = [stack.memory_kb(s.pid) for s in servers]
    row = {
        "n": n,
        "open": ready.get("open"),
        "baseline": base,
        "app": result,
        "server_cpu": server_cpu,
        "upstream_cpu": stack.cpu_seconds(upstream.pid) - before["up"],
        "wall": wall,
        "peak_kb": sum(m["hwm"] for m in memory),
        "rss_kb": sum(m["rss"] for m in memory),
    }
    replies = max(1, result["replies"] - result["errors"])
    if "statements" in before:
        row["statements_per_reply"] = (after["statements"] - before["statements"]) / replies
    if "redis" in before:
        row["redis_per_reply"] = (after["redis"] - before["redis"]) / replies
    return row


def keep_logs(workdir: Path, name: str) -> None:
    """Copy the tail of each server log to bench/results/logs/ before the workdir goes."""
    target = RESULTS / "logs"
    target.mkdir(parents=True, exist_ok=True)
    for path in workdir.glob("*.log"):
        data = path.read_bytes()[-LOG_TAIL:]
        (target / f"{name}-{path.name}").write_bytes(data)


def run_variant(name: str, args: argparse.Namespace, shared: dict) -> dict:
    database, processes = VARIANTS[name]
    workdir = Path(tempfile.mkdtemp(prefix=f"chatsite-bench-{name}-"))
    result: dict = {"variant": name, "processes": processes, "database": database, "rows": []}
    log(f"{name}: setting up in {workdir}")
    with ExitStack() as stack_:
        env = server_env(workdir / "data", shared["static_root"], shared["upstream_url"])
        if name == "sqlite-persistent":
            env["DJANGO_SETTINGS_MODULE"] = "bench.settings_persistent"
        stack_.callback(keep_logs, workdir, name)
        database_url = redis_url = None
        if database == "postgres":
            database_url = stack_.enter_context(stack.postgres())
            redis_process, redis_url = stack.redis(workdir)
            stack_.callback(redis_process.stop)
            env.update(DATABASE_URL=database_url, REDIS_URL=redis_url + args.redis_query)
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        users = max([*args.stream_counts, 2])
        seeded = json.loads(
            manage(
                env,
                *("--users", str(users), "--http-logins", str(args.http_logins)),
                *("--password", PASSWORD, "--conversations", str(args.conversations)),
                *("--messages", str(args.messages)),
                module="bench.seed",
            )
        )
        counters = Counters(database_url, redis_url)
        stack_.callback(counters.close)
        servers = []
        for index in range(processes):
            process, url = stack.daphne(env, workdir, index)
            stack_.callback(process.stop)
            servers.append((process, url))
        procs, urls = [p for p, _ in servers], [u for _, u in servers]
        t0 = time.perf_counter()
        cookies = [
            http_login(urls[i % len(urls)], username)
            if username not in seeded["sessions"]
            else f"sessionid={seeded['sessions'][username]}"
            for i, username in enumerate(seeded["users"])
        ]
        result["http_logins"] = min(args.http_logins, users)
        result["http_login_seconds"] = time.perf_counter() - t0
        spec = {
            "servers": urls,
            "upstream": shared["upstream_url"],
            "cookies": cookies,
            "tokens": args.tokens,
            "ramp": args.ramp_ms / 1000,
            "rounds": args.rounds,
            "timeout": args.timeout,
        }
        client = LoadClient(workdir, spec)
        stack_.callback(client.close)
        # Warm-up: first requests import lazily, open the upstream pool, run the reaper.
        client.send({"cmd": "streams", "n": 2 * processes})
        client.read()
        client.send({"cmd": "go"})
        warm = client.read()
        if warm["errors"]:
            raise RuntimeError(f"warm-up streams failed: {warm['error_samples']}")
        if processes == 1 and args.idle:
            # Before the streams: afterwards the allocator's free lists would hide the cost.
            log(f"{name}: {args.idle} idle sockets")
            before = stack.memory_kb(procs[0].pid)
            opened = client.call({"cmd": "idle_open", "n": args.idle})
            time.sleep(2)
            after = stack.memory_kb(procs[0].pid)
            client.call({"cmd": "idle_close"})
            time.sleep(1)  # let the server finish the disconnects before the streams
            result["idle"] = {"before_kb": before["rss"], "after_kb": after["rss"], **opened}
        profile_n = 200 if 200 in args.stream_counts else max(args.stream_counts)
        for n in args.stream_counts:
            spy = None
            if shared.get("profile_left") and n == profile_n:
                path = RESULTS / f"profile-{name}-{n}.txt"
                spy, shared["profile_left"] = (args.profile, path, args.profile_gil), False
                result["profile"] = str(path)
            log(f"{name}: {n} concurrent streams")
            row = run_streams(client, procs, shared["upstream"], counters, n, spy)
            result["rows"].append(row)
            app = row["app"]
            log(
                f"{name}: N={n} ttfd p50 {report.ms(app['ttfd_p50'])} p99 "
                f"{report.ms(app['ttfd_p99'])} gap p99 {report.ms(app['gap_p99'])} "
                f"errors {app['errors']} server cpu {row['server_cpu']:.2f}s"
            )
            time.sleep(0.5)
        if processes == 1 and args.conversations:
            log(f"{name}: pages")
            result["pages"] = time_pages(urls[0], seeded["pages"], args.page_requests)
            counts = json.loads(manage(env, json.dumps(seeded["pages"]), module="bench.queries"))
            for key, value in counts.items():
                result["pages"].setdefault(key, {}).update(value)
            result["pages_sizes"] = {k: v for k, v in seeded["pages"].items()}
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--attachments" in argv:  # a mode of its own: bench/attachments.py
        from . import attachments

        return attachments.main([a for a in argv if a != "--attachments"])
    if "--table" in argv:  # issue 14's table, chatsite and the floor: bench/table.py
        from . import table

        return table.main([a for a in argv if a != "--table"])
    if "--gateway" in argv:  # a mode of its own: bench/gateway.py
        from . import gateway

        return gateway.main([a for a in argv if a != "--gateway"])
    args = parse_args(argv)
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="chatsite-bench-"))
    results = []
    with ExitStack() as stack_:
        stack_.callback(shutil.rmtree, workdir, True)
        upstream, upstream_url = stack.fake_upstream(workdir, args.ttft_ms, args.token_delay_ms)
        stack_.callback(upstream.stop)
        static_root = workdir / "static"
        env = server_env(workdir / "data", static_root, upstream_url)
        log("collectstatic")
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        shared = {
            "upstream": upstream,
            "upstream_url": upstream_url,
            "static_root": static_root,
            "profile_left": args.profile > 0,
        }
        for name in args.variant_names:
            try:
                results.append(run_variant(name, args, shared))
            except (RuntimeError, stack.PostgresUnavailable) as exc:
                log(f"{name} failed: {exc}")
                results.append({"variant": name, "failed": str(exc)[:2000], "rows": []})
    text = report.render(results, args, time.perf_counter() - started)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    log(f"wrote {out} and {out.with_suffix('.json')}")
    return 1 if any(r.get("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
