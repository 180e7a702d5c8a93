"""Bad inputs get the documented exception, naming the argument, before any kernel runs."""

from __future__ import annotations

import numpy as np
import pytest

import fastbp as fb


@pytest.fixture
def reg() -> fb.Network:
    return fb.Network(fb.NetworkSpec([3, 4, 2], ["relu"], "squared"), seed=0)


@pytest.fixture
def clf() -> fb.Network:
    return fb.Network(fb.NetworkSpec([3, 4, 3], ["relu"], "softmax_cross_entropy"), seed=0)


@pytest.mark.parametrize(
    ("X", "exc", "match"),
    [
        (np.ones((2, 3), dtype=np.int64), TypeError, "X has dtype int64"),
        (np.ones((2, 3), dtype=bool), TypeError, "X has dtype bool"),
        (np.ones((2, 3), dtype=complex), TypeError, "X has dtype complex128"),
        (np.array([[1, "a", 2]], dtype=object), TypeError, "X has dtype object"),
        (np.zeros(2, dtype=[("a", "f8"), ("b", "f8")]), TypeError, "structured"),
        ("abc", TypeError, "X must be a numeric array"),
        (None, TypeError, "X must be an array, got None"),
        ([[1.0, 2.0], [3.0]], TypeError, "X could not be read"),
        (np.ones(3), ValueError, r"2-D.*reshape\(1, -1\)"),
        (np.ones((1, 2, 3)), ValueError, "2-D"),
        (np.float64(1.0), ValueError, "2-D"),
        (np.ones((2, 4)), ValueError, "3 columns"),
        (np.ones((0, 3)), ValueError, "X is empty"),
        (np.array([[1.0, np.nan, 0.0]]), ValueError, "1 NaN or inf"),
        (np.array([[1.0, np.inf, -np.inf]]), ValueError, "2 NaN or inf"),
    ],
)
def test_bad_features(reg: fb.Network, X, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        reg.forward(X)
    with pytest.raises(exc, match=match):
        reg.loss_and_gradient(X, np.ones((2, 2)))


@pytest.mark.parametrize(
    ("Y", "exc", "match"),
    [
        (np.ones((3, 2)), ValueError, "Y has 3 rows but X has 2"),
        (np.ones((2, 3)), ValueError, "2 columns"),
        (np.ones(2), ValueError, r"needs shape \(2, 2\)"),
        (np.ones((2, 2, 1)), ValueError, "1-D or 2-D"),
        (np.full((2, 2), np.nan), ValueError, "NaN or inf"),
        (np.ones((2, 2), dtype=complex), TypeError, "Y has dtype complex"),
        (np.ones((2, 2), dtype=bool), TypeError, "Y has dtype bool"),
    ],
)
def test_bad_regression_targets(reg: fb.Network, Y, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        reg.loss(np.ones((2, 3)), Y)


@pytest.mark.parametrize(
    ("Y", "match"),
    [
        (np.array([0, 3]), r"labels must lie in \[0, 3\)"),
        (np.array([-1, 0]), r"labels must lie in \[0, 3\)"),
        (np.array([0.5, 1.0]), "whole numbers"),
        (np.array([[1.0, 1.0, 0.0], [0, 0, 1]]), "sum to 1"),
        (np.array([[2.0, -1.0, 0.0], [0, 0, 1]]), "non-negative"),
    ],
)
def test_bad_classification_targets(clf: fb.Network, Y, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        clf.loss(np.ones((2, 3)), Y)


def test_accepted_target_forms_agree(clf: fb.Network) -> None:
    X = np.random.default_rng(0).normal(size=(4, 3))
    labels = np.array([0, 2, 1, 2])
    onehot = np.eye(3)[labels]
    assert clf.loss(X, labels) == clf.loss(X, onehot) == clf.loss(X, labels.astype(float))
    net1 = fb.Network(fb.NetworkSpec([3, 1], [], "squared"), seed=0)
    y = np.arange(4.0)
    assert net1.loss(X, y) == net1.loss(X, y.reshape(4, 1)) == net1.loss(X, np.arange(4))
    log = fb.Network(fb.NetworkSpec([3, 2], [], "logistic"), seed=0)
    Yb = np.array([[True, False]] * 4)
    assert log.loss(X, Yb) == log.loss(X, Yb.astype(float))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log.loss(X, np.full((4, 2), 2.0))


def test_other_float_dtypes_and_layouts_are_converted_once(reg: fb.Network) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    expected = reg.forward(X)
    np.testing.assert_allclose(reg.forward(X.astype(np.float32)), reg.forward(
        X.astype(np.float32).astype(np.float64)))  # fmt: skip
    np.testing.assert_allclose(reg.forward(np.asfortranarray(X)), expected, rtol=1e-15)
    wide = np.zeros((6, 6))
    wide[:, ::2] = X
    np.testing.assert_allclose(reg.forward(wide[:, ::2]), expected, rtol=1e-15)  # strided
    np.testing.assert_allclose(reg.forward(X[::-1])[::-1], expected, rtol=1e-15)  # reversed
    ro = X.copy()
    ro.setflags(write=False)
    np.testing.assert_allclose(reg.forward(ro), expected, rtol=1e-15)  # read-only
    np.testing.assert_allclose(reg.forward(X.tolist()), expected, rtol=1e-15)  # lists
    half = reg.forward(X.astype(np.float16))
    assert half.dtype == np.float64


def test_input_aliasing_the_parameter_buffer_is_safe() -> None:
    net = fb.Network(fb.NetworkSpec([4, 4, 4], ["tanh"], "squared"), seed=0)
    X = net.params[:16].reshape(4, 4)  # a view of the network's own weights
    before = net.params.copy()
    J, g = net.loss_and_gradient(X, X)
    assert np.array_equal(net.params, before)
    assert np.isfinite(g).all() and np.isfinite(J)
