"""Issue 17: parity with scikit-learn's MLPs (lbfgs, sample_weight, poisson, sparse, dtypes).

Each feature is checked against scikit-learn's own estimator fitted with the same parameters
and ``random_state`` (same initialisation, same objective), or against fastbp's pure-Python
reference for the Network-level sample weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from conftest import assert_close, make_targets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

import fastbp as fb
import fastbp.sklearn as fbsk
from fastbp import reference as ref
from fastbp.gradcheck import gradcheck
from fastbp.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    d = fb.datasets.load_digits()
    X = StandardScaler().fit_transform(d.X)
    return X[:300], d.y[:300]


@pytest.fixture(scope="module")
def diabetes():
    d = fb.datasets.load_diabetes()
    X = StandardScaler().fit_transform(d.X)
    return X, (d.y - d.y.mean()) / d.y.std()


def _params(est) -> np.ndarray:
    return np.concatenate([c.ravel() for c in est.coefs_ + est.intercepts_])


# ----------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("ours, theirs", [(MLPRegressor, SkMLPRegressor),
                                          (MLPClassifier, SkMLPClassifier)])  # fmt: skip
def test_every_sklearn_parameter_is_accepted_with_its_default(ours, theirs):
    sk_params = theirs().get_params()
    fb_params = ours().get_params()
    assert set(sk_params) <= set(fb_params)
    own = {"dtype", "progress", "max_grad_norm", "noise_multiplier", "weight_decay", "clip_norm",
           "dropout", "warmup"}  # fmt: skip
    if ours is MLPRegressor:  # the robust losses' parameters (HistGradientBoosting's names)
        own |= {"huber_delta", "quantile"}
    else:
        own |= {"class_weight"}
    assert set(fb_params) - set(sk_params) == own
    for name, value in sk_params.items():
        assert fb_params[name] == value, name
    est = ours(**sk_params)
    assert est.get_params()["max_fun"] == 15000


def test_n_iter_no_change_inf_runs_to_max_iter(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", tol=1e9, max_iter=30,
                        n_iter_no_change=np.inf, random_state=0).fit(X[:100], y[:100])  # fmt: skip
    assert clf.n_iter_ == 30 and clf._no_improvement_count == 29


def test_diverging_fit_with_early_stopping_records_nan_and_restores_best(diabetes):
    X, y = diabetes
    reg = MLPRegressor(hidden_layer_sizes=(50,), activation="identity", solver="sgd",
                       learning_rate_init=1.0, max_iter=20, early_stopping=True,
                       random_state=0)  # fmt: skip
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg.fit(X * 10, y)
    assert np.isnan(reg.validation_scores_[-1]) and isinstance(reg.validation_scores_[-1], float)
    assert np.isfinite(reg.network_.params).all()
    finite = [s for s in reg.validation_scores_ if np.isfinite(s)]
    if finite:  # the best epoch's weights are back: its validation score is reproduced
        assert reg.best_validation_score_ == max(finite)
    assert np.isfinite(reg.predict(X)).all()


def test_nonfinite_message_points_at_the_cause(diabetes):
    X, y = diabetes
    huge = np.finfo(np.float64).max * np.random.default_rng(0).uniform(size=(10, 2))
    with pytest.raises(ValueError, match="need to be preprocessed.*standardise"):
        MLPRegressor().fit(huge, np.arange(10.0))
    with pytest.raises(ValueError, match="learning rate too large") as info:
        MLPRegressor(
            hidden_layer_sizes=(50,),
            activation="identity",
            solver="sgd",
            learning_rate_init=1.0,
            max_iter=20,
            random_state=0,
        ).fit(X * 10, y)
    assert isinstance(info.value, fb.FitDivergedError)


@pytest.mark.parametrize("Estimator", [MLPRegressor, MLPClassifier])
def test_float32_in_float32_out(digits, Estimator):
    X, y = digits
    est = Estimator(hidden_layer_sizes=(5,), max_iter=5, random_state=1)
    est.fit(X.astype(np.float32), y)
    assert est.network_.spec.dtype == "float32"
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    assert est.predict(X.astype(np.float32)).dtype == (
        np.float32 if Estimator is MLPRegressor else y.dtype
    )
    forced = Estimator(hidden_layer_sizes=(5,), max_iter=5, random_state=1, dtype="float64")
    assert forced.fit(X.astype(np.float32), y).network_.spec.dtype == "float64"
    assert Estimator(hidden_layer_sizes=(5,), max_iter=5).fit(X, y).network_.spec.dtype == "float64"


# ----------------------------------------------------------------------------- lbfgs
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_lbfgs_regressor_matches_sklearn(diabetes, activation):
    X, y = diabetes
    params = dict(solver="lbfgs", hidden_layer_sizes=(10,), activation=activation, max_iter=15,
                  alpha=1e-3, random_state=3)  # fmt: skip
    ours = MLPRegressor(**params).fit(X, y)
    theirs = SkMLPRegressor(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    # Same objective, gradient and start: L-BFGS-B follows the same path up to rounding.
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-6)
    assert not hasattr(ours, "partial_fit")


def test_lbfgs_multioutput_gradient_is_the_gradient_of_loss(diabetes, monkeypatch):
    """With k > 1 outputs scikit-learn's L-BFGS gradient is k times that of the loss it reports
    (the mean over outputs); fastbp hands L-BFGS-B the gradient of that same objective."""
    X, y = diabetes
    seen = {}
    minimize = scipy.optimize.minimize

    def spy(fun, x0, **kwargs):
        seen["fun"], seen["x0"] = fun, x0.copy()
        return minimize(fun, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    MLPRegressor(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(
        X, np.column_stack([y, -y, 2 * y])
    )
    fun, x0 = seen["fun"], seen["x0"]
    J, g = fun(x0.copy())
    h = 1e-6
    for q in range(0, x0.size, 7):
        e = np.zeros_like(x0)
        e[q] = h
        fd = (fun(x0 + e)[0] - fun(x0 - e)[0]) / (2 * h)
        assert abs(fd - g[q]) <= 1e-7 + 1e-5 * abs(fd), q


def test_lbfgs_classifier_matches_sklearn_and_max_fun(digits):
    X, y = digits
    params = dict(solver="lbfgs", hidden_layer_sizes=(12,), max_iter=4, random_state=0)
    ours = MLPClassifier(**params).fit(X, y)
    theirs = SkMLPClassifier(**params).fit(X, y)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        capped = MLPClassifier(**dict(params, max_fun=5, max_iter=100)).fit(X, y)
    assert capped.n_iter_ <= 5


def test_lbfgs_float32_network(diabetes):
    X, y = diabetes
    reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    reg.fit(X.astype(np.float32), y)
    assert reg.coefs_[0].dtype == np.float32 and reg.score(X.astype(np.float32), y) > 0.4


# ----------------------------------------------------------------------------- sample_weight
@pytest.mark.parametrize("loss", sorted(fb.LOSSES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_network_weighted_loss_and_gradient_match_reference(loss, dtype, rng):
    spec = fb.NetworkSpec([4, 5, 3], ["tanh"], loss, dtype)
    net = fb.Network(spec, seed=1)
    m = 9
    X = rng.normal(size=(m, 4))
    Y, Yd = make_targets(spec, m, rng)
    w = rng.uniform(0.0, 2.0, size=m)
    w[2] = 0.0
    J, g = net.loss_and_gradient(X.astype(dtype), Y, sample_weight=w)
    theta = net.params.astype(np.float64).tolist()
    passes = [
        ref.loss_and_gradient(
            theta, spec.widths, spec.activations, loss, [X[i].tolist()], [Yd[i].tolist()]
        )
        for i in range(m)
    ]
    J_ref = sum(w[i] * passes[i].loss for i in range(m)) / w.sum()
    g_ref = sum(w[i] * np.asarray(passes[i].grad) for i in range(m)) / w.sum()
    assert_close(J, J_ref, dtype, "weighted loss")
    assert_close(g, g_ref, dtype, "weighted gradient")
    assert_close(net.loss(X.astype(dtype), Y, sample_weight=w), J_ref, dtype, "loss()")
    with pytest.raises(ValueError, match=">= 0"):
        net.loss(X, Y, sample_weight=-w)
    with pytest.raises(ValueError, match="shape"):
        net.loss(X, Y, sample_weight=w[:-1])


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_sample_weight_matches_sklearn(diabetes, solver):
    X, y = diabetes
    w = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    params = dict(solver=solver, hidden_layer_sizes=(6,), max_iter=4, batch_size=64,
                  learning_rate_init=0.01, random_state=0)  # fmt: skip
    ours = MLPRegressor(**params).fit(X, y, sample_weight=w)
    theirs = SkMLPRegressor(**params).fit(X, y, sample_weight=w)
    # Adam differs by the placement of ε (see the module docstring); sgd by rounding.
    np.testing.assert_allclose(_params(ours), _params(theirs), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-5)


def test_integer_weights_equal_repeated_rows(digits):
    X, y = digits
    X, y = X[:60], y[:60]
    w = np.random.default_rng(1).integers(1, 4, size=60)
    params = dict(solver="lbfgs", hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(_params(weighted), _params(repeated), rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- poisson
def test_poisson_sgd_matches_sklearn():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(120, 3))
    y = rng.poisson(np.exp(X @ [0.5, -0.3, 0.8] + 0.2)).astype(float)
    params = dict(loss="poisson", solver="sgd", hidden_layer_sizes=(4,), max_iter=5,
                  learning_rate_init=0.01, random_state=0)  # fmt: skip
    ours = MLPRegressor(**params).fit(X, y)
    theirs = SkMLPRegressor(**params).fit(X, y)
    assert ours.network_.spec.loss == "poisson" and ours.out_activation_ == "exp"
    np.testing.assert_allclose(_params(ours), _params(theirs), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)
    # L-BFGS: the same objective (with scikit-learn's z-free terms), so the same path.
    params = dict(params, solver="lbfgs", max_iter=4)
    ours = MLPRegressor(**params).fit(X, y)
    theirs = SkMLPRegressor(**params).fit(X, y)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-5)


def test_poisson_lbfgs_linear_network_is_the_glm():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(120, 3))
    y = rng.poisson(np.exp(X @ [0.5, -0.3, 0.8] + 0.2)).astype(float)
    # L-BFGS on a linear network is the Poisson GLM (as scikit-learn's own test checks).
    glm = PoissonRegressor(alpha=0, tol=1e-8).fit(X, y)
    lin = MLPRegressor(
        loss="poisson",
        solver="lbfgs",
        hidden_layer_sizes=(1,),
        activation="identity",
        alpha=0,
        tol=1e-8,
        random_state=1,
    ).fit(X, y)
    np.testing.assert_allclose(lin.predict(X), glm.predict(X), rtol=1e-4)
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(X, -y)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_poisson_network_gradcheck_and_seed(dtype, rng):
    spec = fb.NetworkSpec([3, 4, 2], ["tanh"], "poisson", dtype)
    net = fb.Network(spec, seed=0)
    X = rng.normal(size=(5, 3)) * 0.5
    Y = rng.poisson(1.0, size=(5, 2)).astype(float)
    tr = net.trace(X.astype(dtype), Y)
    # dJ/dz[r] = exp(z[r]) - y
    assert_close(tr.dJ_dz[-1], np.exp(tr.z[-1].astype(np.float64)) - Y, dtype, "seed")
    if dtype == "float64":
        report = gradcheck(net, X, Y)
        assert report.passed, report


# ----------------------------------------------------------------------------- sparse
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("mode", ["csr", "densify"])
def test_sparse_input_gives_the_dense_result(digits, solver, fmt, mode, monkeypatch):
    monkeypatch.setattr(fbsk, "SPARSE_CHUNK_ROWS", 70)  # several densified chunks per epoch
    monkeypatch.setattr(fbsk, "SPARSE_TRAINING", mode)
    X, y = digits
    X = np.where(np.abs(X) > 0.8, X, 0.0)
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    params = dict(solver=solver, hidden_layer_sizes=(7,), max_iter=3, batch_size=32,
                  random_state=0)  # fmt: skip
    dense = MLPClassifier(**params).fit(X, y)
    sparse = MLPClassifier(**params).fit(Xs, y)
    # The CSR kernel sums the first layer in another order: equal to rounding.
    np.testing.assert_allclose(_params(sparse), _params(dense), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(sparse.predict(Xs), dense.predict(X))
    if solver != "lbfgs":
        sparse.partial_fit(Xs, y)
        dense.partial_fit(X, y)
        np.testing.assert_allclose(_params(sparse), _params(dense), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- Network.fit weights
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_network_fit_full_batch_weighted_step_matches_reference(dtype, rng):
    """One full-batch SGD step with weights is θ − α ∇(Σ s_i J_i / Σ s_i), by the reference."""
    spec = fb.NetworkSpec([3, 4, 2], ["sigmoid"], "squared", dtype)
    net = fb.Network(spec, seed=2)
    X = rng.normal(size=(8, 3))
    Y = rng.normal(size=(8, 2))
    w = rng.uniform(0.0, 3.0, size=8)
    theta = net.params.astype(np.float64).tolist()
    passes = [
        ref.loss_and_gradient(
            theta, spec.widths, spec.activations, "squared", [X[i].tolist()], [Y[i].tolist()]
        )
        for i in range(8)
    ]
    g_ref = sum(w[i] * np.asarray(passes[i].grad) for i in range(8)) / w.sum()
    J_ref = sum(w[i] * passes[i].loss for i in range(8)) / w.sum()
    hist = net.fit(X.astype(dtype), Y.astype(dtype), epochs=1, batch_size=8, lr=0.1,
                   shuffle=False, progress=False, sample_weight=w)  # fmt: skip
    assert_close(net.params, np.asarray(theta) - 0.1 * g_ref, dtype, "weighted step")
    assert_close(hist.loss[0], J_ref, dtype, "weighted loss")


def test_network_fit_unit_weights_match_the_unweighted_fit(rng):
    spec = fb.NetworkSpec([4, 6, 3], ["tanh"], "softmax_cross_entropy")
    X = rng.normal(size=(40, 4))
    y = rng.integers(0, 3, size=40)
    a, b = fb.Network(spec, seed=0), fb.Network(spec, seed=0)
    kw = dict(epochs=3, batch_size=8, optimizer="adam", lr=0.01, progress=False,
              validation_fraction=0.2)  # fmt: skip
    ha = a.fit(X, y, **kw)
    hb = b.fit(X, y, sample_weight=np.full(40, 2.5), **kw)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-10)
    np.testing.assert_allclose(hb.val_loss, ha.val_loss, rtol=1e-10)
    with pytest.raises(ValueError, match="sample_weight"):
        a.fit(X, y, sample_weight=np.ones(39), progress=False)


def test_bench_sparse_script_runs_small():
    """scripts/bench_sparse.py (the README's sparse measurements) runs end to end."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_sparse.py"
    out = subprocess.run(
        [sys.executable, str(script), "--rows", "300", "--cols", "40", "--density", "0.1",
         "--epochs", "1", "--repeats", "1"],
        capture_output=True, text=True, timeout=600, check=True,
    ).stdout  # fmt: skip
    for name in ("scikit-learn, CSR", "CSR first-layer kernel", "densified per chunk", "dense"):
        assert name in out, out
