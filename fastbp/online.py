"""One-row and short-call fast paths: checks inside the compiled call, no Python validation.

``Network.forward``, ``loss_and_gradient`` and ``partial_fit`` on arrays that already have the
network's dtype and layout go straight to packed kernels (:mod:`fastbp.row_kernels`) through
direct entry points, which check the values themselves and report anything unusual with a
status code; the caller then takes the checked path, which says what is wrong.  A
:class:`FastPaths` holds one network's direct entries and scratch buffers.
"""

from __future__ import annotations

import math

import numpy as np

from fastbp import epochs, row_kernels
from fastbp.lowered import LoweredNetwork, quiet_if_no_jit
from fastbp.optim import Optimizer
from fastbp.specialise import (
    kernel_module,
    layer_arrays,
    sgd_example_epoch_dispatch,
    specialises,
)
from fastbp.train import _same_optimizer as same_optimizer
from fastbp.train import partial_fit_settings

#: partial_fit calls on up to this many rows may take the lean path (one compiled call, as fit
#: makes one call per chunk of this many examples).
LEAN_MAX_ROWS = 1 << 16

#: forward, predict, predict_proba and loss_and_gradient on up to this many rows take the
#: small-batch kernels (:func:`fastbp.row_kernels.forward_rows_blas`, ``loss_grad_rows_blas`` and
#: their ``_loops`` twins): one
#: compiled call, checks inside; more rows take the checked, chunked path.
SMALL_MAX_ROWS = 256


class _Lean:
    """partial_fit's resolved settings and bound arguments (:meth:`FastPaths.lean_settings`)."""

    __slots__ = (
        "batch_size", "blas_min_rows", "check_tail", "key", "l2", "lr", "mb_plan", "mb_tail",
        "minibatch", "opt", "per_example", "s1", "settle_args", "sgd_call", "sgd_tail", "Z",
    )  # fmt: skip

    key: tuple
    opt: Optimizer
    s1: np.ndarray
    Z: np.ndarray
    blas_min_rows: int
    lr: float
    l2: float
    batch_size: int
    check_tail: tuple
    settle_args: tuple
    per_example: bool
    sgd_call: row_kernels.DirectCall | None
    sgd_tail: tuple
    minibatch: tuple | None
    mb_plan: tuple
    mb_tail: tuple


class FastPaths:
    """One network's direct kernel entries and the scratch buffers of its fast paths.

    The argument types of the compiled entry points never change for one network
    (:class:`fastbp.row_kernels.DirectCall`), so each call skips Numba's type dispatch.

    Parameters
    ----------
    lowered : LoweredNetwork
        The network whose buffers the fast paths use.
    """

    def __init__(self, lowered: LoweredNetwork) -> None:
        spec = lowered.spec
        self.lowered = lowered
        self.spec, self.plan, self.dtype = spec, lowered.plan, lowered.dtype
        self.params, self.grad, self.ws, self.guard = (
            lowered.params,
            lowered.grad,
            lowered.ws,
            lowered.guard,
        )
        self.ipack = row_kernels.pack_plan(lowered.plan)
        self.row_shape = (1, spec.n_inputs)
        self.out_shape = (1, spec.n_outputs)
        self.good = np.zeros(lowered.plan.n_params, dtype=self.dtype)
        self.info = np.zeros(3, dtype=np.float64)
        self.order = np.arange(1, dtype=np.int64)
        self.order1 = self.order[:1]
        self.n0, self.n_out = spec.n_inputs, spec.n_outputs
        #: partial_fit's resolved settings (lean_settings), or None.
        self.lean: _Lean | None = None
        self.gather: tuple[np.ndarray, np.ndarray] | None = None
        self.snapshots: tuple[np.ndarray, np.ndarray] | None = None
        self.onehot: np.ndarray | None = None
        # The caller's arrays come first; the direct entries check them on every call (dtype,
        # layout, ...) and refuse a mismatch rather than read the wrong memory.
        direct, layout = row_kernels.DirectCall, row_kernels.LAYOUT
        #: The kinds of the caller's X (and Y): C-contiguous, aligned, writeable, 2-D rows of
        #: exactly the network's dtype object.
        self.rows_kind = row_kernels.row_kind(self.dtype)
        x_kind, xy_kinds = (self.rows_kind,), (self.rows_kind, self.rows_kind)
        self.forward = direct(row_kernels.forward_row, refuse=layout, kinds=x_kind)
        self.loss_grad = direct(
            row_kernels.loss_grad_row, refuse=(layout, math.nan), kinds=xy_kinds
        )
        # Small batches: one path per variant, as the checked path (a first call compiles the
        # path it runs); index 1 when the rows reach the network's blas_min_rows.
        self.forward_rows = (
            direct(row_kernels.forward_rows_loops, refuse=layout, kinds=x_kind),
            direct(row_kernels.forward_rows_blas, refuse=layout, kinds=x_kind),
        )
        self.loss_grad_rows = (
            direct(row_kernels.loss_grad_rows_loops, refuse=(layout, math.nan), kinds=xy_kinds),
            direct(row_kernels.loss_grad_rows_blas, refuse=(layout, math.nan), kinds=xy_kinds),
        )
        self.check = direct(row_kernels.check_rows, refuse=layout, kinds=xy_kinds)
        self.settle = direct(row_kernels.settle, checked=0)
        #: Direct entries of the minibatch epoch variants used so far (epochs.minibatch_kernel).
        self.minibatch = row_kernels.DirectCalls(kinds=xy_kinds)
        #: Direct entries of the spec-specialised SGD epoch (λ = 0, λ > 0), made on first use.
        self.sgd_entries: tuple[row_kernels.DirectCall, row_kernels.DirectCall] | None = None
        #: (Z, A, dA, the generated kernel's layer arrays): views made once, remade only when
        #: the workspace has grown (new buffers).
        self.layer_views: tuple[np.ndarray, np.ndarray, np.ndarray, tuple] | None = None

    def sgd_epoch(self, l2: float) -> row_kernels.DirectCall:
        """The direct entry of fit's spec-specialised per-example SGD kernel for this λ.

        The very compiled function that :func:`fastbp.specialise.sgd_example_epoch` calls for
        ``fit``, reached without that function's per-call lookups (about 2 µs of Python), so a
        ``partial_fit`` step stays bit-identical to ``fit``'s.

        Parameters
        ----------
        l2 : float
            The L2 penalty λ (the λ > 0 kernel is a separate compiled function).

        Returns
        -------
        fastbp.row_kernels.DirectCall
            Call it with the arguments of the generated ``sgd_epoch``.
        """
        entries = self.sgd_entries
        if entries is None:
            module = kernel_module(self.spec)
            kinds = (self.rows_kind, self.rows_kind)
            entries = self.sgd_entries = (
                row_kernels.DirectCall(module.sgd_epoch, kinds=kinds),
                row_kernels.DirectCall(module.sgd_epoch_l2, kinds=kinds),
            )
        return entries[1] if l2 != 0.0 else entries[0]

    def layer_arrays(self) -> tuple[np.ndarray, ...]:
        """:func:`fastbp.specialise.layer_arrays` of this network's buffers, made once.

        Returns
        -------
        tuple of numpy.ndarray
            The per-layer views the generated kernels take after ``(X, Y, order)``.
        """
        ws, cached = self.ws, self.layer_views
        if (
            cached is None
            or cached[0] is not ws.Z
            or cached[1] is not ws.A
            or cached[2] is not ws.dA
        ):
            arrays = layer_arrays(self.spec, self.plan, self.params, ws)
            cached = self.layer_views = (ws.Z, ws.A, ws.dA, arrays)
        return cached[3]

    def is_row(self, X: object) -> bool:
        """Whether X can go to a one-row kernel as it is.

        True for a C-contiguous, aligned, writeable (1, n0) ndarray of exactly the network's
        (native) dtype; its values are checked inside the kernel.  Anything else, even an equal
        dtype object of another byte order, takes the checked path, so the compiled entry points
        always get the types they were built for.

        Parameters
        ----------
        X : object
            The caller's rows, unchecked.

        Returns
        -------
        bool
        """
        if type(X) is not np.ndarray or X.shape != self.row_shape or X.dtype is not self.dtype:
            return False
        flags = X.flags
        return flags.c_contiguous and flags.behaved

    def eye(self) -> np.ndarray:
        """The one-hot rows handed to the kernels for integer labels (they only read them).

        Returns
        -------
        numpy.ndarray
            (nr, nr) identity of the network's dtype.
        """
        eye = self.onehot
        if eye is None:
            eye = np.eye(self.spec.n_outputs, dtype=self.dtype)
            self.onehot = eye
        return eye

    def partial_fit(
        self, X: object, Y: object, optimizer: object, lr: object, momentum: object, l2: object,
        batch_size: object,
    ) -> float | None:  # fmt: skip
        """partial_fit through one packed kernel call, or None if the checked path must run.

        Taken only for arrays that already have the network's dtype and layout (the direct
        entries refuse anything else) and settings that continue the network's optimizer; the
        kernel checks the values and refuses aliasing before anything is written, and restores
        the parameters and optimizer state if the step diverges (the checked path then reports
        it).  The settings are resolved once (:meth:`lean_settings`): a repeat call with the
        same arguments, optimizer object, state arrays, workspace, last learning rate and BLAS
        threshold compares one tuple and a few identities and goes straight to the kernels.

        Parameters
        ----------
        X, Y : object
            The caller's rows and targets, unchecked.
        optimizer, lr, momentum, l2, batch_size : object
            The caller's settings, unchecked: the lean path runs only for plain values (None,
            a name, floats, an int) that continue the network's optimizer.

        Returns
        -------
        float or None
            The mean loss of the rows, or None: nothing was changed and the checked path must run.
        """
        if type(X) is not np.ndarray or X.ndim != 2 or self.spec.has_dropout:
            return None  # dropout trains through train.partial_fit (fastbp.dropout)
        n, n0 = X.shape
        if n0 != self.n0 or not 1 <= n <= LEAN_MAX_ROWS:
            return None
        if type(Y) is np.ndarray and Y.ndim == 2:
            if Y.shape != (n, self.n_out):  # dense rows; dtype and layout: the direct entries
                return None
        else:
            Y = self.targets(Y, n)
            if Y is None:
                return None
        lowered, lean, ws = self.lowered, self.lean, self.ws
        key = (optimizer, lr, momentum, l2, batch_size, lowered.last_lr)
        try:
            stale = (
                lean is None
                or lean.key != key
                or lowered.optimizer is not lean.opt
                or lean.opt.s1 is not lean.s1  # fit may give the same optimizer new state
                or ws.Z is not lean.Z
                or lowered.blas_min_rows != lean.blas_min_rows
            )
        except (TypeError, ValueError):  # e.g. an array where a number belongs: checked path
            return None
        if stale or lean is None:
            lean = self.lean_settings(key)
            if lean is None:
                return None
        opt = lean.opt
        if not lean.per_example and ws.capacity < min(lean.batch_size, n):
            return None  # the checked path grows the workspace, under the guard
        if n == 1:
            order = self.order1
        else:
            if self.order.shape[0] < n:
                self.order = np.arange(max(n, 2 * self.order.shape[0]), dtype=np.int64)
            order = self.order[:n]
        guard = self.guard
        with guard.mutex:  # Guard.enter_write, inline
            busy = guard.writer
            if busy is None:
                guard.writer = "partial_fit"
        if busy is not None or guard.readers:
            if busy is None:
                with guard.mutex:
                    guard.writer = None
            guard.enter_write("partial_fit")  # raises the documented RuntimeError
        elif guard.pending:
            guard.pending = 0.0  # this writer got through
        try:
            if self.check.call(X, Y, *lean.check_tail):
                return None  # nothing was written; the checked path says what is wrong
            # The very kernel (and compiled specialisation) that fit's epoch loop calls.  Its
            # direct entry takes X and Y of the kinds check's entry has just verified (the same
            # row_kind), so once recorded, its entry point is called as it is.
            step0 = None
            sgd = lean.sgd_call
            if sgd is not None:  # fit's per-example SGD kernel, its direct entry
                entry = sgd.entry
                (sgd.call if entry is None else entry)(X, Y, order, *lean.sgd_tail)
            elif lean.per_example:
                with quiet_if_no_jit():  # plain-Python kernels: overflow is handled
                    sgd_example_epoch_dispatch(
                        self.spec, X, Y, order, self.params, self.plan, ws, lean.lr, lean.l2,
                        self.info,
                    )  # fmt: skip
            else:
                m = min(lean.batch_size, n)
                mb = lean.minibatch
                if mb is None or mb[0] != m:
                    mb = lean.minibatch = self.minibatch_entry(m, lean)
                step0 = int(opt.step[0])
                entry = mb[1].entry
                (mb[1].call if entry is None else entry)(
                    X, Y, order, m, *lean.mb_plan, mb[2], mb[3], *lean.mb_tail
                )
            if self.settle.call(*lean.settle_args):
                if step0 is not None:
                    opt.step[0] = step0  # restored; the checked path reruns it and reports
                return None
        finally:
            guard.exit_write()
        lowered.last_lr = lean.lr
        return float(self.info[0]) / n  # = info[0] / info[1], as fit's History.loss

    def lean_settings(self, key: tuple) -> _Lean | None:
        """Resolve partial_fit's settings for the lean path, once per change of ``key``.

        Parameters
        ----------
        key : tuple
            ``(optimizer, lr, momentum, l2, batch_size, last_lr)``: the caller's settings and
            the network's last learning rate.

        Returns
        -------
        _Lean or None
            The resolved call, or None: the checked path must run (no optimizer yet, another
            optimizer or other settings, values of other types, or invalid values).
        """
        optimizer, lr, momentum, l2, batch_size, last_lr = key
        lowered = self.lowered
        opt = lowered.optimizer
        if not (
            opt is not None
            and (optimizer is None or type(optimizer) is str)
            and (lr is None or type(lr) is float)
            and (momentum is None or type(momentum) is float)
            and type(l2) is float
            and 0.0 <= l2 < math.inf
            and type(batch_size) is int
            and batch_size >= 1
        ):
            return None
        try:
            wanted, lr = partial_fit_settings(opt, last_lr, optimizer, lr, momentum)
        except (TypeError, ValueError):
            return None
        dtype, s1, s2 = self.dtype, opt.s1, opt.s2
        if not (
            math.isfinite(lr)
            and opt.plain  # weight decay and adamw: the checked path's toolbox kernels
            and same_optimizer(opt, wanted)
            and opt.compatible(self.plan.n_params, dtype)
            and s1.dtype is dtype
            and s2.dtype is dtype
        ):
            return None
        ws = self.ws
        snaps = self.snapshots
        if snaps is None or snaps[0].shape != s1.shape or snaps[1].shape != s2.shape:
            snaps = self.snapshots = (np.empty_like(s1), np.empty_like(s2))
        info, params, p = self.info, self.params, self.plan
        lean = _Lean()
        lean.key, lean.opt, lean.s1, lean.Z = key, opt, s1, ws.Z
        lean.blas_min_rows = lowered.blas_min_rows
        lean.lr, lean.l2, lean.batch_size = lr, l2, batch_size
        lean.check_tail = (params, self.ipack, s1, s2, self.good, *snaps, info)
        lean.settle_args = (params, s1, s2, self.good, *snaps, info)
        lean.per_example = batch_size == 1 and opt.name == "sgd"
        lean.sgd_call, lean.sgd_tail = None, ()
        if lean.per_example and specialises(self.spec):
            lean.sgd_call = self.sgd_epoch(l2)
            lean.sgd_tail = (*self.layer_arrays(), lr, l2, info)
        lean.minibatch = None
        lean.mb_plan = (
            params,
            p.widths,
            p.acts,
            p.out_kind,
            p.loss_param,
            p.w_off,
            p.b_off,
            p.u_off,
        )
        lean.mb_tail = (
            ws.Z, ws.A, ws.dZ, ws.dA, self.grad, p.weight_mask, l2, lowered.blas_min_rows,
            opt.code, lr, opt.momentum, opt.beta1, opt.beta2, opt.eps, s1, s2, opt.step, info,
        )  # fmt: skip
        self.lean = lean
        return lean

    def minibatch_entry(self, m: int, lean: _Lean) -> tuple:
        """``(m, direct entry, Xb, Yb)``: the minibatch epoch variant for batches of m rows.

        Parameters
        ----------
        m : int
            Rows per batch.
        lean : _Lean
            The resolved settings.

        Returns
        -------
        tuple
        """
        variant = epochs.minibatch_kernel(lean.opt.code, lean.l2, m, lean.blas_min_rows)
        Xb, Yb = self.gather_buffers(m)
        return m, self.minibatch(variant), Xb, Yb

    def targets(self, Y: object, n: int) -> np.ndarray | None:
        """Y as a dense (n, nr) array without copying when it already is one.

        (n,) targets of a one-output network are reshaped; integer labels become one-hot rows.

        Parameters
        ----------
        Y : object
            The caller's targets, unchecked.
        n : int
            The number of rows of X.

        Returns
        -------
        numpy.ndarray or None
            The dense targets, or None: the caller must take the checked path (``as_targets``).
        """
        if type(Y) is not np.ndarray:
            return None
        nr = self.spec.n_outputs
        if Y.ndim == 2:
            if Y.shape[0] != n or Y.shape[1] != nr or Y.dtype is not self.dtype:
                return None
            flags = Y.flags
            return Y if flags.c_contiguous and flags.behaved else None
        if Y.ndim != 1 or Y.shape[0] != n:
            return None
        if self.spec.output_activation == "softmax":
            if Y.dtype.kind not in "iu":
                return None
            if n == 1:
                label = int(Y[0])
                return self.eye()[label : label + 1] if 0 <= label < nr else None
            if Y.min() < 0 or Y.max() >= nr:
                return None
            return self.eye()[Y]
        if nr == 1 and Y.dtype is self.dtype:
            flags = Y.flags
            return Y.reshape(n, 1) if flags.c_contiguous and flags.behaved else None
        return None

    def gather_buffers(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The (m, n0) and (m, nr) gather buffers of the minibatch kernel (kept for the last m).

        Parameters
        ----------
        m : int
            The batch size.

        Returns
        -------
        tuple of numpy.ndarray
            The X and Y buffers.
        """
        buffers = self.gather
        if buffers is None or buffers[0].shape[0] != m:
            spec = self.spec
            buffers = (
                np.zeros((m, spec.n_inputs), dtype=self.dtype),
                np.zeros((m, spec.n_outputs), dtype=self.dtype),
            )
            self.gather = buffers
        return buffers
