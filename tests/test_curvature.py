"""The curvature tools (fastbp.curvature) against an explicitly formed Hessian, and the SciPy
adapter on small problems.  SciPy is imported inside the tests that need it, so a missing SciPy
fails those tests instead of skipping them."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import random_network

import fastbp as fb
from fastbp import curvature
from fastbp.hessian import hvp

#: Lanczos with full reorthogonalisation on a 38-dimensional H reaches the extreme eigenvalue to
#: ~1e-12 relative in float64 (residual tolerance 1e-10 below); 1e-8 leaves a margin.
EIG_RTOL = 1e-8

#: Hutchinson: the estimate is a mean of i.i.d. values, so |estimate − trace| ≤ 4 standard errors
#: fails with probability ~6e-5 (normal approximation); the seed makes it deterministic anyway.
TRACE_SIGMAS = 4.0


def explicit_hessian(net: fb.Network, X, Y) -> np.ndarray:
    """H formed column by column, H e_q (N products; only for tiny networks)."""
    H = np.column_stack([hvp(net, X, Y, e) for e in np.eye(net.n_params)])
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12 * np.abs(H).max())
    return (H + H.T) / 2


def problem(seed: int, widths=(3, 6, 2), act="tanh", loss="squared", m=30):
    rng = np.random.default_rng(seed)
    net = random_network(fb.NetworkSpec(list(widths), [act], loss), rng)
    net.params = net.params * 1.5  # leave the flat initial region: H clearly indefinite
    X = rng.normal(size=(m, widths[0]))
    Y = rng.normal(size=(m, widths[-1])) if loss == "squared" else rng.integers(0, widths[-1], m)
    return net, X, Y


@pytest.fixture(scope="module")
def tiny():
    net, X, Y = problem(0)
    return net, X, Y, explicit_hessian(net, X, Y)


def test_sharpness_matches_eigvalsh(tiny) -> None:
    net, X, Y, H = tiny
    eig = np.linalg.eigvalsh(H)
    assert eig[0] < 0 < eig[-1], "the test wants an indefinite H"
    for which, expected in [
        ("magnitude", eig[np.argmax(np.abs(eig))]),
        ("largest", eig[-1]),
    ]:
        value, vector = curvature.sharpness(net, X, Y, tol=1e-10, which=which)
        assert isinstance(value, float)
        assert vector.shape == (net.n_params,) and vector.dtype == np.float64
        np.testing.assert_allclose(value, expected, rtol=EIG_RTOL, err_msg=which)
        np.testing.assert_allclose(np.linalg.norm(vector), 1.0, rtol=1e-12)
        residual = np.linalg.norm(H @ vector - value * vector)
        assert residual <= 1e-6 * abs(value), which


def test_sharpness_returns_negative_eigenvalue_when_it_dominates() -> None:
    # Large squared-loss residuals make the indefinite Σ (a − y) ∂²z term dominate H.  Seed 8 of
    # the tanh 2-3-1 problem with targets ×5 gives a most negative eigenvalue over 1.5 times the
    # largest positive one: "magnitude" must return it (negative), "largest" the positive λ_max.
    net, X, Y = problem(8, widths=(2, 3, 1), m=8)
    Y = 5 * Y
    eig = np.linalg.eigvalsh(explicit_hessian(net, X, Y))
    assert -eig[0] > 1.5 * eig[-1] > 0
    value, _ = curvature.sharpness(net, X, Y, tol=1e-10)
    np.testing.assert_allclose(value, eig[0], rtol=EIG_RTOL)
    largest, _ = curvature.sharpness(net, X, Y, tol=1e-10, which="largest")
    np.testing.assert_allclose(largest, eig[-1], rtol=EIG_RTOL)


def test_sharpness_on_float32_network() -> None:
    net64, X, Y = problem(3)
    net32 = fb.Network(fb.NetworkSpec(net64.spec.widths, net64.spec.activations, dtype="float32"))
    net32.params = net64.params
    eig = np.linalg.eigvalsh(explicit_hessian(net64, X, Y))
    value, _ = curvature.sharpness(net32, X, Y, tol=1e-4)
    np.testing.assert_allclose(value, eig[np.argmax(np.abs(eig))], rtol=1e-4)


def test_hutchinson_trace_converges_to_trace(tiny) -> None:
    net, X, Y, H = tiny
    estimate, std_error = curvature.hutchinson_trace(net, X, Y, samples=2000, seed=1)
    assert 0 < std_error < 0.1 * abs(np.trace(H))
    assert abs(estimate - np.trace(H)) <= TRACE_SIGMAS * std_error
    # Rademacher variance 2 Σ_{p≠q} H_pq² predicts the standard error.
    predicted = np.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / 2000)
    np.testing.assert_allclose(std_error, predicted, rtol=0.15)
    assert curvature.hutchinson_trace(net, X, Y, samples=5, seed=1) == curvature.hutchinson_trace(
        net, X, Y, samples=5, seed=1
    )


def test_curvature_report(tiny) -> None:
    net, X, Y, H = tiny
    report = curvature.curvature_report(net, X, Y, iters=50, samples=20, seed=0)
    assert set(report) == {
        "sharpness", "trace", "trace_std_error", "n_params", "n_examples", "seconds",
    }  # fmt: skip
    eig = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(report["sharpness"], eig[np.argmax(np.abs(eig))], rtol=1e-5)
    assert abs(report["trace"] - np.trace(H)) <= TRACE_SIGMAS * report["trace_std_error"]
    assert report["n_params"] == net.n_params and report["n_examples"] == 30
    assert report["seconds"] >= 0


def test_bad_arguments_are_refused(tiny) -> None:
    net, X, Y, _ = tiny
    with pytest.raises(ValueError, match="iters"):
        curvature.sharpness(net, X, Y, iters=0)
    with pytest.raises(ValueError, match="tol"):
        curvature.sharpness(net, X, Y, tol=-1.0)
    with pytest.raises(ValueError, match="which"):
        curvature.sharpness(net, X, Y, which="smallest")
    with pytest.raises(ValueError, match="samples"):
        curvature.hutchinson_trace(net, X, Y, samples=1)
    with pytest.raises(TypeError, match="net"):
        curvature.curvature_report(None, X, Y)
    with pytest.raises(ValueError, match="X"):
        curvature.scipy_objective(net, X[:, :1], Y)
    with pytest.raises(ValueError, match="method"):
        curvature.minimize(net, X, Y, method="BFGS")


def test_scipy_objective_matches_network_and_restores_parameters(tiny) -> None:
    net, X, Y, _ = tiny
    before = net.params.copy()
    fun, jac, hessp = curvature.scipy_objective(net, X, Y)
    theta = before + 0.1 * np.random.default_rng(0).normal(size=net.n_params)
    p = np.random.default_rng(1).normal(size=net.n_params)
    J, g, Hp = fun(theta), jac(theta), hessp(theta, p)
    np.testing.assert_array_equal(net.params, before)
    moved = net.copy()
    moved.params = theta
    J_ref, g_ref = moved.loss_and_gradient(X, Y)
    assert isinstance(J, float) and J == J_ref
    np.testing.assert_array_equal(g, g_ref)
    np.testing.assert_array_equal(Hp, hvp(moved, X, Y, p))
    assert g.dtype == np.float64 and Hp.dtype == np.float64
    g[:] = 0  # the caller owns the returned arrays; the cache must not share them
    np.testing.assert_array_equal(jac(theta), g_ref)
    with pytest.raises(ValueError, match=r"\bp\b"):
        hessp(theta, np.full(net.n_params, np.nan))


def test_newton_cg_converges() -> None:
    import scipy.optimize  # a missing SciPy must fail this test, not skip it

    # Logistic regression (no hidden layer): strictly convex, Newton-CG converges in a few steps.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    Y = (rng.uniform(size=100) < 1 / (1 + np.exp(-X @ [1.0, -2.0, 0.5]))).astype(float)
    net = fb.Network(fb.NetworkSpec([3, 1], [], "logistic"))
    fun, jac, hessp = curvature.scipy_objective(net, X, Y)
    result = scipy.optimize.minimize(
        fun, net.params.copy(), jac=jac, hessp=hessp, method="Newton-CG", options={"xtol": 1e-12}
    )
    assert result.success and result.nit < 20
    assert np.linalg.norm(jac(result.x)) < 1e-6

    # A 2-3-1 tanh network on noisy data, through the minimize() helper that sets the params.
    X = rng.normal(size=(100, 2))
    Y = np.tanh(X[:, 0] - X[:, 1]) + 0.3 * rng.normal(size=100)
    net = fb.Network(fb.NetworkSpec([2, 3, 1], ["tanh"], "squared"), seed=0)
    J0, g0 = net.loss_and_gradient(X, Y)
    result = curvature.minimize(net, X, Y, options={"xtol": 1e-12, "maxiter": 300})
    np.testing.assert_array_equal(net.params, result.x)
    assert net.loss(X, Y) < 0.5 * J0
    # Nonconvex: Newton-CG ends in a flat region where the last-bit rounding of the compiled
    # kernels decides the final step, so the bound is relative: 4 orders of magnitude down.
    assert np.linalg.norm(net.loss_and_gradient(X, Y)[1]) < 1e-4 * np.linalg.norm(g0)


def test_trust_region_methods_accept_the_adapter(tiny) -> None:
    import scipy.optimize

    net, X, Y, _ = tiny
    fun, jac, hessp = curvature.scipy_objective(net, X, Y)
    x0 = net.params.copy()
    g0 = np.linalg.norm(jac(x0))
    result = scipy.optimize.minimize(
        fun, x0, jac=jac, hessp=hessp, method="trust-ncg", options={"maxiter": 50}
    )
    assert result.fun < fun(x0) and np.linalg.norm(jac(result.x)) < g0


def test_minimize_without_scipy_names_the_fix(tiny, monkeypatch) -> None:
    net, X, Y, _ = tiny
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # import scipy.optimize now fails
    with pytest.raises(ImportError, match="pip install scipy"):
        curvature.minimize(net, X, Y)
