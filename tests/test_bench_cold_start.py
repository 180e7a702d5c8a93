"""scripts/bench_cold_start.py runs a scenario in a fresh process on an empty cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_cold_start.py"


@pytest.mark.slow
def test_cold_start_script_reports_medians() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--reps", "1", "--scenarios", "hvp", "--json"],
        capture_output=True, text=True, timeout=600, check=True,
    ).stdout  # fmt: skip
    report = json.loads(out.strip().splitlines()[-1])
    assert report["medians"]["hvp"]["this"] > 0
    assert len(report["runs"]["hvp"]["this"]) == 1 and report["warm"] is False
