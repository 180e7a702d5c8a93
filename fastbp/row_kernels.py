"""Packed one-row kernels: the fast paths of ``forward``, ``loss_and_gradient`` and ``partial_fit``.

A call on one row is dominated by what happens around the compiled work (for the 8-32-32-1
network the arithmetic takes well under a microsecond), so these kernels take few arguments and
check their own input:

* the plan's integer tables travel as one read-only int64 array ``ipack`` (:func:`pack_plan`)
  instead of seven arguments: Numba's dispatch cost grows with the number of arguments;
* finiteness of x (and the validity of y for the loss) is checked inside the compiled call,
  before anything is written; a nonzero status tells the caller to take the ordinary,
  fully validated path, which raises the documented error;
* finiteness of the parameters is not checked entry by entry: if any W[k] or b[k] entry is NaN
  or inf, the pre-activation z[k] it feeds is NaN or inf (W·0 = NaN for W = ±inf, and a finite
  x reaches every weight of layer 1 through the sum), and the check of the U entries of z costs
  far less than one of the N parameters.  A nonzero status again sends the caller to the
  ordinary path, which checks the parameters and raises.

The forward and gradient kernels only compose the compiled passes of :mod:`fastbp.kernels`,
so they agree with the batch paths to rounding (the tests check them against the pure-Python
reference).  ``partial_fit`` does not wrap the epoch kernels: compiled into another function,
LLVM may vectorise them differently and the last bit can change.  It calls
:func:`fastbp.epochs.sgd_example_epoch` or :func:`fastbp.epochs.minibatch_epoch` itself, the very
specialisation ``fit`` runs (through :class:`DirectCall`), between :func:`check_rows` (checks and
snapshot) and :func:`settle` (divergence check and restore).

Status codes returned: 0 ok, :data:`BAD_X`, :data:`BAD_Y`, :data:`BAD_Z` (a NaN/inf
pre-activation: non-finite parameters, or an overflow), :data:`ALIASED` (x or y shares memory
with the parameters or optimizer state: nothing written; the caller's checked path copies them
first, as ``fit`` does), :data:`DIVERGED` (a non-finite loss or parameter after the step; the
snapshot was copied back).
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from fastbp._jit import jit
from fastbp.kernels import (
    backward_example,
    example_loss,
    forward_example,
)
from fastbp.losses import LOGISTIC, POISSON, SOFTMAX_CE
from fastbp.lowering import Plan

BAD_X = 1
BAD_Y = 2
BAD_Z = 3
DIVERGED = 4
ALIASED = 5


def _quiet_when_interpreted(kernel):
    """Under ``NUMBA_DISABLE_JIT=1`` the checks above run as NumPy scalar code, where inf·0
    warns; silence that (compiled code never warns), so the fast paths behave the same."""
    if not numba.config.DISABLE_JIT:
        return kernel

    @functools.wraps(kernel)
    def quiet(*args):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return kernel(*args)

    return quiet


def pack_plan(plan: Plan) -> np.ndarray:
    """The plan's tables as one read-only int64 array.

    Layout: ``[r, out_kind, widths (r+1), acts (r), w_off (r), b_off (r), u_off (r+1), 0]``.
    """
    r = plan.widths.shape[0] - 1
    head = np.array([r, plan.out_kind], dtype=np.int64)
    parts = [head, plan.widths, plan.acts, plan.w_off, plan.b_off, plan.u_off]
    packed = np.concatenate([*parts, np.zeros(1, dtype=np.int64)]).astype(np.int64)
    packed.setflags(write=False)
    return packed


@jit
def unpack_plan(ipack):
    """Views of (out_kind, widths, acts, w_off, b_off, u_off, [0]) inside ``ipack``."""
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
    elif out_kind == POISSON:
        for j in range(n):
            if y[j] < 0.0:
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


@_quiet_when_interpreted
@jit
def forward_row(X, params, ipack, Z, A, out):
    """Forward pass of the single row X[0] (X of shape (1, n0)); the prediction a[r] goes to out[0].

    z[k], a[k] are written to the workspaces Z, A as by :func:`kernels.forward_example`.
    Returns 0, BAD_X (x not finite: nothing written) or BAD_Z (some z[k] not finite).
    """
    x = X[0]
    if not finite_sum_check(x, 0, x.shape[0]):
        return BAD_X
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    r = widths.shape[0] - 1
    forward_example(x, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    if not finite_sum_check(Z, 0, u_off[r]):
        return BAD_Z
    o = out[0]
    lo = u_off[r - 1]
    for j in range(widths[r]):
        o[j] = A[lo + j]
    return 0


@_quiet_when_interpreted
@jit
def loss_grad_row(X, Y, params, ipack, Z, A, dZ, dA, grad):
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
    forward_example(x, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    if not finite_sum_check(Z, 0, u_off[r]):
        return BAD_Z, math.nan
    J = example_loss(out_kind, Z, A, u_off[r - 1], widths[r], Y, 0)
    backward_example(x, y, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, 1.0)
    return 0, J


@_quiet_when_interpreted
@jit
def check_rows(X, Y, params, ipack, s1, s2, good, good1, good2, info):
    """The checks and the snapshot in front of ``partial_fit``'s epoch-kernel call.

    Refuses, with nothing written: X or Y sharing memory with the parameters or optimizer state
    (ALIASED; the checked path copies them first, as ``fit`` does), a non-finite x (BAD_X), a
    row of Y invalid for the loss (BAD_Y).  Then copies params, s1, s2 to good, good1, good2 and
    zeroes info.
    """
    if (
        overlaps(X, params) or overlaps(Y, params) or overlaps(X, s1) or overlaps(Y, s1)
        or overlaps(X, s2) or overlaps(Y, s2)
    ):  # fmt: skip
        return ALIASED
    m, n0 = X.shape
    for i in range(m):
        if not finite_sum_check(X[i], 0, n0):
            return BAD_X
    out_kind = ipack[1]
    for i in range(m):
        if not target_row_ok(Y[i], out_kind):
            return BAD_Y
    for q in range(params.shape[0]):
        good[q] = params[q]
    for q in range(s1.shape[0]):
        good1[q] = s1[q]
    for q in range(s2.shape[0]):
        good2[q] = s2[q]
    info[0] = 0.0
    info[1] = 0.0
    info[2] = 0.0
    return 0


@_quiet_when_interpreted
@jit
def settle(params, s1, s2, good, good1, good2, info):
    """After the epoch kernel: if the loss was not finite (info[2]) or a parameter is NaN/inf,
    copy the snapshot of :func:`check_rows` back and return DIVERGED; else 0."""
    n = params.shape[0]
    if info[2] == 0.0 and finite_sum_check(params, 0, n):
        return 0
    for q in range(n):
        params[q] = good[q]
    for q in range(s1.shape[0]):
        s1[q] = good1[q]
    for q in range(s2.shape[0]):
        s2[q] = good2[q]
    return DIVERGED


class DirectCall:
    """Calls one compiled specialisation of a Numba dispatcher without per-call type dispatch.

    The first call goes through the dispatcher (compiling or loading from the cache) and keeps
    the entry point of the specialisation it used; later calls go straight to it, which saves
    about 40 ns per argument.  The caller must pass arguments of the same types every time
    (dtype, ndim, layout, writeability, alignment), which the fast paths of
    :class:`fastbp.Network` check before calling.  Because it is the same machine code as the
    dispatcher runs for ``fit``, results are fit's to the bit.  With ``NUMBA_DISABLE_JIT=1`` it
    calls the plain function, with NumPy's floating-point warnings off, as the kernels would not
    warn.
    """

    __slots__ = ("dispatcher", "entry")

    def __init__(self, dispatcher) -> None:
        self.dispatcher = dispatcher
        self.entry = None

    def __call__(self, *args):
        entry = self.entry
        if entry is not None:
            return entry(*args)
        overloads = getattr(self.dispatcher, "overloads", None)
        if overloads is None:  # NUMBA_DISABLE_JIT: a plain Python function
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return self.dispatcher(*args)
        result = self.dispatcher(*args)
        try:
            compiled = overloads[tuple(numba.typeof(a) for a in args)]
            self.entry = compiled.entry_point
        except (KeyError, AttributeError, TypeError, ValueError):  # pragma: no cover - numba API
            self.entry = self.dispatcher
        return result


class DirectCalls:
    """One :class:`DirectCall` per dispatcher, made on first use: ``calls(dispatcher)(*args)``.

    For a caller that picks among compiled variants per call (the minibatch epochs of
    :func:`fastbp.epochs.minibatch_kernel`) and keeps a direct entry for each one it used.
    """

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[object, DirectCall] = {}

    def __call__(self, dispatcher) -> DirectCall:
        entry = self.entries.get(dispatcher)
        if entry is None:
            entry = self.entries[dispatcher] = DirectCall(dispatcher)
        return entry
