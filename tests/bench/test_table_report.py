"""Issue 14's table: per-run figures, medians over runs, the fixed-cost fit and the markdown."""

import pytest

from bench import table, table_report


def _row(ttfd_p50, ttfd_p99, cpu_s, tokens=1000, replies=10, errors=0, gap=50.0) -> dict:
    return {
        "ttfd_p50": ttfd_p50,
        "ttfd_p99": ttfd_p99,
        "gap_p99": gap,
        "errors": errors,
        "tokens": tokens,
        "replies": replies,
        "server_cpu": cpu_s,
    }


BASE = {"ttft_p50": 50.0, "ttft_p99": 60.0}


def test_figures_subtract_the_baseline_and_scale_cpu_per_token_and_reply() -> None:
    f = table_report.figures(_row(80.0, 160.0, 0.25, tokens=2000, replies=20), BASE)
    assert f["added_p50"] == 30.0
    assert f["added_p99"] == 100.0
    assert f["cpu_per_1k"] == pytest.approx(125.0)
    assert f["cpu_per_reply"] == pytest.approx(12.5)
    assert f["tokens_per_reply"] == 100.0


def test_figures_without_tokens_or_a_first_delta_are_absent_not_zero() -> None:
    f = table_report.figures(_row(None, None, 0.1, tokens=0, replies=0, errors=3), BASE)
    assert f["added_p50"] is None and f["cpu_per_1k"] is None and f["cpu_per_reply"] is None
    assert f["errors"] == 3


def test_median_ignores_runs_without_the_figure() -> None:
    assert table_report.median([3.0, None, 1.0, 2.0]) == 2.0
    assert table_report.median([None]) is None


def test_medians_take_the_middle_run_of_three_and_sum_the_errors() -> None:
    runs = [
        {"burst": {"10": {"chatsite": {"added_p50": v, "errors": e, "raw": {"wall": v}}}}}
        for v, e in ((30.0, 0), (10.0, 2), (500.0, 1))
    ]
    out = table_report.medians(runs, ("burst", "10", "chatsite"))
    assert out["added_p50"] == 30.0
    assert out["errors"] == 3
    assert out["runs"] == 3
    assert table_report.medians(runs, ("staggered", "10", "chatsite")) == {}


def test_fixed_cost_is_the_intercept_of_cpu_per_reply_against_reply_length() -> None:
    # 5 ms per reply plus 0.2 ms per token: 25 ms at 100 tokens, 205 ms at 1000.
    short = {"tokens_per_reply": 100.0, "cpu_per_reply": 25.0}
    long = {"tokens_per_reply": 1000.0, "cpu_per_reply": 205.0}
    fixed, per_1k = table_report.fixed_cost(short, long)
    assert fixed == pytest.approx(5.0)
    assert per_1k == pytest.approx(200.0)
    assert table_report.fixed_cost(short, short) == (None, None)
    assert table_report.fixed_cost(short, {}) == (None, None)


def _results() -> dict:
    def node(chat_p50: float, floor_p50: float) -> dict:
        return {
            "chatsite": {"added_p50": chat_p50, "cpu_per_1k": 300.0, "errors": 0},
            "floor": {"added_p50": floor_p50, "cpu_per_1k": 100.0, "errors": 0},
        }

    runs = [
        {
            "load": [1.5, 2.5],
            "burst": {"10": node(20.0 + i, 5.0), "500": node(900.0, 50.0)},
            "long": {"chatsite": {"cpu_per_1k": 150.0}, "floor": {"cpu_per_1k": 60.0}},
        }
        for i in range(3)
    ]
    settings = {
        "commit": "abc1234 test",
        "servers_label": "servers: chatsite, floor",
        "ttft_ms": 50.0,
        "token_delay_ms": 10.0,
        "tokens": 100,
        "long_tokens": 1000,
        "long_streams": 10,
        "modes": ["burst"],
        "streams": [10],
        "error_streams": [500],
        "idle": 1000,
        "handshakes": [100, 200, 500],
    }
    handshakes = {"chatsite": [{"second_failed": 0, "at_once_failed": 2}]}
    return {
        "runs": runs,
        "settings": settings,
        "handshakes": handshakes,
        "peak_mb": {"chatsite": 120.0, "floor": 40.0},
        "seconds": 12.0,
    }


def test_render_prints_chatsite_and_the_floor_side_by_side_with_the_targets() -> None:
    text = table_report.render(_results())
    assert "| 10 | 21 ms | 5 ms | ≤ 25 ms: met | " in text
    assert "| 500 (errors) | 900 ms | 50 ms | – |" in text
    assert "| 3.0× |" in text  # 300 ms against the floor's 100 ms per 1000 tokens
    assert "1000-token replies, burst of 10 | 150 ms | 60 ms | ≤ 2× floor: **missed** |" in text
    assert "120 MB | 40 MB | ≤ 150 MB: met |" in text
    assert "500 sockets opened at once (per run) | 2 | – | 0: **missed** |" in text
    assert "Load average (1 min) during the runs: 1.5 to 2.5" in text
    assert "abc1234 test" in text
    assert "uvicorn" not in text


def test_render_adds_the_uvicorn_what_if_when_it_ran() -> None:
    results = _results()
    for run in results["runs"]:
        run["burst"]["10"]["chatsite-uvicorn"] = {"added_p50": 12.0, "errors": 0}
    text = table_report.render(results)
    assert "What-if: chatsite under uvicorn" in text
    assert "| burst | 10 | 21 ms | 12 ms |" in text


def test_quick_runs_once_and_the_flags_parse_into_lists() -> None:
    args = table.parse_args(["--quick", "--streams", "10,20", "--handshakes", "1,2,3"])
    assert args.runs == 1
    assert args.stream_counts == [10, 20] and args.error_counts == [500]
    assert args.mode_names == ["burst", "staggered"]
    assert table.parse_args([]).runs == 3


def test_unknown_servers_and_modes_are_refused() -> None:
    with pytest.raises(SystemExit):
        table.parse_args(["--servers", "chatsite,nginx"])
    with pytest.raises(SystemExit):
        table.parse_args(["--modes", "trickle"])


def test_bench_ports_come_from_the_given_range_and_are_not_handed_out_twice(monkeypatch) -> None:
    from bench import stack

    monkeypatch.setattr(stack, "_handed_out", set())
    monkeypatch.setenv("BENCH_PORTS", "18990-18999")
    first, second = stack.free_port(), stack.free_port()
    assert 18990 <= first <= 18999 and 18990 <= second <= 18999
    assert first != second
