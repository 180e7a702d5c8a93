"""The steady state of the estimators' ``partial_fit`` (fastbp.sklearn._lean) against the full path.

Every lean call must leave the estimator exactly as the full path would: the same weights (bit
for bit, the epoch is the same code), optimizer state, loss curve and counters; anything the
lean checks do not accept must reach the full path, which raises scikit-learn's errors with
nothing changed.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from fastbp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _data(n: int = 120, d: int = 6, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8).astype(int) * (k > 2)
    return X, y


def _full(est, method: str = "partial_fit", **kw):
    """The estimator forced onto the full path on every call (its lean state dropped first)."""

    def call(X, y, **more):
        est.__dict__.pop("_lean", None)
        return getattr(est, method)(X, y, **kw, **more)

    return call


def _same_state(a, b) -> None:
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    oa, ob = a.network_.optimizer, b.network_.optimizer
    for key, value in oa.state_arrays().items():
        np.testing.assert_array_equal(value, ob.state_arrays()[key])
    assert a.loss_curve_ == b.loss_curve_
    assert (a.n_iter_, a.t_, a.loss_) == (b.n_iter_, b.t_, b.loss_)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("k", [2, 3])
def test_classifier_lean_equals_full_path(dtype, solver, k):
    X, y = _data(k=k)
    X = X.astype(dtype)
    kw = dict(hidden_layer_sizes=(7,), solver=solver, random_state=0, batch_size=16)
    lean, full = MLPClassifier(**kw), MLPClassifier(**kw)
    classes = np.arange(k)
    lean.partial_fit(X[:40], y[:40], classes=classes)
    full.partial_fit(X[:40], y[:40], classes=classes)
    runner = lean._lean.runner
    for lo in range(40, 120, 20):  # the last blocks pass classes again, as many loops do
        more = {"classes": classes} if lo >= 80 else {}
        lean.partial_fit(X[lo : lo + 20], y[lo : lo + 20], **more)
        assert lean._lean.runner is runner  # the lean path ran: the runner was reused
        _full(full)(X[lo : lo + 20], y[lo : lo + 20], **more)
        _same_state(lean, full)
    np.testing.assert_array_equal(lean.predict_proba(X), full.predict_proba(X))


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_lean_equals_full_path(loss, n_outputs):
    X, _ = _data()
    rng = np.random.default_rng(1)
    y = np.abs(rng.standard_normal((120, n_outputs)))
    if n_outputs == 1:
        y = y.ravel()
    kw = dict(hidden_layer_sizes=(5,), random_state=0, loss=loss, learning_rate_init=1e-3)
    lean, full = MLPRegressor(**kw), MLPRegressor(**kw)
    lean.partial_fit(X[:30], y[:30])
    full.partial_fit(X[:30], y[:30])
    runner = lean._lean.runner
    for lo in range(30, 120, 30):
        lean.partial_fit(X[lo : lo + 30], y[lo : lo + 30])
        assert lean._lean.runner is runner
        _full(full)(X[lo : lo + 30], y[lo : lo + 30])
        _same_state(lean, full)


def test_lean_path_after_pickle_equals_uninterrupted_run():
    X, y = _data()
    kw = dict(hidden_layer_sizes=(6,), random_state=3, batch_size=10)
    a, b = MLPClassifier(**kw), MLPClassifier(**kw)
    for est in (a, b):
        est.partial_fit(X[:40], y[:40], classes=np.arange(3))
        est.partial_fit(X[40:80], y[40:80])
    b = pickle.loads(pickle.dumps(b))
    assert b._lean.runner is None  # settings travel, the runner is made on the next call
    a.partial_fit(X[80:], y[80:])
    b.partial_fit(X[80:], y[80:])
    assert b._lean.runner is not None
    _same_state(a, b)


def test_changed_settings_take_the_full_path():
    X, y = _data()
    clf = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    clf.partial_fit(X[:40], y[:40], classes=np.arange(3))
    clf.set_params(learning_rate_init=-1.0)  # invalid: only the full path's checks see it
    with pytest.raises(ValueError, match="learning_rate_init"):
        clf.partial_fit(X[40:80], y[40:80])
    clf.set_params(learning_rate_init=0.01)
    ref = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    ref.partial_fit(X[:40], y[:40], classes=np.arange(3))
    ref.set_params(learning_rate_init=0.01)
    clf.partial_fit(X[40:80], y[40:80])
    _full(ref)(X[40:80], y[40:80])
    _same_state(clf, ref)


@pytest.mark.parametrize(
    "bad",
    [
        lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y),
        lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), y),
        lambda X, y: (X[:, :-1], y),
        lambda X, y: (X, np.where(np.arange(y.size) == 2, 7, y)),
        lambda X, y: (X, y[:-1]),
    ],
    ids=["nan", "inf", "width", "unknown-label", "length"],
)
def test_bad_input_is_refused_with_nothing_changed(bad):
    X, y = _data()
    clf = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    clf.partial_fit(X[:40], y[:40], classes=np.arange(3))
    clf.partial_fit(X[40:80], y[40:80])
    before = pickle.dumps(clf.network_.params), len(clf.loss_curve_), clf.n_iter_, clf.t_
    Xb, yb = bad(X[80:], y[80:])
    with pytest.raises(ValueError):
        clf.partial_fit(Xb, yb)
    after = pickle.dumps(clf.network_.params), len(clf.loss_curve_), clf.n_iter_, clf.t_
    assert before == after


def test_lean_path_takes_strided_and_fortran_rows():
    X, y = _data()
    kw = dict(hidden_layer_sizes=(6,), random_state=0)
    a, b = MLPClassifier(**kw), MLPClassifier(**kw)
    for est in (a, b):
        est.partial_fit(X[:40], y[:40], classes=np.arange(3))
    wide = np.repeat(X[40:80], 2, axis=1)[:, ::2]  # a strided view of the same values
    a.partial_fit(np.asfortranarray(X[40:80]), y[40:80])
    a.partial_fit(wide, y[40:80])
    b.partial_fit(X[40:80].copy(), y[40:80])
    b.partial_fit(X[40:80].copy(), y[40:80])
    _same_state(a, b)


def test_replaced_network_optimizer_is_not_reused():
    X, y = _data()
    clf = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    clf.partial_fit(X[:40], y[:40], classes=np.arange(3))
    clf.partial_fit(X[40:80], y[40:80])
    runner = clf._lean.runner
    clf.network_.optimizer = None  # someone reset it by hand: a new runner, a new state
    clf.partial_fit(X[80:], y[80:])
    assert clf._lean.runner is not runner
    assert clf.network_.optimizer is clf._lean.runner.opt
