"""Per-example quantities (fastbp.per_example) against the pure-Python reference, dense G from
``hessian.gnvp``, central differences, and the promise that only per_example_gradients forms an
(n, n_params) array.

Tolerances: ``conftest.TOL`` (float64: summation order only; float32: float32 rounding against a
float64 reference).  The variance is E[g²] − E[g]², which cancels: its absolute error is a few
ulps of E[g²], not of the variance, so its absolute floor scales with max E[g²].
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from conftest import (
    ACTIVATION_NAMES,
    DTYPES,
    LOSS_NAMES,
    TOL,
    assert_close,
    make_targets,
    random_network,
)

import fastbp as fb
from fastbp import hessian, per_example_kernels, reference, validate
from fastbp import per_example as pe
from fastbp.per_example import (
    gauss_newton_diagonal,
    gradient_variance,
    per_example_gradients,
    per_example_norms,
)

#: 6 activations × 4 losses, alternating dtype and product path (BLAS or loops).
N_CASES = 24

#: Central differences of J_i in float64 with ε = 1e-6: truncation O(ε²) ≈ 1e-12, rounding
#: O(eps_mach |J_i| / ε) ≈ 1e-10, so rtol 1e-6 with a floor of 1e-7 × max |g| is wide.
FD_EPS = 1e-6
FD_RTOL, FD_ATOL = 1e-6, 1e-7


def case_spec(case: int):
    """Architecture ``case``: depth 1–4, widths 1–9, every activation × loss, both dtypes.

    Returns (spec, m, path): 1 row or 2–30 rows, BLAS or loops on alternate cases.
    """
    rng = np.random.default_rng(3000 + case)
    act = ACTIVATION_NAMES[case % len(ACTIVATION_NAMES)]
    loss = LOSS_NAMES[(case // len(ACTIVATION_NAMES)) % len(LOSS_NAMES)]
    dtype = DTYPES[(case // 2) % 2]
    r = 1 + case % 4
    widths = [int(rng.integers(1, 10)) for _ in range(r + 1)]
    if loss == "softmax_cross_entropy":
        widths[-1] = max(widths[-1], 2)
    acts = [act if (k + case) % 3 else ACTIVATION_NAMES[(case + k) % 6] for k in range(r - 1)]
    m = 1 if case % 5 == 0 else int(rng.integers(2, 31))
    path = "blas" if case % 2 else "loops"
    return fb.NetworkSpec(widths, acts, loss, dtype), m, path


def setup(spec: fb.NetworkSpec, m: int, seed: int):
    rng = np.random.default_rng(seed)
    net = random_network(spec, rng)
    X = rng.normal(size=(m, spec.n_inputs))
    Y, Y_dense = make_targets(spec, m, rng)
    return net, X, Y, Y_dense


def reference_rows(net: fb.Network, X, Y_dense) -> np.ndarray:
    """∇J_i for each row: the reference's gradient of a one-row batch (float64)."""
    spec, dt = net.spec, net.spec.dtype
    Xr, Yr = X.astype(dt).tolist(), Y_dense.astype(dt).tolist()
    args = (net.params.tolist(), spec.widths, spec.activations, spec.loss)
    return np.array(
        [reference.loss_and_gradient(*args, [x], [y]).grad for x, y in zip(Xr, Yr, strict=True)]
    )


def dense_gauss_newton(net: fb.Network, X, Y) -> np.ndarray:
    """G column by column from ``hessian.gnvp`` (small networks only)."""
    eye = np.eye(net.n_params)
    return np.column_stack([hessian.gnvp(net, X, Y, e) for e in eye]).astype(np.float64)


def assert_variance_close(actual, rows: np.ndarray, dtype: str, what: str) -> None:
    rtol, atol = TOL[dtype]
    floor = max(1.0, float(np.max(np.mean(rows * rows, axis=0))))
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64), rows.var(axis=0), rtol=rtol, atol=atol * floor,
        err_msg=what,
    )  # fmt: skip


@pytest.mark.parametrize("case", range(N_CASES))
def test_per_example_quantities_match_reference(case: int) -> None:
    spec, m, path = case_spec(case)
    net, X, Y, Y_dense = setup(spec, m, case)
    net.lowered.blas_min_rows = 1 if path == "blas" else 10**9
    label = f"{spec} m={m} {path}"
    rows = reference_rows(net, X, Y_dense)
    G = per_example_gradients(net, X, Y)
    assert G.shape == (m, spec.n_params) and G.dtype == spec.np_dtype
    assert_close(G, rows, spec.dtype, f"per-example gradients {label}")
    # Their mean is the gradient of the mean loss (the library's own pass).
    assert_close(G.mean(axis=0, dtype=np.float64), net.loss_and_gradient(X, Y)[1], spec.dtype,
                 f"mean of rows {label}")  # fmt: skip
    norms = per_example_norms(net, X, Y)
    assert norms.shape == (m,) and norms.dtype == spec.np_dtype
    assert_close(norms, np.linalg.norm(rows, axis=1), spec.dtype, f"norms {label}")
    var = gradient_variance(net, X, Y)
    assert var.shape == (spec.n_params,) and var.dtype == spec.np_dtype
    assert_variance_close(var, rows, spec.dtype, f"variance {label}")
    diag = gauss_newton_diagonal(net, X, Y)
    assert diag.shape == (spec.n_params,) and diag.dtype == spec.np_dtype
    assert_close(diag, np.diag(dense_gauss_newton(net, X, Y)), spec.dtype, f"diag(G) {label}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_chunks_accumulate_to_the_whole_batch(dtype: str) -> None:
    spec = fb.NetworkSpec([4, 7, 5, 3], ["tanh", "leaky_relu"], "softmax_cross_entropy", dtype)
    net, X, Y, _ = setup(spec, 40, 5)
    whole = [f(net, X, Y) for f in (per_example_gradients, per_example_norms, gradient_variance,
                                    gauss_newton_diagonal)]  # fmt: skip
    net.lowered.chunk_rows = 7  # five full chunks and a short one, both paths
    for f, expected in zip(
        (per_example_gradients, per_example_norms, gradient_variance, gauss_newton_diagonal),
        whole, strict=True,
    ):  # fmt: skip
        assert_close(f(net, X, Y), expected, dtype, f.__name__)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_per_example_gradient_matches_finite_differences(loss: str) -> None:
    spec = fb.NetworkSpec([3, 6, 4, 3], ["tanh", "softplus"], loss, "float64")
    net, X, Y, _ = setup(spec, 9, 21)
    i = 4
    g = per_example_gradients(net, X, Y)[i]
    theta = net.params.copy()
    fd = np.empty(spec.n_params)
    for q in range(spec.n_params):
        J = []
        for step in (FD_EPS, -FD_EPS):
            moved = theta.copy()
            moved[q] += step
            net.params = moved
            J.append(net.loss(X[i : i + 1], Y[i : i + 1]))
        fd[q] = (J[0] - J[1]) / (2 * FD_EPS)
    net.params = theta
    np.testing.assert_allclose(g, fd, rtol=FD_RTOL, atol=FD_ATOL * np.abs(fd).max())


def test_linear_model_by_hand() -> None:
    # r = 1 (no hidden layer): ∇J_i = (a_i − y_i) x̃_iᵀ, diag(G) for squared loss is mean of x².
    spec = fb.NetworkSpec([3, 1], [], "squared")
    net, X, Y, _ = setup(spec, 6, 2)
    diag = gauss_newton_diagonal(net, X, Y)
    np.testing.assert_allclose(diag, np.r_[np.mean(X * X, axis=0), 1.0], rtol=1e-14)
    resid = net.forward(X)[:, 0] - Y[:, 0]
    G = per_example_gradients(net, X, Y)
    np.testing.assert_allclose(G, np.c_[resid[:, None] * X, resid], rtol=1e-13, atol=1e-15)


def test_inputs_and_parameters_are_unchanged() -> None:
    spec = fb.NetworkSpec([4, 6, 2], ["relu"], "logistic")
    net, X, Y, _ = setup(spec, 12, 3)
    params, X0, Y0 = net.params.copy(), X.copy(), Y.copy()
    first = gauss_newton_diagonal(net, X, Y)
    per_example_norms(net, X[:2], Y[:2])  # a smaller batch in between reuses the workspaces
    np.testing.assert_array_equal(gauss_newton_diagonal(net, X, Y), first)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


@pytest.mark.parametrize(
    "f", [per_example_gradients, per_example_norms, gradient_variance, gauss_newton_diagonal]
)
def test_bad_input_is_refused_before_compiled_code(f) -> None:
    spec = fb.NetworkSpec([3, 4, 2], ["tanh"], "softmax_cross_entropy")
    net, X, Y, _ = setup(spec, 5, 1)
    with pytest.raises(ValueError, match="3 columns"):
        f(net, X[:, :2], Y)
    with pytest.raises(ValueError, match="rows but X has"):
        f(net, X, Y[:4])
    with pytest.raises(ValueError, match="labels must lie in"):
        f(net, X, np.full(5, 7))
    bad = X.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        f(net, bad, Y)
    with pytest.raises(TypeError, match="fastbp.Network"):
        f("net", X, Y)
    broken = net.copy()
    broken.lowered.params[0] = np.inf
    with pytest.raises(ValueError, match="parameters contain NaN or inf"):
        f(broken, X, Y)
    # A LoweredNetwork is accepted as well as a Network.
    assert f(net.lowered, X, Y).shape == f(net, X, Y).shape


def test_unsupported_loss_is_refused(monkeypatch) -> None:
    spec = fb.NetworkSpec([2, 3], [], "poisson")
    net, X, Y, _ = setup(spec, 4, 0)
    monkeypatch.setattr(pe, "GGN_FACTORS", frozenset())
    with pytest.raises(ValueError, match="loss='poisson'"):
        gauss_newton_diagonal(net, X, Y)
    # The compiled switch has no default formula: an unknown code writes NaN.
    dZ = np.zeros((2, 3))
    per_example_kernels.ggn_seed(99, 1.0, np.full((2, 3), 1 / 3), np.zeros((2, 3)), 0, dZ)
    assert np.isnan(dZ).all()


def test_only_per_example_gradients_allocates_n_by_n_params(monkeypatch) -> None:
    # n · n_params · 8 bytes = 17 MB, and "this machine" is made to have 8 MB: the memory check
    # refuses per_example_gradients before allocating, and the other three still run, their
    # peak allocation (traced) far below one (n, n_params) array.
    spec = fb.NetworkSpec([10, 40, 40, 2], ["tanh", "relu"], "softmax_cross_entropy")
    n = 1000
    net, X, Y, _ = setup(spec, n, 4)
    full = n * spec.n_params * 8
    assert full > 16 * 2**20
    monkeypatch.setattr(validate, "physical_memory_bytes", lambda: 8 * 2**20)
    with pytest.raises(ValueError, match="per-example gradients .* more than this machine"):
        per_example_gradients(net, X, Y)
    for f in (per_example_norms, gradient_variance, gauss_newton_diagonal):
        f(net, X, Y)  # compiled, and the workspaces grown, before the trace
        tracemalloc.start()
        try:
            out = f(net, X, Y)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert np.isfinite(out).all()
        assert peak < full / 4, f"{f.__name__} peaked at {peak} bytes"


def test_curvature_re_exports_the_per_example_and_spectra_tools():
    # Issue 28 names them in fastbp.curvature: the same functions, not copies.
    from fastbp import curvature, per_example, spectra

    for name in ("per_example_gradients", "per_example_norms", "gradient_variance",
                 "gauss_newton_diagonal"):  # fmt: skip
        assert getattr(curvature, name) is getattr(per_example, name)
        assert name in curvature.__all__
    for name in ("eigenvalues", "spectral_density"):
        assert getattr(curvature, name) is getattr(spectra, name)
        assert name in curvature.__all__
