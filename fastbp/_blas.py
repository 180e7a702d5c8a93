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

and one that updates in place: ``sgd_update_tn(dZ, A, W, α, ...)``: W ← W + α dZᵀ A (the plain
SGD step of a weight matrix folded into the weight-gradient gemm, BLAS's β = 1).
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


@jit
def loop_sgd_update_tn(dZ, A, W, alpha, scal):
    """W ← W + α dZᵀ A by explicit loops (``scal`` unused)."""
    m, n_out = dZ.shape
    n_in = A.shape[1]
    for j in range(n_out):
        for p in range(n_in):
            s = 0.0
            for i in range(m):
                s += dZ[i, j] * A[i, p]
            W[j, p] += alpha * s


@jit
def gemm_scratch(like):
    """The α, β slots :func:`sgd_update_tn` passes to BLAS by reference: ``like``'s dtype, [2].

    Allocate once per kernel call, not per batch.
    """
    return np.zeros(2, like.dtype)


def _xxgemm_helpers() -> dict[str, int] | None:
    """Numba's C helpers (``numba._helperlib.c_helpers``) when they include its BLAS gemm."""
    try:
        from numba._helperlib import c_helpers  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - another Numba layout
        return None
    return c_helpers if "xxgemm" in c_helpers else None


_HELPERS = _xxgemm_helpers() if HAVE_BLAS else None

#: Whether the in-place SGD gemm can call Numba's BLAS helper (else the loop form is used).
HAVE_XXGEMM = _HELPERS is not None

if HAVE_XXGEMM:
    import ctypes

    import numba
    from numba import types as _types

    if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
        # Plain-Python kernels call the same C entry point through ctypes.
        _ssize, _ptr = ctypes.c_ssize_t, ctypes.c_void_p
        _xxgemm = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.c_byte, ctypes.c_byte, ctypes.c_byte, _ssize, _ssize, _ssize,
            _ptr, _ptr, _ssize, _ptr, _ssize, _ptr, _ptr, _ssize,
        )(_HELPERS["xxgemm"])  # type: ignore[index]  # fmt: skip
    else:
        # Numba's own BLAS helper (what its np.dot calls), by its registered symbol name, so
        # the kernels stay cacheable; it finds SciPy's cython_blas on its first call, so
        # importing fastbp does not import scipy.linalg.
        _xxgemm = _types.ExternalFunction(
            "numba_xxgemm",
            _types.int32(_types.int8, _types.int8, _types.int8, _types.intp, _types.intp,
                         _types.intp, _types.voidptr, _types.voidptr, _types.intp,
                         _types.voidptr, _types.intp, _types.voidptr, _types.voidptr,
                         _types.intp),
        )  # fmt: skip

    @jit
    def sgd_update_tn(dZ, A, W, alpha, scal):
        """W ← W + α dZᵀ A in one BLAS gemm (β = 1): the SGD step of W[k] with α = −lr.

        ``dZ`` (m, n_out), ``A`` (m, n_in) and ``W`` (n_out, n_in) are C-ordered; BLAS sees them
        column-major as dZᶜ (n_out × m), Aᶜ (n_in × m) and Wᶜ (n_in × n_out), and computes
        Wᶜ ← α Aᶜ (dZᶜ)ᵀ + Wᶜ.  ``scal`` (from :func:`gemm_scratch`, W's dtype) holds α and β,
        which BLAS takes by reference.  Saves the gradient write, the read back and the separate
        update pass of gW = dZᵀA followed by W −= lr gW.
        """
        m, n_out = dZ.shape
        n_in = A.shape[1]
        # BLAS gets raw pointers: refuse anything but the C-ordered shapes described above, so
        # that a wrong call can never read or write past the arrays.
        if (
            A.shape[0] != m
            or W.shape[0] != n_out
            or W.shape[1] != n_in
            or not (dZ.flags.c_contiguous and A.flags.c_contiguous and W.flags.c_contiguous)
            or scal.shape[0] < 2
        ):
            raise ValueError("sgd_update_tn: operands of the wrong shape or layout")
        scal[0] = alpha
        scal[1] = 1.0
        kind = np.int8(115) if W.itemsize == 4 else np.int8(100)  # 's' or 'd'
        n_t = np.int8(78), np.int8(84)  # 'N' for A, 'T' for dZ
        status = _xxgemm(kind, n_t[0], n_t[1], n_in, n_out, m, scal[0:].ctypes, A.ctypes, n_in,
                         dZ.ctypes, n_out, scal[1:].ctypes, W.ctypes, n_in)  # fmt: skip
        if status != 0:
            raise RuntimeError("BLAS gemm failed (SciPy's cython_blas not found)")

else:  # pragma: no cover - no SciPy, or a Numba without the helper
    sgd_update_tn = loop_sgd_update_tn


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
