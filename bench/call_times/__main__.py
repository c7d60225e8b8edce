"""Print what bench/call_times/sitecustomize.py measured: per call, its count, CPU and wall time.

    BENCH_CALL_TIMES=/tmp/calls PYTHONPATH=bench/call_times \\
        python -m bench --variants sqlite --streams 100 --ramp-ms 0 --rounds 1
    python -m bench.call_times /tmp/calls.*.json

Wall time well above CPU on the database thread is time spent waiting for the GIL
(decision 102).
"""

import json
import sys


def main(paths: list[str]) -> None:
    for path in paths:
        with open(path) as f:
            totals = json.load(f)
        print(f"{path}\n{'calls':>7} {'CPU ms':>9} {'wall ms':>9} {'CPU each':>9} {'wall each':>9}")
        for name, (calls, cpu, wall) in sorted(totals.items(), key=lambda kv: -kv[1][2])[:25]:
            print(
                f"{calls:7d} {cpu * 1000:9.1f} {wall * 1000:9.1f} "
                f"{cpu / calls * 1000:9.3f} {wall / calls * 1000:9.3f}  {name}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
