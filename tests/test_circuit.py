"""fastbp.circuit: compiled sweeps against the pure-Python tape walker and finite differences."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from fastbp import Network, NetworkSpec
from fastbp import circuit as fc
from fastbp.activations import RECORDS
from fastbp.circuit import reference as ref
from fastbp.circuit import tape as tape_module
from fastbp.circuit.bridge import CIRCUIT_LOSSES
from fastbp.spec import LOSSES

# Compiled against reference: both are float64 and apply the same local derivatives, so they
# differ only by rounding order (and the kernels' fastmath reassociation/contraction).
RTOL_REF, ATOL_REF = 1e-9, 1e-12
# Central differences with h = 1e-6 (gradient) and h = 1e-5 (HVP, differences of gradients):
# O(h²) truncation plus O(ε/h) rounding, relative to the size of the derivative.
RTOL_FD, ATOL_FD = 1e-5, 1e-7
H_HVP = 1e-5

SIZES = [1, 2, 10, 100, 1000, pytest.param(10_000, marks=pytest.mark.slow)]


def assert_close_scaled(actual, expected, rtol, atol):
    """|actual − expected| ≤ atol + rtol·max(1, max|expected|), entrywise."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol + rtol * scale)


def point(circuit, seed, batch=None):
    rng = np.random.default_rng(seed)
    shape = (circuit.n_inputs,) if batch is None else (batch, circuit.n_inputs)
    return rng.uniform(-1.0, 1.0, shape)


@pytest.fixture(params=[0, 1])
def seed(request):
    return request.param


# ----------------------------------------------------------------------------- random circuits


@pytest.mark.parametrize("n_nodes", SIZES)
def test_sweeps_match_reference(n_nodes, seed):
    c = fc.random_circuit(n_nodes, min(n_nodes, 4), n_outputs=min(n_nodes, 2), seed=seed)
    x, v = point(c, seed), point(c, seed + 100)
    w = np.array([0.7, -1.3])[: c.n_outputs]
    values = ref.forward(c, x)
    assert_close_scaled(c.values(x), values, RTOL_REF, ATOL_REF)  # every node, not just outputs
    assert_close_scaled(c.forward(x), [values[k] for k in c.outputs], RTOL_REF, ATOL_REF)
    assert_close_scaled(c.gradient(x, weights=w), ref.gradient(c, x, w), RTOL_REF, ATOL_REF)
    assert_close_scaled(
        c.gradient(x, output=0), ref.gradient(c, x, [1.0, 0.0][: len(w)]), RTOL_REF, ATOL_REF
    )
    assert_close_scaled(c.jvp(x, v), ref.jvp(c, x, v), RTOL_REF, ATOL_REF)
    assert_close_scaled(c.hvp(x, v, weights=w), ref.hvp(c, x, v, w), RTOL_REF, ATOL_REF)


@pytest.mark.parametrize("n_nodes", SIZES)
def test_gradient_matches_finite_differences(n_nodes, seed):
    c = fc.random_circuit(n_nodes, min(n_nodes, 5), seed=seed + 10)
    report = fc.gradcheck(c, point(c, seed), rtol=RTOL_FD, atol=ATOL_FD)
    assert report.passed, str(report)
    assert report.n_checked == c.n_inputs


@pytest.mark.parametrize("n_nodes", SIZES)
def test_hvp_matches_finite_differences_of_gradient(n_nodes, seed):
    c = fc.random_circuit(n_nodes, min(n_nodes, 5), seed=seed + 20)
    x, v = point(c, seed), point(c, seed + 1)
    fd = (c.gradient(x + H_HVP * v) - c.gradient(x - H_HVP * v)) / (2 * H_HVP)
    assert_close_scaled(c.hvp(x, v), fd, 1e-5, 1e-7)


@pytest.mark.parametrize("n_nodes", SIZES)
def test_jvp_matches_gradient(n_nodes, seed):
    # For one output, J v = ∇f · v: forward mode and reverse mode agree.
    c = fc.random_circuit(n_nodes, min(n_nodes, 5), seed=seed + 30)
    x, v = point(c, seed), point(c, seed + 1)
    assert_close_scaled(c.jvp(x, v)[0], c.gradient(x) @ v, RTOL_REF, ATOL_REF)


@pytest.mark.parametrize("n_nodes", [1, 10, 1000])
def test_batch_kernels_match_single_point(n_nodes, seed):
    c = fc.random_circuit(n_nodes, min(n_nodes, 3), n_outputs=min(n_nodes, 2), seed=seed + 40)
    X, D = point(c, seed, batch=7), point(c, seed + 1, batch=7)
    W = np.random.default_rng(seed).normal(size=(7, c.n_outputs))
    value, grad = c.value_and_gradient(X, weights=W)
    out = c.forward(X)
    np.testing.assert_allclose(c.values(X)[3], c.values(X[3]), rtol=1e-14, atol=0)
    jvp, hvp = c.jvp(X, D), c.hvp(X, D, weights=W)
    for p in range(7):
        np.testing.assert_allclose(out[p], c.forward(X[p]), rtol=1e-14, atol=0)
        assert value[p] == pytest.approx(c.value(X[p], weights=W[p]), rel=1e-14, abs=0)
        np.testing.assert_allclose(grad[p], c.gradient(X[p], weights=W[p]), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(jvp[p], c.jvp(X[p], D[p]), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(hvp[p], c.hvp(X[p], D[p], weights=W[p]), rtol=1e-12, atol=1e-15)


def test_batch_shares_weights_and_direction_rows():
    c = fc.random_circuit(200, 3, n_outputs=2, seed=3)
    X, v, w = point(c, 0, batch=5), point(c, 1), np.array([1.0, -2.0])
    np.testing.assert_array_equal(
        c.hvp(X, v, weights=w), c.hvp(X, np.tile(v, (5, 1)), weights=np.tile(w, (5, 1)))
    )


def test_batch_is_chunked_when_buffers_would_be_large(monkeypatch):
    c = fc.random_circuit(300, 4, seed=5)
    X, D = point(c, 0, batch=50), point(c, 1, batch=50)
    whole = (c.forward(X), c.gradient(X), c.jvp(X, D), c.hvp(X, D))
    monkeypatch.setattr(tape_module, "MAX_BUFFER_BYTES", 8 * 300 * 7)  # chunks of 7 points
    fresh = fc.Circuit.from_arrays(**c.to_arrays())
    for a, b in zip(
        whole, (fresh.forward(X), fresh.gradient(X), fresh.jvp(X, D), fresh.hvp(X, D)), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)


def test_empty_batch():
    c = fc.random_circuit(20, 2, seed=0)
    assert c.forward(np.empty((0, 2))).shape == (0, 1)
    assert c.gradient(np.empty((0, 2))).shape == (0, 2)


def test_concurrent_calls_give_the_same_answers():
    c = fc.random_circuit(2000, 4, seed=6)
    X = point(c, 0, batch=64)
    expected = c.gradient(X)
    results, errors = [], []

    def work():
        try:
            results.extend(c.gradient(X) for _ in range(5))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_random_circuits_use_every_op():
    c = fc.random_circuit(3000, 4, seed=0)
    assert set(c.op_counts()) == set(fc.OPS)
    assert np.isfinite(c.forward(point(c, 0, batch=32))).all()


# ----------------------------------------------------------------------------- the lecture


def lecture_f(x1, x2, x3):
    return fc.sin(x1 * x2) + fc.exp(x3) / x1


def test_lecture_circuit_by_hand():
    # f(x) = sin(x1 x2) + exp(x3)/x1.  Nodes: x1, x2, x3, x1·x2, sin, exp, exp/x1, sum: N = 8.
    c = fc.record(lecture_f, n_inputs=3)
    assert len(c) == 8
    assert c.op_counts() == {"input": 3, "add": 1, "mul": 1, "div": 1, "sin": 1, "exp": 1}
    # At x = (1, 0, 0): f = sin 0 + e⁰/1 = 1.
    x = np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(c.forward(x), [1.0])
    # ∂f/∂x1 = x2 cos(x1 x2) − exp(x3)/x1² = 0 − 1 = −1
    # ∂f/∂x2 = x1 cos(x1 x2)               = 1
    # ∂f/∂x3 = exp(x3)/x1                  = 1
    np.testing.assert_allclose(c.gradient(x), [-1.0, 1.0, 1.0])
    # Hessian: f11 = −x2² sin(x1x2) + 2 exp(x3)/x1³ = 2,  f12 = cos(x1x2) − x1x2 sin(x1x2) = 1,
    # f13 = −exp(x3)/x1² = −1,  f22 = −x1² sin(x1x2) = 0,  f23 = 0,  f33 = exp(x3)/x1 = 1.
    H = np.array([[2.0, 1.0, -1.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 1.0]])
    for v in np.eye(3).tolist() + [[1.0, 1.0, 1.0]]:
        np.testing.assert_allclose(c.hvp(x, v), H @ v, atol=1e-15)
    # J v for one output is ∇f · v: (1, 2, 3) gives −1 + 2 + 3 = 4.
    np.testing.assert_allclose(c.jvp(x, [1.0, 2.0, 3.0]), [4.0])


def test_lecture_circuit_closed_form_at_random_points():
    c = fc.record(lecture_f, n_inputs=3)
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, (20, 3)) * rng.choice([-1.0, 1.0], (20, 3))
    x1, x2, x3 = X.T
    grad = np.stack(
        [x2 * np.cos(x1 * x2) - np.exp(x3) / x1**2, x1 * np.cos(x1 * x2), np.exp(x3) / x1], axis=1
    )
    np.testing.assert_allclose(c.forward(X)[:, 0], np.sin(x1 * x2) + np.exp(x3) / x1, rtol=1e-14)
    np.testing.assert_allclose(c.gradient(X), grad, rtol=1e-13)
    # The recorded function also runs on plain floats.
    assert lecture_f(*X[0].tolist()) == pytest.approx(c.forward(X[0])[0], rel=1e-15)


def two_layer_squared_loss(theta):
    # θ in net.params layout for widths [2, 2, 1]: W[1] (2×2, row-major), b[1], W[2] (1×2), b[2].
    w11, w12, w21, w22, b1, b2, v1, v2, c = theta
    x1, x2, y = 1.0, 2.0, 1.0
    h1 = fc.relu(w11 * x1 + w12 * x2 + b1)
    h2 = fc.relu(w21 * x1 + w22 * x2 + b2)
    out = v1 * h1 + v2 * h2 + c
    return 0.5 * (out - y) ** 2


def test_two_layer_network_by_hand():
    c = fc.record(two_layer_squared_loss, n_inputs=9, as_list=True)
    theta = np.array([0.5, 0.25, -1.0, 0.5, 0.0, 0.5, 2.0, -1.0, 0.5])
    # Forward: z1 = 0.5·1 + 0.25·2 + 0 = 1 → h1 = 1;  z2 = −1·1 + 0.5·2 + 0.5 = 0.5 → h2 = 0.5;
    # out = 2·1 − 1·0.5 + 0.5 = 2;  J = ½ (2 − 1)² = 0.5.
    np.testing.assert_allclose(c.forward(theta), [0.5])
    # Backward: dJ/dout = out − y = 1;  dJ/dv = (h1, h2) = (1, 0.5);  dJ/dc = 1;
    # dJ/dh = v·1 = (2, −1);  both z > 0, so dJ/dz = (2, −1);  dJ/db = (2, −1);
    # dJ/dW[1] = dJ/dz xᵀ = [[2, 4], [−1, −2]].
    expected = [2.0, 4.0, -1.0, -2.0, 2.0, -1.0, 1.0, 0.5, 1.0]
    np.testing.assert_allclose(c.gradient(theta), expected)
    # The same network in fastbp agrees (a third, independent backprop).
    net = Network(NetworkSpec([2, 2, 1], ["relu"], "squared"), init="zeros")
    net.params = theta
    J, g = net.loss_and_gradient(np.array([[1.0, 2.0]]), np.array([[1.0]]))
    assert J == pytest.approx(0.5)
    np.testing.assert_allclose(g, expected)


# ----------------------------------------------------------------------------- the MLP bridge


def example_for(spec, rng):
    x = rng.normal(size=spec.n_inputs)
    nr = spec.n_outputs
    if spec.loss == "squared":
        y = rng.normal(size=nr)
    elif spec.loss == "logistic":
        y = rng.uniform(0.0, 1.0, size=nr)
    elif spec.loss == "poisson":
        y = rng.poisson(1.5, size=nr).astype(float)
    else:
        y = int(rng.integers(nr))
    return x, y


#: Every activation whose record builds it from circuit ops (GELU needs erf, which the circuit has
#: no op for; test_from_network_without_a_circuit_form_refuses covers it).
CIRCUIT_ACTIVATIONS = sorted(name for name, r in RECORDS.items() if r.circuit is not None)


def test_every_activation_but_gelu_has_a_circuit_form():
    assert set(RECORDS) - set(CIRCUIT_ACTIVATIONS) == {"gelu"}


def test_the_circuit_losses_are_the_matched_pairs_and_the_others_refuse():
    assert set(LOSSES) - CIRCUIT_LOSSES == {"huber", "absolute_error", "quantile"}
    net = Network(NetworkSpec([3, 2], [], "huber"), seed=0)
    with pytest.raises(ValueError, match="loss='huber' has no circuit"):
        fc.from_network(net, np.ones(3), np.ones(2))


def test_from_network_without_a_circuit_form_refuses():
    net = Network(NetworkSpec([3, 4, 2], ["gelu"], "squared"), seed=0)
    with pytest.raises(ValueError, match="activation 'gelu' has no circuit form"):
        fc.from_network(net, np.ones(3), np.ones(2))


@pytest.mark.parametrize("loss", sorted(CIRCUIT_LOSSES))
@pytest.mark.parametrize("activation", CIRCUIT_ACTIVATIONS)
def test_from_network_gradient_equals_backprop(activation, loss):
    spec = NetworkSpec([3, 4, 2], [activation], loss)
    rng = np.random.default_rng(len(activation) * 7 + len(loss))
    net = Network(spec, seed=rng)
    net.params = net.params + rng.normal(scale=0.1, size=net.n_params)  # non-zero biases
    x, y = example_for(spec, rng)
    c = fc.from_network(net, x, y)
    assert c.n_inputs == net.n_params and c.n_outputs == 1
    Y = np.array([y]) if loss == "softmax_cross_entropy" else y.reshape(1, -1)  # label or row
    J, g = net.loss_and_gradient(x.reshape(1, -1), Y)
    value, grad = c.value_and_gradient(net.params)
    assert value == pytest.approx(J, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(grad, g, rtol=1e-9, atol=1e-13)


def test_from_network_deep_mixed_activations():
    spec = NetworkSpec([4, 5, 3, 3], ["tanh", "softplus"], "softmax_cross_entropy")
    net = Network(spec, seed=1)
    x, y = np.linspace(-1, 1, 4), np.array([0.2, 0.3, 0.5])
    c = fc.from_network(net, x, y)
    _, g = net.loss_and_gradient(x.reshape(1, -1), y.reshape(1, -1))
    np.testing.assert_allclose(c.gradient(net.params), g, rtol=1e-9, atol=1e-13)
    assert fc.gradcheck(c, net.params).passed


def test_from_network_refuses_bad_arguments():
    net = Network(NetworkSpec([3, 2], [], "squared"))
    with pytest.raises(TypeError):
        fc.from_network("net", np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="one example"):
        fc.from_network(net, np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError):
        fc.from_network(net, np.zeros(4), np.zeros(2))


# ----------------------------------------------------------------------------- numerics


def test_ieee_semantics_by_default():
    c = fc.record(lambda x, y: (x / y, fc.log(y), fc.sqrt(y - 1.0), fc.exp(x * 1000.0)), 2)
    for X in (np.array([1.0, 0.0]), np.array([[1.0, 0.0], [1.0, 0.0]])):
        out = np.atleast_2d(c.forward(X))  # no exception, no warning (warnings are errors here)
        assert np.all(out[:, 0] == np.inf)
        assert np.all(out[:, 1] == -np.inf)
        assert np.isnan(out[:, 2]).all()
        assert np.all(out[:, 3] == np.inf)
    # The same functions on plain floats follow the same rules instead of raising.
    assert fc.log(0.0) == -math.inf and math.isnan(fc.sqrt(-1.0)) and fc.exp(1e4) == math.inf


def test_check_names_the_node_of_log_zero():
    c = fc.record(lambda x, y: x * 2.0 + fc.log(y) * x, 2)  # nodes: x, y, 2, x·2, log y, ...
    x = np.array([1.0, 0.0])
    assert c.forward(x)[0] == -np.inf
    with pytest.raises(FloatingPointError, match=r"node 4 \(log\)"):
        c.forward(x, check=True)
    with pytest.raises(FloatingPointError, match=r"node 4 \(log\)"):
        c.gradient(x, check=True)
    with pytest.raises(FloatingPointError, match=r"node 4 \(log\).*at point 1"):
        c.forward(np.array([[1.0, 1.0], [1.0, 0.0]]), check=True)


def test_check_names_the_node_of_division_by_zero():
    c = fc.record(lambda x, y: fc.sin(x) + 1.0 / y, 2)  # x, y, sin x, 1, 1/y, +
    for method in ("forward", "gradient"):
        with pytest.raises(FloatingPointError, match=r"node 4 \(div\)"):
            getattr(c, method)(np.array([0.5, 0.0]), check=True)
    with pytest.raises(FloatingPointError, match=r"node 4 \(div\)"):
        c.jvp(np.array([0.5, 0.0]), np.ones(2), check=True)
    with pytest.raises(FloatingPointError, match=r"node 4 \(div\)"):
        c.hvp(np.array([0.5, 0.0]), np.ones(2), check=True)
    assert np.isfinite(c.gradient(np.array([0.5, 2.0]), check=True)).all()


def test_check_names_an_infinite_local_derivative():
    # sqrt(0) = 0 is finite, but d sqrt/da = 1/(2·0) = inf appears in the reverse sweep.
    c = fc.record(lambda x: fc.sqrt(x) + x, 1)
    assert np.isinf(c.gradient(np.array([0.0]))).all()
    with pytest.raises(FloatingPointError, match=r"node 1 \(sqrt\) has local derivative inf"):
        c.gradient(np.array([0.0]), check=True)


def test_check_names_the_node_of_a_non_finite_tangent():
    c = fc.record(lambda x: fc.sqrt(x) * 2.0, 1)  # x, sqrt, 2, ·: sqrt'(0) = inf
    assert np.isinf(c.jvp(np.array([0.0]), np.array([1.0]))).all()
    with pytest.raises(
        FloatingPointError, match=r"node 1 \(sqrt\) is the first non-finite tangent"
    ):
        c.jvp(np.array([0.0]), np.array([1.0]), check=True)
    with pytest.raises(FloatingPointError, match=r"node 1 \(sqrt\)"):
        c.hvp(np.array([0.0]), np.array([1.0]), check=True)


def test_check_reports_non_finite_inputs():
    c = fc.record(lambda x, y: x + y, 2)
    with pytest.raises(FloatingPointError, match="input 1"):
        c.forward(np.array([0.0, np.nan]), check=True)
    assert np.isnan(c.forward(np.array([0.0, np.nan]))).all()


# ----------------------------------------------------------------------------- arguments


@pytest.fixture(scope="module")
def two_out():
    return fc.record(lambda a, b, c: (a * b + c, fc.sin(a) - c), 3)


def test_argument_shapes_and_dtypes(two_out):
    c = two_out
    assert c.forward([1, 2, 3]).dtype == np.float64  # ints are real numbers
    np.testing.assert_allclose(c.forward(np.array([1, 2, 3], np.float32)), c.forward([1, 2, 3]))
    for bad in (
        np.array([1, 2, 3], dtype=complex),
        np.array([True, False, True]),
        np.array([1, "a", 3], dtype=object),
        None,
        "123",
    ):
        with pytest.raises(TypeError):
            c.forward(bad)
    for bad in (np.zeros(2), np.zeros(4), np.zeros((2, 2)), np.zeros((2, 3, 1)), 1.0):
        with pytest.raises(ValueError, match="shape"):
            c.forward(bad)
    with pytest.raises(TypeError):
        c.forward(np.zeros(3), check="yes")


def test_output_and_weights_arguments(two_out):
    c, x = two_out, np.array([0.3, -0.4, 0.5])
    with pytest.raises(ValueError, match="2 outputs"):
        c.gradient(x)
    np.testing.assert_allclose(c.gradient(x, output=0), [-0.4, 0.3, 1.0])
    np.testing.assert_allclose(c.gradient(x, output=1), [math.cos(0.3), 0.0, -1.0])
    np.testing.assert_allclose(
        c.gradient(x, weights=[2.0, 1.0]), 2 * c.gradient(x, output=0) + c.gradient(x, output=1)
    )
    with pytest.raises(ValueError, match="out of range"):
        c.gradient(x, output=2)
    with pytest.raises(TypeError):
        c.gradient(x, output=True)
    with pytest.raises(ValueError, match="not both"):
        c.gradient(x, output=0, weights=[1.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        c.gradient(x, weights=[1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        c.gradient(x, weights=[np.nan, 0.0])
    with pytest.raises(ValueError, match="shape"):
        c.gradient(np.zeros((4, 3)), weights=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        c.jvp(x, np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        c.hvp(np.zeros((4, 3)), np.zeros((3, 3)), output=0)
    with pytest.raises(TypeError):
        c.jvp(x, np.zeros(3, dtype=complex))


def test_value_gradient_and_value_and_gradient_agree(two_out):
    # One vocabulary: value() is the scalar gradient() differentiates, and value_and_gradient()
    # returns exactly (value(), gradient()) for every way of choosing it, one point or a batch.
    c, x = two_out, np.array([0.3, -0.4, 0.5])
    X = np.random.default_rng(0).normal(size=(6, 3))
    W = np.random.default_rng(1).normal(size=(6, 2))
    a, b = 0.3 * -0.4 + 0.5, math.sin(0.3) - 0.5  # the two outputs at x, by hand
    assert c.value(x, output=0) == a and c.value(x, output=1) == pytest.approx(b, rel=1e-15)
    assert isinstance(c.value(x, output=0), float)
    assert c.value(x, weights=[2.0, -1.0]) == pytest.approx(2 * a - b, rel=1e-14)
    for point, choice in [
        (x, {"output": 0}), (x, {"output": 1}), (x, {"weights": [2.0, -1.0]}),
        (X, {"output": 1}), (X, {"weights": [2.0, -1.0]}), (X, {"weights": W}),
    ]:  # fmt: skip
        value, grad = c.value_and_gradient(point, **choice)
        np.testing.assert_array_equal(value, c.value(point, **choice))
        np.testing.assert_array_equal(grad, c.gradient(point, **choice))
        assert np.shape(value) == np.shape(point)[:-1] and grad.shape == np.shape(point)
    np.testing.assert_array_equal(c.value(X, weights=W), np.sum(c.forward(X) * W, axis=1))
    np.testing.assert_array_equal(c.value(X, output=1), c.forward(X)[:, 1])
    with pytest.raises(ValueError, match="2 outputs"):
        c.value(x)
    with pytest.raises(ValueError, match="not both"):
        c.value(x, output=0, weights=[1.0, 0.0])
    # The gradient of value() is what gradient() returns: central differences of value().
    h = 1e-6
    fd = [
        (c.value(x + h * e, output=1) - c.value(x - h * e, output=1)) / (2 * h) for e in np.eye(3)
    ]
    np.testing.assert_allclose(c.gradient(x, output=1), fd, rtol=1e-8, atol=1e-9)


def test_gradcheck_arguments(two_out):
    x = np.array([0.3, -0.4, 0.5])
    assert fc.gradcheck(two_out, x, output=1).passed
    assert fc.gradcheck(two_out, x, weights=[2.0, -1.0]).n_checked == 3
    with pytest.raises(ValueError, match="one point"):
        fc.gradcheck(two_out, np.zeros((2, 3)), output=0)
    with pytest.raises(ValueError, match="2 outputs"):
        fc.gradcheck(two_out, x)
    with pytest.raises(TypeError):
        fc.gradcheck(two_out, "0.3, -0.4, 0.5", output=0)
    with pytest.raises(TypeError, match="Circuit"):
        fc.gradcheck(lambda v: v, x)


def test_value_of_one_output_ignores_a_nonfinite_other_output():
    c = fc.record(lambda a, b: (a + b, fc.log(a)), 2)  # log 0 = -inf in the other output
    assert c.value([0.0, 2.0], output=0) == 2.0
    assert c.value_and_gradient([0.0, 2.0], output=0)[0] == 2.0


def test_trace_is_a_deprecated_alias_of_record():
    with pytest.warns(DeprecationWarning, match="fastbp.circuit.record"):
        old = fc.trace(lambda a, b: a * fc.sin(b), 2)
    new = fc.record(lambda a, b: a * fc.sin(b), 2)
    for name, arr in new.to_arrays().items():
        np.testing.assert_array_equal(getattr(old, name), arr)
    with pytest.warns(DeprecationWarning):
        assert fc.trace(lambda xs: xs[0] * 2.0, 1, as_list=True).forward([1.5])[0] == 3.0


def test_repr_and_len(two_out):
    text = repr(two_out)
    assert "N=7 nodes" in text and "l=3 inputs" in text and "2 output(s)" in text
    assert "sin: 1" in text and len(two_out) == 7
