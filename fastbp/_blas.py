"""The three matrix products of backprop, through BLAS when Numba can reach it.

Numba's ``np.dot`` calls BLAS through SciPy's ``cython_blas`` table, so it needs SciPy at compile
time.  fastbp's runtime dependencies are numba and numpy only, so SciPy is optional (the
``blas`` extra): with it the products below are ``np.dot`` into a preallocated output; without
it they are the same explicit loops the small-batch path uses, and :data:`HAVE_BLAS` is False so
the Python side never asks for BLAS.  Both variants are always defined, so both are tested.

All products write into ``out`` (C-contiguous, right shape and dtype) and return None:

* ``matmul_nt(A, B, out)``: out = A Bᵀ   (forward: Z = A_prev Wᵀ)
* ``matmul_tn(A, B, out)``: out = Aᵀ B   (weight gradient: gW = dZᵀ A_prev)
* ``matmul_nn(A, B, out)``: out = A B    (backward: dA_prev = dZ W)
"""

from __future__ import annotations

import importlib.util

import numpy as np

from fastbp._jit import jit

#: Whether Numba can call BLAS here (SciPy is installed).
HAVE_BLAS = importlib.util.find_spec("scipy") is not None


@jit
def loop_matmul_nt(A, B, out):
    """out = A Bᵀ by explicit loops."""
    m, n = out.shape
    k = A.shape[1]
    for i in range(m):
        for j in range(n):
            s = A[i, 0] * B[j, 0]
            for p in range(1, k):
                s += A[i, p] * B[j, p]
            out[i, j] = s


@jit
def loop_matmul_tn(A, B, out):
    """out = Aᵀ B by explicit loops (row-wise accumulation, unit stride)."""
    m = A.shape[0]
    n, k = out.shape
    for j in range(n):
        for p in range(k):
            out[j, p] = 0.0
    for i in range(m):
        for j in range(n):
            d = A[i, j]
            for p in range(k):
                out[j, p] += d * B[i, p]


@jit
def loop_matmul_nn(A, B, out):
    """out = A B by explicit loops (row-wise accumulation, unit stride)."""
    m, k = out.shape
    n = A.shape[1]
    for i in range(m):
        for p in range(k):
            out[i, p] = 0.0
        for j in range(n):
            d = A[i, j]
            for p in range(k):
                out[i, p] += d * B[j, p]


if HAVE_BLAS:

    @jit
    def matmul_nt(A, B, out):
        """out = A Bᵀ (BLAS gemm)."""
        np.dot(A, B.T, out)

    @jit
    def matmul_tn(A, B, out):
        """out = Aᵀ B (BLAS gemm)."""
        np.dot(A.T, B, out)

    @jit
    def matmul_nn(A, B, out):
        """out = A B (BLAS gemm)."""
        np.dot(A, B, out)

else:  # pragma: no cover - exercised on machines without SciPy
    matmul_nt = loop_matmul_nt
    matmul_tn = loop_matmul_tn
    matmul_nn = loop_matmul_nn
