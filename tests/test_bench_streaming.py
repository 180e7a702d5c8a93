"""scripts/bench_streaming.py: every figure for both libraries, in pinned child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_streaming.py"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="times compiled code")
def test_streaming_script_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "streaming.json"
    text = subprocess.run(
        [sys.executable, str(SCRIPT), "--calls", "3", "--fresh", "1", "--rounds", "1",
         "--core", str(min(os.sched_getaffinity(0))), "--out", str(out)],
        capture_output=True, text=True, timeout=900, check=True,
    ).stdout  # fmt: skip
    results = json.loads(out.read_text())["results"]
    for library in ("fastbp", "sklearn"):
        got = results[library]
        assert "errors" not in got, got.get("errors")
        assert len(got["steady"]) == 3 and len(got["first_call"]) == 1
        assert all(t > 0 for t in got["pickle"] + got["import_and_first_2cores"])
    assert text.count("×** |") == 6  # a ratio on each figure's row
