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

#: partial_fit calls on up to this many rows may take the lean path (one compiled call, as fit
#: makes one call per chunk of this many examples).
LEAN_MAX_ROWS = 1 << 16

_ADAM_DEFAULTS = (Optimizer.beta1, Optimizer.beta2, Optimizer.eps)


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
        self.gather: tuple[np.ndarray, np.ndarray] | None = None
        self.snapshots: tuple[np.ndarray, np.ndarray] | None = None
        self.onehot: np.ndarray | None = None
        self.forward = row_kernels.DirectCall(row_kernels.forward_row)
        self.loss_grad = row_kernels.DirectCall(row_kernels.loss_grad_row)
        self.check = row_kernels.DirectCall(row_kernels.check_rows)
        self.settle = row_kernels.DirectCall(row_kernels.settle)
        #: Direct entries of the minibatch epoch variants used so far (epochs.minibatch_kernel).
        self.minibatch = row_kernels.DirectCalls()
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
            entries = self.sgd_entries = (
                row_kernels.DirectCall(module.sgd_epoch),
                row_kernels.DirectCall(module.sgd_epoch_l2),
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

        Taken only for arrays that already have the network's dtype and layout; the kernel
        checks their values and refuses aliasing before anything is written, and restores the
        parameters and optimizer state if the step diverges (the checked path then reports it).

        Parameters
        ----------
        X, Y : object
            The caller's rows and targets, unchecked.
        optimizer, lr, momentum, l2, batch_size : object
            The caller's settings, unchecked: the lean path runs only for plain values that
            continue the network's optimizer (same name and settings).

        Returns
        -------
        float or None
            The mean loss of the rows, or None: nothing was changed and the checked path must run.
        """
        opt = self.lowered.optimizer
        if not (
            opt is not None
            and type(optimizer) is str
            and optimizer == opt.name
            and type(lr) is float
            and type(l2) is float
            and 0.0 < lr < math.inf
            and 0.0 <= l2 < math.inf
            and type(batch_size) is int
            and batch_size >= 1
            and (optimizer not in ("momentum", "nesterov") or momentum == opt.momentum)
            and (optimizer != "adam" or (opt.beta1, opt.beta2, opt.eps) == _ADAM_DEFAULTS)
        ):
            return None
        # Exact dtype objects (``is``): anything unusual, even an equal non-native dtype, takes
        # the checked path, so the compiled entry points always see the types they were built for.
        dtype = self.dtype
        if type(X) is not np.ndarray or X.ndim != 2 or X.dtype is not dtype:
            return None
        n = X.shape[0]
        if X.shape[1] != self.row_shape[1] or not 1 <= n <= LEAN_MAX_ROWS:
            return None
        flags = X.flags
        if not (flags.c_contiguous and flags.behaved):
            return None
        if type(Y) is np.ndarray and Y.ndim == 2 and Y.dtype is dtype and Y.shape[0] == n:
            flags = Y.flags  # the common case inline: dense (n, nr) rows
            if Y.shape[1] != self.out_shape[1] or not (flags.c_contiguous and flags.behaved):
                return None
        else:
            Y = self.targets(Y, n)
            if Y is None:
                return None
        s1, s2 = opt.s1, opt.s2
        if s1.dtype is not dtype or s2.dtype is not dtype:
            return None
        snaps = self.snapshots
        if snaps is None or snaps[0].shape != s1.shape or snaps[1].shape != s2.shape:
            snaps = self.snapshots = (np.empty_like(s1), np.empty_like(s2))
        if self.order.shape[0] < n:
            self.order = np.arange(max(n, 2 * self.order.shape[0]), dtype=np.int64)
        calls, info, params, ws = self, self.info, self.params, self.ws
        guard = self.guard
        guard.enter_write("partial_fit")
        try:
            if calls.check(X, Y, params, self.ipack, s1, s2, self.good, *snaps, info):
                return None  # nothing was written; the checked path says what is wrong
            # The very kernel (and compiled specialisation) that fit's epoch loop calls.
            if batch_size == 1 and opt.name == "sgd":  # fit's kernel: the specialised one
                if specialises(self.spec):  # its direct entry (DirectCall quiets no-JIT runs)
                    self.sgd_epoch(l2)(X, Y, self.order[:n], *self.layer_arrays(), lr, l2, info)
                else:
                    with quiet_if_no_jit():  # plain-Python kernels: overflow is handled
                        sgd_example_epoch_dispatch(
                            self.spec, X, Y, self.order[:n], params, self.plan, ws, lr, l2, info
                        )
                step0 = None
            else:
                p, m = self.plan, min(batch_size, n)
                ws.ensure(m)
                Xb, Yb = self.gather_buffers(m)
                step0 = int(opt.step[0])
                variant = epochs.minibatch_kernel(opt.code, l2, m, self.lowered.blas_min_rows)
                calls.minibatch(variant)(
                    X, Y, self.order[:n], m, params, p.widths, p.acts, p.out_kind, p.w_off,
                    p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, self.grad,
                    p.weight_mask, l2, self.lowered.blas_min_rows, opt.code, lr, opt.momentum,
                    opt.beta1, opt.beta2, opt.eps, s1, s2, opt.step, info,
                )  # fmt: skip
            if calls.settle(params, s1, s2, self.good, *snaps, info):
                if step0 is not None:
                    opt.step[0] = step0  # restored; the checked path reruns it and reports
                return None
        finally:
            guard.exit_write()
        return float(info[0]) / n  # = info[0] / info[1], as fit's History.loss

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
        if self.spec.loss == "softmax_cross_entropy":
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
