"""scripts/bench_peers.py: a tiny end-to-end ``--quick`` run, and the correctness gate.

The end-to-end run uses only fastbp and the plain-numpy peer, so it needs no optional package.
The gate tests run the peer job functions in-process against fastbp references, with fake peers
that make the classic mistakes (a squared loss without the ½, a doubled gradient, H v returned
for G v).  A tiny W5 run (slow) puts fastbp, JAX and torch.func side by side where installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastbp.workloads import W1, W2

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import bench_peers  # noqa: E402
from _peers import common, report, tool_fastbp, tool_numpy  # noqa: E402


def train_job(workload, dtype: str, ref: Path) -> dict:
    return {"workload": workload.name, "dtype": dtype, "widths": list(workload.widths),
            "activation": workload.activation, "loss": workload.loss,
            "batch_size": workload.batch_size, "lr": workload.lr, "ref": str(ref),
            "repeats": 1}  # fmt: skip


@pytest.fixture(scope="module")
def w1_job(tmp_path_factory) -> dict:
    ref = tmp_path_factory.mktemp("bench") / "W1-float64.npz"
    bench_peers.build_train_reference(W1, "float64", 16, ref)
    return train_job(W1, "float64", ref)


class MissingHalf:
    """The numpy peer with J = ‖a − y‖² instead of ½‖a − y‖²: every step is twice fastbp's."""

    class Trainer(tool_numpy.Trainer):
        def __init__(self, *args) -> None:
            super().__init__(*args)
            self.lr *= 2


class DoubledGradient:
    """The numpy peer's gradient operations, reporting twice the true gradient."""

    class GradOps(tool_numpy.GradOps):
        def grad_flat(self) -> np.ndarray:
            return 2 * super().grad_flat()


class HvpForGnvp:
    """fastbp's W5 operations, reporting H v where G v is asked for."""

    class GradOps(tool_fastbp.GradOps):
        def gnvp_flat(self) -> np.ndarray:
            return self.net.hvp(self.X, self.Y, self.v)


def test_quick_run_writes_json_lines_and_a_ratio_table(tmp_path):
    out = tmp_path / "results.jsonl"
    cmd = [sys.executable, str(SCRIPTS / "bench_peers.py"), "--quick", "--workloads", "W1",
           "--peers", "fastbp,numpy", "--dtypes", "float64", "--n-scale", "0.01",
           "--rounds", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]

    lines = [json.loads(text) for text in out.read_text().splitlines()]
    by_tool = {(line["workload"], line["tool"]): line for line in lines}
    peak = by_tool[("peak", "numpy.dot")]
    assert peak["status"] == "ok" and peak["measurements"] == 2  # before and after W1
    fast, peer = by_tool[("W1", "fastbp")], by_tool[("W1", "numpy")]
    assert fast["status"] == "ok", fast
    assert peer["status"] == "ok", peer
    assert peer["gate_ok"] and peer["gate_err"] <= common.GATE_RTOL["float64"]
    assert peer["rounds"] == 2 and len(peer["rates"]) == 2 * 3  # --quick: 3 per round
    assert peer["rate"]["min"] <= peer["rate"]["median"] <= peer["rate"]["max"]
    assert peer["fastbp_over_tool"] > 0 and fast["fastbp_over_tool"] == 1.0
    assert peer["epoch_err"] < 1e-10  # one whole epoch matches fastbp's too
    assert peer["threads"] == 1 and len(peer["cores"]) == 1

    assert "fastbp / tool" in proc.stdout
    row = next(text for text in proc.stdout.splitlines() if "| numpy |" in text)
    assert row.startswith("| W1") and "×" in row


def test_numpy_peer_passes_the_gate(w1_job):
    res = common.run_train(w1_job, tool_numpy)
    assert res["status"] == "ok", res
    assert res["gate_err"] < 1e-12
    assert res["epoch_err"] < 1e-12
    assert len(res["rates"]) == 1


def test_gate_rejects_a_wrong_gradient_and_times_nothing(w1_job):
    res = common.run_train(w1_job, MissingHalf)
    assert res["status"] == "WRONG"
    assert not res["gate_ok"]
    assert res["gate_err"] == pytest.approx(1.0, rel=1e-6)  # (2g − g) / g
    assert "rates" not in res and "warmup_epoch_s" not in res


def test_gradient_gate_rejects_a_wrong_gradient(tmp_path):
    ref = tmp_path / "grad-float64.npz"
    bench_peers.build_grad_reference("float64", ref)
    job = {"workload": "W4", "dtype": "float64", "widths": list(W2.widths),
           "activation": W2.activation, "loss": W2.loss, "ref": str(ref), "batches": [1, 128],
           "repeats": 1, "min_seconds": 0.0}  # fmt: skip
    good = common.run_grad(job, tool_numpy)
    assert [r["status"] for r in good] == ["ok", "ok"], good
    assert all(r["ratio"]["median"] > 0 for r in good)
    bad = common.run_grad(job, DoubledGradient)
    assert [r["status"] for r in bad] == ["WRONG", "WRONG"]
    w5 = common.run_grad(dict(job, workload="W5"), tool_numpy)
    assert [r["status"] for r in w5] == ["n/a", "n/a"]


@pytest.mark.parametrize(
    ("dtype", "passes", "fails"), [("float64", 1e-9, 1e-5), ("float32", 1e-4, 1e-2)]
)
def test_gate_tolerances(dtype, passes, fails):
    rng = np.random.default_rng(0)
    g = rng.normal(size=50)
    assert common.check_close(g * (1 + passes), g, dtype).ok
    assert not common.check_close(g * (1 + fails), g, dtype).ok
    assert not common.check_close(np.full_like(g, np.nan), g, dtype).ok
    assert not common.check_close(g[:-1], g, dtype).ok

    p0 = rng.normal(size=50).astype(dtype)
    lr = 1e-3
    p1_ref = (p0 - lr * g).astype(dtype)
    assert common.check_step(p0, p1_ref, p1_ref, lr, dtype).ok
    assert not common.check_step(p0, (p0 - 2 * lr * g).astype(dtype), p1_ref, lr, dtype).ok
    assert not common.check_step(p0, p1_ref[:-1], p1_ref, lr, dtype).ok


def test_flat_layout_matches_fastbp():
    net = W1.network("float64")
    layers = common.unflatten(net.params, list(W1.widths))
    for k, (W, b) in enumerate(layers, start=1):
        Wk, bk = net.layer(k)
        np.testing.assert_array_equal(W, Wk)
        np.testing.assert_array_equal(b, bk)
    np.testing.assert_array_equal(common.flatten(layers), net.params)
    with pytest.raises(ValueError, match="entries"):
        common.unflatten(net.params[:-1], list(W1.widths))


def test_n_examples_is_a_multiple_of_the_batch_size():
    from fastbp.workloads import W3

    assert bench_peers.n_examples(W3, 0.1) == 768
    assert bench_peers.n_examples(W3, 1e-6) == W3.batch_size
    assert bench_peers.n_examples(W1, 1.0) == W1.n_examples


def test_peer_names_and_aliases():
    args = bench_peers.parse_args(["--peers", "numpy,jax,fastbp", "--quick"])
    assert args.peers == ["fastbp", "numpy", "jax-jit", "jax-scan"]
    assert args.repeats == 3 and args.n_scale == 0.1
    assert "fastbp-kernel" not in bench_peers.parse_args([]).peers
    with pytest.raises(SystemExit):
        bench_peers.parse_args(["--peers", "tensorflow"])


@pytest.fixture(scope="module")
def w5_job(tmp_path_factory) -> dict:
    ref = tmp_path_factory.mktemp("bench") / "grad-float64.npz"
    bench_peers.build_grad_reference("float64", ref)
    return {"workload": "W5", "dtype": "float64", "widths": list(W2.widths),
            "activation": W2.activation, "loss": W2.loss, "ref": str(ref), "batches": [1],
            "repeats": 2, "min_seconds": 0.0}  # fmt: skip


def test_w5_gates_and_times_hvp_and_gnvp(w5_job):
    (res,) = common.run_grad(w5_job, tool_fastbp)
    assert res["status"] == "ok", res
    assert set(res["gates"]) == {"grad", "hvp", "gnvp"}
    assert res["gate_what"] == "Hessian-vector"  # the ratio's numerator
    assert set(res["median_s"]) == {"hvp", "gnvp", "loss_and_gradient"}
    assert res["median_s"]["gnvp"] == res["t_gnvp"]["median"] > 0
    assert len(res["ratios"]) == 2 and res["gnvp_ratio"]["median"] > 0

    (bad,) = common.run_grad(w5_job, HvpForGnvp)
    assert bad["status"] == "WRONG" and bad["gate_what"] == "Gauss-Newton-vector"
    assert bad["gate_err"] > common.GATE_RTOL["float64"]
    assert "ratio" not in bad and "median_s" not in bad


def test_w5_cross_tool_rows_and_table():
    def line(tool: str, dtype: str, hvp: float, gnvp: float | None, status: str = "ok") -> dict:
        return {"workload": "W5", "tool": tool, "label": tool, "dtype": dtype, "batch": 1,
                "status": status, "network": "64-256-256-1", "cores": [1], "threads": 1,
                "gates": {"hvp": 1e-16}, "median_s": {"hvp": hvp, "gnvp": gnvp}}  # fmt: skip

    results = [line("fastbp", "float64", 1e-4, 5e-5), line("jax-jit", "float64", 3e-4, 1e-4),
               line("torch", "float64", 2e-3, None), line("fastbp", "float32", 1e-4, 5e-5),
               line("torch", "float32", 0, 0, status="WRONG"),
               {"workload": "W4", "tool": "fastbp", "status": "ok"}]  # fmt: skip
    rows = report.w5_rows(results)
    order = [(d, p) for d in ("float64", "float32") for p in ("hvp", "gnvp")]
    assert [(r["dtype"], r["product"]) for r in rows] == order
    hvp64, gnvp64, hvp32 = rows[:3]
    assert hvp64["fastbp_over_tool"] == pytest.approx({"fastbp": 1, "jax-jit": 3, "torch": 20})
    assert gnvp64["fastbp_over_tool"] == pytest.approx({"fastbp": 1, "jax-jit": 2})
    assert gnvp64["not_timed"] == {"torch": "n/a"} and hvp32["not_timed"] == {"torch": "WRONG"}
    text = "\n".join(report.w5_markdown(rows))
    assert "back to back" in text and "separate child processes" in text
    assert "| float64 | 1 | G v | 50 | 100 | n/a | 2× | — |" in text
    assert "| float32 | 1 | H v | 100 | — | **WRONG** | — | — |" in text


@pytest.mark.slow
def test_w5_run_compares_hvp_and_gnvp_across_tools(tmp_path):
    out = tmp_path / "w5.jsonl"
    cmd = [sys.executable, str(SCRIPTS / "bench_peers.py"), "--workloads", "W5",
           "--peers", "fastbp,jax-jit,torch", "--dtypes", "float32", "--repeats", "1",
           "--min-seconds", "0.001", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]

    lines = [json.loads(text) for text in out.read_text().splitlines()]
    tools = [r for r in lines if r.get("kind") != "cross_tool"]
    timed = {r["tool"] for r in tools if r["status"] == "ok"}
    assert all(r["status"] in ("ok", "missing") for r in tools), tools
    assert "fastbp" in timed
    # The peers are optional (the compare extra); where installed they must run and pass.
    for tool, module in (("jax-jit", "jax"), ("torch", "torch")):
        if importlib.util.find_spec(module) is not None:
            assert tool in timed, tools
    for r in tools:
        if r["status"] == "ok":
            assert r["gates"]["gnvp"] <= common.GATE_RTOL["float32"], r
    cross = [r for r in lines if r.get("kind") == "cross_tool"]
    assert {(r["batch"], r["product"]) for r in cross} == {
        (b, p) for b in (1, 128) for p in ("hvp", "gnvp")}  # fmt: skip
    assert all(set(r["median_s"]) == timed for r in cross)
    assert "## H v and G v across tools" in proc.stdout


# ---------------------------------------------------------------------- --activations
def test_activations_option():
    assert bench_peers.parse_args([]).activations is None  # each workload's own
    args = bench_peers.parse_args(["--activations", "tanh, gelu"])
    assert args.activations == ["tanh", "gelu"]
    with pytest.raises(SystemExit):
        bench_peers.parse_args(["--activations", "swish"])


def _peer(name: str):
    """The peer tool module, skipped where its library (an optional extra) is missing."""
    pytest.importorskip(name)
    return importlib.import_module(f"_peers.tool_{name}")


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_peers_have_every_fastbp_activation(name):
    from fastbp.activations import RECORDS

    assert set(_peer(name).ACTIVATIONS) == set(RECORDS)


# Every activation, both dtypes: each peer must train the same network as fastbp.  The gate
# (first step, GATE_RTOL) and the loss after one whole epoch of per-example SGD, both within
# GATE_RTOL: float64 differs only by summation order and libm; float32 by float32 rounding over
# the epoch's steps.  tanh runs in every job; the other activations (about 1.5 s each: a JAX
# compile and a fastbp spec) only in the slow one.
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "activation",
    [pytest.param(a, marks=() if a == "tanh" else pytest.mark.slow)
     for a in sorted(bench_peers.ACTIVATION_NAMES)],
)  # fmt: skip
@pytest.mark.parametrize(("name", "variant"), [("jax", "scan"), ("torch", None)])
def test_peers_train_the_same_network_for_every_activation(
    tmp_path, name, variant, activation, dtype
):
    from dataclasses import replace

    tool = _peer(name)
    workload = replace(W1, activation=activation)
    ref = tmp_path / "ref.npz"
    bench_peers.build_train_reference(workload, dtype, 64, ref)
    job = dict(train_job(workload, dtype, ref), variant=variant)
    res = common.run_train(job, tool)
    assert res["status"] == "ok", res
    assert res["gate_err"] <= common.GATE_RTOL[dtype]

    data = np.load(ref)
    X, Y = data["X"], data["Y"]
    trainer = tool.Trainer(job, common.unflatten(data["p0"], job["widths"]), X, Y)
    trainer.epoch()
    ours, theirs = workload.network(dtype), workload.network(dtype)
    ours.params[:] = data["p_epoch"]
    theirs.params[:] = common.flatten(trainer.params())
    J, J_peer = ours.loss(X, Y), theirs.loss(X, Y)
    assert abs(J_peer - J) <= common.GATE_RTOL[dtype] * abs(J), (J_peer, J)


@pytest.mark.slow
def test_activations_run_has_a_row_per_activation(tmp_path):
    _peer("jax")
    out = tmp_path / "act.jsonl"
    cmd = [sys.executable, str(SCRIPTS / "bench_peers.py"), "--quick", "--workloads", "W1",
           "--activations", "tanh,gelu", "--peers", "fastbp,jax-scan", "--dtypes", "float64",
           "--n-scale", "0.01", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]

    lines = [json.loads(text) for text in out.read_text().splitlines()]
    rows = {(r["tool"], r["activation"]): r for r in lines if r["workload"] == "W1"}
    assert set(rows) == {(t, a) for t in ("fastbp", "jax-scan") for a in ("tanh", "gelu")}
    for act in ("tanh", "gelu"):
        peer = rows[("jax-scan", act)]
        assert peer["status"] == "ok", peer
        assert peer["gate_ok"] and peer["gate_err"] <= common.GATE_RTOL["float64"]
        assert peer["epoch_err"] <= common.GATE_RTOL["float64"]  # one whole epoch agrees too
        assert np.isfinite(peer["fastbp_over_tool"]) and peer["fastbp_over_tool"] > 0
    table = proc.stdout[proc.stdout.index("## Training throughput by activation") :]
    for act in ("tanh", "gelu"):
        row = next(t for t in table.splitlines() if t.startswith(f"| W1 | float64 | {act} |"))
        assert row.count("×") == 1 and "nan" not in row  # fastbp / jax lax.scan


def test_activation_table_has_a_row_per_activation():
    def line(tool: str, act: str, rate: float | None, status: str = "ok") -> dict:
        r = {"workload": "W1", "tool": tool, "label": tool, "dtype": "float32",
             "activation": act, "activation_sweep": True, "status": status}  # fmt: skip
        if rate is not None:
            r.update(rate={"median": rate}, gate_err=1e-7, batch_size=1, flops_per_step=6)
        return r

    rows = [line("fastbp", "tanh", 3e5), line("jax-scan", "tanh", 6e5),
            line("numpy", "tanh", None, "n/a"), line("fastbp", "gelu", 2e5),
            line("jax-scan", "gelu", None, "WRONG")]  # fmt: skip
    bench_peers.add_ratios(rows)
    text = "\n".join(report.activation_markdown(rows))
    assert "| fastbp | jax-scan | fastbp / jax-scan |" in text  # n/a tools get no column
    assert "| W1 | float32 | tanh | 300,000 | 600,000 | 0.5× | 1.0e-07 |" in text
    assert "| W1 | float32 | gelu | 200,000 | **WRONG** | — | 1.0e-07 |" in text
    assert report.activation_markdown([dict(r, activation_sweep=False) for r in rows]) == []
