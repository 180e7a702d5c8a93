"""scripts/examples: each example runs end to end in its --quick form."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "scripts" / "examples"


def test_online_drift_example_tracks_the_drift_and_plots(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="the plot needs the plot extra (in dev)")
    out = tmp_path / "drift.png"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "online_drift.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    match = re.search(r"online ([0-9.]+), frozen ([0-9.]+)", proc.stdout)
    assert match, proc.stdout
    online, frozen = map(float, match.groups())
    # The target has turned a quarter period away from where the frozen copy learned it.
    assert online < 0.05 and frozen > 5 * online


def test_online_drift_stream_is_reproducible() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import online_drift
    finally:
        sys.path.remove(str(EXAMPLES))
    a, b = online_drift.run(200, 40, seed=3), online_drift.run(200, 40, seed=3)
    assert (a["online"] == b["online"]).all() and a["freeze_at"] == 10
