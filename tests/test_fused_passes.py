"""The fused elementwise passes of the BLAS path, piece by piece, against the unfused ones.

``kernels.bias_activate`` (bias + σ in one pass), ``kernels.add_bias``, the row-wise bias sums of
``kernels.weight_gradient`` (with and without the scale), ``kernels.backprop_activation``'s ReLU
branch, ``epochs.gather_rows``, and the minibatch epoch's 1/m folded into the seed against the
gradient of the mean (``Network.loss_and_gradient``) followed by the same SGD step.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

import fastbp as fb
from fastbp import epochs, kernels
from fastbp.activations import ACTIVATIONS, act, act_prime
from fastbp.optim import Optimizer
from fastbp.validate import as_features, as_targets

DTYPES = ("float64", "float32")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_bias_activate_is_bias_then_activation(name: str, dtype: str) -> None:
    rng = np.random.default_rng(3)
    code = ACTIVATIONS[name]
    Z0 = rng.normal(size=(7, 5)).astype(dtype)
    b = rng.normal(size=5).astype(dtype)
    Z, A = Z0.copy(), np.empty_like(Z0)
    kernels.bias_activate(code, b, Z, A)
    Zr = Z0.copy()
    kernels.add_bias(b, Zr)
    np.testing.assert_array_equal(Zr, Z0 + b)
    np.testing.assert_array_equal(Z, Zr)
    Ar = np.empty_like(A)
    kernels.activate(code, Zr, Ar)
    assert_close(A, Ar, dtype, f"σ = {name}")
    assert_close(A, np.array([[act(code, float(z)) for z in row] for row in Zr]), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_passes_keep_nan(dtype: str) -> None:
    """NaN reaching a ReLU layer forward stays NaN (the divergence checks rely on it); backward,
    the one ReLU rule is PyTorch's: dJ/da where z > 0, else 0, also for an inf dJ/da (it has
    already made the loss non-finite)."""
    code = ACTIVATIONS["relu"]
    Z = np.array([[np.nan, -1.0, 2.0]], dtype=dtype)
    A = np.empty_like(Z)
    dA = np.array([[1.0, np.inf, 3.0]], dtype=dtype)
    dZ = np.empty_like(Z)
    # Under NUMBA_DISABLE_JIT the kernels run on NumPy scalars, which warn on 0 · inf.
    with np.errstate(invalid="ignore"):
        kernels.bias_activate(code, np.zeros(3, dtype=dtype), Z, A)
        kernels.backprop_activation(code, np.array([[1.0, -1.0, 2.0]], dtype=dtype), A, dA, dZ)
    assert np.isnan(A[0, 0]) and A[0, 1] == 0.0 and A[0, 2] == 2.0
    assert dZ[0, 0] == 1.0 and dZ[0, 1] == 0.0 and dZ[0, 2] == 3.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backprop_activation_matches_act_prime(name: str, dtype: str) -> None:
    rng = np.random.default_rng(5)
    code = ACTIVATIONS[name]
    Z = rng.normal(size=(6, 4)).astype(dtype)
    A = np.empty_like(Z)
    kernels.activate(code, Z, A)
    dA = rng.normal(size=Z.shape).astype(dtype)
    dZ = np.empty_like(Z)
    kernels.backprop_activation(code, Z, A, dA, dZ)
    want = np.array([[dA[i, j] * act_prime(code, float(Z[i, j]), float(A[i, j]))
                      for j in range(Z.shape[1])] for i in range(Z.shape[0])])  # fmt: skip
    assert_close(dZ, want, dtype, f"σ' = {name}")


@pytest.mark.parametrize("use_blas", [False, True])
@pytest.mark.parametrize("scale", [1.0, 0.3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_gradient_scale_and_bias_sums(dtype: str, scale: float, use_blas: bool) -> None:
    rng = np.random.default_rng(7)
    dZ = rng.normal(size=(9, 4)).astype(dtype)
    A = rng.normal(size=(9, 6)).astype(dtype)
    gW = np.full((4, 6), np.nan, dtype=dtype)
    gb = np.full(4, np.nan, dtype=dtype)
    kernels.weight_gradient(dZ, A, gW, gb, scale, use_blas)
    d64, a64 = dZ.astype(np.float64), A.astype(np.float64)
    assert_close(gW, scale * d64.T @ a64, dtype, "gW")
    assert_close(gb, scale * d64.sum(axis=0), dtype, "gb")


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_rows(dtype: str) -> None:
    rng = np.random.default_rng(9)
    X = rng.normal(size=(10, 3)).astype(dtype)
    Y = rng.normal(size=(10, 2)).astype(dtype)
    order = np.array([4, 0, 9, 9, 2, 7], dtype=np.int64)
    Xb, Yb = np.zeros((4, 3), dtype=dtype), np.zeros((4, 2), dtype=dtype)
    epochs.gather_rows(X, Y, order, 2, 3, Xb, Yb)
    np.testing.assert_array_equal(Xb[:3], X[order[2:5]])
    np.testing.assert_array_equal(Yb[:3], Y[order[2:5]])
    assert not Xb[3].any() and not Yb[3].any()


@pytest.mark.parametrize("blas", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["squared", "softmax_cross_entropy"])
def test_minibatch_step_is_mean_gradient_step(loss: str, dtype: str, blas: bool) -> None:
    """One minibatch SGD step (1/m in the seed) equals θ − α · (gradient of the mean loss)."""
    rng = np.random.default_rng(11)
    spec = fb.NetworkSpec([5, 8, 6, 3], ["relu", "tanh"], loss, dtype)
    net = fb.Network(spec, init="he_normal", seed=1)
    m = 12
    X = rng.normal(size=(m, 5)).astype(dtype)
    Y = rng.integers(0, 3, size=m) if loss != "squared" else rng.normal(size=(m, 3))
    Xk, Yk = as_features(X, spec), as_targets(Y, spec, m)
    _, g = net.loss_and_gradient(Xk, Yk)
    lr = 0.05
    want = net.params - lr * g
    low = net.lowered
    p, ws = low.plan, low.ws
    ws.ensure(m)
    opt = Optimizer("sgd")
    opt.reset(net.n_params, spec.np_dtype)
    info = np.zeros(3)
    Xb, Yb = np.zeros_like(Xk), np.zeros_like(Yk)
    epochs.minibatch_epoch(
        Xk, Yk, np.arange(m, dtype=np.int64), m, low.params, p.widths, p.acts, p.out_kind,
        p.loss_param, p.w_off, p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, low.grad,
        p.weight_mask, 0.0, 1 if blas else m + 1, opt.code, lr, opt.momentum, opt.beta1, opt.beta2,
        opt.eps, opt.s1, opt.s2, opt.step, info,
    )  # fmt: skip
    assert info[1] == m and info[2] == 0
    assert_close(net.params, want, dtype, "θ after one step")


@pytest.mark.parametrize("variant", ["blas", "loops"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 5), (12, 10, 4)])
def test_sgd_update_tn_is_w_plus_alpha_dzt_a(
    shape: tuple[int, int, int], dtype: str, variant: str
) -> None:
    """The SGD step folded into BLAS gemm: W ← W + α dZᵀ A (β = 1), other memory untouched.

    "loops" is the fallback used without SciPy.
    """
    from fastbp._blas import gemm_scratch, loop_sgd_update_tn
    from fastbp._blas import sgd_update_tn as blas_update

    sgd_update_tn = blas_update if variant == "blas" else loop_sgd_update_tn

    m, n_out, n_in = shape
    rng = np.random.default_rng(13)
    dZ = rng.normal(size=(m, n_out)).astype(dtype)
    A = rng.normal(size=(m, n_in)).astype(dtype)
    buf = rng.normal(size=n_out * n_in + 4).astype(dtype)
    W = buf[2 : 2 + n_out * n_in].reshape(n_out, n_in)  # a view inside a larger buffer
    before = buf.copy()
    scal = gemm_scratch(W)
    sgd_update_tn(dZ, A, W, -0.25, scal)
    want = before[2 : 2 + n_out * n_in].reshape(n_out, n_in).astype(np.float64)
    want -= 0.25 * dZ.astype(np.float64).T @ A.astype(np.float64)
    assert_close(W, want, dtype, "W after the folded step")
    np.testing.assert_array_equal(buf[:2], before[:2])
    np.testing.assert_array_equal(buf[-2:], before[-2:])
