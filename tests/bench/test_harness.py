"""``make bench`` keeps working: the harness run end to end on a tiny dataset.

Timings are not checked (they are benchmark output, never test results): only
that every scenario asked for ran and reported its figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = [
    "escalation sweep (first run)",
    "escalation sweep",
    "dashboard",
    "dashboard, one portfolio changed",
    "api milestones page",
    "plain DRF viewset",
    "audit first page",
    "update form POST",
]


def test_the_harness_runs_every_scenario_asked_for(tmp_path):
    out = tmp_path / "results.json"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "bench/run.py",
            "--milestones",
            "40",
            "--repeat",
            "2",
            "--out",
            str(out),
            "--only",
            *SCENARIOS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["milestones"] == 40
    rows = {row["name"]: row for row in report["results"]}
    assert sorted(rows) == sorted(SCENARIOS)
    for name, row in rows.items():
        assert row["status"] in ("PASS", "FAIL", "INFO"), (name, row)
        assert row["samples"] and row["median_ms"] > 0, name
        assert row["queries"] > 0, name
    assert rows["dashboard"]["budget"] == "p95<=150ms <=25q"
    assert "plain DRF viewset" in rows["api milestones page"]["ratio"]
    # Issue #20's targets: a ratio to the plain viewset and a query count.
    assert rows["api milestones page"]["budget"] == "p95<=60ms <=5q <=2x"
    assert rows["api milestones page"]["ratio"].endswith("(<=2x)")
    # The table went to the terminal too.
    assert "dashboard, one portfolio changed" in result.stdout
