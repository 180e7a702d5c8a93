"""The classifier's ``class_weight`` (beyond scikit-learn's MLPClassifier): each row's class
weight multiplies its sample weight, so a fit with ``class_weight`` is exactly the fit with those
sample weights (same seed, same kernels), and ``"balanced"`` follows scikit-learn's rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from fastbp.sklearn import MLPClassifier

# Short fits on purpose: the comparisons are exact whatever the convergence.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes, imbalanced 6:3:1, labels as strings (any LabelBinarizer label works)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(["a", "b", "c"]), size=n, p=[0.6, 0.3, 0.1])
    X = rng.normal(size=(n, 4)) + (y == "b")[:, None] * 1.0 - (y == "c")[:, None] * 1.0
    return X, y


def _est(**kw) -> MLPClassifier:
    base = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, batch_size=16)
    return MLPClassifier(**{**base, **kw})


def _same_fit(a: MLPClassifier, b: MLPClassifier) -> None:
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(ca, cb)
    assert a.loss_curve_ == b.loss_curve_


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_a_dict_is_the_sample_weights_it_names(solver: str) -> None:
    X, y = _data()
    cw = {"a": 0.5, "c": 3.0}  # "b" left out: weight 1
    sw = np.array([cw.get(label, 1.0) for label in y])
    got = _est(solver=solver, class_weight=cw).fit(X, y)
    want = _est(solver=solver).fit(X, y, sample_weight=sw)
    for ca, cb in zip(got.coefs_ + got.intercepts_, want.coefs_ + want.intercepts_, strict=True):
        np.testing.assert_array_equal(ca, cb)


def test_balanced_is_scikit_learns_rule_and_multiplies_sample_weight() -> None:
    X, y = _data()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    got = _est(class_weight="balanced").fit(X, y, sample_weight=sw)
    want = _est().fit(X, y, sample_weight=sw * compute_sample_weight("balanced", y))
    _same_fit(got, want)


def test_balanced_raises_the_minority_class_recall() -> None:
    X, y = _data(n=400, seed=2)
    kw = dict(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01)
    plain = _est(**kw).fit(X, y)
    balanced = _est(**kw, class_weight="balanced").fit(X, y)
    minority = y == "c"
    recall = [np.mean(est.predict(X[minority]) == "c") for est in (plain, balanced)]
    assert recall[1] > recall[0], recall


def test_partial_fit_takes_a_dict_and_refuses_balanced() -> None:
    X, y = _data()
    classes = np.array(["a", "b", "c"])
    cw = dict(zip(classes, compute_class_weight("balanced", classes=classes, y=y), strict=True))
    got = _est(class_weight=cw)
    want = _est()
    for lo in range(0, len(y), 40):  # batches need not hold every class
        part = slice(lo, lo + 40)
        got.partial_fit(X[part], y[part], classes=classes)
        sw = np.array([cw[label] for label in y[part]])
        want.partial_fit(X[part], y[part], classes=classes, sample_weight=sw)
    _same_fit(got, want)
    with pytest.raises(ValueError, match="'balanced' needs every label at once"):
        _est(class_weight="balanced").partial_fit(X, y, classes=classes)
    with pytest.raises(ValueError, match="not in classes_"):
        _est(class_weight={"z": 2.0}).partial_fit(X, y, classes=classes)


@pytest.mark.parametrize(
    ("class_weight", "kw", "match"),
    [
        ({"a": -1.0}, {}, "not finite and >= 0"),
        ("bogus", {}, "balanced"),
        ({"a": 2.0}, {"max_grad_norm": 1.0}, "no weights"),
    ],
)
def test_bad_class_weight_is_refused(class_weight, kw, match) -> None:
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        _est(class_weight=class_weight, **kw).fit(X, y)


def test_class_weight_is_a_parameter_like_any_other() -> None:
    est = _est(class_weight={"a": 2.0})
    assert est.get_params()["class_weight"] == {"a": 2.0}
    assert clone(est).class_weight == {"a": 2.0}
    assert "class_weight={'a': 2.0}" in repr(est)
    assert MLPClassifier().class_weight is None
