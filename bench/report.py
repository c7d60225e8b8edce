"""The bench's markdown report: the streams table, targets met or missed, idle sockets, pages."""

import argparse
import collections
import re
from pathlib import Path

# Targets of the issue (200 streams on this 2-core machine, one Daphne process, SQLite).
ADDED_P50_MS, ADDED_P99_MS, GAP_P99_MS = 5.0, 50.0, 100.0
CPU_MS_PER_1K, PAGE_MS = 50.0, 150.0
SATURATED = 0.85  # a single-threaded process above this share of a core is the bottleneck


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _added(app: float | None, base: float | None) -> float | None:
    return None if app is None or base is None else app - base


def meets_lag(row: dict) -> bool:
    app, base = row["app"], row["baseline"]
    p50 = _added(app["ttfd_p50"], base["ttft_p50"])
    p99 = _added(app["ttfd_p99"], base["ttft_p99"])
    return (
        app["errors"] == 0
        and p50 is not None
        and p50 <= ADDED_P50_MS
        and p99 is not None
        and p99 <= ADDED_P99_MS
        and app["gap_p99"] is not None
        and app["gap_p99"] <= GAP_P99_MS
    )


def cpu_per_1k(row: dict) -> float | None:
    tokens = row["app"]["tokens"]
    return row["server_cpu"] * 1000 / tokens * 1000 if tokens else None


def render(results: list[dict], args: argparse.Namespace, seconds: float) -> str:
    lines = [
        "# chatsite benchmark",
        "",
        f"Fake upstream: {args.ttft_ms:g} ms to first token, {args.token_delay_ms:g} ms per "
        f"token, {args.tokens} tokens per reply. Sends of the N sockets start spread over "
        f"{args.ramp_ms:g} ms and each socket sends {args.rounds} replies back to back "
        "(N streams at once in steady state; `--ramp-ms 0 --rounds 1` is a burst). "
        f"Run took {seconds:.0f} s.",
        "",
        "## Streams",
        "",
        "Added = time to first delta at the client − the upstream's time to first token "
        "measured directly at the same concurrency (same run, same client process). "
        "Reply stored = send → the reply's message.created frame (the send transaction and "
        "quota admission are done).",
        "",
        "| variant | N | upstream TTFT p50/p99 ms | TTFD p50/p99 ms | added p50 ms | "
        "added p99 ms | reply stored p50/p99 ms | gap p99 ms | errors | "
        "server CPU ms/1k tok | server CPU ms/reply | server CPU | server peak MB | "
        "DB stmts/reply | layer cmds/reply | client CPU | upstream CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    warnings, notes = [], []
    for result in results:
        name = result["variant"]
        if result.get("processes", 1) > 1:
            name += f" ({result['processes']} processes)"
        if result.get("failed"):
            warnings.append(f"{name} failed: {result['failed'].splitlines()[0]}")
            continue
        for row in result["rows"]:
            app, base = row["app"], row["baseline"]
            client_share = app["client_cpu"] / app["wall"] if app["wall"] else 0
            upstream_share = row["upstream_cpu"] / row["wall"] if row["wall"] else 0
            server_share = row["server_cpu"] / row["wall"] if row["wall"] else 0
            stmts = row.get("statements_per_reply")
            layer = row.get("redis_per_reply")
            lines.append(
                f"| {name} | {row['n']} | {ms(base['ttft_p50'])}/{ms(base['ttft_p99'])} | "
                f"{ms(app['ttfd_p50'])}/{ms(app['ttfd_p99'])} | "
                f"{ms(_added(app['ttfd_p50'], base['ttft_p50']))} | "
                f"{ms(_added(app['ttfd_p99'], base['ttft_p99']))} | "
                f"{ms(app.get('created_p50'))}/{ms(app.get('created_p99'))} | "
                f"{ms(app['gap_p99'])} | "
                f"{app['errors'] + base['errors']} | {ms(cpu_per_1k(row))} | "
                f"{row['server_cpu'] * 1000 / max(1, app.get('replies', row['n'])):.1f} | "
                f"{server_share:.0%} | "
                f"{row['peak_kb'] / 1024:.0f} | "
                f"{'n/a' if stmts is None else f'{stmts:.1f}'} | "
                f"{'n/a' if layer is None else f'{layer:.1f}'} | "
                f"{client_share:.0%} | {upstream_share:.0%} |"
            )
            if client_share > SATURATED:
                warnings.append(
                    f"{name} N={row['n']}: the load client used {client_share:.0%} of a core: "
                    "part of the lag may be the client's"
                )
            if upstream_share > SATURATED:
                warnings.append(
                    f"{name} N={row['n']}: the fake upstream used {upstream_share:.0%} of a "
                    "core: it is saturated (the baseline shows its own lag)"
                )
            for sample in app["error_samples"] + base["error_samples"]:
                warnings.append(f"{name} N={row['n']} error: {sample}")
        held = [row["n"] for row in result["rows"] if meets_lag(row)]
        notes.append(
            f"- {name}: largest N meeting the lag targets (added p50 ≤ {ADDED_P50_MS:g} ms, "
            f"p99 ≤ {ADDED_P99_MS:g} ms, gap p99 ≤ {GAP_P99_MS:g} ms, no errors): "
            f"{max(held) if held else 'none'}"
        )
        at = [row for row in result["rows"] if row["n"] == 200] or result["rows"][-1:]
        for row in at:
            cpu = cpu_per_1k(row)
            verdict = "met" if cpu is not None and cpu <= CPU_MS_PER_1K else "missed"
            notes.append(
                f"- {name} N={row['n']}: server CPU {ms(cpu)} ms per 1000 tokens "
                f"(target ≤ {CPU_MS_PER_1K:g}: {verdict})"
            )
    lines += ["", "### Targets", "", *notes]
    if warnings:
        lines += ["", "### Warnings", "", *[f"- {w}" for w in warnings[:40]]]
    lines += _idle(results) + _pages(results) + _logins(results) + _profiles(results)
    return "\n".join(lines) + "\n"


def _idle(results: list[dict]) -> list[str]:
    rows = [r for r in results if r.get("idle")]
    if not rows:
        return []
    lines = [
        "",
        "## Idle sockets",
        "",
        "| variant | sockets open | errors | server RSS before MB | after MB | KB per socket |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        idle = r["idle"]
        per = (idle["after_kb"] - idle["before_kb"]) / max(1, idle["open"])
        lines.append(
            f"| {r['variant']} | {idle['open']} | {idle['errors']} | "
            f"{idle['before_kb'] / 1024:.0f} | {idle['after_kb'] / 1024:.0f} | {per:.1f} |"
        )
    return lines


def _pages(results: list[dict]) -> list[str]:
    rows = [r for r in results if r.get("pages")]
    if not rows:
        return []
    lines = [
        "",
        "## Pages",
        "",
        "Server time ≈ loopback request latency (p50 of the timed requests). Queries counted "
        "in-process with CaptureQueriesContext, including session and user loading.",
        "",
        "| variant | page | data | p50 ms | max ms | KB | queries | queries (small: 10) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        pages, sizes = r["pages"], r["pages_sizes"]
        for page in ("list", "sidebar", "conversation"):
            big = pages.get(f"{page}:big", {})
            small = pages.get(f"{page}:small", {})
            if page == "conversation":
                data = f"{sizes['big']['messages']} messages"
            else:
                data = f"{sizes['big']['conversations']} conversations"
            flag = " ⚠" if big.get("p50_ms", 0) > PAGE_MS else ""
            lines.append(
                f"| {r['variant']} | {page} | {data} | {ms(big.get('p50_ms'))}{flag} | "
                f"{ms(big.get('max_ms'))} | {big.get('bytes', 0) / 1024:.0f} | "
                f"{big.get('queries', '–')} | {small.get('queries', '–')} |"
            )
    return lines


def _logins(results: list[dict]) -> list[str]:
    rows = [r for r in results if r.get("http_logins")]
    if not rows:
        return []
    return ["", "## Sign-in over HTTP", ""] + [
        f"- {r['variant']}: {r['http_logins']} users signed in through /accounts/login/ in "
        f"{r['http_login_seconds']:.1f} s (PBKDF2); the others use sessions seeded in the "
        "database with the same keys login() stores."
        for r in rows
    ]


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def top_frames(path: Path, limit: int = 15) -> tuple[list, list, int]:
    """Self and inclusive sample counts per function from py-spy's raw (collapsed) output."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        names = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                file = match["file"].split("site-packages/")[-1].split("/work/main/")[-1]
                names.append(f"{match['func']} ({file})")
            else:
                names.append(frame)
        if names:
            own[names[-1]] += samples
        for name in set(names):
            inclusive[name] += samples
    return own.most_common(limit), inclusive.most_common(limit + 10), total


def _profiles(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        path = Path(r.get("profile", ""))
        if not r.get("profile") or not path.exists():
            continue
        own, inclusive, total = top_frames(path)
        if not total:
            continue
        lines += ["", f"## Profile: {r['variant']} ({path.name}, {total} samples)", ""]
        lines += ["Self time:", "", "| % | function |", "|---:|---|"]
        lines += [f"| {n / total:.1%} | `{name}` |" for name, n in own]
        lines += ["", "Inclusive (top):", "", "| % | function |", "|---:|---|"]
        lines += [f"| {n / total:.1%} | `{name}` |" for name, n in inclusive]
    return lines
