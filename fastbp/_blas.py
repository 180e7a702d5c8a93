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
def loop_sgd_update_tn(dZ, A, W, alpha, ints, chars, scal):
    """W ← W + α dZᵀ A by explicit loops (``ints``, ``chars``, ``scal`` unused)."""
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
    """The small argument arrays :func:`sgd_update_tn` passes to BLAS by reference.

    Returns (ints, chars, scal): int32[6], uint8[2] and scal[2] of ``like``'s dtype; allocate
    once per kernel call, not per batch.
    """
    return np.zeros(6, np.int32), np.zeros(2, np.uint8), np.zeros(2, like.dtype)


if HAVE_BLAS:
    import ctypes

    import numba
    from llvmlite import binding as _llvm
    from numba import types as _types
    from numba.extending import get_cython_function_address

    def _gemm(name: str):
        """SciPy's BLAS ``?gemm``, callable from kernels that Numba can still cache.

        The address is registered as a named symbol and the kernels call it by name
        (``ExternalFunction``); a ctypes pointer would be a dynamic global, which Numba refuses to
        cache.  Under ``NUMBA_DISABLE_JIT`` the plain-Python kernels call it through ctypes.
        """
        address = get_cython_function_address("scipy.linalg.cython_blas", name)
        if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
            return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 13))(address)
        symbol = f"fastbp_cython_blas_{name}"
        _llvm.add_symbol(symbol, address)
        return _types.ExternalFunction(symbol, _types.void(*([_types.voidptr] * 13)))

    _sgemm = _gemm("sgemm")
    _dgemm = _gemm("dgemm")

    @jit
    def sgd_update_tn(dZ, A, W, alpha, ints, chars, scal):
        """W ← W + α dZᵀ A in one BLAS gemm (β = 1): the SGD step of W[k] with α = −lr.

        ``dZ`` (m, n_out), ``A`` (m, n_in) and ``W`` (n_out, n_in) are C-ordered; BLAS sees them
        column-major as dZᶜ (n_out × m), Aᶜ (n_in × m) and Wᶜ (n_in × n_out), and computes
        Wᶜ ← α Aᶜ (dZᶜ)ᵀ + Wᶜ.  ``ints``, ``chars``, ``scal`` come from :func:`gemm_scratch`
        (BLAS takes every argument by reference); ``scal`` has W's dtype.  Saves the gradient
        write, the read back and the separate update pass of gW = dZᵀA followed by W −= lr gW.
        """
        m, n_out = dZ.shape
        n_in = A.shape[1]
        ints[0] = n_in
        ints[1] = n_out
        ints[2] = m
        ints[3] = n_in
        ints[4] = n_out
        ints[5] = n_in
        chars[0] = 78  # 'N'
        chars[1] = 84  # 'T'
        scal[0] = alpha
        scal[1] = 1.0
        args = (chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
                ints[2:].ctypes, scal[0:].ctypes, A.ctypes, ints[3:].ctypes, dZ.ctypes,
                ints[4:].ctypes, scal[1:].ctypes, W.ctypes, ints[5:].ctypes)  # fmt: skip
        if W.itemsize == 4:
            _sgemm(*args)
        else:
            _dgemm(*args)

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
    sgd_update_tn = loop_sgd_update_tn
    matmul_nt = loop_matmul_nt
    matmul_tn = loop_matmul_tn
    matmul_nn = loop_matmul_nn
