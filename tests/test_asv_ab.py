"""scripts/asv_ab.py (the asv suite on two commits): the child timing run and the report.

The child part runs here against this checkout on a filtered subset of the suite; the git
worktree the parent makes for the base commit is left to real use (a test must not depend on
being run from a git clone).  No timing is checked: only that the benchmarks run and report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "asv_ab.py"


def test_child_times_the_matching_benchmarks_of_a_checkout() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--child", str(ROOT), "--filter", "OneRow.time_forward"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    timings = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(timings) == {
        "bench_overhead.OneRow.time_forward['float32']",
        "bench_overhead.OneRow.time_forward['float64']",
    }
    assert all(0 < t < 1 for t in timings.values())


def test_report_sorts_by_ratio_and_needs_a_base() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import asv_ab
    finally:
        sys.path.remove(str(SCRIPT.parent))
    base = [{"a": 2e-6, "b": 1e-6}, {"a": 2e-6, "b": 1e-6}]
    head = [{"a": 1e-6, "b": 1.5e-6}, {"a": 1e-6, "b": 1.5e-6}]
    lines = asv_ab.report(base, head).splitlines()
    assert lines[2].startswith("| 0.500 | 0.500 | `a` |")
    assert lines[3].startswith("| 1.500 | 1.500 | `b` |")
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert proc.returncode != 0 and "--base REV is required" in proc.stderr
