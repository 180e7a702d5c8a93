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
snapshot was copied back).  :data:`LAYOUT` is never returned by a kernel: a
:class:`DirectCall` built with ``refuse=LAYOUT`` returns it, without calling anything, for
arguments of another dtype or layout than its entry point was compiled for.
"""

from __future__ import annotations

import contextlib
import functools
import math

import numba
import numpy as np

from fastbp._jit import jit, jit_inline
from fastbp.kernels import (
    backprop_layers_blas,
    backprop_layers_loops,
    backward_example,
    block,
    forward_blas,
    forward_example,
    forward_loops,
    loss_sum,
    seed_output,
)
from fastbp.losses import example_loss, target_row_ok
from fastbp.lowering import Plan

BAD_X = 1
BAD_Y = 2
BAD_Z = 3
DIVERGED = 4
ALIASED = 5
LAYOUT = 6


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


def _quiet_if_interpreted():
    """NumPy's floating-point warnings off under ``NUMBA_DISABLE_JIT=1`` (see above)."""
    if numba.config.DISABLE_JIT:
        return np.errstate(over="ignore", invalid="ignore", divide="ignore")
    return contextlib.nullcontext()


def pack_plan(plan: Plan) -> np.ndarray:
    """The plan's tables as one read-only int64 array.

    Layout: ``[r, out_kind, widths (r+1), acts (r), w_off (r), b_off (r), u_off (r+1), 0, p]``,
    p the bits of the float64 ``loss_param`` (:func:`loss_param_of` reads it back).
    """
    r = plan.widths.shape[0] - 1
    head = np.array([r, plan.out_kind], dtype=np.int64)
    parts = [head, plan.widths, plan.acts, plan.w_off, plan.b_off, plan.u_off]
    bits = np.array([plan.loss_param], dtype=np.float64).view(np.int64)
    packed = np.concatenate([*parts, np.zeros(1, dtype=np.int64), bits]).astype(np.int64)
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
def loss_param_of(ipack):
    """The plan's ``loss_param`` from the last entry of ``ipack`` (its float64 bits)."""
    return ipack[ipack.shape[0] - 1 :].view(np.float64)[0]


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
    loss_param = loss_param_of(ipack)
    J = example_loss(out_kind, loss_param, Z, A, u_off[r - 1], widths[r], Y, 0)
    backward_example(x, y, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off, Z, A,
                     dZ, dA, grad, 1.0)  # fmt: skip
    return 0, J


@jit
def rows_finite(X):
    """Whether every row of the (m, n0) array X is finite."""
    n0 = X.shape[1]
    for i in range(X.shape[0]):
        if not finite_sum_check(X[i], 0, n0):
            return False
    return True


@jit
def rows_output(Z, A, ipack, m, out):
    """After a small batch's forward pass: BAD_Z if some z[k] is not finite, else copy the
    output block a[r] (m, nr) to out and return 0."""
    _, widths, _, _, _, u_off, _ = unpack_plan(ipack)
    r = widths.shape[0] - 1
    if not finite_sum_check(Z, 0, m * u_off[r]):
        return BAD_Z
    Ar = block(A, u_off, widths, r, m)
    for i in range(m):
        for j in range(widths[r]):
            out[i, j] = Ar[i, j]
    return 0


@_quiet_when_interpreted
@jit
def forward_rows_blas(X, params, ipack, Z, A, out):
    """Forward pass of the m rows of X (a small batch, m ≥ the network's ``blas_min_rows``)
    through :func:`kernels.forward_blas`, the checked path's pass for such a batch (so the outputs
    are its outputs to the bit); the predictions a[r] go to out (m, nr).  Z and A must hold m
    rows.  Returns 0, BAD_X (a row of X not finite: nothing written) or BAD_Z (some z[k] not
    finite).
    """
    if not rows_finite(X):
        return BAD_X
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    forward_blas(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    return rows_output(Z, A, ipack, X.shape[0], out)


@_quiet_when_interpreted
@jit
def forward_rows_loops(X, params, ipack, Z, A, out):
    """:func:`forward_rows_blas` below ``blas_min_rows``: :func:`kernels.forward_loops`."""
    if not rows_finite(X):
        return BAD_X
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    forward_loops(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    return rows_output(Z, A, ipack, X.shape[0], out)


@jit
def rows_loss_and_seed(X, Y, ipack, Z, A, dZ, no_weights):
    """After a small batch's forward pass: (BAD_Z, NaN) if some z[k] is not finite, else
    (0, Σ_i J_i), with the output seed dJ_i/dz[r] = ψ(a[r]_i − y_i) written to dZ
    (:func:`kernels.loss_sum`, :func:`kernels.seed_output`: the checked path's steps)."""
    out_kind, widths, _, _, _, u_off, _ = unpack_plan(ipack)
    m = X.shape[0]
    r = widths.shape[0] - 1
    if not finite_sum_check(Z, 0, m * u_off[r]):
        return BAD_Z, math.nan
    Ar = block(A, u_off, widths, r, m)
    loss_param = loss_param_of(ipack)
    total = loss_sum(Y, block(Z, u_off, widths, r, m), Ar, out_kind, loss_param)
    seed_output(Y, Ar, block(dZ, u_off, widths, r, m), out_kind, loss_param, no_weights)
    return 0, total


@jit
def rows_ok(X, Y, out_kind):
    """0 when every row of X is finite and every row of Y valid for the loss, else BAD_X/BAD_Y."""
    if not rows_finite(X):
        return BAD_X
    for i in range(Y.shape[0]):
        if not target_row_ok(Y[i], out_kind):
            return BAD_Y
    return 0


@_quiet_when_interpreted
@jit
def loss_grad_rows_blas(X, Y, params, ipack, Z, A, dZ, dA, grad, no_weights):
    """Mean loss J of the m rows (X, Y) (a small batch, m ≥ ``blas_min_rows``) and ∇J written
    into ``grad``, by the checked path's steps for one chunk through BLAS (the forward pass,
    :func:`kernels.loss_sum`, :func:`kernels.seed_output`, :func:`kernels.backprop_layers_blas`
    with scale 1/m), so the result is its result to the bit.  The workspaces must hold m rows;
    ``no_weights`` is an empty array of the dtype.  Returns (status, J); on a nonzero status
    (BAD_X, BAD_Y before anything is written; BAD_Z) J is NaN and ``grad`` must not be used.
    """
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    status = rows_ok(X, Y, out_kind)
    if status != 0:
        return status, math.nan
    forward_blas(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    status, total = rows_loss_and_seed(X, Y, ipack, Z, A, dZ, no_weights)
    if status != 0:
        return status, math.nan
    scale = 1.0 / X.shape[0]
    backprop_layers_blas(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, scale)
    return 0, total * scale


@_quiet_when_interpreted
@jit
def loss_grad_rows_loops(X, Y, params, ipack, Z, A, dZ, dA, grad, no_weights):
    """:func:`loss_grad_rows_blas` below ``blas_min_rows``: explicit loops
    (:func:`kernels.forward_loops`, :func:`kernels.backprop_layers_loops`)."""
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    status = rows_ok(X, Y, out_kind)
    if status != 0:
        return status, math.nan
    forward_loops(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    status, total = rows_loss_and_seed(X, Y, ipack, Z, A, dZ, no_weights)
    if status != 0:
        return status, math.nan
    scale = 1.0 / X.shape[0]
    backprop_layers_loops(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, scale)
    return 0, total * scale


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
    snapshot(params, s1, s2, good, good1, good2)
    info[0] = 0.0
    info[1] = 0.0
    info[2] = 0.0
    return 0


@jit_inline
def snapshot(params, s1, s2, good, good1, good2):
    """Copy the parameters and optimizer state to good, good1, good2 (what :func:`settle`
    restores)."""
    for q in range(params.shape[0]):
        good[q] = params[q]
    for q in range(s1.shape[0]):
        good1[q] = s1[q]
    for q in range(s2.shape[0]):
        good2[q] = s2[q]


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


#: ``ndarray.flags.num`` bits (numpy's NPY_ARRAY_*): C- and F-contiguous, aligned, writeable.
_C_CONTIGUOUS, _F_CONTIGUOUS, _ALIGNED, _WRITEABLE = 0x1, 0x2, 0x100, 0x400


def array_kind(a: np.ndarray) -> tuple[np.dtype, int, int]:
    """What a compiled specialisation assumes about an array argument, as checked per call.

    Parameters
    ----------
    a : numpy.ndarray
        An argument of the recorded (first) call.

    Returns
    -------
    tuple of (numpy.dtype, int, int)
        The dtype (byte order included), ndim and the ``flags.num`` bits every later argument
        must have: C-contiguous for a C-layout specialisation (Numba's layout is ``C`` when the
        array is C-contiguous, else ``F`` when F-contiguous, else ``A``: strided code, right for
        any layout), aligned and writeable when the recorded array was.
    """
    flags = a.flags.num
    if flags & _C_CONTIGUOUS:
        need = _C_CONTIGUOUS
    elif flags & _F_CONTIGUOUS:
        need = _F_CONTIGUOUS
    else:
        need = 0
    return a.dtype, a.ndim, need | (flags & (_ALIGNED | _WRITEABLE))


def row_kind(dtype: np.dtype, ndim: int = 2) -> tuple[np.dtype, int, int]:
    """The :func:`array_kind` of a C-contiguous, aligned, writeable array of ``dtype``.

    Parameters
    ----------
    dtype : numpy.dtype
        The exact (native) dtype object.
    ndim : int
        The number of dimensions.

    Returns
    -------
    tuple of (numpy.dtype, int, int)
    """
    return dtype, ndim, _C_CONTIGUOUS | _ALIGNED | _WRITEABLE


def _matches(args: tuple, kinds: tuple) -> bool:
    """Whether ``args`` have the ``kinds`` of :class:`DirectCall` (the general check)."""
    if len(args) < len(kinds):
        return False
    for a, kind in zip(args, kinds, strict=False):
        if type(kind) is tuple:
            if (
                type(a) is not np.ndarray
                or a.dtype is not kind[0]
                or a.ndim != kind[1]
                or a.flags.num & kind[2] != kind[2]
            ):
                return False
        elif type(a) is not kind:
            return False
    return True


def _checked_entry(entry, kinds: tuple, otherwise):
    """``entry`` behind the check of ``kinds``; arguments that do not match go to ``otherwise``.

    One or two checked arrays are checked inline in a closure (no loop, no further call):
    the check then costs a few tens of ns on top of the call itself.
    """
    if not kinds:
        return entry
    if all(type(k) is tuple for k in kinds) and len(kinds) <= 2:
        dtype0, ndim0, need0 = kinds[0]
        if len(kinds) == 1:

            def call1(*args):
                a = args[0]
                if (
                    type(a) is np.ndarray
                    and a.dtype is dtype0
                    and a.ndim == ndim0
                    and a.flags.num & need0 == need0
                ):
                    return entry(*args)
                return otherwise(*args)

            return call1
        dtype1, ndim1, need1 = kinds[1]

        def call2(*args):
            a, b = args[0], args[1]
            if (
                type(a) is np.ndarray
                and type(b) is np.ndarray
                and a.dtype is dtype0
                and b.dtype is dtype1
                and a.ndim == ndim0
                and b.ndim == ndim1
                and a.flags.num & need0 == need0
                and b.flags.num & need1 == need1
            ):
                return entry(*args)
            return otherwise(*args)

        return call2

    def call(*args):
        if _matches(args, kinds):
            return entry(*args)
        return otherwise(*args)

    return call


#: Entry points found by :meth:`DirectCall._first`, per (dispatcher, argument kinds).
_ENTRY_POINTS: dict[tuple, object] = {}


class DirectCall:
    """Calls one compiled specialisation of a Numba dispatcher without per-call type dispatch.

    The first call goes through the dispatcher (compiling or loading from the cache) and keeps
    the entry point of the specialisation it used, and what it assumes about the leading array
    arguments (:func:`array_kind`: dtype, ndim, layout, alignment, writeability).  Later calls
    check the first ``checked`` arguments against that record and go straight to the entry
    point, which saves about 40 ns per argument over the dispatcher.  An entry point given an
    array of another layout would read the wrong memory (a C-layout entry reads a strided view
    as if it were contiguous), so a call whose arguments do not match goes to the dispatcher,
    which picks (or compiles) the right specialisation, or, when ``refuse`` is given, returns
    ``refuse`` without calling anything (the fast paths then take their checked path).

    Arguments after the first ``checked`` are not checked: pass there only the caller's own
    buffers, whose types never change (the network's parameters, workspaces and plan).

    ``dc(*args)`` and ``dc.call(*args)`` do the same; ``call`` is the faster spelling for hot
    paths: after the first call it is a closure that checks one or two arrays inline (a few tens
    of ns) and calls the entry point, or, with nothing to check, the entry point itself.
    Because it is the same machine code as the dispatcher runs for ``fit``, results are fit's
    to the bit.  With ``NUMBA_DISABLE_JIT=1`` it calls the plain function, with NumPy's
    floating-point warnings off, as the kernels would not warn.

    Parameters
    ----------
    dispatcher : numba.core.registry.CPUDispatcher
        The compiled function (a plain function under ``NUMBA_DISABLE_JIT=1``).
    checked : int or None
        How many leading arguments to check on every call (None: all of them).
    refuse : object
        Returned instead of dispatching when the checked arguments do not match (None, the
        default: dispatch).
    kinds : tuple or None
        The :func:`array_kind` of each checked argument, given up front: then the first call
        is checked too, so it records the specialisation of exactly these kinds (default: the
        kinds of the first call's arguments).
    """

    __slots__ = ("call", "checked", "dispatcher", "entry", "kinds", "refuse")

    def __init__(
        self,
        dispatcher,
        checked: int | None = None,
        refuse: object = None,
        kinds: tuple[tuple[np.dtype, int, int], ...] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.entry = None
        self.checked = checked if kinds is None else len(kinds)
        self.refuse = refuse
        #: Per checked argument: array_kind for an ndarray, else its Python type.
        self.kinds: tuple = () if kinds is None else kinds
        #: What a call runs: the first call's recording, then the checked entry point.
        self.call = self._first

    def __call__(self, *args):
        return self.call(*args)

    def _mismatch(self, *args):
        """A call whose checked arguments do not match: ``refuse``, or the dispatcher."""
        if self.refuse is not None:
            return self.refuse
        with _quiet_if_interpreted():
            return self.dispatcher(*args)  # the right specialisation for these types

    def _first(self, *args):
        """Call through the dispatcher and record the entry point it used."""
        if self.kinds and not _matches(args, self.kinds):  # kinds given up front
            return self._mismatch(*args)
        overloads = getattr(self.dispatcher, "overloads", None)
        if overloads is None:  # NUMBA_DISABLE_JIT: a plain Python function
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return self.dispatcher(*args)
        result = self.dispatcher(*args)
        # Which specialisation ran: typing every argument again (numba.typeof) costs about
        # 15 µs an array, so the answer is kept per dispatcher and argument kinds, for the next
        # DirectCall of the same kernel (a new estimator runner, an unpickled network).
        kinds = tuple(array_kind(a) if type(a) is np.ndarray else type(a) for a in args)
        key = (self.dispatcher, kinds)
        entry = _ENTRY_POINTS.get(key)
        if entry is None:
            try:
                if len(overloads) == 1:  # the usual case: the one it has
                    compiled = next(iter(overloads.values()))
                else:
                    compiled = overloads[tuple(numba.typeof(a) for a in args)]
                entry = _ENTRY_POINTS[key] = compiled.entry_point
            except (KeyError, AttributeError, TypeError, ValueError):  # pragma: no cover
                entry = self.dispatcher  # numba API changed: dispatch every call
        if not self.kinds:
            checked = args if self.checked is None else args[: self.checked]
            self.kinds = tuple(array_kind(a) if type(a) is np.ndarray else type(a) for a in checked)
        self.entry = entry
        self.call = _checked_entry(entry, self.kinds, self._mismatch)
        return result


class DirectCalls:
    """One :class:`DirectCall` per dispatcher, made on first use: ``calls(dispatcher)(*args)``.

    For a caller that picks among compiled variants per call (the minibatch epochs of
    :func:`fastbp.epochs.minibatch_kernel`) and keeps a direct entry for each one it used.

    Parameters
    ----------
    **options
        Passed to every :class:`DirectCall` (``checked``, ``refuse``, ``kinds``).
    """

    __slots__ = ("entries", "options")

    def __init__(self, **options) -> None:
        self.entries: dict[object, DirectCall] = {}
        self.options = options

    def __call__(self, dispatcher) -> DirectCall:
        entry = self.entries.get(dispatcher)
        if entry is None:
            entry = self.entries[dispatcher] = DirectCall(dispatcher, **self.options)
        return entry
