"""scikit-learn conversion: Network.from_sklearn and fastbp.sklearn's from_sklearn/to_sklearn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from interop_cases import assert_export_close

import fastbp as fb

pytest.importorskip("sklearn", reason="needs the sklearn extra (pip install 'fastbp[sklearn]')")
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

import fastbp.sklearn as fsk  # noqa: E402

SK_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def data(task: str, dtype: str = "float64", n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(dtype)
    if task == "binary":
        y = np.where(X[:, 0] + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    elif task == "multiclass":
        y = np.digitize(X[:, 0] + X[:, 1], [-1.0, 0.0, 1.0])
    elif task == "multilabel":
        y = (X[:, :3] > 0).astype(int)
    elif task == "regression":
        y = X @ rng.normal(size=5) + 0.1 * rng.normal(size=n)
    else:  # two regression outputs
        y = np.c_[X[:, 0] - X[:, 1], np.sin(X[:, 2])]
    return X, y


def fitted(kind, task: str, dtype="float64", **params):
    X, y = data(task, dtype)
    est = kind(hidden_layer_sizes=params.pop("hidden", (7, 4)), random_state=0, max_iter=30,
               **params)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return est, X


def expected_forward(est, X):
    """What net.forward must return: predict_proba (one column for a binary sigmoid) or predict."""
    if hasattr(est, "predict_proba"):
        p = est.predict_proba(X)
        return p[:, 1:] if est.out_activation_ == "logistic" and est.n_outputs_ == 1 else p
    return est.predict(X).reshape(X.shape[0], -1)


CLASSIFIER_TASKS = ["binary", "multiclass", "multilabel"]
REGRESSOR_TASKS = ["regression", "two_outputs"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", SK_ACTIVATIONS)
@pytest.mark.parametrize(
    ("kind", "task"),
    [(MLPClassifier, t) for t in CLASSIFIER_TASKS] + [(MLPRegressor, t) for t in REGRESSOR_TASKS],
)
def test_network_from_sklearn_gives_the_same_outputs(kind, task, act, dtype):
    est, X = fitted(kind, task, dtype, activation=act)
    net = fb.Network.from_sklearn(est)
    assert net.spec.dtype == est.coefs_[0].dtype.name == dtype
    assert net.spec.widths == (5, 7, 4, est.n_outputs_)
    assert net.spec.output_activation == {"identity": "identity", "softmax": "softmax",
                                          "logistic": "sigmoid"}[est.out_activation_]  # fmt: skip
    assert_export_close(net.forward(X), expected_forward(est, X), dtype, f"{task} {act}")
    for k, (c, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True), start=1):
        W, bias = net.layer(k)
        np.testing.assert_array_equal(W, c.T)
        np.testing.assert_array_equal(bias, b)
    if task != "multilabel" and kind is MLPClassifier:
        np.testing.assert_array_equal(net.predict(X), np.searchsorted(est.classes_, est.predict(X)))
        assert net.metadata["target_names"] == [str(c) for c in est.classes_]


def test_any_solver_converts_including_lbfgs():
    est, X = fitted(MLPClassifier, "multiclass", solver="lbfgs", activation="tanh")
    assert_export_close(
        fb.Network.from_sklearn(est).forward(X), expected_forward(est, X), "float64"
    )


def test_network_from_sklearn_refusals():
    with pytest.raises(NotFittedError):
        fb.Network.from_sklearn(MLPClassifier())
    with pytest.raises(NotFittedError):
        fb.Network.from_sklearn(fsk.MLPRegressor())
    assert issubclass(NotFittedError, ValueError)
    X, y = data("regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        poisson = MLPRegressor(loss="poisson", max_iter=5, random_state=0).fit(X, np.abs(y))
    net = fb.Network.from_sklearn(poisson)  # loss="poisson" maps to fastbp's "poisson"
    assert net.spec.loss == "poisson"
    np.testing.assert_allclose(net.forward(X)[:, 0], poisson.predict(X), rtol=1e-12)
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        fb.Network.from_sklearn(LogisticRegression().fit(*data("binary")))
    est, _ = fitted(MLPRegressor, "regression")
    est.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fb.Network.from_sklearn(est)
    est, _ = fitted(MLPRegressor, "regression")
    est.activation = "gelu"
    with pytest.raises(ValueError, match="gelu"):
        fb.Network.from_sklearn(est)


def test_network_from_a_fastbp_estimator_is_a_copy():
    X, y = data("multiclass")
    ours = fsk.MLPClassifier((6,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
    net = fb.Network.from_sklearn(ours)
    assert net is not ours.network_
    np.testing.assert_array_equal(net.params, ours.network_.params)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("kind", "ours", "task"),
    [(MLPClassifier, fsk.MLPClassifier, t) for t in CLASSIFIER_TASKS]
    + [(MLPRegressor, fsk.MLPRegressor, t) for t in REGRESSOR_TASKS],
)
def test_estimator_round_trip(kind, ours, task, dtype):
    est, X = fitted(kind, task, dtype, activation="logistic", solver="sgd")
    converted = ours.from_sklearn(est)
    assert isinstance(converted, ours) and converted.dtype == dtype
    assert converted.get_params()["activation"] == "logistic"
    assert converted.loss_curve_ == est.loss_curve_ and converted.n_iter_ == est.n_iter_
    back = converted.to_sklearn()
    assert type(back) is kind
    assert back.get_params() == est.get_params()
    for model in (converted, back):
        if kind is MLPClassifier:
            np.testing.assert_array_equal(model.predict(X), est.predict(X))
            assert_export_close(model.predict_proba(X), est.predict_proba(X), dtype)
        else:
            assert_export_close(model.predict(X), est.predict(X), dtype)


def test_converted_estimator_trains_on_like_scikit_learn():
    # Plain SGD has no optimizer state, so one more epoch from the converted weights gives
    # scikit-learn's weights (fastbp.sklearn follows its procedure, tests/test_sklearn.py).
    settings = dict(solver="sgd", momentum=0.0, learning_rate_init=0.05, batch_size=16)
    est, X = fitted(MLPRegressor, "regression", **settings)
    _, y = data("regression")
    converted = fsk.MLPRegressor.from_sklearn(est)
    est.partial_fit(X, y)
    converted.partial_fit(X, y)
    for theirs, mine in zip(est.coefs_, converted.coefs_, strict=True):
        assert_export_close(mine, theirs, "float64")
    assert converted.n_iter_ == est.n_iter_ and converted.t_ == est.t_


def test_fastbp_solver_names_map_to_scikit_learns():
    X, y = data("binary")
    for solver, nesterov in (("momentum", False), ("nesterov", True)):
        ours = fsk.MLPClassifier((4,), solver=solver, max_iter=3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.fit(X, y)
        back = ours.to_sklearn()
        assert back.solver == "sgd" and back.nesterovs_momentum is nesterov
        np.testing.assert_array_equal(back.predict(X), ours.predict(X))


def test_fastbp_only_parameters_are_dropped_by_to_sklearn():
    """class_weight, weight_decay, clip_norm, dtype, ... have no scikit-learn counterpart."""
    X, y = data("binary")
    ours = fsk.MLPClassifier((4,), max_iter=3, random_state=0, class_weight="balanced",
                             weight_decay=0.01, clip_norm=1.0, dtype="float64")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
    back = ours.to_sklearn()
    assert set(back.get_params()) < set(ours.get_params())
    np.testing.assert_array_equal(back.predict(X), ours.predict(X))


def test_estimator_conversion_refusals():
    X, y = data("multiclass")
    ours = fsk.MLPClassifier((4,), activation="softplus", max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
    with pytest.raises(ValueError, match="softplus"):
        ours.to_sklearn()
    with pytest.raises(NotFittedError):
        fsk.MLPRegressor().to_sklearn()
    lbfgs, X_lbfgs = fitted(MLPClassifier, "multiclass", solver="lbfgs")
    ours_lbfgs = fsk.MLPClassifier.from_sklearn(lbfgs)  # fastbp trains with L-BFGS too
    assert ours_lbfgs.solver == "lbfgs"
    np.testing.assert_array_equal(ours_lbfgs.predict(X_lbfgs), lbfgs.predict(X_lbfgs))
    regressor, _ = fitted(MLPRegressor, "regression")
    with pytest.raises(TypeError, match="MLPClassifier"):
        fsk.MLPClassifier.from_sklearn(regressor)
    with pytest.raises(NotFittedError):
        fsk.MLPRegressor.from_sklearn(MLPRegressor())


def test_no_hidden_layer_converts_whatever_the_unused_activation():
    X, y = data("multiclass")
    ours = fsk.MLPClassifier((), activation="leaky_relu", max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
    back = ours.to_sklearn()
    assert back.activation == "identity" and back.n_layers_ == 2
    assert_export_close(back.predict_proba(X), ours.predict_proba(X), "float64")
