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

and two that accumulate in place (BLAS's β = 1), each with a loop twin for machines without
SciPy:

* ``sgd_update_tn(dZ, A, W, α, scal)``: W ← W + α dZᵀ A (the plain SGD step of a weight matrix
  folded into the weight-gradient gemm);
* ``gemm(ta, tb, α, A, B, β, C, scal)``: C ← α op(A) op(B) + β C, op(M) = Mᵀ when its flag is
  set (the R-operator's sums of two products, ``fastbp.rop_kernels``, accumulate through it
  instead of a scratch product and an add pass).
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
def loop_gemm(ta, tb, alpha, A, B, beta, C, scal):
    """C ← α op(A) op(B) + β C by explicit loops (``scal`` unused); β = 0 ignores C's values."""
    m, n = C.shape
    k = A.shape[0] if ta else A.shape[1]
    for i in range(m):
        for j in range(n):
            s = 0.0
            for p in range(k):
                a = A[p, i] if ta else A[i, p]
                b = B[j, p] if tb else B[p, j]
                s += a * b
            C[i, j] = alpha * s if beta == 0.0 else alpha * s + beta * C[i, j]


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

    @jit
    def gemm(ta, tb, alpha, A, B, beta, C, scal):
        """C ← α op(A) op(B) + β C in one BLAS gemm; op(M) = Mᵀ when ``ta`` (``tb``) is set.

        A, B and C are C-ordered (blocks of the flat workspaces are); BLAS sees each as the
        column-major transpose, so it computes Cᵀ ← α op(B)ᵀ op(A)ᵀ + β Cᵀ.  β = 0 ignores C's
        values (BLAS does not read C then).  ``scal`` (from :func:`gemm_scratch`, C's dtype)
        holds α and β, which BLAS takes by reference.
        """
        m, n = C.shape
        k = A.shape[0] if ta else A.shape[1]
        a_rows = A.shape[1] if ta else A.shape[0]
        b_rows, b_cols = (n, k) if tb else (k, n)
        # BLAS gets raw pointers: refuse anything but consistent C-ordered shapes, so that a
        # wrong call can never read or write past the arrays.
        if (
            a_rows != m
            or B.shape[0] != b_rows
            or B.shape[1] != b_cols
            or not (A.flags.c_contiguous and B.flags.c_contiguous and C.flags.c_contiguous)
            or scal.shape[0] < 2
        ):
            raise ValueError("gemm: operands of the wrong shape or layout")
        if m == 0 or n == 0:
            return
        if k == 0:
            for i in range(m):
                for j in range(n):
                    C[i, j] = 0.0 if beta == 0.0 else beta * C[i, j]
            return
        scal[0] = alpha
        scal[1] = beta
        kind = np.int8(115) if C.itemsize == 4 else np.int8(100)  # 's' or 'd'
        no, yes = np.int8(78), np.int8(84)  # 'N', 'T'
        status = _xxgemm(kind, yes if tb else no, yes if ta else no, n, m, k, scal[0:].ctypes,
                         B.ctypes, B.shape[1], A.ctypes, A.shape[1], scal[1:].ctypes, C.ctypes,
                         n)  # fmt: skip
        if status != 0:
            raise RuntimeError("BLAS gemm failed (SciPy's cython_blas not found)")

else:  # pragma: no cover - no SciPy, or a Numba without the helper
    sgd_update_tn = loop_sgd_update_tn
    gemm = loop_gemm


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
