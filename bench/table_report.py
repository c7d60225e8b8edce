"""Issue 14's table from `python -m bench --table` runs: per-run figures, medians, markdown."""

import statistics
from collections.abc import Iterable

# Issue 14's targets (one process, SQLite, this machine).
ADDED_P50_TARGET_MS = {10: 25.0, 100: 150.0, 200: 300.0}
ADDED_P99_TARGET_MS = {200: 1000.0}
CPU_VS_FLOOR, FIXED_MS, GAP_P99_MS, PEAK_MB = 2.0, 8.0, 100.0, 150.0
MODES = {
    "burst": "burst: every socket sends at once (`--ramp-ms 0`), one reply each",
    "staggered": "staggered (the default): first sends spread over one reply's length, "
    "two replies per socket back to back",
}


def median(values: Iterable[float | None]) -> float | None:
    """The median of the figures that exist (a run that produced none is left out)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def figures(row: dict, baseline: dict) -> dict:
    """One server's figures in one run: `row` from the load client plus the server's CPU."""

    def added(key: str, base_key: str) -> float | None:
        if row.get(key) is None or baseline.get(base_key) is None:
            return None
        return row[key] - baseline[base_key]

    tokens, replies = row.get("tokens") or 0, row.get("replies") or 0
    cpu_ms = row["server_cpu"] * 1000
    return {
        "added_p50": added("ttfd_p50", "ttft_p50"),
        "added_p99": added("ttfd_p99", "ttft_p99"),
        "gap_p99": row.get("gap_p99"),
        "errors": row.get("errors", 0),
        "cpu_per_1k": cpu_ms / tokens * 1000 if tokens else None,
        "cpu_per_reply": cpu_ms / replies if replies else None,
        "tokens_per_reply": tokens / replies if replies else None,
    }


def medians(runs: list[dict], path: tuple[str, ...]) -> dict:
    """The median of each figure at `path` (e.g. ("burst", "100", "chatsite")) over the runs;
    errors are summed, not medianed: one failure in any run is a failure."""
    picked = []
    for run in runs:
        node = run
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            picked.append(node)
    if not picked:
        return {}
    numeric = [k for k, v in picked[0].items() if k != "errors" and not isinstance(v, dict)]
    out = {key: median(p.get(key) for p in picked) for key in numeric}
    out["errors"] = sum(p.get("errors", 0) for p in picked)
    out["runs"] = len(picked)
    return out


def fixed_cost(short: dict, long: dict) -> tuple[float | None, float | None]:
    """(CPU ms per reply independent of its length, CPU ms per 1000 tokens) from two runs that
    differ only in reply length: the line through (tokens, CPU per reply) of each."""
    points = [(d.get("tokens_per_reply"), d.get("cpu_per_reply")) for d in (short, long)]
    if any(t is None or c is None for t, c in points) or points[0][0] == points[1][0]:
        return None, None
    (t1, c1), (t2, c2) = points
    slope = (c2 - c1) / (t2 - t1)
    return c1 - slope * t1, slope * 1000


def _ms(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.1f}×"


def _errors(figures: dict) -> str:
    return f" ({figures['errors']} errors)" if figures.get("errors") else ""


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def mode_table(runs: list[dict], mode: str, counts: list[int], error_counts: list[int]) -> list:
    lines = [
        f"### {MODES[mode]}",
        "",
        "| concurrent sends | added time to first delta p50: chatsite | floor | target | "
        "p99: chatsite | floor | CPU per 1000 tokens: chatsite | floor | ratio | "
        "gap p99: chatsite | floor | errors: chatsite | floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in [*counts, *error_counts]:
        chat = medians(runs, (mode, str(n), "chatsite"))
        floor = medians(runs, (mode, str(n), "floor"))
        if not chat and not floor:
            continue
        target = ADDED_P50_TARGET_MS.get(n)
        met = (
            None if target is None or chat.get("added_p50") is None else chat["added_p50"] <= target
        )
        label = f"{n} (errors)" if n in error_counts and n not in counts else str(n)
        cells = [label]
        for key in ("added_p50", None, "added_p99", "cpu_per_1k", "ratio", "gap_p99"):
            if key is None:
                cells.append("–" if target is None else f"≤ {target:g} ms: {_verdict(met)}")
            elif key == "ratio":
                cells.append(_ratio(chat.get("cpu_per_1k"), floor.get("cpu_per_1k")))
            else:
                cells += [_ms(chat.get(key), unit=" ms"), _ms(floor.get(key), unit=" ms")]
        cells += [str(chat.get("errors", "–")), str(floor.get("errors", "–"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary_table(results: dict) -> list:
    runs, settings = results["runs"], results["settings"]
    long_n, tokens, long_tokens = (
        settings["long_streams"],
        settings["tokens"],
        settings["long_tokens"],
    )
    rows = []
    short = {s: medians(runs, ("burst", str(long_n), s)) for s in ("chatsite", "floor")}
    long = {s: medians(runs, ("long", s)) for s in ("chatsite", "floor")}
    for label, data in (
        (f"{tokens}-token replies, burst of {long_n}", short),
        (f"{long_tokens}-token replies, burst of {long_n}", long),
    ):
        chat, floor = data["chatsite"].get("cpu_per_1k"), data["floor"].get("cpu_per_1k")
        met = None if chat is None or not floor else chat <= CPU_VS_FLOOR * floor
        rows.append(
            (
                f"CPU per 1000 tokens, {label}",
                _ms(chat, unit=" ms") + _errors(data["chatsite"]),
                _ms(floor, unit=" ms") + _errors(data["floor"]),
                f"≤ {CPU_VS_FLOOR:g}× floor: {_verdict(met)}",
            )
        )
    fixed = {s: fixed_cost(short[s], long[s]) for s in ("chatsite", "floor")}
    met = None if fixed["chatsite"][0] is None else fixed["chatsite"][0] <= FIXED_MS
    rows.append(
        (
            "fixed CPU per reply (send + settle), from the two rows above",
            f"{_ms(fixed['chatsite'][0], 1, unit=' ms')}",
            f"{_ms(fixed['floor'][0], 1, unit=' ms')}",
            f"≤ {FIXED_MS:g} ms: {_verdict(met)}",
        )
    )
    rows.append(
        (
            "CPU per 1000 tokens without the fixed cost (slope of the two rows)",
            f"{_ms(fixed['chatsite'][1], unit=' ms')}",
            f"{_ms(fixed['floor'][1], unit=' ms')}",
            "",
        )
    )
    for mode in ("burst", "staggered"):
        gap = {s: medians(runs, (mode, "200", s)).get("gap_p99") for s in ("chatsite", "floor")}
        met = None if gap["chatsite"] is None else gap["chatsite"] <= GAP_P99_MS
        rows.append(
            (
                f"p99 gap between deltas at 200, {mode}",
                f"{_ms(gap['chatsite'], unit=' ms')}",
                f"{_ms(gap['floor'], unit=' ms')}",
                f"≤ {GAP_P99_MS:g} ms: {_verdict(met)}",
            )
        )
    peak = results.get("peak_mb", {})
    met = None if peak.get("chatsite") is None else peak["chatsite"] <= PEAK_MB
    rows.append(
        (
            f"peak RSS through the run ({settings['idle']} idle sockets, then the streams)",
            f"{_ms(peak.get('chatsite'), unit=' MB')}",
            f"{_ms(peak.get('floor'), unit=' MB')}",
            f"≤ {PEAK_MB:g} MB: {_verdict(met)}",
        )
    )
    shakes = results.get("handshakes", {})
    first, second, at_once = settings["handshakes"]
    for key, label in (
        ("second_failed", f"{second} new sockets at once right after a burst of {first} sends"),
        ("at_once_failed", f"{at_once} sockets opened at once"),
    ):
        chat = [h.get(key) for h in shakes.get("chatsite", [])]
        floor = [h.get(key) for h in shakes.get("floor", [])]
        met = None if not chat else sum(chat) == 0
        rows.append(
            (
                f"handshake failures: {label} (per run)",
                " / ".join(map(str, chat)) or "–",
                " / ".join(map(str, floor)) or "–",
                f"0: {_verdict(met)}",
            )
        )
    lines = ["| measure | chatsite | floor | target |", "|---|---:|---:|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def render(results: dict) -> str:
    settings, runs = results["settings"], results["runs"]
    loads = [load for run in runs for load in run.get("load", [])]
    lines = [
        "# chatsite and the floor: issue 14's table",
        "",
        f"Commit {settings.get('commit', '?')}; {settings['servers_label']}. Fake upstream: "
        f"{settings['ttft_ms']:g} ms to first token, {settings['token_delay_ms']:g} ms per token, "
        f"{settings['tokens']} tokens per reply. Each figure is the median of "
        f"{len(runs)} run(s) (errors: the sum); chatsite and the floor alternate within each run, "
        "so compare within this table only. Added = time to first delta − the upstream's own "
        "time to first token measured directly at the same concurrency just before. "
        f"Load average (1 min) during the runs: {_ms(min(loads, default=None), 1)} to "
        f"{_ms(max(loads, default=None), 1)}. Took {results.get('seconds', 0):.0f} s.",
        "",
    ]
    for mode in settings["modes"]:
        lines += [*mode_table(runs, mode, settings["streams"], settings["error_streams"]), ""]
    if any("chatsite-uvicorn" in node for run in runs for node in _nodes(run)):
        lines += whatif_table(runs, settings)
    lines += ["### Per reply, per token, memory, handshakes", "", *summary_table(results), ""]
    warnings = results.get("warnings", [])
    if warnings:
        lines += ["### Warnings", "", *[f"- {w}" for w in warnings[:30]], ""]
    return "\n".join(lines)


def _nodes(run: dict) -> list[dict]:
    return [node for mode in MODES for node in run.get(mode, {}).values()]


def whatif_table(runs: list[dict], settings: dict) -> list[str]:
    """Daphne against uvicorn, the same app and database, in the same runs."""
    lines = [
        "### What-if: chatsite under uvicorn instead of Daphne (same runs)",
        "",
        "| mode | concurrent sends | added p50: Daphne | uvicorn | added p99: Daphne | uvicorn | "
        "CPU per 1000 tokens: Daphne | uvicorn | errors: Daphne | uvicorn |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in settings["modes"]:
        for n in [*settings["streams"], *settings["error_streams"]]:
            daphne = medians(runs, (mode, str(n), "chatsite"))
            uvicorn = medians(runs, (mode, str(n), "chatsite-uvicorn"))
            lines.append(
                f"| {mode} | {n} | {_ms(daphne.get('added_p50'), unit=' ms')} | "
                f"{_ms(uvicorn.get('added_p50'), unit=' ms')} | "
                f"{_ms(daphne.get('added_p99'), unit=' ms')} | "
                f"{_ms(uvicorn.get('added_p99'), unit=' ms')} | "
                f"{_ms(daphne.get('cpu_per_1k'), unit=' ms')} | "
                f"{_ms(uvicorn.get('cpu_per_1k'), unit=' ms')} | "
                f"{daphne.get('errors', '–')} | {uvicorn.get('errors', '–')} |"
            )
    return [*lines, ""]
