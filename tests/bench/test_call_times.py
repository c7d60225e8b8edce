"""bench.call_times prints the per-call figures the server hook wrote, slowest wall time first."""

import json

from bench.call_times.__main__ import main


def test_it_prints_each_call_with_its_cpu_and_wall_time_per_call(tmp_path, capsys):
    path = tmp_path / "calls.1.json"
    path.write_text(
        json.dumps(
            {
                "parked conversations.consumers._if_signed_in": [100, 0.25, 0.30],
                "conversations.settlement.finish_reply": [100, 0.15, 0.60],
            }
        )
    )
    main([str(path)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[:5] == ["100", "150.0", "600.0", "1.500", "6.000"]
    assert lines[2].endswith("finish_reply") and lines[3].endswith("_if_signed_in")
