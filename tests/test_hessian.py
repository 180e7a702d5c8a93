"""Hessian- and Gauss-Newton-vector products (fastbp.hessian) against the pure-Python R-operator
reference, central differences of the gradient, and the algebra H and G must satisfy."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from conftest import (
    ACTIVATION_NAMES,
    DTYPES,
    LOSS_NAMES,
    assert_close,
    make_targets,
    random_network,
)

import fastbp as fb
from fastbp import hessian, reference
from fastbp.hessian import gnvp, hvp

N_CASES = 24

#: Central differences of the gradient, (g(θ + εv) − g(θ − εv)) / 2ε in float64: truncation error
#: O(ε² ‖∇³J‖) ≈ 1e-10 and rounding error O(eps_mach ‖g‖ / ε) ≈ 1e-11 for ε = 1e-5, so rtol 1e-6
#: with an absolute floor of 1e-8 times max |H v| leaves a wide margin.
FD_EPS = 1e-5
FD_RTOL, FD_ATOL = 1e-6, 1e-8

#: uᵀ(Hv) − vᵀ(Hu) and vᵀGv ≥ 0 hold up to rounding: relative to ‖u‖‖Hv‖, a few hundred ulps of
#: the dtype (float32 sums of up to ~200 products, float64 likewise).
ALGEBRA_RTOL = {"float64": 1e-12, "float32": 1e-4}


def hessian_case(case: int):
    """Architecture ``case``: depth 1–4, widths 1–12, every activation × every loss, both dtypes.

    Returns (spec, m, path): batches of 1 or 17–24 rows, with the matrix-product path forced to
    loops or BLAS on alternate cases, so both paths meet both batch sizes.
    """
    rng = np.random.default_rng(2000 + case)
    act = ACTIVATION_NAMES[case % len(ACTIVATION_NAMES)]
    loss = LOSS_NAMES[(case // len(ACTIVATION_NAMES)) % len(LOSS_NAMES)]
    dtype = DTYPES[(case // 2) % 2]
    r = 1 + case % 4
    widths = [int(rng.integers(1, 13)) for _ in range(r + 1)]
    if loss == "softmax_cross_entropy":
        widths[-1] = max(widths[-1], 2)
    acts = [act if (k + case) % 3 else ACTIVATION_NAMES[(case + k) % 6] for k in range(r - 1)]
    m = 1 if case % 3 == 0 else int(rng.integers(17, 25))
    path = "blas" if case % 2 else "loops"
    return fb.NetworkSpec(widths, acts, loss, dtype), m, path


def setup_case(spec: fb.NetworkSpec, m: int, seed: int):
    """Network (random weights and nonzero biases), data and a direction v for one case."""
    rng = np.random.default_rng(seed)
    net = random_network(spec, rng)
    X = rng.normal(size=(m, spec.n_inputs))
    Y, Y_dense = make_targets(spec, m, rng)
    v = rng.normal(size=spec.n_params)
    return net, X, Y, Y_dense, v


def reference_args(net: fb.Network, X, Y_dense, v):
    """The reference's arguments, rounded to the network's dtype first (like test_kernels)."""
    spec, dt = net.spec, net.spec.dtype
    return (
        net.params.tolist(), spec.widths, spec.activations, spec.loss,
        X.astype(dt).tolist(), Y_dense.astype(dt).tolist(), v.astype(dt).tolist(),
    )  # fmt: skip


@pytest.mark.parametrize("case", range(N_CASES))
def test_hvp_and_gnvp_match_reference(case: int) -> None:
    spec, m, path = hessian_case(case)
    net, X, Y, Y_dense, v = setup_case(spec, m, case)
    net.lowered.blas_min_rows = 1 if path == "blas" else 10**9
    label = f"{spec} m={m} {path}"
    Hv = hvp(net, X, Y, v)
    Gv = gnvp(net, X, Y, v)
    assert Hv.dtype == spec.np_dtype and Hv.shape == (spec.n_params,)
    assert Gv.dtype == spec.np_dtype and Gv.shape == (spec.n_params,)
    args = reference_args(net, X, Y_dense, v)
    assert_close(Hv, reference.hvp(*args), spec.dtype, f"H v {label}")
    assert_close(Gv, reference.gnvp(*args), spec.dtype, f"G v {label}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_default_blas_threshold_and_chunks_match_reference(dtype: str) -> None:
    # Default threshold: the 1-row call takes the loops, the 40-row one BLAS; then 7-row chunks
    # (the last one short) must accumulate to the same mean.
    spec = fb.NetworkSpec([5, 9, 7, 3], ["tanh", "softplus"], "softmax_cross_entropy", dtype)
    for m in (1, 40):
        net, X, Y, Y_dense, v = setup_case(spec, m, 7)
        args = reference_args(net, X, Y_dense, v)
        ref_H, ref_G = reference.hvp(*args), reference.gnvp(*args)
        assert_close(hvp(net, X, Y, v), ref_H, dtype, f"H v m={m}")
        assert_close(gnvp(net, X, Y, v), ref_G, dtype, f"G v m={m}")
        net.lowered.chunk_rows = 7
        assert_close(hvp(net, X, Y, v), ref_H, dtype, f"H v m={m} in chunks of 7")
        assert_close(gnvp(net, X, Y, v), ref_G, dtype, f"G v m={m} in chunks of 7")


def gradient_at(net: fb.Network, theta: np.ndarray, X, Y) -> np.ndarray:
    other = net.copy()
    other.params = theta
    return other.loss_and_gradient(X, Y)[1]


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("act", ACTIVATION_NAMES)
def test_hvp_matches_finite_differences(act: str, loss: str) -> None:
    spec = fb.NetworkSpec([4, 6, 5, 3], [act, act], loss, "float64")
    net, X, Y, _, v = setup_case(spec, 20, ACTIVATION_NAMES.index(act))
    if act in ("relu", "leaky_relu"):
        # Escape hatch near kinks: θ ± εv moves z by about ε|R{z}| ≈ 1e-4, so keep only the
        # examples whose hidden |z| exceed 1e-2; a z crossing 0 would show the difference quotient
        # a jump in σ' that H (σ'' = 0 almost everywhere) does not have.
        t = net.trace(X, Y)
        keep = np.all(np.abs(np.hstack(t.z[1:-1])) > 1e-2, axis=1)
        assert keep.sum() >= 5
        X, Y = X[keep], Y[keep]
    g_plus = gradient_at(net, net.params + FD_EPS * v, X, Y)
    g_minus = gradient_at(net, net.params - FD_EPS * v, X, Y)
    fd = (g_plus - g_minus) / (2 * FD_EPS)
    Hv = hvp(net, X, Y, v)
    scale = float(np.abs(fd).max())
    np.testing.assert_allclose(Hv, fd, rtol=FD_RTOL, atol=FD_ATOL * scale, err_msg=str(spec))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_hessian_symmetric_and_gauss_newton_psd(loss: str, dtype: str) -> None:
    spec = fb.NetworkSpec([6, 10, 8, 4], ["tanh", "sigmoid"], loss, dtype)
    net, X, Y, _, _ = setup_case(spec, 30, 11)
    rng = np.random.default_rng(12)
    rtol = ALGEBRA_RTOL[dtype]
    for _ in range(5):
        u = rng.normal(size=spec.n_params)
        v = rng.normal(size=spec.n_params)
        Hu = hvp(net, X, Y, u).astype(np.float64)
        Hv = hvp(net, X, Y, v).astype(np.float64)
        u32, v32 = u.astype(dtype).astype(np.float64), v.astype(dtype).astype(np.float64)
        size = np.linalg.norm(u32) * max(np.linalg.norm(Hv), np.linalg.norm(Hu))
        assert abs(u32 @ Hv - v32 @ Hu) <= rtol * size
        Gv = gnvp(net, X, Y, v).astype(np.float64)
        assert v32 @ Gv >= -rtol * np.linalg.norm(v32) * np.linalg.norm(Gv)


def test_gauss_newton_equals_hessian_without_hidden_layers() -> None:
    # With r = 1 there is no σ'' and no V term: H = G exactly (linear/logistic/softmax regression).
    for loss in LOSS_NAMES:
        spec = fb.NetworkSpec([4, 3], [], loss)
        net, X, Y, _, v = setup_case(spec, 25, 3)
        assert_close(hvp(net, X, Y, v), gnvp(net, X, Y, v), "float64", loss)


def test_gauss_newton_of_squared_loss_is_jacobian_gram() -> None:
    # Squared loss: G = (1/n) Σ_i J_iᵀ J_i with J_i = ∂z_i[r]/∂θ; build J_i by central differences
    # of the outputs and compare G v with (1/n) Σ_i J_iᵀ (J_i v).
    spec = fb.NetworkSpec([3, 5, 2], ["sigmoid"], "squared")
    net, X, Y, _, v = setup_case(spec, 6, 5)
    eps = 1e-6
    jac = np.empty((6, 2, spec.n_params))
    for q in range(spec.n_params):
        plus, minus = net.copy(), net.copy()
        plus.params[q] += eps
        minus.params[q] -= eps
        jac[:, :, q] = (plus.forward(X) - minus.forward(X)) / (2 * eps)
    expected = np.einsum("ijq,ij->q", jac, np.einsum("ijq,q->ij", jac, v)) / 6
    np.testing.assert_allclose(gnvp(net, X, Y, v), expected, rtol=1e-6, atol=1e-9)


def test_products_leave_inputs_unchanged_and_reuse_workspaces() -> None:
    spec = fb.NetworkSpec([4, 8, 2], ["tanh"], "logistic")
    net, X, Y, _, v = setup_case(spec, 30, 9)
    params, v_before = net.params.copy(), v.copy()
    first = hvp(net, X, Y, v)
    hvp(net, X[:3], Y[:3], v)  # a smaller batch in between reuses the grown workspaces
    np.testing.assert_array_equal(hvp(net, X, Y, v), first)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(v, v_before)
    assert first is not hvp(net, X, Y, v)
    state = hessian._STATES[net.lowered]
    gnvp(net, X, Y, v)
    assert hessian._STATES[net.lowered] is state
    # The R-workspaces go away with their network.
    count = len(hessian._STATES)
    del net, state
    gc.collect()
    assert len(hessian._STATES) == count - 1


def test_float32_direction_on_float64_network_is_converted() -> None:
    spec = fb.NetworkSpec([3, 4, 1], ["relu"], "squared")
    net, X, Y, _, v = setup_case(spec, 5, 1)
    v32 = v.astype(np.float32)
    np.testing.assert_array_equal(hvp(net, X, Y, v32), hvp(net, X, Y, v32.astype(np.float64)))


@pytest.fixture(scope="module")
def small():
    spec = fb.NetworkSpec([3, 4, 2], ["tanh"], "squared")
    return setup_case(spec, 5, 2)


@pytest.mark.parametrize("product", [hvp, gnvp])
@pytest.mark.parametrize(
    ("bad_v", "error"),
    [
        (np.zeros(5), ValueError),  # wrong length
        (np.zeros((2, 13)), ValueError),  # not flat
        (np.zeros(26, dtype=np.int64), TypeError),  # integer dtype
        (np.zeros(26, dtype=np.complex128), TypeError),  # complex dtype
        (np.full(26, np.nan), ValueError),  # NaN
        (np.array([np.inf] + [0.0] * 25), ValueError),  # inf
        (None, TypeError),
        ("v", TypeError),
    ],
)
def test_bad_direction_is_refused_naming_v(small, product, bad_v, error) -> None:
    net, X, Y, _, _ = small
    assert net.n_params == 26
    with pytest.raises(error, match=r"\bv\b"):
        product(net, X, Y, bad_v)


def test_bad_network_and_data_are_refused(small) -> None:
    net, X, Y, _, v = small
    with pytest.raises(TypeError, match="net"):
        hvp("not a network", X, Y, v)
    with pytest.raises(ValueError, match="X"):
        hvp(net, X[:, :2], Y, v)
    with pytest.raises(ValueError, match="Y"):
        gnvp(net, X, Y[:3], v)
    with pytest.raises(ValueError, match="X"):
        hvp(net, np.full_like(X, np.nan), Y, v)


def test_concurrent_use_is_refused(small) -> None:
    net, X, Y, _, v = small
    with net.lowered.exclusive(), pytest.raises(RuntimeError, match="another thread"):
        hvp(net, X, Y, v)
    hvp(net, X, Y, v)  # the lock was released


ROW_SPECS = [
    fb.NetworkSpec([5, 7, 6, 3], ["tanh", "relu"], "softmax_cross_entropy", dtype)
    for dtype in DTYPES
] + [
    fb.NetworkSpec([4, 9, 2], ["softplus"], "logistic", "float32"),
    fb.NetworkSpec([3, 8, 8, 8, 1], ["sigmoid", "leaky_relu", "relu"], "squared", "float64"),
    fb.NetworkSpec([2, 1], [], "poisson", "float64"),
]


@pytest.mark.parametrize("spec", ROW_SPECS, ids=str)
def test_one_row_fast_path_matches_reference_and_checked_path(spec, monkeypatch) -> None:
    """One kernel-ready row takes the compiled one-row path (checks inside), not the checked,
    chunked path; H v and G v equal the reference and what the checked path computes."""
    net, X, Y, Y_dense, v = setup_case(spec, 1, 77)
    dt = spec.np_dtype
    X, Yd, v = X.astype(dt), Y_dense.astype(dt), v.astype(dt)
    checked = {p: p(net, X.tolist(), Yd.tolist(), v.tolist()) for p in (hvp, gnvp)}

    def no_checked_path(*args):
        raise AssertionError("the one-row path fell back to the checked path")

    monkeypatch.setattr(hessian, "product_unchecked", no_checked_path)
    args = reference_args(net, X, Yd, v)
    for product, ref in ((hvp, reference.hvp), (gnvp, reference.gnvp)):
        fast = product(net, X, Yd, v)
        assert_close(fast, ref(*args), spec.dtype, f"{product.__name__} one row {spec}")
        assert_close(fast, checked[product], spec.dtype, f"{product.__name__} fast vs checked")


@pytest.mark.parametrize("product", [hvp, gnvp])
def test_one_row_fast_path_refuses_what_the_checked_path_refuses(product) -> None:
    """Bad values reach the compiled one-row path (kinds are right); it declines and the checked
    path raises the documented error, with nothing written to the network."""
    spec = fb.NetworkSpec([3, 5, 4, 2], ["tanh", "relu"], "logistic")
    net, X, _, _, v = setup_case(spec, 1, 5)
    Y = np.array([[0.0, 1.0]])
    params = net.params.copy()
    bad_x = X.copy()
    bad_x[0, 1] = np.nan
    with pytest.raises(ValueError, match="X"):
        product(net, bad_x, Y, v)
    with pytest.raises(ValueError, match="Y"):
        product(net, X, np.array([[0.0, 2.0]]), v)  # logistic targets lie in [0, 1]
    for where in (0, spec.n_params - 1):  # a weight of layer 1, the last bias
        bad_v = v.copy()
        bad_v[where] = np.inf
        with pytest.raises(ValueError, match=r"\bv\b"):
            product(net, X, Y, bad_v)
    np.testing.assert_array_equal(net.params, params)
    net.params[-3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        product(net, X, Y, v)
    net.params[-3] = params[-3]
    # A read-only v has another kind: the checked path computes the same product (to rounding:
    # the two paths are separately compiled functions, which LLVM may contract differently).
    frozen = v.copy()
    frozen.flags.writeable = False
    assert_close(product(net, X, Y, frozen), product(net, X, Y, v), "float64", "read-only v")
