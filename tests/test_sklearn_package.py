"""The fastbp.sklearn package: its public names, and the two switches it forwards to the fits."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="fastbp.sklearn needs scikit-learn (in the dev extra)")

import scipy.sparse as sp  # noqa: E402
from conftest import assert_close  # noqa: E402

import fastbp as fb  # noqa: E402
import fastbp.sklearn as fbsk  # noqa: E402
from fastbp import sparse_kernels  # noqa: E402
from fastbp.sklearn import MLPClassifier, MLPRegressor, _params  # noqa: E402


def _sparse_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, 12, density=0.3, format="csr", random_state=seed)
    s = np.asarray(X.sum(axis=1)).ravel()
    y = (s > np.median(s)).astype(int)
    return X, y, rng


def test_public_names_live_in_the_package() -> None:
    for cls in (MLPClassifier, MLPRegressor):
        assert cls.__module__ == "fastbp.sklearn"  # documented (and pickled) by this path
        assert getattr(fbsk, cls.__name__) is cls
    for name in fbsk.__all__:
        assert hasattr(fbsk, name), name
    assert fbsk.SOLVERS == ("lbfgs", "sgd", "adam", "momentum", "nesterov", "adamw")
    assert fbsk.SPARSE_TRAINING == "csr" and fbsk.SPARSE_CHUNK_ROWS == 2048
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        fbsk.nothing  # noqa: B018


def test_pickles_name_the_package_path() -> None:
    X, y, _ = _sparse_data()
    est = MLPClassifier((4,), max_iter=2, random_state=0)
    with pytest.warns(Warning):  # ConvergenceWarning: max_iter reached
        est.fit(X.toarray(), y)
    blob = pickle.dumps(est)
    assert b"fastbp.sklearn._" not in blob  # no private module path in the file
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.network_.params, est.network_.params)


@pytest.mark.parametrize(("mode", "csr_calls"), [("csr", True), ("densify", False)])
def test_sparse_training_switch_selects_the_path(monkeypatch, mode, csr_calls) -> None:
    """Setting fastbp.sklearn.SPARSE_TRAINING reaches the epoch runner (in _params)."""
    calls = []
    kernel = sparse_kernels.minibatch_epoch_csr

    def spy(*args):
        calls.append(1)
        return kernel(*args)

    monkeypatch.setattr(sparse_kernels, "minibatch_epoch_csr", spy)
    monkeypatch.setattr(fbsk, "SPARSE_TRAINING", mode)
    assert _params.SPARSE_TRAINING == mode
    X, y, _ = _sparse_data()
    with pytest.warns(Warning):  # ConvergenceWarning: max_iter reached
        MLPClassifier((4,), solver="sgd", batch_size=16, max_iter=2, random_state=0).fit(X, y)
    assert bool(calls) is csr_calls
    monkeypatch.undo()
    assert fbsk.SPARSE_TRAINING == "csr" and _params.SPARSE_TRAINING == "csr"


def test_deleting_a_switch_restores_its_default() -> None:
    fbsk.SPARSE_TRAINING = "densify"
    try:
        assert _params.SPARSE_TRAINING == "densify"
    finally:
        del fbsk.SPARSE_TRAINING
    assert fbsk.SPARSE_TRAINING == "csr" and _params.SPARSE_TRAINING == "csr"


def test_sparse_chunk_rows_switch_reaches_predictions(monkeypatch) -> None:
    X, y, _ = _sparse_data(n=50)
    with pytest.warns(Warning):
        est = MLPClassifier((4,), max_iter=1, random_state=0).fit(X, y)
    dense = est.predict_proba(X.toarray())
    rows = []
    forward = fb.Network.forward

    def spy(self, X, *args, **kwargs):
        rows.append(X.shape[0])
        return forward(self, X, *args, **kwargs)

    monkeypatch.setattr(fb.Network, "forward", spy)
    monkeypatch.setattr(fbsk, "SPARSE_CHUNK_ROWS", 7)
    # Chunks under the BLAS threshold use the loop kernels, so equal only to rounding.
    assert_close(est.predict_proba(X), dense, "float64", "7-row chunks vs dense")
    assert rows == [7] * 7 + [1]
