"""The lecture's claims (fastbp.lecture), each asserted on a small, fast run of its experiment.

Timing claims (a, b) fit log-log slopes on the ``quick`` sweeps: 4 and 6 networks, N spanning
1.5–1.6 decades (about 7e3 to 3e5 parameters), batch 32 on the explicit-loop kernels (no BLAS
threads to contend), each time the median of 7 interleaved rounds of ≥ 5 ms.  On the shared
2-core development machine at a load average of 4–7, 21 runs gave backprop slopes
0.92–1.18, finite-difference slopes 1.71–2.1 and H v slopes 0.95–1.26, inside the asserted bands
([0.7, 1.3] for backprop, ≥ 1.6 for finite differences, [0.7, 1.4] for H v, whose working set
outgrows the L2 cache mid-sweep: see fastbp.lecture.HVP_SLOPE), with cost ratios ≤ 5.2 against
a bound of 8; so these tests are not marked slow.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastbp import lecture
from fastbp.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


def _decades(N) -> float:
    return math.log10(max(N) / min(N))


def test_backprop_is_linear_and_finite_differences_quadratic():
    data = lecture.backprop_cost(quick=True)
    for name, rec in data["sweeps"].items():
        assert _decades(rec["N"]) >= 1.5, name
        assert 0.7 <= rec["slope"]["grad"] <= 1.3, (name, rec["slope"])
        assert rec["slope"]["fd"] >= 1.6, (name, rec["slope"])
        assert max(rec["grad_over_loss"]) <= lecture.BOUNDED_RATIO, (name, rec["grad_over_loss"])
        # The timed finite differences are real ones: they agree with backprop.
        assert max(rec["fd_abs_error"]) < 1e-7, rec["fd_abs_error"]
        assert max(rec["fd_rel_error"]) < 1e-6, rec["fd_rel_error"]
    assert data["holds"], data["verdict"]


def test_hvp_is_linear():
    data = lecture.hvp_cost(quick=True)
    for name, rec in data["sweeps"].items():
        assert _decades(rec["N"]) >= 1.5, name
        assert 0.7 <= rec["slope"]["hvp"] <= 1.4, (name, rec["slope"])
        assert max(rec["hvp_over_grad"]) <= lecture.BOUNDED_RATIO, (name, rec["hvp_over_grad"])
    assert data["holds"], data["verdict"]


def test_zero_init_keeps_hidden_units_identical_and_xavier_trains():
    data = lecture.zero_init(quick=True)
    sym = data["symmetry"]
    # The lecture's equations in IEEE arithmetic: every unit of a layer identical to the bit,
    # although the weights did move away from zero.
    assert sym["reference"]["spread"] == [0.0, 0.0]
    assert sym["reference"]["max_abs_weight"] > 0.1
    # Compiled kernels: identical up to rounding (reassociated sums), far below the weights.
    zeros, xavier = sym["compiled"]["zeros"], sym["compiled"]["xavier_normal"]
    assert max(zeros["spread"]) <= 1e-9 * zeros["max_abs_weight"]
    assert min(xavier["spread"]) > 0.1
    # From zeros the loss plateaus at (or above) a constant predictor's; Xavier trains.
    assert zeros["plateau_loss"] >= 0.8 * sym["constant_predictor_loss"]
    assert xavier["plateau_loss"] < 0.5 * zeros["plateau_loss"]
    # Activation scale at depth 10: N(0, 1) saturates tanh and blows up ReLU; Xavier does not.
    scale = data["scale"]
    assert min(scale["tanh/normal"]["saturated_fraction"]) > 0.5
    assert max(scale["tanh/xavier_normal"]["saturated_fraction"]) < 0.05
    assert scale["relu/normal"]["z_std"][-1] > 1e3 * scale["relu/xavier_normal"]["z_std"][-1]
    assert data["holds"], data["verdict"]


def test_sigmoid_chains_vanish_and_relu_much_less():
    data = lecture.vanishing(quick=True)
    at10 = data["depths"].index(10)
    sigmoid, relu = data["sigmoid"]["first_layer"][at10], data["relu"]["first_layer"][at10]
    assert relu > 100 * sigmoid
    assert data["sigmoid"]["decay_per_layer"] < 0.3  # σ' ≤ ¼ at every layer
    assert data["relu"]["decay_per_layer"] > 2 * data["sigmoid"]["decay_per_layer"]
    assert data["holds"], data["verdict"]


def test_two_layer_lemmas_hold():
    data = lecture.lemmas()
    assert set(data["tables"]) == {"sigmoid", "tanh", "relu"}
    for rows in data["tables"].values():
        assert len(rows) == 7
        for row in rows:
            assert row["fd_error"] <= lecture.LEMMA_FD_RTOL, row
            assert row["compiled_error"] <= lecture.LEMMA_COMPILED_RTOL, row
    table = lecture.lemma_table(data)
    assert "dJ/dz[1] = dJ/da[1] ⊙ σ'(z[1])" in table and len(table.splitlines()) == 9


def test_lemma_check_has_teeth():
    """A wrong activation lemma (forgetting σ') is caught by the same finite differences."""
    rng = np.random.default_rng(0)
    W2, b2, y = rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=3)
    z1 = rng.normal(size=5)

    def J_of_z1(z):
        return 0.5 * float(np.sum((W2 @ (1 / (1 + np.exp(-z))) + b2 - y) ** 2))

    fd = lecture._central_differences(J_of_z1, z1)
    a1 = 1 / (1 + np.exp(-z1))
    dJ_da1 = W2.T @ (W2 @ a1 + b2 - y)
    assert np.max(np.abs(dJ_da1 * a1 * (1 - a1) - fd)) < 1e-8
    assert np.max(np.abs(dJ_da1 - fd)) > 1e-2


def test_sgd_diverges_and_restores_the_last_good_epoch():
    data = lecture.sgd(quick=True)
    assert data["as_written_max_abs_diff"] <= 1e-12
    calm = [r for r in data["runs"].values() if r["diverged_epoch"] is None]
    assert len(calm) == 3 and all(r["loss"][-1] < r["loss"][0] for r in calm)
    wild = data["runs"]["0.15"]
    assert wild["diverged_epoch"] is not None
    assert len(wild["loss"]) == wild["diverged_epoch"] - 1
    assert wild["restored_finite"] and wild["restored_equals_last_good_epoch"]
    assert data["holds"], data["verdict"]


def test_select():
    assert [e.letter for e in lecture.select("e,c")] == ["c", "e"]
    assert [e.name for e in lecture.select(["vanishing", "a", "d"])] == [
        "backprop_cost",
        "vanishing",
    ]
    assert len(lecture.select(None)) == 6
    with pytest.raises(ValueError, match="unknown experiment 'z'"):
        lecture.select("c,z")


def test_fastbp_lecture_writes_png_and_json(tmp_path, capsys):
    out = tmp_path / "lecture"
    assert cli_main(["lecture", "--out", str(out), "--quick", "--only", "c,e"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["c_zero_init.json", "c_zero_init.png", "e_lemmas.json", "e_lemmas.png"]
    for stem in ("c_zero_init", "e_lemmas"):
        data = json.loads((out / f"{stem}.json").read_text())
        assert data["holds"] is True and data["quick"] is True and data["verdict"]
        with open(out / f"{stem}.png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "[c] zero init fails by symmetry" in printed and "HOLDS" in printed
    assert "dJ/dW[2] = dJ/dz[2] a[1]ᵀ" in printed  # the lemma table
    assert "2/2 claims held" in printed
    assert cli_main(["lecture", "--out", str(out), "--only", "x"]) == 2


def test_scripts_are_thin_wrappers(tmp_path):
    scripts = sorted(p.stem for p in (ROOT / "scripts" / "lecture").glob("*.py"))
    for e in lecture.EXPERIMENTS.values():
        assert e.name in scripts
        assert f'main(only="{e.name}")' in (ROOT / "scripts/lecture" / f"{e.name}.py").read_text()
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/lecture/lemmas.py"),
            "--out",
            str(tmp_path),
            "--no-plot",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("[e] the two-layer lemmas hold: HOLDS")
    assert (tmp_path / "e_lemmas.json").exists()
