"""scripts/bench_overhead.py (W7, the ablation and the two-thread job): a tiny end-to-end run.

Only fastbp and the numpy peer take part, so no optional package is needed; the JAX and PyTorch
peers run in the same child code and are exercised by the real benchmark.  Nothing here checks
a timing: only that every job runs, passes its correctness gate and reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_gates_numpy_and_reports_every_job(tmp_path) -> None:
    out = tmp_path / "overhead.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_overhead.py"), "--tools", "fastbp,numpy",
         "--calls", "20", "--repeats", "2", "--quick", "--ablation", "--cores", "0",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    report = json.loads(out.read_text())
    fastbp, numpy = report["w7"]
    assert fastbp["status"] == numpy["status"] == "ok", proc.stderr
    assert all(numpy["gate_ok"].values()), numpy["gate_err"]
    assert set(numpy["ratio"]) == {"forward", "loss_grad", "sgd", "adam32"}
    assert report["ablation"]["status"] == "ok" and len(report["ablation"]["median_us"]) == 9
    assert report["threads"]["status"] == "ok", report["threads"]
    assert "| forward of one row |" in proc.stdout and "speed-up" in proc.stdout
    small = report["small"]  # the small-batch job (PyTorch beside fastbp where installed)
    assert small["status"] == "ok", small
    assert {"fastbp forward32", "fastbp predict32", "fastbp adam32"} <= set(small["median_us"])
