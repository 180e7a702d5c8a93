"""fastbp.diagnostics, fit(..., diagnostics=True), the gradient-ratio warning and fastbp.plot.

The diagnostics are checked against the same quantities worked out by hand from ``net.trace``
(with σ' computed from z by its definition, not from the kernels' a), so a wrong norm, a wrong
layer offset or a wrong saturation rule shows up.  Plot tests import matplotlib inside the test,
so they fail (not skip) when it is missing: it is part of the dev extra.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import fastbp as fb
from fastbp import diagnostics as dg
from fastbp.cli import main as cli_main


def _mixed_network(rng: np.random.Generator) -> tuple[fb.Network, np.ndarray, np.ndarray]:
    """6-8-7-5-2 relu/sigmoid/tanh network with 2 dead ReLU units and some saturated units."""
    spec = fb.NetworkSpec([6, 8, 7, 5, 2], ["relu", "sigmoid", "tanh"], "squared", "float64")
    net = fb.Network(spec, seed=1)
    W1, b1 = net.layer(1)
    b1[[2, 5]] = -50.0  # z ≤ 0 for every row: dead
    W2, _ = net.layer(2)
    W2[0] *= 40.0  # unit 0 of the sigmoid layer saturates on most rows
    W3, _ = net.layer(3)
    W3[1] *= 30.0
    X = rng.normal(size=(40, 6))
    Y = rng.normal(size=(40, 2))
    return net, X, Y


def test_gradient_diagnostics_match_trace_by_hand(rng):
    net, X, Y = _mixed_network(rng)
    d = dg.gradient_diagnostics(net, X, Y)
    t = net.trace(X, Y)
    r = net.spec.n_layers
    for key in dg.LAYER_KEYS:
        assert len(d[key]) == r, key
    for k in range(1, r + 1):
        W_off, b_off = int(net.plan.w_off[k - 1]), int(net.plan.b_off[k - 1])
        n_out, n_in = net.spec.widths[k], net.spec.widths[k - 1]
        gW = t.grad[W_off : W_off + n_out * n_in]
        gb = t.grad[b_off : b_off + n_out]
        assert d["grad_W_norm"][k - 1] == pytest.approx(math.sqrt(np.sum(gW**2)), rel=1e-14)
        assert d["grad_b_norm"][k - 1] == pytest.approx(math.sqrt(np.sum(gb**2)), rel=1e-14)
        per_example = [np.sum(t.dJ_dz[k][i] ** 2) for i in range(X.shape[0])]
        assert d["grad_z_norm"][k - 1] == pytest.approx(math.sqrt(np.mean(per_example)), rel=1e-14)
        assert d["z_mean"][k - 1] == pytest.approx(np.mean(t.z[k]), rel=1e-12, abs=1e-15)
        assert d["z_std"][k - 1] == pytest.approx(np.std(t.z[k]), rel=1e-12)
        assert d["a_std"][k - 1] == pytest.approx(np.std(t.a[k]), rel=1e-12)
    # dJ/dW[k] is also the gradient of the mean loss that loss_and_gradient returns.
    _, g = net.loss_and_gradient(X, Y)
    assert d["grad_W_norm"][0] == pytest.approx(np.linalg.norm(g[: 8 * 6]), rel=1e-12)

    # Dead ReLU units: the two whose bias was pushed to -50, and no others.
    z1 = t.z[1]
    assert d["dead_fraction"][0] == 2 / 8 == np.mean(np.all(z1 <= 0, axis=0))
    # Saturation from the definition: σ'(z) < 1 % of max σ', with σ' computed from z.
    s = 1.0 / (1.0 + np.exp(-t.z[2]))
    assert d["saturated_fraction"][1] == np.mean(s * (1 - s) < 0.01 * 0.25)
    assert d["saturated_fraction"][2] == np.mean(1 - np.tanh(t.z[3]) ** 2 < 0.01)
    assert 0 < d["saturated_fraction"][1] < 1 and 0 < d["saturated_fraction"][2] < 1
    # Statistics that do not apply are NaN: dead for non-ReLU, saturation for ReLU, output layer.
    assert math.isnan(d["saturated_fraction"][0]) and math.isnan(d["dead_fraction"][1])
    assert math.isnan(d["dead_fraction"][r - 1]) and math.isnan(d["saturated_fraction"][r - 1])
    assert d["gradient_ratio"] == d["grad_W_norm"][0] / d["grad_W_norm"][-1]
    assert d["loss"] == pytest.approx(net.loss(X, Y), rel=1e-14)


def test_float32_networks_give_float_diagnostics(rng):
    X, y = rng.normal(size=(50, 4)), rng.normal(size=50)
    net = fb.Network(fb.NetworkSpec([4, 6, 1], ["relu"], "squared", "float32"), seed=0)
    hist = net.fit(X, y, epochs=2, progress=False, diagnostics=True)
    d64 = dg.gradient_diagnostics(fb.Network(fb.NetworkSpec([4, 6, 1], ["relu"]), seed=0), X, y)
    for d in (*hist.diagnostics, d64):
        assert all(type(v) is float for key in dg.LAYER_KEYS for v in d[key])
        assert type(d["gradient_ratio"]) is float and type(d["loss"]) is float


def test_saturation_threshold_is_the_documented_z():
    """σ'(z) < 0.01·max σ' is |z| > 5.99 for the sigmoid and |z| > 2.99 for tanh."""
    spec = fb.NetworkSpec([1, 2, 1], ["sigmoid"], "squared", "float64")
    net = fb.Network(spec, seed=0)
    W, b = net.layer(1)
    W[:, 0], b[:] = [1.0, 1.0], [0.0, 0.0]
    X = np.array([[5.9], [-5.9], [6.1], [-6.1]])
    d = dg.gradient_diagnostics(net, X, np.zeros(4))
    assert d["saturated_fraction"][0] == 0.5
    spec = fb.NetworkSpec([1, 2, 1], ["tanh"], "squared", "float64")
    net = fb.Network(spec, seed=0)
    W, b = net.layer(1)
    W[:, 0], b[:] = [1.0, 1.0], [0.0, 0.0]
    X = np.array([[2.95], [-2.95], [3.05], [-3.05]])
    assert dg.gradient_diagnostics(net, X, np.zeros(4))["saturated_fraction"][0] == 0.5


def test_gradient_ratio_band():
    def diag(first, last):
        d = {"grad_W_norm": [first, 1.0, last]}
        d["gradient_ratio"] = dg.gradient_ratio(d)
        return d

    lo, hi = dg.GRADIENT_RATIO_BAND
    assert dg.check_gradient_ratio(diag(1.0, 1.0)) is None
    assert dg.check_gradient_ratio(diag(lo, 1.0)) is None  # the band is closed
    assert dg.check_gradient_ratio(diag(hi, 1.0)) is None
    assert "vanishing" in dg.check_gradient_ratio(diag(lo / 2, 1.0))
    assert "exploding" in dg.check_gradient_ratio(diag(hi * 2, 1.0))
    assert math.isnan(diag(0.0, 0.0)["gradient_ratio"])  # no gradient at all: not judged
    assert dg.check_gradient_ratio(diag(0.0, 0.0)) is None
    assert diag(1.0, 0.0)["gradient_ratio"] == math.inf
    with pytest.warns(dg.GradientWarning, match="vanishing"):
        assert dg.warn_gradient_ratio(diag(1e-9, 1.0))
    assert not dg.warn_gradient_ratio(diag(1.0, 1.0))


def _regression_data(rng, n=700, d=8):
    X = rng.normal(size=(n, d))
    return X, np.sin(X[:, :3].sum(axis=1))


def test_fit_records_one_entry_per_epoch_without_changing_training(rng, tmp_path):
    X, y = _regression_data(rng)
    spec = fb.NetworkSpec([8, 16, 16, 1], "tanh", "squared", "float64")
    net = fb.Network(spec, seed=0)
    hist = net.fit(X, y, epochs=4, lr=0.01, seed=3, progress=False, diagnostics=True)
    assert len(hist.diagnostics) == len(hist) == 4
    assert [d["epoch"] for d in hist.diagnostics] == [1, 2, 3, 4]
    for d in hist.diagnostics:
        assert all(len(d[key]) == 3 for key in dg.LAYER_KEYS)
        assert all(isinstance(v, float) for key in dg.LAYER_KEYS for v in d[key])
    # Training is unchanged by measuring (the subsample has its own generator).
    plain = fb.Network(spec, seed=0)
    plain_hist = plain.fit(X, y, epochs=4, lr=0.01, seed=3, progress=False)
    assert np.array_equal(plain.params, net.params)
    assert plain_hist.loss == hist.loss and plain_hist.diagnostics == []
    # The last entry is exactly the diagnostics of the final network on the documented subsample.
    rows = dg.diagnostic_rows(X.shape[0], 3)
    assert rows.shape == (dg.DIAGNOSTIC_ROWS,) and np.all(np.diff(rows) > 0)
    again = dg.gradient_diagnostics(net, X[rows], y[rows])
    assert {k: v for k, v in hist.diagnostics[-1].items() if k != "epoch"} == again
    # JSON-serialisable: survives the model file.
    net.save(tmp_path / "m.fastbp")
    loaded = fb.Network.load(tmp_path / "m.fastbp").history.diagnostics
    assert json.dumps(loaded) == json.dumps(hist.diagnostics)


def test_small_training_sets_use_every_row():
    assert np.array_equal(dg.diagnostic_rows(100, 0), np.arange(100))


def test_fit_warns_once_on_a_deep_sigmoid_network(rng):
    X, y = _regression_data(rng, n=200)
    spec = fb.NetworkSpec([8] + [32] * 10 + [1], "sigmoid", "squared", "float64")
    net = fb.Network(spec, seed=0)
    with pytest.warns(dg.GradientWarning, match=r"epoch 1: vanishing gradients") as record:
        hist = net.fit(X, y, epochs=3, lr=0.01, progress=False, diagnostics=True)
    assert len([w for w in record if w.category is dg.GradientWarning]) == 1
    assert all(d["gradient_ratio"] < 1e-5 for d in hist.diagnostics)


def test_fit_does_not_warn_on_a_healthy_network(rng):
    # pytest turns warnings into errors, so a GradientWarning here fails the test.
    X, y = _regression_data(rng, n=200)
    for act in ("relu", "tanh"):
        spec = fb.NetworkSpec([8, 32, 32, 1], act, "squared", "float64")
        hist = fb.Network(spec, seed=0).fit(X, y, epochs=3, progress=False, diagnostics=True)
        assert all(0.1 <= d["gradient_ratio"] <= 10 for d in hist.diagnostics)


def test_fit_diagnostics_argument_is_checked(rng):
    X, y = _regression_data(rng, n=20)
    net = fb.Network(fb.NetworkSpec([8, 4, 1], "relu"), seed=0)
    with pytest.raises(TypeError, match="diagnostics"):
        net.fit(X, y, epochs=1, progress=False, diagnostics="yes")


# --------------------------------------------------------------------------- plots
def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_history_writes_a_png(rng, tmp_path):
    from matplotlib.figure import Figure

    from fastbp.plot import plot_history

    X, y = _regression_data(rng, n=200)
    net = fb.Network(fb.NetworkSpec([8, 16, 16, 1], "relu"), seed=0)
    hist = net.fit(X, y, epochs=3, progress=False, diagnostics=True, validation_fraction=0.2)
    fig = plot_history(hist, tmp_path / "h.png")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert _is_png(tmp_path / "h.png")
    # Without diagnostics: the loss panel only; from a saved model's history dict too.
    plain = fb.Network(fb.NetworkSpec([8, 4, 1], "tanh"), seed=0)
    plain.fit(X, y, epochs=2, progress=False)
    plain.save(tmp_path / "m.fastbp")
    loaded = fb.io.read_header(tmp_path / "m.fastbp")["history"]
    fig = plot_history(loaded, tmp_path / "plain.png")
    assert len(fig.axes) == 1 and _is_png(tmp_path / "plain.png")


def test_fastbp_train_plot(tmp_path, capsys):
    out = tmp_path / "train.png"
    args = ["train", "--dataset", "diabetes", "--epochs", "3", "--no-progress", "--plot", str(out)]
    assert cli_main(args) == 0
    assert _is_png(out) and f"plot {out}" in capsys.readouterr().out
    assert cli_main([*args[:-1], str(tmp_path / "missing" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_fastbp_train_reports_the_gradient_warning(tmp_path, capsys):
    deep = ",".join(["32"] * 10)
    args = ["train", "--dataset", "diabetes", "--epochs", "1", "--no-progress", "--hidden", deep,
            "--activation", "sigmoid", "--plot", str(tmp_path / "d.png")]  # fmt: skip
    assert cli_main(args) == 0
    assert "fastbp: warning: epoch 1: vanishing gradients" in capsys.readouterr().err


def test_import_fastbp_does_not_import_matplotlib():
    code = (
        "import sys, fastbp, fastbp.plot, fastbp.lecture, fastbp.diagnostics, fastbp.cli; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    from fastbp import plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "fastbp\[plot\]"'):
        plot.plot_history(fb.History())
