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
