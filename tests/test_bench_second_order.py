"""scripts/bench_privacy.py and scripts/bench_second_order.py: every figure, against the peers.

Small sizes and one round: these check that the scripts run end to end and report a figure and a
ratio for every quantity (Opacus, BackPACK and PyHessian included), not the speeds themselves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.mark.slow
def test_privacy_script_reports_plain_clipped_noised_and_opacus(tmp_path: Path) -> None:
    out = tmp_path / "privacy.json"
    subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_privacy.py"), "--rows", "512", "--batch-size",
         "64", "--rounds", "1", "--epochs", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=900, check=True,
    )  # fmt: skip
    results = json.loads(out.read_text())
    assert set(results) == {"plain", "dp_sigma0", "dp", "opacus"}
    assert results["plain"]["ratio"] == 1.0
    assert all(r["median_s"] > 0 for r in results.values())


@pytest.mark.slow
def test_second_order_script_reports_every_quantity_against_its_peer() -> None:
    text = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_second_order.py"), "--rounds", "1", "--batch",
         "16", "--probes", "2"],
        capture_output=True, text=True, timeout=900, check=True,
    ).stdout  # fmt: skip
    rows = {line.split()[0]: line for line in text.splitlines()[2:] if line.strip()}
    assert set(rows) == {"backward", "gradients", "norms", "variance", "ggn_diagonal",
                         "top_eigenvalue", "top_eig_1e-6", "trace"}  # fmt: skip
    assert all(line.count("x") >= 2 for line in rows.values())  # both ratios on each row
