"""`python -m bench --table`: chatsite and the floor server in one run, issue 14's table.

One fake upstream; chatsite as it ships (Daphne, SQLite, one process) and bench/floor.py, each
with its own load client process. Each run measures, for both modes (burst, staggered) and each
N, the direct-upstream baseline and then each server in turn; then 1000-token replies; the
medians over the runs make the table. Before the runs each server holds the idle sockets (so
its peak RSS covers them); after them, the handshake test.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from . import stack, table_report
from .__main__ import PASSWORD, RESULTS, LoadClient, http_login, log, manage, server_env

SERVERS = ("chatsite", "chatsite-uvicorn", "chatsite-connect-timeout-5", "floor")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench --table", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs; each figure is the median")
    parser.add_argument("--streams", default="10,100,200", help="concurrent sends in the table")
    parser.add_argument("--error-streams", default="500", help="also run, for errors")
    parser.add_argument("--modes", default="burst,staggered")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per reply")
    parser.add_argument("--long-tokens", type=int, default=1000, help="the per-token row's")
    parser.add_argument("--long-streams", type=int, default=100, help="N of the per-token rows")
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--token-delay-ms", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2, help="replies per socket, staggered")
    parser.add_argument("--idle", type=int, default=1000, help="idle sockets held first")
    parser.add_argument(
        "--handshakes",
        default="100,200,500",
        help="A,B,C: B new sockets right after a burst of A sends; then C sockets at once",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per reply")
    parser.add_argument(
        "--servers",
        default="chatsite,floor",
        help="chatsite (Daphne), floor; what-ifs: chatsite-uvicorn, chatsite-connect-timeout-5",
    )
    parser.add_argument("--quick", action="store_true", help="one run each, 300 idle sockets")
    parser.add_argument("--out", default=str(RESULTS / "table.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.idle = 1, min(args.idle, 300)
    args.stream_counts = [int(n) for n in args.streams.split(",") if n.strip()]
    args.error_counts = [int(n) for n in args.error_streams.split(",") if n.strip()]
    args.mode_names = [m for m in args.modes.split(",") if m.strip()]
    args.server_names = [s for s in args.servers.split(",") if s.strip()]
    args.handshake_counts = [int(n) for n in args.handshakes.split(",")]
    if set(args.mode_names) - set(table_report.MODES):
        parser.error(f"modes are {', '.join(table_report.MODES)}")
    if set(args.server_names) - set(SERVERS) or len(args.handshake_counts) != 3:
        parser.error(f"servers are {', '.join(SERVERS)}; --handshakes takes three numbers")
    return args


def _chatsite(kind: str, args, upstream_url: str, static_root: Path, workdir: Path, stack_):
    """Migrate and seed a fresh SQLite database, start the server, sign in the users."""
    env = server_env(workdir / kind, static_root, upstream_url)
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    users = max([*args.stream_counts, *args.error_counts, sum(args.handshake_counts[:2]), 2])
    seed_args = ("--users", str(users), "--http-logins", "1", "--password", PASSWORD)
    seeded = json.loads(
        manage(env, *seed_args, "--conversations", "1", "--messages", "0", module="bench.seed")
    )
    if kind == "chatsite-uvicorn":
        process, url = uvicorn(env, workdir)
    elif kind == "chatsite-connect-timeout-5":  # Daphne's default, shipped before decision 99
        process, url = stack.daphne(env, workdir, 1, "")
    else:
        process, url = stack.daphne(env, workdir, 0)
    stack_.callback(process.stop)
    cookies = [
        f"sessionid={seeded['sessions'][u]}" if u in seeded["sessions"] else http_login(url, u)
        for u in seeded["users"]
    ]
    return process, url, cookies


def uvicorn(env: dict[str, str], workdir: Path) -> tuple[stack.Process, str]:
    """The what-if: the same ASGI application under uvicorn (not an app dependency)."""
    port = stack.free_port()
    binary = Path(stack.PYTHON).with_name("uvicorn")
    script = (
        'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; '
        f'exec "{binary}" --host 127.0.0.1 --port {port} --log-level warning '
        "--no-access-log chatsite.asgi:application"
    )
    process = stack.Process("uvicorn", ["bash", "-c", script], workdir / "uvicorn.log", env=env)
    process.wait_port(port)
    return process, f"http://127.0.0.1:{port}"


def measure(client: LoadClient, process: stack.Process, n: int, timing: dict) -> dict:
    """One streams run of n sockets; the server's CPU is read between "ready" and "done"."""
    client.send({"cmd": "streams", "n": n, **timing})
    client.read()
    cpu0 = stack.cpu_seconds(process.pid)
    client.send({"cmd": "go"})
    row = client.read()
    row["server_cpu"] = stack.cpu_seconds(process.pid) - cpu0
    return row


def settle(processes: list[stack.Process], limit: float = 60.0) -> float:
    """Wait until the servers are idle: replies whose client gave up (a timeout) go on
    streaming on the server and would be billed to the next measurement. Returns the wait."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = sum(stack.cpu_seconds(p.pid) for p in processes)
        time.sleep(0.5)
        if sum(stack.cpu_seconds(p.pid) for p in processes) - before <= 0.03:
            break
    waited = time.monotonic() - started
    if waited > 5:
        log(f"waited {waited:.0f} s for the servers to finish earlier replies")
    return waited


def one_run(args, servers: dict, warnings: list) -> dict:
    run: dict = {"load": [os.getloadavg()[0]]}
    reply_s = (args.ttft_ms + args.tokens * args.token_delay_ms) / 1000
    modes = {"burst": {"ramp": 0.0, "rounds": 1}, "staggered": {"ramp": reply_s}}
    modes["staggered"]["rounds"] = args.rounds
    probe = next(iter(servers.values()))["client"]
    everyone = [server["process"] for server in servers.values()]
    for mode in args.mode_names:
        for n in [*args.stream_counts, *args.error_counts]:
            timing = {**modes[mode], "tokens": args.tokens}
            settle(everyone)
            base = probe.call({"cmd": "baseline", "n": n, **timing})
            node = run.setdefault(mode, {}).setdefault(str(n), {"baseline": base})
            for name, server in servers.items():
                settle(everyone)
                row = measure(server["client"], server["process"], n, timing)
                node[name] = table_report.figures(row, base)
                node[name]["raw"] = {k: row.get(k) for k in ("ttfd_p50", "ttfd_p99", "wall")}
                warnings += [f"{name} {mode} N={n}: {e}" for e in row["error_samples"][:2]]
                log(f"{mode} N={n} {name}: {_brief(node[name])}")
    n, timing = args.long_streams, {"ramp": 0.0, "rounds": 1, "tokens": args.long_tokens}
    base = probe.call({"cmd": "baseline", "n": n, **timing})
    run["long"] = {"baseline": base}
    for name, server in servers.items():
        settle(everyone)
        row = measure(server["client"], server["process"], n, timing)
        run["long"][name] = table_report.figures(row, base)
        log(f"long N={n} {name}: {_brief(run['long'][name])}")
    run["load"].append(os.getloadavg()[0])
    return run


def _brief(f: dict) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in f.items() if isinstance(v, float | int))


def _commit() -> str:
    done = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"], cwd=stack.BASE_DIR, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=stack.BASE_DIR,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return done.stdout.strip()[:80] + (" (with uncommitted changes)" if dirty else "")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started, commit = time.perf_counter(), _commit()
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="chatsite-bench-table-"))
    warnings: list[str] = []
    results: dict = {"runs": [], "handshakes": {}, "peak_mb": {}, "warnings": warnings}
    with ExitStack() as stack_:
        stack_.callback(shutil.rmtree, workdir, True)
        upstream, upstream_url = stack.fake_upstream(workdir, args.ttft_ms, args.token_delay_ms)
        stack_.callback(upstream.stop)
        static_root = workdir / "static"
        log("collectstatic")
        manage(
            server_env(workdir / "data", static_root, upstream_url), "collectstatic", "--noinput"
        )
        servers: dict = {}
        for name in args.server_names:
            log(f"{name}: starting")
            if name == "floor":
                process, url = stack.floor(workdir, upstream_url)
                stack_.callback(process.stop)
                cookies = [f"sessionid=floor-{i}" for i in range(500)]
            else:
                process, url, cookies = _chatsite(
                    name, args, upstream_url, static_root, workdir, stack_
                )
            spec = {"servers": [url], "upstream": upstream_url, "cookies": cookies}
            spec |= {"tokens": args.tokens, "timeout": args.timeout}
            client = LoadClient(workdir, spec)
            stack_.callback(client.close)
            servers[name] = {"process": process, "client": client}
            # Warm-up (lazy imports, the upstream pool), then the idle sockets: the peak RSS
            # then covers them, as in the standard run.
            client.send({"cmd": "streams", "n": 2, "ramp": 0.0, "rounds": 1})
            client.read()
            client.send({"cmd": "go"})
            if client.read()["errors"]:
                raise RuntimeError(f"{name}: the warm-up replies failed")
            if args.idle:
                opened = client.call({"cmd": "idle_open", "n": args.idle})
                time.sleep(1)
                client.call({"cmd": "idle_close"})
                time.sleep(1)
                if opened["errors"]:
                    warnings.append(f"{name}: {opened['errors']} idle sockets failed to open")
        for index in range(args.runs):
            log(f"run {index + 1} of {args.runs}")
            results["runs"].append(one_run(args, servers, warnings))
        first, second, at_once = args.handshake_counts
        for name, server in servers.items():
            log(f"{name}: handshakes")
            for _ in range(args.runs):
                settle([s["process"] for s in servers.values()])
                command = {"cmd": "handshakes", "first": first, "second": second, "n": at_once}
                shakes = server["client"].call(command)
                results["handshakes"].setdefault(name, []).append(shakes)
                warnings += [f"{name} handshakes: {e}" for e in shakes["error_samples"][:2]]
                time.sleep(1)
            results["peak_mb"][name] = stack.memory_kb(server["process"].pid)["hwm"] / 1024
    results["seconds"] = time.perf_counter() - started
    results["settings"] = {
        "commit": commit,
        "servers_label": "servers: " + ", ".join(args.server_names),
        "ttft_ms": args.ttft_ms,
        "token_delay_ms": args.token_delay_ms,
        "tokens": args.tokens,
        "long_tokens": args.long_tokens,
        "long_streams": args.long_streams,
        "modes": args.mode_names,
        "streams": args.stream_counts,
        "error_streams": args.error_counts,
        "idle": args.idle,
        "handshakes": args.handshake_counts,
    }
    out = Path(args.out)
    # The figures first: a report that fails to render loses no run.
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    text = table_report.render(results)
    print(text)
    out.write_text(text)
    log(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
