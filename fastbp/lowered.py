"""The lowered network: everything the compiled passes need, as arrays, in one object.

A :class:`LoweredNetwork` is what a :class:`~fastbp.spec.NetworkSpec` becomes once lowered: the
plan (offset tables, codes), the flat parameter buffer, the gradient buffers, the workspaces
z/a/dJdz/dJda, the BLAS threshold, the readers-writer guard, and the training state (the
optimizer and the history of the last fit).  Its methods are the *unchecked* passes: they assume
that the caller validated X, Y and the weights (:mod:`fastbp.validate`) and holds the guard, and
they chunk the rows so that the workspaces stay small.

The modules above it (:mod:`fastbp.train`, :mod:`fastbp.hessian`, :mod:`fastbp.gradcheck`,
:mod:`fastbp.diagnostics`) work on this type; :class:`fastbp.Network` owns one
(``net.lowered``), checks its inputs and composes them.  Nothing here imports them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numba
import numpy as np

from fastbp import kernels
from fastbp._blas import HAVE_BLAS
from fastbp.guard import Guard
from fastbp.history import History
from fastbp.lowering import Plan, Workspace, lower
from fastbp.optim import Optimizer
from fastbp.spec import NetworkSpec
from fastbp.validate import (
    Rows,
    as_features,
    as_targets,
    check_allocation,
    physical_memory_bytes,
)

#: Batches of at least this many rows use BLAS (np.dot) for the matrix products; smaller ones
#: use the explicit loops, which win when the call overhead of BLAS dominates.  Without SciPy
#: (which Numba needs to reach BLAS) every batch uses the loops.
BLAS_MIN_ROWS = 16 if HAVE_BLAS else 2**62

#: Forward, loss and gradient process at most this many rows per kernel call, so that the
#: workspaces stay small whatever n is; the gradient of the mean is accumulated across chunks.
CHUNK_ROWS = 2048

#: A network holds this many parameter-sized arrays (parameters, gradient, chunk gradient and the
#: weight mask of the plan).
PARAM_SIZED_ARRAYS = 4

#: ``fit`` adds this many more: the last good epoch's snapshot, the best epoch's copy (early
#: stopping) and up to two optimizer state arrays (Adam's moments).
FIT_PARAM_SIZED_ARRAYS = 4


@dataclass
class Trace:
    """Per-layer quantities of one forward/backward pass (copies, indexed by layer k = 0..r).

    ``z[k]``, ``a[k]`` and ``dJ_dz[k]`` are (n, n_k) arrays for k = 1..r (``a[0]`` is X and
    ``z[0]``, ``dJ_dz[0]`` are None); ``dJ_da[k]`` exists for hidden layers k = 1..r−1 (None at 0
    and r).  dJ_dz and dJ_da are per-example derivatives dJ_i/dz; ``loss`` is the mean loss and
    ``grad`` the gradient of the mean in parameter layout.

    Parameters
    ----------
    z, a, dJ_dz, dJ_da : list
        One entry per layer k = 0..r, as described above.
    loss : float
        The mean loss.
    grad : numpy.ndarray
        The gradient of the mean loss, in the parameter layout.
    """

    z: list
    a: list
    dJ_dz: list
    dJ_da: list
    loss: float
    grad: np.ndarray


def check_memory(spec: NetworkSpec) -> None:
    """Refuse, before allocating, a network that this machine's memory cannot train.

    Counts what the network holds and what ``fit`` adds (snapshot, best copy, optimizer state),
    so that a network that can be built can also be trained.

    Parameters
    ----------
    spec : NetworkSpec
        The network to be built.

    Raises
    ------
    ValueError
        If the arrays would not fit in physical memory.
    """
    arrays = PARAM_SIZED_ARRAYS + FIT_PARAM_SIZED_ARRAYS
    need = arrays * spec.n_params * spec.np_dtype.itemsize
    have = physical_memory_bytes()
    if have is not None and need > have:
        raise ValueError(
            f"widths {list(spec.widths)} need {need / 2**30:.1f} GiB to build and train "
            f"({spec.n_params:,} parameters × {arrays} arrays: parameters, gradients and mask, "
            f"plus fit's snapshot, best-epoch copy and optimizer state), more than this "
            f"machine's {have / 2**30:.1f} GiB"
        )


def quiet_if_no_jit() -> AbstractContextManager[Any]:
    """``np.errstate`` silencing overflow when kernels run as plain Python.

    Under ``NUMBA_DISABLE_JIT=1`` NumPy scalars warn about what compiled code silently turns
    into inf (and the caller then detects); otherwise this is a no-op context, so the compiled
    fast path pays nothing.

    Returns
    -------
    contextlib.AbstractContextManager
        The context to run the kernel call in.
    """
    if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
        return np.errstate(over="ignore", invalid="ignore", divide="ignore")
    return contextlib.nullcontext()


class ThreadBuffers:
    """One thread's scratch space for reads: workspaces and gradient buffers.

    Parameters
    ----------
    ws : Workspace
        z/a/dJdz/dJda workspaces.
    grad, grad_chunk : numpy.ndarray
        The gradient and the per-chunk gradient, parameter-sized.
    """

    __slots__ = ("grad", "grad_chunk", "ws")

    def __init__(self, ws: Workspace, grad: np.ndarray, grad_chunk: np.ndarray) -> None:
        self.ws = ws
        self.grad = grad
        self.grad_chunk = grad_chunk


class LoweredNetwork:
    """A spec lowered to arrays, with the unchecked passes over them.

    Parameters
    ----------
    spec : NetworkSpec
        The network; its parameters start at zero (initialisers write into :attr:`params`).

    Attributes
    ----------
    spec : NetworkSpec
        The spec.
    plan : Plan
        Offsets and codes (:func:`fastbp.lowering.lower`).
    dtype : numpy.dtype
        float32 or float64.
    params : numpy.ndarray
        The flat parameter buffer ``[W[1] | b[1] | ... | W[r] | b[r]]``.
    grad, grad_chunk : numpy.ndarray
        The gradient buffers of the thread that created the network (and of every write).
    ws : Workspace
        That thread's workspaces (writes use them too).
    guard : Guard
        Many reads or one write at a time.
    blas_min_rows : int
        Chunks of at least this many rows use BLAS; smaller ones the explicit loops.
    chunk_rows : int
        Rows per kernel call in :meth:`forward`, :meth:`loss` and :meth:`loss_and_gradient`.
    optimizer : Optimizer or None
        The optimizer (settings and state) of the last fit or partial_fit.
    history : History or None
        What the last fit measured.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        check_memory(spec)
        self.spec = spec
        self.plan: Plan = lower(spec)
        self.dtype = spec.np_dtype
        n, dtype = self.plan.n_params, self.dtype
        self.params = np.zeros(n, dtype=dtype)
        self.grad = np.zeros(n, dtype=dtype)
        self.grad_chunk = np.zeros(n, dtype=dtype)
        self.ws = Workspace(self.plan.n_units, 1, dtype)
        self.guard = Guard()
        self.blas_min_rows = BLAS_MIN_ROWS
        #: The empty row weights of an unweighted backward pass (:func:`kernels.seed_output`).
        self.no_weights = np.empty(0, dtype=spec.np_dtype)
        self.chunk_rows = CHUNK_ROWS
        self.optimizer: Optimizer | None = None
        self.history: History | None = None
        #: The learning rate the network last trained with (the last epoch of fit, the last
        #: partial_fit; from a file, the saved history's last epoch), or None: partial_fit's
        #: default.
        self.last_lr: float | None = None
        self._tls = threading.local()
        # The creating thread reads with the shared buffers (writers exclude reads, so they are
        # free whenever a read runs); other threads get their own on first use (buffers()).
        self._tls.buffers = ThreadBuffers(self.ws, self.grad, self.grad_chunk)

    # ------------------------------------------------------------------ holding the network
    def exclusive(self, what: str = "a pass") -> AbstractContextManager[None]:
        """Hold the network alone (fit, partial_fit, params assignment, trace, hvp).

        Parameters
        ----------
        what : str
            The call, named in the refusal another thread gets.

        Returns
        -------
        contextlib.AbstractContextManager
            The guard's :meth:`~fastbp.guard.Guard.write` context.
        """
        return self.guard.write(what)

    def shared(self) -> AbstractContextManager[None]:
        """Hold the network for a read; reads in other threads may run at the same time.

        Returns
        -------
        contextlib.AbstractContextManager
            The guard's :meth:`~fastbp.guard.Guard.read` context.
        """
        return self.guard.read()

    def buffers(self) -> ThreadBuffers:
        """This thread's read buffers (created on the thread's first read).

        Returns
        -------
        ThreadBuffers
            Workspaces and gradient buffers no other thread uses.
        """
        try:
            return self._tls.buffers
        except AttributeError:
            U, n, dtype = self.plan.n_units, self.plan.n_params, self.dtype
            buffers = ThreadBuffers(Workspace(U, 1, dtype), np.zeros(n, dtype), np.zeros(n, dtype))
            self._tls.buffers = buffers
            return buffers

    def check_params(self) -> None:
        """Refuse non-finite parameters.

        Raises
        ------
        ValueError
            If :attr:`params` holds NaN or inf.
        """
        with np.errstate(invalid="ignore"):  # inf * 0 when kernels run as Python (no JIT)
            finite = kernels.all_finite(self.params)
        if not finite:
            raise ValueError(
                "the network's parameters contain NaN or inf; they must be finite (reinitialise "
                "the network or reload it from a file)"
            )

    # ------------------------------------------------------------------ one chunk
    def chunks(self, n: int) -> Iterator[slice]:
        """Slices of at most :attr:`chunk_rows` rows covering ``0..n``.

        Parameters
        ----------
        n : int
            The number of rows.

        Yields
        ------
        slice
        """
        for lo in range(0, n, self.chunk_rows):
            yield slice(lo, min(n, lo + self.chunk_rows))

    def forward_chunk(
        self, X: np.ndarray, ws: Workspace | None = None, params: np.ndarray | None = None
    ) -> None:
        """z[k] = W[k] a[k−1] + b[k], a[k] = σ(z[k]) for the rows of X, into ``ws``.

        Parameters
        ----------
        X : numpy.ndarray
            (m, n0) validated rows, at most :attr:`chunk_rows` of them.
        ws : Workspace, optional
            Where z and a go (default :attr:`ws`).
        params : numpy.ndarray, optional
            Parameters to use in place of :attr:`params` (same layout, no copy).
        """
        p = self.plan
        ws = self.ws if ws is None else ws
        params = self.params if params is None else params
        ws.ensure(X.shape[0])
        if X.shape[0] == 1:  # the per-example fast path: 1-D views, no batch blocks
            kernels.forward_example(
                X[0], params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
                ws.Z, ws.A,
            )  # fmt: skip
            return
        # One path per call, so a first call compiles only the path it runs.
        blas = X.shape[0] >= self.blas_min_rows
        forward = kernels.forward_blas if blas else kernels.forward_loops
        forward(X, params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off, ws.Z, ws.A)

    def backward_chunk(
        self, X: np.ndarray, Y: np.ndarray, grad: np.ndarray, scale: float,
        ws: Workspace | None = None, params: np.ndarray | None = None,
        sw: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        """grad = scale · Σ_i s_i ∇J_i over the rows of a chunk whose forward pass is in ``ws``.

        Parameters
        ----------
        X, Y : numpy.ndarray
            The chunk's validated rows and dense targets.
        grad : numpy.ndarray
            Parameter-sized output (overwritten).
        scale : float
            Factor on the sum (1/n for the mean over n rows).
        ws : Workspace, optional
            The workspaces :meth:`forward_chunk` filled (default :attr:`ws`).
        params : numpy.ndarray, optional
            Parameters to use in place of :attr:`params`.
        sw : numpy.ndarray, optional
            Row weights s_i (default 1).
        """
        p = self.plan
        ws = self.ws if ws is None else ws
        params = self.params if params is None else params
        if X.shape[0] == 1:
            kernels.backward_example(
                X[0], Y[0], params, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off, p.b_off,
                p.u_off,
                ws.Z, ws.A, ws.dZ, ws.dA, grad, scale if sw is None else scale * float(sw[0]),
            )  # fmt: skip
            return
        # The seed s_i ψ(a[r]_i − y_i), then the layers on one path (as forward_chunk).
        m = X.shape[0]
        kernels.seed_output(Y, self.output_block(ws.A, m, ws), self.output_block(ws.dZ, m, ws),
                            p.out_kind, p.loss_param,
                            self.no_weights if sw is None else sw)  # fmt: skip
        layers = (kernels.backprop_layers_blas if m >= self.blas_min_rows
                  else kernels.backprop_layers_loops)  # fmt: skip
        layers(X, params, p.widths, p.acts, p.w_off, p.b_off, p.u_off, ws.Z, ws.A, ws.dZ, ws.dA,
               grad, scale)  # fmt: skip

    def output_block(self, buf: np.ndarray, m: int, ws: Workspace | None = None) -> np.ndarray:
        """The output layer's (m, nr) block of a workspace buffer (``ws.Z`` or ``ws.A``).

        Parameters
        ----------
        buf : numpy.ndarray
            One of the workspace's flat buffers.
        m : int
            The rows of the chunk in it.
        ws : Workspace, optional
            The workspace ``buf`` belongs to (default :attr:`ws`).

        Returns
        -------
        numpy.ndarray
            A view.
        """
        return (self.ws if ws is None else ws).layer(buf, self.plan, self.spec.n_layers, m)

    # ------------------------------------------------------------------ whole passes
    def forward(self, X: Rows, ws: Workspace | None = None) -> np.ndarray:
        """The network's outputs for validated rows X, chunk by chunk.

        Parameters
        ----------
        X : numpy.ndarray or fastbp.rows.LazyRows
            (n, n0) validated rows.
        ws : Workspace, optional
            Workspaces to use (default :attr:`ws`).

        Returns
        -------
        numpy.ndarray
            (n, nr) outputs.
        """
        ws = self.ws if ws is None else ws
        spec = self.spec
        check_allocation(
            X.shape[0] * spec.n_outputs * spec.np_dtype.itemsize,
            f"the output of {X.shape[0]:,} rows × {spec.n_outputs}",
        )
        out = np.empty((X.shape[0], spec.n_outputs), dtype=spec.np_dtype)
        for s in self.chunks(X.shape[0]):
            self.forward_chunk(X[s], ws)
            out[s] = self.output_block(ws.A, s.stop - s.start, ws)
        return out

    def loss(
        self, X: Rows, Y: Rows, ws: Workspace | None = None,
        sw: np.ndarray | None = None,
    ) -> float:  # fmt: skip
        """The mean loss (1/n) Σ_i J_i over validated rows, or the weighted mean with ``sw``.

        Parameters
        ----------
        X, Y : numpy.ndarray
            Validated rows and dense targets.
        ws : Workspace, optional
            Workspaces to use (default :attr:`ws`).
        sw : numpy.ndarray, optional
            Row weights s_i: the mean becomes Σ_i s_i J_i / Σ_i s_i.

        Returns
        -------
        float
            The (weighted) mean loss.
        """
        ws = self.ws if ws is None else ws
        out_kind, loss_param = self.plan.out_kind, self.plan.loss_param
        total = 0.0
        for s in self.chunks(X.shape[0]):
            m = s.stop - s.start
            self.forward_chunk(X[s], ws)
            Zr, Ar = self.output_block(ws.Z, m, ws), self.output_block(ws.A, m, ws)
            if sw is None:
                total += kernels.loss_sum(Y[s], Zr, Ar, out_kind, loss_param)
            else:
                total += kernels.loss_sum_weighted(Y[s], Zr, Ar, out_kind, loss_param, sw[s])
        return total / (X.shape[0] if sw is None else float(sw.sum()))

    def loss_and_gradient(
        self, X: Any, Y: Rows, buffers: ThreadBuffers | None = None,
        params: np.ndarray | None = None, sw: np.ndarray | None = None,
    ) -> float:  # fmt: skip
        """The mean loss; its gradient goes to ``buffers.grad`` (:attr:`grad` by default).

        Parameters
        ----------
        X : numpy.ndarray or scipy.sparse matrix
            Validated rows; a sparse matrix is densified one chunk of rows at a time, never
            whole.
        Y : numpy.ndarray
            Dense targets.
        buffers : ThreadBuffers, optional
            Workspaces and gradient buffers (default: the creating thread's).
        params : numpy.ndarray, optional
            Parameters read in place of :attr:`params`, with no copy (L-BFGS evaluates at its
            own vector this way).
        sw : numpy.ndarray, optional
            Row weights: the weighted mean and its gradient.

        Returns
        -------
        float
            The (weighted) mean loss.
        """
        if buffers is None:
            ws, grad, grad_chunk = self.ws, self.grad, self.grad_chunk
        else:
            ws, grad, grad_chunk = buffers.ws, buffers.grad, buffers.grad_chunk
        n = X.shape[0]
        scale = 1.0 / (n if sw is None else float(sw.sum()))
        out_kind, loss_param = self.plan.out_kind, self.plan.loss_param
        total = 0.0
        for idx, s in enumerate(self.chunks(n)):
            m = s.stop - s.start
            Xs = X[s]
            if not isinstance(Xs, np.ndarray) and hasattr(Xs, "toarray"):
                Xs = np.ascontiguousarray(Xs.toarray(), dtype=self.dtype)
            sws = None if sw is None else sw[s]
            self.forward_chunk(Xs, ws, params)
            Zr, Ar = self.output_block(ws.Z, m, ws), self.output_block(ws.A, m, ws)
            if sws is None:
                total += kernels.loss_sum(Y[s], Zr, Ar, out_kind, loss_param)
            else:
                total += kernels.loss_sum_weighted(Y[s], Zr, Ar, out_kind, loss_param, sws)
            if idx == 0:
                self.backward_chunk(Xs, Y[s], grad, scale, ws, params, sws)
            else:
                self.backward_chunk(Xs, Y[s], grad_chunk, scale, ws, params, sws)
                grad += grad_chunk
        return total * scale

    def trace(self, X: np.ndarray, Y: np.ndarray) -> Trace:
        """One forward and backward pass over all of X at once, with per-layer copies.

        The caller holds the network alone (:meth:`exclusive`): this uses :attr:`ws`, grown to n
        rows.

        Parameters
        ----------
        X, Y : numpy.ndarray
            Validated rows and dense targets (in memory).

        Returns
        -------
        Trace
            z, a, dJ/dz, dJ/da per layer, the mean loss and its gradient.
        """
        m, r = X.shape[0], self.spec.n_layers
        ws, p = self.ws, self.plan
        ws.ensure(m)
        self.forward_chunk(X)
        J = kernels.loss_sum(Y, self.output_block(ws.Z, m), self.output_block(ws.A, m), p.out_kind,
                             p.loss_param)  # fmt: skip
        self.backward_chunk(X, Y, self.grad, 1.0 / m)
        z = [None] + [ws.layer(ws.Z, p, k, m).copy() for k in range(1, r + 1)]
        a = [X.copy()] + [ws.layer(ws.A, p, k, m).copy() for k in range(1, r + 1)]
        dz = [None] + [ws.layer(ws.dZ, p, k, m).copy() for k in range(1, r + 1)]
        da = [None] + [ws.layer(ws.dA, p, k, m).copy() for k in range(1, r)] + [None]
        return Trace(z, a, dz, da, J / m, self.grad.copy())

    def __repr__(self) -> str:
        return (
            f"LoweredNetwork(widths={list(self.spec.widths)}, dtype={self.spec.dtype!r}, "
            f"n_params={self.plan.n_params}, blas_min_rows={self.blas_min_rows})"
        )


class HasLowered(Protocol):
    """Anything that owns a :class:`LoweredNetwork` as ``lowered`` (a ``fastbp.Network``)."""

    lowered: LoweredNetwork


#: What the modules below :class:`fastbp.Network` accept as a network.
NetworkLike = LoweredNetwork | HasLowered


def as_lowered(net: NetworkLike) -> LoweredNetwork:
    """The :class:`LoweredNetwork` of ``net``: a ``fastbp.Network`` (its ``lowered``) or itself.

    Lets the modules below :class:`fastbp.Network` accept a network without importing it.

    Parameters
    ----------
    net : fastbp.Network or LoweredNetwork
        The network.

    Returns
    -------
    LoweredNetwork

    Raises
    ------
    TypeError
        For anything else.
    """
    lowered = getattr(net, "lowered", net)
    if not isinstance(lowered, LoweredNetwork):
        raise TypeError(f"net must be a fastbp.Network, got {type(net).__name__}")
    return lowered


def lowered_with_data(
    net: NetworkLike, X: object, Y: object
) -> tuple[LoweredNetwork, np.ndarray, np.ndarray]:
    """``net``'s :class:`LoweredNetwork` and X, Y checked for it as dense arrays, in that order.

    The one entry check of the tools that work on a whole batch (the curvature, spectra and
    per-example functions, H v): :func:`as_lowered`, then ``as_features(X, spec, lazy=False)``
    and ``as_targets(Y, spec, n, lazy=False)``.

    Parameters
    ----------
    net : fastbp.Network or LoweredNetwork
        The network.
    X, Y : array_like
        Rows and targets, in the forms ``loss_and_gradient`` accepts.

    Returns
    -------
    tuple of (LoweredNetwork, numpy.ndarray, numpy.ndarray)

    Raises
    ------
    TypeError, ValueError
        As :func:`as_lowered`, :func:`fastbp.validate.as_features` and
        :func:`fastbp.validate.as_targets` raise them.
    """
    lowered = as_lowered(net)
    Xa = as_features(X, lowered.spec, lazy=False)
    Ya = as_targets(Y, lowered.spec, Xa.shape[0], lazy=False)
    return lowered, Xa, Ya
