"""The estimators' lean epochs (fastbp.sklearn._epochs.EpochRunner): same results as one fit per
epoch, divergence restores the epoch's start, and the network is refused to other threads'
writes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="fastbp.sklearn needs scikit-learn (in the dev extra)")

import fastbp as fb  # noqa: E402
from fastbp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_epochs_equal_one_network_fit_per_epoch(solver) -> None:
    """Replays the estimator with Network.fit on the gathered batches, epoch by epoch, from the
    same initial weights and the same shuffles: the weights agree to the bit."""
    X, y = _data()
    est = MLPClassifier((7,), solver=solver, batch_size=32, max_iter=4, random_state=0,
                        learning_rate_init=0.05, alpha=1e-3, tol=0.0)  # fmt: skip
    with pytest.warns(Warning):  # ConvergenceWarning: max_iter reached
        est.fit(X, y)
    ref = MLPClassifier((7,), solver=solver, batch_size=32, max_iter=1, random_state=0)
    ref._check_settings()
    rs = np.random.RandomState(0)
    Y = ref._validate_input(X, y, False, True)[1].astype(float)
    ref._initialize(X.shape[1], Y.shape[1], ref._loss_for(Y), rs, "float64")
    net = ref.network_
    idx = np.arange(X.shape[0])
    resume = False
    for _ in range(4):
        perm = np.arange(X.shape[0])
        rs.shuffle(perm)
        idx = idx[perm]
        for part in (idx[:64], idx[64:]):
            net.fit(X[part], Y[part], epochs=1, batch_size=part.shape[0] if part.shape[0] < 32
                    else 32, optimizer=est._make_optimizer(), lr=0.05, l2=1e-3 / min(32, len(part)),
                    shuffle=False, progress=False, warm_start=resume)  # fmt: skip
            resume = True
    np.testing.assert_array_equal(est.network_.params, net.params)


def test_divergence_restores_the_epoch_start_and_raises() -> None:
    X, _ = _data()
    y = X @ np.arange(1.0, 6.0) * 1e3
    est = MLPRegressor((8,), solver="sgd", momentum=0.0, learning_rate_init=1e3, max_iter=50,
                       random_state=0)  # fmt: skip
    with pytest.raises(fb.FitDivergedError, match="non-finite parameter weights"):
        est.fit(X, y)
    assert np.isfinite(est.network_.params).all()
    assert np.isfinite(est.network_.optimizer.s1).all()


class _CtrlCAfter:
    """Stands in for the Ctrl-C event: reports a press from the ``after``-th check on."""

    def __init__(self, after: int) -> None:
        self.after, self.checks = after, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > self.after


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_ctrl_c_restores_the_epoch_start_and_stops(monkeypatch, solver) -> None:
    """A Ctrl-C noticed in epoch 3 (after a compiled call) restores the weights and optimizer
    state of the end of epoch 2: the same as a fit of 2 epochs, to the bit."""
    import contextlib

    import fastbp.sklearn as fs
    import fastbp.sklearn._base as base

    monkeypatch.setattr(fs, "EPOCH_LOOP", "python")  # the compiled loop: test_sklearn_loop.py
    X, y = _data()  # 90 rows, batch 32: two compiled calls (and checks) per epoch
    kw = dict(solver=solver, batch_size=32, random_state=0, learning_rate_init=0.05, tol=0.0)
    with pytest.warns(Warning):  # ConvergenceWarning: max_iter reached
        two = MLPClassifier((7,), max_iter=2, **kw).fit(X, y)
    event = _CtrlCAfter(after=4)
    monkeypatch.setattr(base, "ctrl_c_deferred", lambda: contextlib.nullcontext(event))
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est = MLPClassifier((7,), max_iter=10, **kw).fit(X, y)
    assert event.checks == 5
    assert est.n_iter_ == 2 and est.loss_curve_ == two.loss_curve_
    np.testing.assert_array_equal(est.network_.params, two.network_.params)
    np.testing.assert_array_equal(est.network_.optimizer.s1, two.network_.optimizer.s1)
    assert int(est.network_.optimizer.step[0]) == int(two.network_.optimizer.step[0])
