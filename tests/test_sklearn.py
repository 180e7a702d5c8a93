"""fastbp.sklearn: scikit-learn's estimator checks, parity with sklearn's MLP, meta-estimators.

scikit-learn is a test dependency: this module fails (it does not skip) when it is missing.

Expected failures and skips in ``check_estimator``
--------------------------------------------------
Every check passes, so ``expected_failed_checks`` is empty (see ``_expected_failed_checks``).
scikit-learn itself skips these checks, depending on the environment and not on fastbp:

* ``check_array_api_input``: runs only with ``SCIPY_ARRAY_API=1`` and an array-API library.
  The estimators declare ``array_api_support=False`` and convert every input to NumPy.
* ``check_regressor_data_not_an_array`` / ``check_classifier_data_not_an_array``: run only when
  pandas is installed (it is in the ``dev`` extra).  Without it, the list-input variant still
  runs in ``check_estimators_dtypes`` and others.
* ``check_classifiers_multilabel_output_format_decision_function``: the classifier has no
  ``decision_function``, as scikit-learn's ``MLPClassifier``.

Sparse input (CSR/CSC) is accepted (``input_tags.sparse=True``) and ``check_estimator_sparse_*``
fits on it.

ConvergenceWarning: short fits stop at ``max_iter`` on purpose and warn, as scikit-learn's MLP
does.  The suite turns warnings into errors, so this module ignores that one category.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastbp as fb
from fastbp.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _expected_failed_checks(estimator) -> dict[str, str]:
    """check name -> reason; empty because every applicable check passes (see module docstring)."""
    return {}


def _listed(mark: pytest.MarkDecorator) -> pytest.MarkDecorator:
    """The same parametrize mark with its cases in a list: scikit-learn 1.7 (the floor) hands
    pytest a generator, which pytest 9 deprecates, an error under this suite's filterwarnings."""
    names, cases = mark.args
    return pytest.mark.parametrize(names, list(cases), **mark.kwargs)


@_listed(
    parametrize_with_checks(
        [MLPRegressor(), MLPClassifier()], expected_failed_checks=_expected_failed_checks
    )
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def digits():
    d = fb.datasets.load_digits()
    X = StandardScaler().fit_transform(d.X)
    return X[:600], d.y[:600]


@pytest.fixture(scope="module")
def diabetes():
    d = fb.datasets.load_diabetes()
    X = StandardScaler().fit_transform(d.X)
    return X, (d.y - d.y.mean()) / d.y.std()


def _max_coef_diff(a, b) -> float:
    pairs = list(zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True))
    return max(float(np.abs(x - y).max()) for x, y in pairs)


# ----------------------------------------------------------------------------- parity
SGD_VARIANTS = {
    "plain": dict(solver="sgd", momentum=0.0),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False),
    "nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    "invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.05),
}


@pytest.mark.parametrize("variant", sorted(SGD_VARIANTS))
@pytest.mark.parametrize("labels", ["multiclass", "binary", "strings"])
def test_classifier_matches_sklearn_sgd(digits, variant, labels):
    # The same draws from random_state (init, shuffles), the same batches (64 does not divide
    # 600, so the short last batch and its α/m_last penalty are exercised), the same updates.
    X, y = digits
    y = {"multiclass": y, "binary": y > 4, "strings": np.array(["odd", "even"])[y % 2]}[labels]
    params = dict(hidden_layer_sizes=(20, 12), max_iter=4, batch_size=64, alpha=1e-3,
                  learning_rate_init=0.02, random_state=0)  # fmt: skip
    params.update(SGD_VARIANTS[variant])
    ours, ref = MLPClassifier(**params).fit(X, y), SkMLPClassifier(**params).fit(X, y)
    assert _max_coef_diff(ours, ref) < 1e-12
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-5)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-10, atol=1e-12)


def test_regressor_matches_sklearn_with_early_stopping(diabetes):
    # Early stopping: the same validation split, the same best-epoch restore, the same n_iter_.
    X, y = diabetes
    params = dict(hidden_layer_sizes=(16,), activation="tanh", solver="sgd", max_iter=300,
                  learning_rate_init=0.01, early_stopping=True, random_state=0)  # fmt: skip
    ours, ref = MLPRegressor(**params).fit(X, y), SkMLPRegressor(**params).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_ < 300
    assert _max_coef_diff(ours, ref) < 1e-12
    np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_, rtol=1e-10)


def test_regressor_matches_sklearn_tol_stopping_and_multioutput(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, -0.5 * y + 0.1])
    params = dict(hidden_layer_sizes=(8,), activation="logistic", solver="sgd", max_iter=500,
                  learning_rate="adaptive", tol=1e-3, random_state=1)  # fmt: skip
    ours, ref = MLPRegressor(**params).fit(X, Y), SkMLPRegressor(**params).fit(X, Y)
    assert ours.n_iter_ == ref.n_iter_ < 500
    assert ours.predict(X).shape == (X.shape[0], 2)
    assert _max_coef_diff(ours, ref) < 1e-10
    # loss_curve_ uses sklearn's convention (mean over outputs); the L2 term is approximate.
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-4)


def test_adam_matches_sklearn_when_epsilon_is_negligible(digits):
    # scikit-learn adds ε to √v and fastbp to √v̂ (module docstring); with ε → 0 they agree.
    X, y = digits
    params = dict(hidden_layer_sizes=(20,), max_iter=3, batch_size=50, random_state=0,
                  epsilon=1e-30)  # fmt: skip
    ours, ref = MLPClassifier(**params).fit(X, y), SkMLPClassifier(**params).fit(X, y)
    assert _max_coef_diff(ours, ref) < 1e-10


def test_partial_fit_matches_sklearn(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), solver="sgd", batch_size=100, random_state=0)
    ours, ref = MLPClassifier(**params), SkMLPClassifier(**params)
    with pytest.raises(ValueError, match="classes must be passed"):
        ours.partial_fit(X[:200], y[:200])
    for lo in (0, 200, 400):
        part = slice(lo, lo + 200)
        ours.partial_fit(X[part], y[part], classes=np.arange(10))
        ref.partial_fit(X[part], y[part], classes=np.arange(10))
    assert ours.n_iter_ == 1 and ours.t_ == ref.t_ == 600
    assert _max_coef_diff(ours, ref) < 1e-12


# ----------------------------------------------------------------------------- semantics
def test_fitted_attributes_are_views_in_sklearn_layout(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(7,), max_iter=2, random_state=0).fit(X, y > 4)
    net = clf.network_
    assert isinstance(net, fb.Network)
    assert [c.shape for c in clf.coefs_] == [(64, 7), (7, 1)]  # binary: one logistic output
    assert net.spec.loss == "logistic" and clf.out_activation_ == "logistic"
    W1, b1 = net.layer(1)
    np.testing.assert_array_equal(clf.coefs_[0], W1.T)
    clf.coefs_[0][0, 0] = 123.0
    clf.intercepts_[1][0] = -4.0
    assert W1[0, 0] == 123.0 and net.layer(2)[1][0] == -4.0
    assert clf.n_features_in_ == 64 and clf.n_layers_ == 3 and clf.n_outputs_ == 1


def test_classifier_labels_probabilities_and_multilabel(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])  # fmt: skip
    clf = MLPClassifier((32,), learning_rate_init=0.01, max_iter=30, random_state=0).fit(
        X, names[y]
    )
    assert list(clf.classes_) == sorted(names)
    assert clf.network_.spec.loss == "softmax_cross_entropy"
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert clf.score(X, names[y]) > 0.95
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)

    Y = np.column_stack([y % 2 == 0, y > 4, y == 7]).astype(int)  # multilabel indicator
    ml = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(X, Y)
    assert ml.predict(X).shape == (len(X), 3) and ml.predict_proba(X).shape == (len(X), 3)
    assert ml.network_.spec.loss == "logistic" and ml.network_.spec.n_outputs == 3


def test_parameter_errors_are_raised_at_fit(digits):
    X, y = digits
    for params, match in [
        (dict(solver="newton"), "solver"),
        (dict(max_fun=0), "max_fun"),
        (dict(n_iter_no_change=0), "n_iter_no_change"),
        (dict(activation="softmax"), "activation"),
        (dict(hidden_layer_sizes=(4, 0)), "hidden_layer_sizes"),
        (dict(learning_rate="sometimes"), "learning_rate"),
        (dict(momentum=1.5), "momentum"),
        (dict(dtype="float16"), "dtype"),
    ]:
        est = MLPClassifier(**params)  # constructing never validates (sklearn convention)
        with pytest.raises(ValueError, match=match):
            est.fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y.astype(float))


def test_fastbp_activation_names_and_float32(diabetes):
    X, y = diabetes
    reg = MLPRegressor(hidden_layer_sizes=(16,), activation="softplus", dtype="float32",
                       learning_rate_init=0.01, max_iter=50, random_state=0).fit(X, y)  # fmt: skip
    assert reg.network_.spec.dtype == "float32" and reg.coefs_[0].dtype == np.float32
    assert reg.network_.spec.activations == ("softplus",)
    assert reg.predict(X).dtype == np.float32 and reg.score(X, y) > 0.4


def test_warm_start_continues_and_checks_architecture(diabetes):
    X, y = diabetes
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0)
    reg.fit(X, y)
    before = reg.network_.params.copy()
    reg.fit(X, y)
    assert len(reg.loss_curve_) == 10 and not np.array_equal(before, reg.network_.params)
    reg.set_params(hidden_layer_sizes=(9,))
    with pytest.raises(ValueError, match="architecture"):
        reg.fit(X, y)


def test_progress_shows_fastbp_progress_bar(diabetes, capsys):
    X, y = diabetes
    MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, progress=True, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert "3/3" in captured.err and "Iteration" not in captured.out


def test_verbose_prints_sklearns_lines(diabetes, capsys):
    X, y = diabetes
    params = dict(hidden_layer_sizes=(4,), max_iter=3, verbose=True, random_state=0,
                  solver="sgd", early_stopping=True)  # fmt: skip
    ours = MLPRegressor(**params).fit(X, y)
    out = capsys.readouterr().out
    theirs = SkMLPRegressor(**params).fit(X, y)
    sk_out = capsys.readouterr().out
    lines, sk_lines = out.splitlines(), sk_out.splitlines()
    assert [ln.split(",")[0].split(":")[0] for ln in lines] == [
        ln.split(",")[0].split(":")[0] for ln in sk_lines
    ]
    assert lines[0] == f"Iteration 1, loss = {ours.loss_curve_[0]:.8f}"
    assert lines[1] == f"Validation score: {ours.validation_scores_[0]:f}"
    assert len(theirs.loss_curve_) == len(ours.loss_curve_) == 3


# ----------------------------------------------------------------------------- ecosystem
def test_pickle_and_deepcopy_round_trip(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", max_iter=3, random_state=0)
    clf.fit(X, y)
    for other in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        assert other.network_ is not clf.network_
        np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
        # The optimizer state travels too: continuing gives the same parameters.
        other.partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(other.network_.params, clf.network_.params)


def test_pipeline_grid_search_two_jobs_cross_val_and_clone():
    X, y = make_classification(n_samples=240, n_features=12, n_informative=6, n_classes=3,
                               random_state=0)  # fmt: skip
    mlp = MLPClassifier(learning_rate_init=0.01, batch_size=32, max_iter=50, random_state=0)
    pipe = make_pipeline(StandardScaler(), mlp)
    grid = {"mlpclassifier__hidden_layer_sizes": [(8,), (32,)],
            "mlpclassifier__alpha": [1e-4, 1e-1]}  # fmt: skip
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_score_ > 0.6
    assert search.best_estimator_[-1].network_.spec.widths[1] in (8, 32)

    reg = MLPRegressor(learning_rate_init=0.01, max_iter=50, random_state=0)
    scores = cross_val_score(reg, X, X[:, 0] - X[:, 1], cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)

    fitted = search.best_estimator_[-1]
    fresh = clone(fitted)
    assert not hasattr(fresh, "network_") and fresh.get_params() == fitted.get_params()


def test_import_fastbp_does_not_import_sklearn():
    code = (
        "import sys, fastbp; "
        "bad = [m for m in ('sklearn', 'joblib', 'dask', 'distributed') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
