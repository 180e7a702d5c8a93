"""fit's compiled epoch loop (fastbp.sklearn._loop) against the per-epoch path.

``fastbp.sklearn.EPOCH_LOOP = "python"`` runs one compiled call per part of an epoch and the
loss, schedules and stopping rule in Python (the path partial_fit and the other cases take);
``"compiled"`` runs blocks of epochs in one call.  They must agree: the same number of epochs,
the same stopping decisions, the loss curve and weights to rounding (float64: rtol 1e-10, since
the only difference is the order of a sum; float32: rtol 1e-5), and the random state left where
the per-epoch loop leaves it.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import fastbp as fb  # noqa: E402
import fastbp.sklearn as fs  # noqa: E402
from fastbp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _data(n: int = 90, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, y


def _fit_both(make, X, y, monkeypatch, **fit_kw):
    out = {}
    for mode in ("python", "compiled"):
        monkeypatch.setattr(fs, "EPOCH_LOOP", mode)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = make().fit(X, y, **fit_kw)
        out[mode] = est, sorted({type(w.message).__name__ for w in caught})
    return out


def _agree(a, b, rtol: float) -> None:
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol, atol=0)
    # atol on the parameters' scale: a small entry carries the rounding of the larger terms it
    # was summed from (float32: one ulp of 0.3 is 3e-8, so rtol 1e-5 alone fails entries ~1e-3).
    scale = float(np.abs(b.network_.params).max())
    np.testing.assert_allclose(a.network_.params, b.network_.params, rtol=rtol,
                               atol=rtol * 1e-2 * scale)  # fmt: skip
    assert a._no_improvement_count == b._no_improvement_count
    np.testing.assert_allclose(a.best_loss_, b.best_loss_, rtol=rtol)
    np.testing.assert_allclose(a._lr, b._lr, rtol=1e-12)
    assert int(a.network_.optimizer.step[0]) == int(b.network_.optimizer.step[0])


CASES = [
    dict(solver="adam"),
    dict(solver="adam", alpha=0.0, batch_size=32),
    dict(solver="sgd", momentum=0.0, alpha=0.0),
    dict(solver="sgd", nesterovs_momentum=False, batch_size=25),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2),
    dict(solver="sgd", learning_rate="adaptive", tol=1e-2, n_iter_no_change=2),
    dict(solver="adam", shuffle=False, batch_size=40),
    dict(solver="adam", tol=0.0, n_iter_no_change=np.inf, max_iter=30),
    dict(solver="adam", tol=1e-2, n_iter_no_change=3),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", CASES, ids=[str(i) for i in range(len(CASES))])
def test_classifier_compiled_loop_agrees_with_per_epoch_path(kw, dtype, monkeypatch):
    X, y = _data()
    kw = {"max_iter": 60, "random_state": 0, **kw}
    got = _fit_both(lambda: MLPClassifier((7,), dtype=dtype, **kw), X, y, monkeypatch)
    (a, wa), (b, wb) = got["python"], got["compiled"]
    assert wa == wb  # the same warnings (ConvergenceWarning at max_iter, or none)
    _agree(a, b, 1e-10 if dtype == "float64" else 1e-5)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_compiled_loop_agrees(loss, monkeypatch):
    X, _ = _data()
    y = np.abs(X[:, :2] @ np.array([[1.0, 0.5], [0.3, -0.2]])) + 0.1
    make = lambda: MLPRegressor((6,), loss=loss, max_iter=40, random_state=1)  # noqa: E731
    got = _fit_both(make, X, y, monkeypatch)
    _agree(got["python"][0], got["compiled"][0], 1e-10)


def test_multilabel_and_warm_start_agree(monkeypatch):
    X, y = _data()
    Y = np.stack([y > 0, X[:, 2] > 0], axis=1).astype(int)
    ests = {}
    for mode in ("python", "compiled"):
        monkeypatch.setattr(fs, "EPOCH_LOOP", mode)
        est = MLPClassifier((6,), max_iter=15, warm_start=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, Y)
            est.fit(X, Y)  # continues: t_, the learning rate and the optimizer state carry over
        ests[mode] = est
    _agree(ests["python"], ests["compiled"], 1e-10)


def test_random_state_instance_is_left_where_the_per_epoch_loop_leaves_it(monkeypatch):
    X, y = _data()
    states = {}
    for mode in ("python", "compiled"):
        monkeypatch.setattr(fs, "EPOCH_LOOP", mode)
        rs = np.random.RandomState(5)
        # Stops early, inside a block of the compiled loop.
        MLPClassifier((5,), tol=1e-1, n_iter_no_change=2, max_iter=200, random_state=rs).fit(X, y)
        states[mode] = rs.randint(0, 2**31, size=4).tolist()
    assert states["python"] == states["compiled"]


def test_divergence_restores_the_epoch_start_and_raises(monkeypatch):
    monkeypatch.setattr(fs, "EPOCH_LOOP", "compiled")
    X, _ = _data()
    y = X @ np.arange(1.0, 6.0) * 1e3
    est = MLPRegressor((8,), solver="sgd", momentum=0.0, learning_rate_init=1e3, max_iter=50,
                       random_state=0)  # fmt: skip
    with pytest.raises(fb.FitDivergedError, match="non-finite parameter weights"):
        est.fit(X, y)
    assert np.isfinite(est.network_.params).all()
    assert np.isfinite(est.network_.optimizer.s1).all()
    assert len(est.loss_curve_) == est.n_iter_


def test_ctrl_c_stops_after_the_block_in_progress(monkeypatch):
    import fastbp.sklearn._base as base

    class After:
        def __init__(self, after: int) -> None:
            self.after, self.checks = after, 0

        def is_set(self) -> bool:
            self.checks += 1
            return self.checks > self.after

    monkeypatch.setattr(fs, "EPOCH_LOOP", "compiled")
    X, y = _data()
    event = After(after=1)
    monkeypatch.setattr(base, "ctrl_c_deferred", lambda: contextlib.nullcontext(event))
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est = MLPClassifier((7,), max_iter=200, tol=0.0, random_state=0).fit(X, y)
    monkeypatch.setattr(base, "ctrl_c_deferred", contextlib.nullcontext)
    assert 1 <= est.n_iter_ < 200  # the blocks done stand
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = MLPClassifier((7,), max_iter=est.n_iter_, tol=0.0, random_state=0).fit(X, y)
    _agree(est, same, 1e-10)


def test_small_batches_and_verbose_take_the_per_epoch_path(monkeypatch, capsys):
    import fastbp.sklearn._loop as loop

    monkeypatch.setattr(fs, "EPOCH_LOOP", "compiled")
    calls = []
    real = loop.run_epochs
    monkeypatch.setattr(loop, "run_epochs", lambda *a: calls.append(1) or real(*a))
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier((5,), batch_size=8, max_iter=3, random_state=0).fit(X, y)
        MLPClassifier((5,), verbose=True, max_iter=3, random_state=0).fit(X, y)
    assert "Iteration 3" in capsys.readouterr().out
    assert calls == []
