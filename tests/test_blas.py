"""Both variants of the matrix products in fastbp._blas against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from fastbp import _blas


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", ["loop", "selected"])
@pytest.mark.parametrize(("m", "n", "k"), [(1, 1, 1), (3, 5, 7), (40, 17, 64)])
def test_products_match_numpy(dtype: str, variant: str, m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    nt = _blas.loop_matmul_nt if variant == "loop" else _blas.matmul_nt
    tn = _blas.loop_matmul_tn if variant == "loop" else _blas.matmul_tn
    nn = _blas.loop_matmul_nn if variant == "loop" else _blas.matmul_nn
    A = rng.normal(size=(m, k)).astype(dtype)
    B = rng.normal(size=(n, k)).astype(dtype)
    D = rng.normal(size=(m, n)).astype(dtype)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    out = np.empty((m, n), dtype=dtype)
    nt(A, B, out)
    np.testing.assert_allclose(out, A.astype(float) @ B.T.astype(float), rtol=rtol, atol=rtol)
    out = np.full((n, k), np.nan, dtype=dtype)  # outputs are overwritten, not accumulated
    tn(D, A, out)
    np.testing.assert_allclose(out, D.T.astype(float) @ A.astype(float), rtol=rtol, atol=rtol)
    out = np.full((m, k), np.nan, dtype=dtype)
    nn(D, B, out)
    np.testing.assert_allclose(out, D.astype(float) @ B.astype(float), rtol=rtol, atol=rtol)


def test_blas_is_available_in_the_test_environment() -> None:
    """The dev extras install SciPy, so CI exercises the BLAS path (not only the fallback)."""
    assert _blas.HAVE_BLAS


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", ["loop", "selected"])
@pytest.mark.parametrize(("ta", "tb"), [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize(("m", "n", "k"), [(1, 1, 1), (3, 5, 7), (40, 17, 64)])
def test_gemm_accumulates_alpha_op_a_op_b_plus_beta_c(
    dtype: str, variant: str, ta: bool, tb: bool, m: int, n: int, k: int
) -> None:
    """C ← α op(A) op(B) + β C: β = 1 accumulates, β = 0 ignores C (NaN there stays unread)."""
    rng = np.random.default_rng(m * 100 + n * 10 + k + 7 * ta + 3 * tb)
    gemm = _blas.loop_gemm if variant == "loop" else _blas.gemm
    A = rng.normal(size=(k, m) if ta else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if tb else (k, n)).astype(dtype)
    C0 = rng.normal(size=(m, n)).astype(dtype)
    product = (A.T if ta else A).astype(float) @ (B.T if tb else B).astype(float)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    scal = _blas.gemm_scratch(C0)
    C = C0.copy()
    gemm(ta, tb, -0.5, A, B, 1.0, C, scal)
    np.testing.assert_allclose(C, C0 - 0.5 * product, rtol=rtol, atol=rtol)
    C = np.full((m, n), np.nan, dtype=dtype)
    gemm(ta, tb, 2.0, A, B, 0.0, C, scal)
    np.testing.assert_allclose(C, 2.0 * product, rtol=rtol, atol=rtol)


def test_gemm_refuses_inconsistent_operands() -> None:
    """A wrong shape or a strided operand raises instead of reaching BLAS with raw pointers."""
    A = np.ones((3, 4))
    C = np.zeros((3, 5))
    scal = _blas.gemm_scratch(C)
    with pytest.raises(ValueError, match="wrong shape or layout"):
        _blas.gemm(False, False, 1.0, A, np.ones((5, 4)), 0.0, C, scal)
    with pytest.raises(ValueError, match="wrong shape or layout"):
        _blas.gemm(False, True, 1.0, A, np.ones((10, 4))[::2], 0.0, C, scal)
