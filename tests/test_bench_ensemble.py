"""scripts/bench_ensemble.py (W8, W9 of issue 26): a tiny end-to-end run, and the ratio table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
SCRIPT = SCRIPTS / "bench_ensemble.py"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from _peers import ensemble  # noqa: E402


def _result(workload: str, dtype: str, tool: str, rate: float | None) -> dict:
    if rate is None:
        return {"workload": workload, "dtype": dtype, "tool": tool, "status": "missing",
                "reason": "not installed"}  # fmt: skip
    return {"workload": workload, "dtype": dtype, "tool": tool, "status": "ok",
            "rate": {"median": rate, "min": rate, "max": rate, "best": rate}}  # fmt: skip


def test_ratios_use_the_fastest_peer_and_keep_missing_tools_with_a_reason() -> None:
    rates = {"jax-vmap-gather": 1.0, "jax-vmap-index": 2.0, "torch-func": None,
             "torch-func-compile": None, "loop": 1.0, "pool": 2.0, "ensemble-1": 2.0,
             "ensemble-all": 4.0}  # fmt: skip
    results = [_result("W8", "float64", t, r) for t, r in rates.items()]
    rows = {e["ratio"]: e for e in ensemble.ratios(results)}
    assert set(rows) == {key for key, *_ in ensemble.RATIOS}
    assert rows["ensemble_over_jax"]["median"] == 2.0
    assert rows["ensemble_over_jax"]["versus"] == "jax-vmap-index"
    assert rows["ensemble_over_jax"]["meets"] is True  # the target is 2.0
    assert rows["scaling"]["median"] == 2.0 and rows["scaling"]["meets"] is True
    assert rows["ensemble_over_pool"]["median"] == 2.0
    assert rows["ensemble1_over_loop"]["median"] == 2.0
    torch = rows["ensemble_over_torch"]
    assert torch["median"] is None and "torch-func (missing)" in torch["reason"]
    table = ensemble.markdown(results, list(rows.values()))
    assert "≥ 2×: met" in table and "torch-func (missing)" in table


def test_targets_are_issue_26s() -> None:
    assert ensemble.target("W8", "float64", "ensemble_over_jax") == 2.0
    assert ensemble.target("W8", "float32", "ensemble_over_jax") == 1.6
    assert ensemble.target("W9", "float64", "ensemble_over_jax") == 2.5
    assert ensemble.target("W9", "float64", "ensemble_over_pool") == 1.5
    assert ensemble.target("W8", "float32", "scaling") == 1.8
    assert ensemble.target("W8", "float64", "ensemble_over_loop") is None


def test_bench_peers_runs_w8_w9_with_every_ensemble_tool() -> None:
    import bench_peers

    args = bench_peers.parse_args(["--workloads", "W8,W9", "--peers", "all"])
    assert args.workloads == ["W8", "W9"]
    tools = {t for peer in args.peers for t in bench_peers.ENSEMBLE_TOOLS.get(peer, ())}
    assert tools == set(ensemble.TOOLS)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="times compiled code")
def test_tiny_run_reports_every_tool_and_ratio(tmp_path: Path) -> None:
    out = tmp_path / "ensemble.json"
    text = subprocess.run(
        [sys.executable, str(SCRIPT), "--workloads", "W8,W9", "--dtypes", "float64",
         "--scale", "0.002", "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=1200, check=True,
    ).stdout  # fmt: skip
    got = json.loads(out.read_text())
    assert got["meta"]["n_cores"] == len(os.sched_getaffinity(0))
    pairs = [("W8", "float64"), ("W9", "float64")]
    by_key = {(r["workload"], r["dtype"], r["tool"]): r for r in got["results"]}
    for workload, dtype in pairs:
        for tool in ensemble.TOOLS:
            r = by_key[(workload, dtype, tool)]  # every tool reported, none dropped
            # torch.compile needs a C++ toolchain; without one it is reported as an error.
            allowed = {"ok", "missing"} | ({"error"} if tool == "torch-func-compile" else set())
            assert r["status"] in allowed, r
            if r["status"] == "ok":
                assert r["gate_ok"] and len(r["rates"]) == 1 and r["rate"]["best"] > 0
            else:
                assert r["reason"]
        if not hasattr(__import__("fastbp"), "Ensemble"):
            assert by_key[(workload, dtype, "ensemble-all")]["status"] == "missing"
        assert by_key[(workload, dtype, "loop")]["status"] == "ok"
        ratios = [e for e in got["ratios"] if (e["workload"], e["dtype"]) == (workload, dtype)]
        assert {e["ratio"] for e in ratios} == {key for key, *_ in ensemble.RATIOS}
        for e in ratios:
            assert (e["median"] is not None and e["median"] > 0) or e["reason"]
    assert "| W9 | float64 | Ensemble(all) / JAX vmap |" in text
    assert "Load average" in text
