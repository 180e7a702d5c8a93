"""Packed one-row kernels: the fast paths of ``forward``, ``loss_and_gradient`` and ``partial_fit``.

A call on one row is dominated by what happens around the compiled work (for the 8-32-32-1
network the arithmetic takes well under a microsecond), so these kernels take few arguments and
check their own input:

* the plan's integer tables travel as one read-only int64 array ``ipack`` (:func:`pack_plan`)
  instead of seven arguments, and z, a, dJ/dz, dJ/da of the row as one flat ``work`` array of
  4·U entries (U = n1 + ... + nr): Numba's dispatch cost grows with the number of arguments;
* finiteness of x (and the validity of y for the loss) is checked inside the compiled call,
  before anything is written; a nonzero status tells the caller to take the ordinary,
  fully validated path, which raises the documented error;
* finiteness of the parameters is not checked entry by entry: if any W[k] or b[k] entry is NaN
  or inf, the pre-activation z[k] it feeds is NaN or inf (W·0 = NaN for W = ±inf, and a finite
  x reaches every weight of layer 1 through the sum), and the check of the U entries of z costs
  far less than one of the N parameters.  A nonzero status again sends the caller to the
  ordinary path, which checks the parameters and raises.

Each kernel only composes the compiled passes of :mod:`fastbp.kernels` and
:mod:`fastbp.epochs`; the arithmetic is theirs, so results agree with the batch paths (the tests
check them against the pure-Python reference and, for one SGD step, against ``fit`` bit for bit).

Status codes returned: 0 ok, :data:`BAD_X`, :data:`BAD_Y`, :data:`BAD_Z` (a NaN/inf
pre-activation: non-finite parameters, or an overflow), :data:`DIVERGED` (a non-finite loss or
parameter in the SGD step; the parameters were restored from the snapshot taken before it),
:data:`ALIASED` (x or y shares memory with the parameters the step would change: nothing
written; the caller's checked path copies them first, as ``fit`` does).
"""

from __future__ import annotations

import math

import numpy as np

from fastbp._jit import jit
from fastbp.epochs import minibatch_epoch, sgd_example_epoch
from fastbp.kernels import (
    LOGISTIC,
    SOFTMAX_CE,
    backward_example,
    example_loss,
    forward_example,
)
from fastbp.lowering import Plan

BAD_X = 1
BAD_Y = 2
BAD_Z = 3
DIVERGED = 4
ALIASED = 5


def pack_plan(plan: Plan) -> np.ndarray:
    """The plan's tables as one read-only int64 array.

    Layout: ``[r, out_kind, widths (r+1), acts (r), w_off (r), b_off (r), u_off (r+1), 0]``; the
    final 0 is the one-entry ``order`` array that :func:`sgd_row` hands to the epoch kernel.
    """
    r = plan.widths.shape[0] - 1
    head = np.array([r, plan.out_kind], dtype=np.int64)
    parts = [head, plan.widths, plan.acts, plan.w_off, plan.b_off, plan.u_off]
    packed = np.concatenate([*parts, np.zeros(1, dtype=np.int64)]).astype(np.int64)
    packed.setflags(write=False)
    return packed


@jit
def unpack_plan(ipack):
    """Views of (out_kind, widths, acts, w_off, b_off, u_off, order) inside ``ipack``."""
    r = ipack[0]
    out_kind = ipack[1]
    o = 2
    widths = ipack[o : o + r + 1]
    o += r + 1
    acts = ipack[o : o + r]
    o += r
    w_off = ipack[o : o + r]
    o += r
    b_off = ipack[o : o + r]
    o += r
    u_off = ipack[o : o + r + 1]
    o += r + 1
    order = ipack[o : o + 1]
    return out_kind, widths, acts, w_off, b_off, u_off, order


@jit
def finite_sum_check(a, lo, hi):
    """True when a[lo:hi] holds no NaN/inf (Σ a_q·0 = 0 exactly then, NaN otherwise)."""
    acc = 0.0
    for q in range(lo, hi):
        acc += a[q] * 0.0
    return acc == 0.0


@jit
def overlaps(a, b):
    """Whether the memory of arrays a and b (contiguous) overlaps."""
    a_lo = a.ctypes.data
    b_lo = b.ctypes.data
    return a_lo < b_lo + b.size * b.itemsize and b_lo < a_lo + a.size * a.itemsize


@jit
def target_row_ok(y, out_kind):
    """Whether the dense target row y is valid for the loss (as ``validate.as_targets`` checks).

    squared: finite; logistic: 0 ≤ y_j ≤ 1; softmax cross-entropy: y_j ≥ 0 and |Σ y_j − 1| ≤ tol
    (1e-3 for float32, 1e-6 for float64).
    """
    n = y.shape[0]
    if not finite_sum_check(y, 0, n):
        return False
    if out_kind == LOGISTIC:
        for j in range(n):
            if y[j] < 0.0 or y[j] > 1.0:
                return False
    elif out_kind == SOFTMAX_CE:
        tol = 1e-3 if y.itemsize == 4 else 1e-6
        s = 0.0
        for j in range(n):
            if y[j] < 0.0:
                return False
            s += y[j]
        if abs(s - 1.0) > tol:
            return False
    return True


@jit
def forward_row(X, params, ipack, work, out):
    """Forward pass of the single row X[0] (X of shape (1, n0)); the prediction a[r] goes to out[0].

    work = [z (U) | a (U) | dJ/dz (U) | dJ/da (U)]; z[k], a[k] as in :func:`kernels.forward`.
    Returns 0, BAD_X (x not finite: nothing written) or BAD_Z (some z[k] not finite).
    """
    x = X[0]
    if not finite_sum_check(x, 0, x.shape[0]):
        return BAD_X
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    r = widths.shape[0] - 1
    U = u_off[r]
    Z = work[:U]
    A = work[U : 2 * U]
    forward_example(x, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    if not finite_sum_check(Z, 0, U):
        return BAD_Z
    o = out[0]
    lo = u_off[r - 1]
    for j in range(widths[r]):
        o[j] = A[lo + j]
    return 0


@jit
def loss_grad_row(X, Y, params, ipack, work, grad):
    """J of the single row (X[0], Y[0]) and ∇J written into ``grad`` (overwritten).

    Returns (status, J); on a nonzero status (BAD_X, BAD_Y before anything is written; BAD_Z)
    J is NaN and ``grad`` must not be used.
    """
    x = X[0]
    y = Y[0]
    if not finite_sum_check(x, 0, x.shape[0]):
        return BAD_X, math.nan
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    if not target_row_ok(y, out_kind):
        return BAD_Y, math.nan
    r = widths.shape[0] - 1
    U = u_off[r]
    Z = work[:U]
    A = work[U : 2 * U]
    dZ = work[2 * U : 3 * U]
    dA = work[3 * U :]
    forward_example(x, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    if not finite_sum_check(Z, 0, U):
        return BAD_Z, math.nan
    J = example_loss(out_kind, Z, A, u_off[r - 1], widths[r], Y, 0)
    backward_example(x, y, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, 1.0)
    return 0, J


@jit
def sgd_row(X, Y, params, ipack, work, good, lr, l2, info):
    """One per-example SGD step θ ← θ − α (∇J(θ) + λ W-mask ⊙ θ) on the row (X[0], Y[0]).

    The step is :func:`fastbp.epochs.sgd_example_epoch` on the one-entry order [0], the kernel
    ``fit(batch_size=1, optimizer="sgd")`` runs.  x and y are checked first (BAD_X, BAD_Y:
    nothing written).  The parameters are copied to ``good`` before the step; if the loss was not
    finite (the epoch kernel then takes no step) or the step left a non-finite parameter, they are
    copied back and DIVERGED is returned (the caller tells non-finite parameters from a diverging
    step by checking the restored parameters).  ``info`` is written as by the epoch kernel
    (info[0] = J, info[1] = 1, info[2] = 1 when J was not finite; zeroed first).
    """
    info[0] = 0.0
    info[1] = 0.0
    info[2] = 0.0
    if overlaps(X, params) or overlaps(Y, params):
        return ALIASED
    x = X[0]
    if not finite_sum_check(x, 0, x.shape[0]):
        return BAD_X
    out_kind, widths, acts, w_off, b_off, u_off, order = unpack_plan(ipack)
    if not target_row_ok(Y[0], out_kind):
        return BAD_Y
    r = widths.shape[0] - 1
    U = u_off[r]
    n = params.shape[0]
    for q in range(n):
        good[q] = params[q]
    sgd_example_epoch(X, Y, order, params, widths, acts, out_kind, w_off, b_off, u_off,
                      work[:U], work[U : 2 * U], work[2 * U : 3 * U], work[3 * U :],
                      lr, l2, info)  # fmt: skip
    if info[2] != 0.0 or not finite_sum_check(params, 0, n):
        for q in range(n):
            params[q] = good[q]
        return DIVERGED
    return 0


@jit
def minibatch_rows(
    X, Y, order, batch_size, params, ipack, weight_mask, Xb, Yb, work_Z, work_A, work_dZ,
    work_dA, grad, l2, blas_min_rows, kind, lr, mu, beta1, beta2, eps, s1, s2, step,
    good, good1, good2, info,
):  # fmt: skip
    """Minibatch steps over the rows of X, Y in order: :func:`fastbp.epochs.minibatch_epoch`,
    the kernel ``fit(batch_size=B)`` runs, after checks that ``partial_fit`` would otherwise do
    in NumPy.

    Checked first, with nothing written on failure: X finite (BAD_X), every row of Y valid for
    the loss (BAD_Y), X and Y not sharing memory with the parameters or optimizer state
    (ALIASED).  The parameters and the state (s1, s2, step) are copied to ``good``, ``good1``,
    ``good2`` and ``step`` restored with them if the loss or a parameter becomes non-finite
    (DIVERGED).  ``info`` is zeroed, then written as by the epoch kernel.
    """
    info[0] = 0.0
    info[1] = 0.0
    info[2] = 0.0
    if (
        overlaps(X, params) or overlaps(Y, params) or overlaps(X, s1) or overlaps(Y, s1)
        or overlaps(X, s2) or overlaps(Y, s2)
    ):  # fmt: skip
        return ALIASED
    m, n0 = X.shape
    for i in range(m):
        if not finite_sum_check(X[i], 0, n0):
            return BAD_X
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    for i in range(m):
        if not target_row_ok(Y[i], out_kind):
            return BAD_Y
    n = params.shape[0]
    for q in range(n):
        good[q] = params[q]
    for q in range(s1.shape[0]):
        good1[q] = s1[q]
    for q in range(s2.shape[0]):
        good2[q] = s2[q]
    step0 = step[0]
    minibatch_epoch(
        X, Y, order, batch_size, params, widths, acts, out_kind, w_off, b_off, u_off,
        Xb, Yb, work_Z, work_A, work_dZ, work_dA, grad, weight_mask, l2, blas_min_rows,
        kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
    )  # fmt: skip
    if info[2] != 0.0 or not finite_sum_check(params, 0, n):
        for q in range(n):
            params[q] = good[q]
        for q in range(s1.shape[0]):
            s1[q] = good1[q]
        for q in range(s2.shape[0]):
            s2[q] = good2[q]
        step[0] = step0
        return DIVERGED
    return 0
