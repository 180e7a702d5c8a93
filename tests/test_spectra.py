"""fastbp.spectra (top-k eigenpairs, stochastic Lanczos quadrature) against the explicitly formed
Hessian and Gauss-Newton matrix of small networks, their exact eigendecomposition
(numpy.linalg.eigh) and their exact trace.  The networks are tiny (≤ 32 parameters, 20 rows) so
that forming H column by column is cheap and the file also runs under NUMBA_DISABLE_JIT=1."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import random_network

import fastbp as fb
from fastbp import curvature, spectra
from fastbp.hessian import gnvp, hvp

#: numpy >= 2.0 names it trapezoid; the floor (1.24) has only trapz.
trapezoid = getattr(np, "trapezoid", None) or np.trapz

#: float64: Lanczos with full reorthogonalisation and a residual tolerance of 1e-10 · ‖A‖ gives
#: eigenvalue errors ~ residual² / gap and below (observed ~1e-15 relative); 1e-8 leaves margin.
EIG_RTOL = 1e-8
#: float64 eigenvectors: the angle to the true vector is ≤ residual / gap ≈ 1e-10 / 0.2 here.
VEC_ATOL = 1e-7
#: float32: every product carries float32 rounding (eps ≈ 1.2e-7, amplified by sums over rows
#: and units), so the operator Lanczos sees is H + E with ‖E‖ ~ 1e-6 ‖H‖; eigenvalues move by at
#: most ‖E‖ (Weyl).  1e-4 · ‖H‖ leaves two orders of margin and still catches a wrong pair.
F32_ATOL_REL = 1e-4
#: A trace estimate is a mean of i.i.d. probe values: |estimate − trace| ≤ 4 standard errors
#: fails with probability ~6e-5 (normal approximation); the seed makes it deterministic anyway.
TRACE_SIGMAS = 4.0


def dense(net: fb.Network, X, Y, matrix: str) -> np.ndarray:
    """H or G formed column by column, A e_q (N products; only for tiny networks)."""
    product = hvp if matrix == "hessian" else gnvp
    A = np.column_stack([product(net, X, Y, e) for e in np.eye(net.n_params)])
    np.testing.assert_allclose(A, A.T, rtol=0, atol=1e-12 * np.abs(A).max())
    return (A + A.T) / 2


def problem(seed: int = 0, widths=(3, 5, 2), m: int = 20, dtype: str = "float64"):
    rng = np.random.default_rng(seed)
    net = random_network(fb.NetworkSpec(list(widths), ["tanh"], "squared"), rng)
    net.params = net.params * 1.5  # leave the flat initial region: H clearly indefinite
    X = rng.normal(size=(m, widths[0]))
    Y = rng.normal(size=(m, widths[-1]))
    if dtype == "float32":
        net32 = fb.Network(fb.NetworkSpec(list(widths), ["tanh"], "squared", dtype="float32"))
        net32.params = net.params
        net = net32
    return net, X, Y


@pytest.fixture(scope="module")
def tiny():
    net, X, Y = problem()
    return net, X, Y, {m: dense(net, X, Y, m) for m in spectra.MATRICES}


@pytest.mark.parametrize("matrix", spectra.MATRICES)
def test_top_k_eigenpairs_match_eigh(tiny, matrix: str) -> None:
    net, X, Y, dense_by_matrix = tiny
    A = dense_by_matrix[matrix]
    lam, V = np.linalg.eigh(A)
    if matrix == "hessian":
        assert lam[0] < 0 < lam[-1], "the test wants an indefinite H"
    else:
        assert lam[0] > -1e-12 * lam[-1], "G is positive semidefinite"
    k = 4
    result = spectra.eigenvalues(net, X, Y, k=k, matrix=matrix, tol=1e-10, seed=3)
    assert result.converged and k <= result.steps <= net.n_params
    expected = lam[::-1][:k]  # largest algebraic first
    assert np.all(np.diff(result.values) < 0)
    np.testing.assert_allclose(result.values, expected, rtol=EIG_RTOL)
    assert result.vectors.shape == (k, net.n_params) and result.vectors.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-12)
    for i in range(k):
        truth = V[:, -1 - i]
        u = result.vectors[i] * np.sign(result.vectors[i] @ truth)  # up to sign
        np.testing.assert_allclose(u, truth, rtol=0, atol=VEC_ATOL)
        residual = np.linalg.norm(A @ result.vectors[i] - result.values[i] * result.vectors[i])
        assert residual <= 1e-8 * np.abs(lam).max()
    assert np.all(result.residuals <= 1e-10 * np.abs(lam).max() * (1 + 1e-6))
    values, vectors = result  # unpacks as a pair
    assert values is result.values and vectors is result.vectors


def test_largest_is_algebraic_not_magnitude() -> None:
    # Large residuals make the most negative eigenvalue of H dominate in magnitude (seed 8 of the
    # tanh 2-3-1 problem with targets × 5, as in test_curvature); eigenvalues must still return
    # the largest algebraic ones, where sharpness ("magnitude") returns the negative one.
    net, X, Y = problem(8, widths=(2, 3, 1), m=8)
    Y = 5 * Y
    lam = np.linalg.eigvalsh(dense(net, X, Y, "hessian"))
    assert -lam[0] > 1.5 * lam[-1] > 0
    result = spectra.eigenvalues(net, X, Y, k=2, tol=1e-10)
    np.testing.assert_allclose(result.values, lam[::-1][:2], rtol=EIG_RTOL)
    magnitude, _ = curvature.sharpness(net, X, Y, tol=1e-10)
    np.testing.assert_allclose(magnitude, lam[0], rtol=EIG_RTOL)


@pytest.mark.parametrize("matrix", spectra.MATRICES)
def test_float32_network(matrix: str) -> None:
    net64, X, Y = problem()
    net32, _, _ = problem(dtype="float32")
    lam = np.linalg.eigvalsh(dense(net64, X, Y, matrix))
    scale = np.abs(lam).max()
    result = spectra.eigenvalues(net32, X, Y, k=3, matrix=matrix, tol=1e-4)
    assert result.vectors.dtype == np.float64
    np.testing.assert_allclose(result.values, lam[::-1][:3], rtol=0, atol=F32_ATOL_REL * scale)
    slq = spectra.spectral_density(net32, X, Y, steps=net32.n_params, matrix=matrix)
    np.testing.assert_allclose(slq.nodes[0], lam, rtol=0, atol=F32_ATOL_REL * scale)


@pytest.mark.parametrize("matrix", spectra.MATRICES)
def test_full_slq_nodes_are_the_eigenvalues(tiny, matrix: str) -> None:
    net, X, Y, dense_by_matrix = tiny
    A = dense_by_matrix[matrix]
    lam, V = np.linalg.eigh(A)
    result = spectra.spectral_density(net, X, Y, probes=1, steps=net.n_params, matrix=matrix)
    assert result.nodes.shape == result.weights.shape == (1, net.n_params)
    np.testing.assert_allclose(result.nodes[0], lam, rtol=0, atol=1e-10 * np.abs(lam).max())
    np.testing.assert_allclose(result.weights.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(result.weights >= 0)
    # With all N nodes the weights are (v_iᵀ q)² for the probe q = z/‖z‖ (Golub-Welsch); z is
    # the documented seeded Rademacher vector, drawn here the same way.
    z = 2.0 * np.random.default_rng(0).integers(0, 2, size=net.n_params) - 1.0
    np.testing.assert_allclose(
        (V.T @ (z / np.linalg.norm(z))) ** 2, result.weights[0], rtol=1e-8, atol=1e-12
    )
    np.testing.assert_allclose(result.trace_samples[0], z @ A @ z, rtol=1e-10)


@pytest.mark.parametrize("matrix", spectra.MATRICES)
def test_slq_trace_estimate(tiny, matrix: str) -> None:
    net, X, Y, dense_by_matrix = tiny
    exact = np.trace(dense_by_matrix[matrix])
    result = spectra.spectral_density(net, X, Y, probes=100, steps=4, matrix=matrix, seed=5)
    assert 0 < result.trace_std_error < 0.2 * abs(exact)
    assert abs(result.trace - exact) <= TRACE_SIGMAS * result.trace_std_error
    # N Σ θ w = N qᵀ A q = zᵀ A z: Hutchinson's estimate with the same seeded Rademacher probes.
    hutchinson = curvature.hutchinson_trace(net, X, Y, samples=100, seed=5, matrix=matrix)
    np.testing.assert_allclose(
        (result.trace, result.trace_std_error), hutchinson, rtol=1e-10, atol=0
    )
    one = spectra.spectral_density(net, X, Y, probes=1, steps=2, matrix=matrix)
    assert np.isnan(one.trace_std_error) and np.isfinite(one.trace)


def test_hutchinson_trace_of_gauss_newton(tiny) -> None:
    net, X, Y, dense_by_matrix = tiny
    G, H = dense_by_matrix["gauss_newton"], dense_by_matrix["hessian"]
    estimate, std_error = curvature.hutchinson_trace(
        net, X, Y, samples=400, seed=2, matrix="gauss_newton"
    )
    assert abs(estimate - np.trace(G)) <= TRACE_SIGMAS * std_error
    assert abs(estimate - np.trace(H)) > TRACE_SIGMAS * std_error  # it is not trace(H)


def test_density_integrates_to_one(tiny) -> None:
    net, X, Y, dense_by_matrix = tiny
    lam = np.linalg.eigvalsh(dense_by_matrix["hessian"])
    result = spectra.spectral_density(net, X, Y, probes=3, steps=12, seed=1)
    assert result.grid.shape == result.density.shape == (1000,)
    assert np.all(result.density >= 0)
    np.testing.assert_allclose(trapezoid(result.density, result.grid), 1.0, atol=1e-6)
    assert result.grid[0] < lam[0] and result.grid[-1] > lam[-1]
    # The density is not renormalised to the grid: half a grid holds only part of the mass.
    half = result.grid[result.grid < np.median(result.nodes)]
    cut = spectra.spectral_density(net, X, Y, probes=3, steps=12, seed=1, grid=half)
    np.testing.assert_allclose(cut.density, result.density[: half.size], rtol=1e-13)
    assert trapezoid(cut.density, cut.grid) < 0.9
    # A user sigma: the same nodes, a smoother density of the same mass.
    wide = spectra.spectral_density(net, X, Y, probes=3, steps=12, seed=1, sigma=0.5, grid=4000)
    np.testing.assert_array_equal(wide.nodes, result.nodes)
    assert wide.sigma == 0.5 and wide.density.max() < result.density.max()
    np.testing.assert_allclose(trapezoid(wide.density, wide.grid), 1.0, atol=1e-6)


def test_seeded_reproducibility(tiny) -> None:
    net, X, Y, _ = tiny
    a = spectra.spectral_density(net, X, Y, probes=2, steps=6, seed=4)
    b = spectra.spectral_density(net, X, Y, probes=2, steps=6, seed=4)
    c = spectra.spectral_density(net, X, Y, probes=2, steps=6, seed=5)
    np.testing.assert_array_equal(a.nodes, b.nodes)
    np.testing.assert_array_equal(a.density, b.density)
    assert not np.allclose(a.nodes, c.nodes)
    e1 = spectra.eigenvalues(net, X, Y, k=2, tol=1e-3, iters=5, seed=4)
    e2 = spectra.eigenvalues(net, X, Y, k=2, tol=1e-3, iters=5, seed=4)
    e3 = spectra.eigenvalues(net, X, Y, k=2, tol=1e-3, iters=5, seed=5)
    assert not e1.converged and e1.steps == 5  # 5 steps are not enough: the seed shows
    np.testing.assert_array_equal(e1.vectors, e2.vectors)
    assert not np.array_equal(e1.values, e3.values)


def test_results_are_frozen_and_print_well(tiny) -> None:
    net, X, Y, _ = tiny
    eig = spectra.eigenvalues(net, X, Y, k=2, tol=1e-8)
    slq = spectra.spectral_density(net, X, Y, probes=2, steps=5)
    for obj, field in [(eig, "values"), (slq, "nodes")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, None)
        with pytest.raises(ValueError, match="read-only"):
            getattr(obj, field)[0] = 1.0
    text = repr(eig)
    assert text.startswith("Eigenpairs(k=2, values=[") and "converged=True" in text
    assert f"n_params={net.n_params}" in text
    text = repr(slq)
    assert text.startswith("SpectralDensity(probes=2, steps=5") and "trace≈" in text
    assert len(text) < 200 and "array" not in text


def test_curvature_reexports() -> None:
    assert curvature.eigenvalues is spectra.eigenvalues
    assert curvature.spectral_density is spectra.spectral_density
    assert {"eigenvalues", "spectral_density"} <= set(curvature.__all__)
    assert set(spectra.__all__) <= set(dir(spectra))


def test_lanczos_restarts_in_an_invariant_subspace() -> None:
    # A start vector in the span of two eigenvectors spans an invariant Krylov space after two
    # steps; Lanczos must continue with a fresh vector instead of dividing by β ≈ 0.
    A = np.diag([5.0, 4.0, 3.0, 2.0, 1.0])
    start = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    Q, alpha, beta = spectra.lanczos(lambda v: A @ v, start, 5, np.random.default_rng(0))
    assert Q.shape == (5, 5) and beta[1] == 0.0
    np.testing.assert_allclose(Q @ Q.T, np.eye(5), atol=1e-12)
    theta = np.linalg.eigvalsh(spectra.tridiagonal(alpha, beta))
    np.testing.assert_allclose(theta, [1, 2, 3, 4, 5], atol=1e-12)


def test_bad_arguments_are_refused_before_any_product(tiny, monkeypatch) -> None:
    net, X, Y, _ = tiny

    def boom(*args, **kwargs):
        raise AssertionError("a product was computed before the arguments were checked")

    monkeypatch.setattr(spectra, "product_unchecked", boom)
    n = net.n_params
    bad_X = X.copy()
    bad_X[3, 1] = np.nan
    cases = [
        (lambda: spectra.eigenvalues(net, X, Y, k=0), ValueError, "k must be >= 1"),
        (lambda: spectra.eigenvalues(net, X, Y, k=n + 1), ValueError, "exceeds the number"),
        (lambda: spectra.eigenvalues(net, X, Y, k=2.0), TypeError, "k must be an integer"),
        (lambda: spectra.eigenvalues(net, X, Y, k=3, iters=2), ValueError, "below k"),
        (lambda: spectra.eigenvalues(net, X, Y, tol=0.0), ValueError, "tol"),
        (lambda: spectra.eigenvalues(net, X, Y, seed=-1), ValueError, "seed"),
        (lambda: spectra.eigenvalues(net, X, Y, matrix="fisher"), ValueError, "gauss_newton"),
        (lambda: spectra.eigenvalues(net, bad_X, Y), ValueError, "X"),
        (lambda: spectra.eigenvalues(net, X, Y[:-1]), ValueError, "Y"),
        (lambda: spectra.eigenvalues(None, X, Y), TypeError, "net"),
        (lambda: spectra.spectral_density(net, X, Y, matrix="H"), ValueError, "'hessian'"),
        (lambda: spectra.spectral_density(net, bad_X, Y), ValueError, "X"),
        (lambda: spectra.spectral_density(net, X, Y, steps=0), ValueError, "steps"),
        (lambda: spectra.spectral_density(net, X, Y, steps=n + 1), ValueError, "exceeds"),
        (lambda: spectra.spectral_density(net, X, Y, probes=0), ValueError, "probes"),
        (lambda: spectra.spectral_density(net, X, Y, sigma=-1.0), ValueError, "sigma"),
        (lambda: spectra.spectral_density(net, X, Y, grid=1), ValueError, "grid"),
        (lambda: spectra.spectral_density(net, X, Y, grid=[[0.0, 1.0]]), ValueError, "grid"),
        (lambda: spectra.spectral_density(net, X, Y, grid=["a", "b"]), TypeError, "grid"),
        (lambda: curvature.hutchinson_trace(net, X, Y, matrix="fisher"), ValueError, "matrix"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    with pytest.raises(ValueError, match="matrix = 'ggn' is unknown"):
        spectra.check_matrix("ggn")
