"""Network: a lowered spec with its parameter buffer, workspaces and the public passes."""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from fastbp import epochs, kernels, row_kernels
from fastbp._blas import HAVE_BLAS
from fastbp.init import INITIALISERS
from fastbp.io import ModelFileError, load_model, save_model
from fastbp.lowering import Plan, Workspace, lower
from fastbp.optim import Optimizer, Schedule
from fastbp.rows import LazyRows
from fastbp.spec import NetworkSpec
from fastbp.specialise import sgd_example_epoch_dispatch
from fastbp.train import History
from fastbp.train import fit as _fit
from fastbp.train import partial_fit as _partial_fit
from fastbp.train import score as _score
from fastbp.validate import (
    as_features,
    as_params,
    as_sample_weight,
    as_targets,
    check_allocation,
    check_seed,
    physical_memory_bytes,
)

#: Batches of at least this many rows use BLAS (np.dot) for the matrix products; smaller ones
#: use the explicit loops, which win when the call overhead of BLAS dominates.  Without SciPy
#: (which Numba needs to reach BLAS) every batch uses the loops.
BLAS_MIN_ROWS = 16 if HAVE_BLAS else 2**62

#: Forward, loss and gradient process at most this many rows per kernel call, so that the
#: workspaces stay small whatever n is; the gradient of the mean is accumulated across chunks.
CHUNK_ROWS = 2048


@dataclass
class Trace:
    """Per-layer quantities of one forward/backward pass (copies, indexed by layer k = 0..r).

    ``z[k]``, ``a[k]`` and ``dJ_dz[k]`` are (n, n_k) arrays for k = 1..r (``a[0]`` is X and
    ``z[0]``, ``dJ_dz[0]`` are None); ``dJ_da[k]`` exists for hidden layers k = 1..r−1 (None at 0
    and r).  dJ_dz and dJ_da are per-example derivatives dJ_i/dz; ``loss`` is the mean loss and
    ``grad`` the gradient of the mean in parameter layout.
    """

    z: list
    a: list
    dJ_dz: list
    dJ_da: list
    loss: float
    grad: np.ndarray


#: partial_fit calls on up to this many rows may take the lean path (one compiled call, as fit
#: makes one call per chunk of this many examples).
_LEAN_MAX_ROWS = 1 << 16

_ADAM_DEFAULTS = (Optimizer.beta1, Optimizer.beta2, Optimizer.eps)

#: A Network holds this many parameter-sized arrays (parameters, gradient, chunk gradient and the
#: weight mask of the plan).
PARAM_SIZED_ARRAYS = 4

#: ``fit`` adds this many more: the last good epoch's snapshot, the best epoch's copy (early
#: stopping) and up to two optimizer state arrays (Adam's moments).
FIT_PARAM_SIZED_ARRAYS = 4


def _check_memory(spec: NetworkSpec) -> None:
    """Refuse, before allocating, a network that this machine's memory cannot train.

    Counts what the network holds and what ``fit`` adds (snapshot, best copy, optimizer state),
    so that a network that can be built can also be trained.
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


_BUSY = "this Network is already running a pass in another thread"


class _Guard:
    """A readers-writer guard that never waits: a conflicting call is refused at once.

    Any number of reads (forward, predict, predict_proba, loss, score, loss_and_gradient, copy,
    save) may run at the same time, each on its own thread's workspaces.  A call that changes the
    parameters or uses the shared workspaces (fit, partial_fit, params assignment, trace, hvp)
    runs alone: it is refused while anything else runs, and reads are refused while it runs.
    Refusals raise RuntimeError before anything is touched, so a read never sees half-updated
    parameters.

    A read costs two list operations, not a lock: it first registers itself (``readers.append``)
    and then looks for a writer; a writer first registers itself (``writer = what``, writers
    among themselves under ``mutex``) and then looks for readers.  Each of these steps is atomic,
    so whichever of two overlapping calls looks second sees the other and backs out (if both look
    at the same moment, both back out: a refusal, never a torn read).  ``mutex`` is never held
    during a pass.
    """

    __slots__ = ("mutex", "readers", "writer")

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.readers: list[None] = []
        self.writer: str | None = None

    def enter_read(self) -> None:
        readers = self.readers
        readers.append(None)
        writer = self.writer
        if writer is not None:
            readers.pop()
            raise RuntimeError(
                f"{_BUSY} ({writer}), which needs the network to itself; reads "
                f"(forward, predict, loss, score) can run from many threads at once, but not "
                f"during fit, partial_fit, trace, hvp or a params assignment: wait for it to "
                f"finish, or use one net.copy() per thread"
            )

    def enter_write(self, what: str) -> None:
        with self.mutex:
            busy = self.writer
            if busy is None:
                self.writer = what
        if busy is None and self.readers:
            busy = f"{len(self.readers)} read(s)"
            with self.mutex:
                self.writer = None
        if busy is not None:
            raise RuntimeError(
                f"{_BUSY} ({busy}); {what} needs the network to itself: serialise the calls, "
                f"or use one Network per thread (net.copy())"
            )

    def exit_write(self) -> None:
        self.writer = None


def _QUIET_IF_NO_JIT():
    """``np.errstate`` silencing overflow when kernels run as plain Python (NUMBA_DISABLE_JIT=1),
    where NumPy scalars warn about what compiled code silently turns into inf (and the caller
    then detects); a no-op context otherwise, so the compiled fast path pays nothing."""
    if numba.config.DISABLE_JIT:
        return np.errstate(over="ignore", invalid="ignore", divide="ignore")
    return contextlib.nullcontext()


class _FastCalls:
    """This network's direct entries into the compiled kernels of its fast paths (see
    :class:`fastbp.row_kernels.DirectCall`: the argument types never change for one network)."""

    __slots__ = ("check", "forward", "loss_grad", "minibatch", "settle")

    def __init__(self) -> None:
        self.forward = row_kernels.DirectCall(row_kernels.forward_row)
        self.loss_grad = row_kernels.DirectCall(row_kernels.loss_grad_row)
        self.check = row_kernels.DirectCall(row_kernels.check_rows)
        self.settle = row_kernels.DirectCall(row_kernels.settle)
        self.minibatch = row_kernels.DirectCall(epochs.minibatch_epoch)


class _ThreadState:
    """One thread's scratch space for reads: workspaces and gradient buffers."""

    __slots__ = ("grad", "grad_chunk", "ws")

    def __init__(self, ws: Workspace, grad: np.ndarray, grad_chunk: np.ndarray) -> None:
        self.ws = ws
        self.grad = grad
        self.grad_chunk = grad_chunk


class Network:
    """A multilayer perceptron whose parameters live in one flat buffer.

    Parameters
    ----------
    spec : NetworkSpec
        The spec to build.
    init : str
        Initialiser name from :data:`fastbp.init.INITIALISERS` (default ``"xavier_normal"``:
        Var(w) = 2 / (n_in + n_out)); biases start at 0.
    seed : int, numpy.random.Generator or None
        Seed (or generator) for the initialiser; the same seed gives bit-identical parameters.

    Notes
    -----
    The parameter layout is ``[W[1] | b[1] | ... | W[r] | b[r]]`` with each W[k] of shape
    (n_k, n_{k−1}) stored row-major; :meth:`layer` returns views into :attr:`params`.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        init: str = "xavier_normal",
        seed: int | np.random.Generator | None = 0,
    ) -> None:
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
        if not isinstance(init, str) or init not in INITIALISERS:
            raise ValueError(f"init = {init!r} is unknown; allowed: {sorted(INITIALISERS)}")
        check_seed(seed, "seed", allow_generator=True)
        _check_memory(spec)
        self.spec = spec
        self.plan: Plan = lower(spec)
        self.init = init
        self.seed = seed
        dtype = spec.np_dtype
        self._params = np.zeros(self.plan.n_params, dtype=dtype)
        self._grad = np.zeros(self.plan.n_params, dtype=dtype)
        self._grad_chunk = np.zeros(self.plan.n_params, dtype=dtype)
        self._ws = Workspace(self.plan.n_units, 1, dtype)
        self._guard = _Guard()
        self._tls = threading.local()
        # The creating thread reads with the shared buffers (writers exclude reads, so they are
        # free whenever a read runs); other threads get their own on first use (_state).
        self._tls.state = _ThreadState(self._ws, self._grad, self._grad_chunk)
        # One-row fast paths: the plan packed into one array, expected shapes, scratch buffers.
        self._dtype = dtype
        self._ipack = row_kernels.pack_plan(self.plan)
        self._row_shape = (1, spec.n_inputs)
        self._out_shape = (1, spec.n_outputs)
        self._good = np.zeros(self.plan.n_params, dtype=dtype)
        self._info = np.zeros(3, dtype=np.float64)
        self._order = np.arange(1, dtype=np.int64)
        self._gather: tuple[np.ndarray, np.ndarray] | None = None
        self._snapshots: tuple[np.ndarray, np.ndarray] | None = None
        self._onehot: np.ndarray | None = None
        self._calls = _FastCalls()
        self._blas_min_rows = BLAS_MIN_ROWS
        self._chunk_rows = CHUNK_ROWS
        #: Optimizer (settings and state) of the last :meth:`fit`, or None.
        self.optimizer: Optimizer | None = None
        #: :class:`History` of the last :meth:`fit`, or None.
        self.history: History | None = None
        #: Extra arrays and metadata stored with the network in its file (see :meth:`save`).
        self.extras: dict[str, np.ndarray] = {}
        self.metadata: dict | None = None
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        initialiser = INITIALISERS[init]
        for k in range(1, spec.n_layers + 1):
            W, b = self.layer(k)
            W[...] = initialiser(rng, spec.widths[k - 1], spec.widths[k])
            b[...] = 0

    # ------------------------------------------------------------------ parameters
    @property
    def params(self) -> np.ndarray:
        """The flat parameter buffer itself (writes change the network)."""
        return self._params

    @params.setter
    def params(self, value: np.ndarray) -> None:
        value = as_params(value, self.plan.n_params, self.spec.np_dtype)
        with self._exclusive("a params assignment"):
            self._params[...] = value

    @property
    def n_params(self) -> int:
        return self.plan.n_params

    def layer(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` of layer k = 1..r as views into :attr:`params`; W has shape (n_k, n_{k−1}).

        Parameters
        ----------
        k : int
            The layer, 1..r.

        Returns
        -------
        W : numpy.ndarray
            (n_k, n_{k−1}) view into :attr:`params`.
        b : numpy.ndarray
            (n_k,) view into :attr:`params`.
        """
        r = self.spec.n_layers
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= r:
            raise ValueError(f"layer index k must be an integer in 1..{r}, got {k!r}")
        p = self.plan
        n_out, n_in = int(p.widths[k]), int(p.widths[k - 1])
        w0, b0 = int(p.w_off[k - 1]), int(p.b_off[k - 1])
        W = self._params[w0 : w0 + n_out * n_in].reshape(n_out, n_in)
        return W, self._params[b0 : b0 + n_out]

    def copy(self) -> Network:
        """An independent network with the same spec and parameters."""
        other = Network(self.spec, init="zeros")
        other.init, other.seed = self.init, self.seed
        with self._shared():
            other._params[...] = self._params
        return other

    # ------------------------------------------------------------------ passes
    @contextmanager
    def _exclusive(self, what: str = "a pass") -> Iterator[None]:
        """Hold the network alone (fit, partial_fit, params assignment, trace, hvp)."""
        self._guard.enter_write(what)
        try:
            yield
        finally:
            self._guard.exit_write()

    @contextmanager
    def _shared(self) -> Iterator[None]:
        """Hold the network for a read; other reads may run at the same time in other threads."""
        self._guard.enter_read()
        try:
            yield
        finally:
            self._guard.readers.pop()

    def _state(self) -> _ThreadState:
        """This thread's read buffers (created on the thread's first read)."""
        try:
            return self._tls.state
        except AttributeError:
            U, n, dtype = self.plan.n_units, self.plan.n_params, self._dtype
            state = _ThreadState(Workspace(U, 1, dtype), np.zeros(n, dtype), np.zeros(n, dtype))
            self._tls.state = state
            return state

    def _fast_row(self, X: object) -> bool:
        """Whether X can go to a one-row kernel as it is: a C-contiguous, aligned, writeable
        (1, n0) ndarray of exactly the network's (native) dtype; its values are checked inside
        the kernel.  Anything else, even an equal dtype object of another byte order, takes the
        checked path, so the compiled entry points always get the types they were built for."""
        if type(X) is not np.ndarray or X.shape != self._row_shape or X.dtype is not self._dtype:
            return False
        flags = X.flags
        return flags.c_contiguous and flags.behaved

    def _eye(self) -> np.ndarray:
        eye = self._onehot
        if eye is None:
            # One-hot rows handed to the kernels, which only read them.
            eye = np.eye(self.spec.n_outputs, dtype=self._dtype)
            self._onehot = eye
        return eye

    def _check_params(self) -> None:
        with np.errstate(invalid="ignore"):  # inf * 0 when kernels run as Python (no JIT)
            finite = kernels.all_finite(self._params)
        if not finite:
            raise ValueError(
                "the network's parameters contain NaN or inf; they must be finite (reinitialise "
                "the network or reload it from a file)"
            )

    def _forward_chunk(
        self, X: np.ndarray, ws: Workspace | None = None, params: np.ndarray | None = None
    ) -> None:
        p = self.plan
        ws = self._ws if ws is None else ws
        params = self._params if params is None else params
        ws.ensure(X.shape[0])
        if X.shape[0] == 1:  # the per-example fast path: 1-D views, no batch blocks
            kernels.forward_example(
                X[0], params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
                ws.Z, ws.A,
            )  # fmt: skip
            return
        kernels.forward(
            X, params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
            ws.Z, ws.A, X.shape[0] >= self._blas_min_rows,
        )  # fmt: skip

    def _backward_chunk(
        self, X: np.ndarray, Y: np.ndarray, grad: np.ndarray, scale: float,
        ws: Workspace | None = None, params: np.ndarray | None = None,
        sw: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        p = self.plan
        ws = self._ws if ws is None else ws
        params = self._params if params is None else params
        if X.shape[0] == 1:
            kernels.backward_example(
                X[0], Y[0], params, p.widths, p.acts, p.w_off, p.b_off, p.u_off,
                ws.Z, ws.A, ws.dZ, ws.dA, grad, scale if sw is None else scale * float(sw[0]),
            )  # fmt: skip
            return
        if sw is not None:
            kernels.backward_weighted(
                X, Y, params, p.widths, p.acts, p.w_off, p.b_off, p.u_off, ws.Z, ws.A, ws.dZ,
                ws.dA, grad, scale, X.shape[0] >= self._blas_min_rows, sw,
            )  # fmt: skip
            return
        kernels.backward(
            X, Y, params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
            ws.Z, ws.A, ws.dZ, ws.dA, grad, scale, X.shape[0] >= self._blas_min_rows,
        )  # fmt: skip

    def _output_block(self, buf: np.ndarray, m: int) -> np.ndarray:
        return self._ws.layer(buf, self.plan, self.spec.n_layers, m)

    def _chunks(self, n: int) -> Iterator[slice]:
        for lo in range(0, n, self._chunk_rows):
            yield slice(lo, min(n, lo + self._chunk_rows))

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Predictions for the rows of X, shape (n, nr).

        Identity outputs for ``squared``, class probabilities (softmax) for
        ``softmax_cross_entropy``, and per-output probabilities (sigmoid) for ``logistic``.
        Safe to call from many threads at once on one network (each thread has its own
        workspaces); refused with RuntimeError while another thread changes the network.

        Parameters
        ----------
        X : array_like
            (n, n0) rows.

        Returns
        -------
        numpy.ndarray
            (n, nr) array of the network's dtype.
        """
        if self._fast_row(X):  # one row: a packed kernel that checks X itself
            guard = self._guard
            guard.enter_read()
            try:
                out = np.empty(self._out_shape, dtype=self._dtype)
                ws = self._state().ws
                status = self._calls.forward(X, self._params, self._ipack, ws.Z, ws.A, out)
            finally:
                guard.readers.pop()
            if status == 0:
                return out
            # Anything unusual (NaN/inf input or parameters, overflow) takes the checked path.
        X = as_features(X, self.spec)
        with self._shared():
            self._check_params()
            return self._forward_unchecked(X, self._state().ws)

    def _forward_unchecked(self, X: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        ws = self._ws if ws is None else ws
        check_allocation(
            X.shape[0] * self.spec.n_outputs * self.spec.np_dtype.itemsize,
            f"the output of {X.shape[0]:,} rows × {self.spec.n_outputs}",
        )
        out = np.empty((X.shape[0], self.spec.n_outputs), dtype=self.spec.np_dtype)
        for s in self._chunks(X.shape[0]):
            self._forward_chunk(X[s], ws)
            out[s] = self._output_block(ws.A, s.stop - s.start)
        return out

    def loss(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Mean over the n examples of the per-example loss J_i (thread-safe, as :meth:`forward`).

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, in the forms described in the user guide's "Data" page.
        sample_weight : array_like or None
            Non-negative weights s_i, one per row (not all zero); None weighs every row 1.

        Returns
        -------
        float
            (1/n) Σ_i J_i, or the weighted mean Σ_i s_i J_i / Σ_i s_i.
        """
        X = as_features(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        sw = as_sample_weight(sample_weight, X.shape[0], self.spec.np_dtype)
        with self._shared():
            self._check_params()
            return self._loss_unchecked(X, Y, self._state().ws, sw)

    def _loss_unchecked(
        self, X: np.ndarray, Y: np.ndarray, ws: Workspace | None = None,
        sw: np.ndarray | None = None,
    ) -> float:  # fmt: skip
        ws = self._ws if ws is None else ws
        total = 0.0
        for s in self._chunks(X.shape[0]):
            m = s.stop - s.start
            self._forward_chunk(X[s], ws)
            Zr, Ar = self._output_block(ws.Z, m), self._output_block(ws.A, m)
            if sw is None:
                total += kernels.loss_sum(Y[s], Zr, Ar, self.plan.out_kind)
            else:
                total += kernels.loss_sum_weighted(Y[s], Zr, Ar, self.plan.out_kind, sw[s])
        return total / (X.shape[0] if sw is None else float(sw.sum()))

    def loss_and_gradient(
        self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Mean loss J and its gradient dJ/dθ (flat, same layout as :attr:`params`, a copy).

        Thread-safe as :meth:`forward`: it reads the parameters and writes only this thread's
        buffers.

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, in the forms described in the user guide's "Data" page.
        sample_weight : array_like or None
            Non-negative weights s_i, one per row (not all zero): J becomes the weighted mean
            Σ_i s_i J_i / Σ_i s_i and the gradient that of the weighted mean.  None weighs
            every row 1.

        Returns
        -------
        tuple of (float, numpy.ndarray)
            J and the (n_params,) gradient of the (weighted) mean loss.
        """
        if sample_weight is not None:
            X = as_features(X, self.spec)
            Y = as_targets(Y, self.spec, X.shape[0])
            sw = as_sample_weight(sample_weight, X.shape[0], self.spec.np_dtype)
            with self._shared():
                self._check_params()
                state = self._state()
                J = self._loss_and_gradient_unchecked(X, Y, state, sw=sw)
                return J, state.grad.copy()
        if self._fast_row(X):
            if type(Y) is np.ndarray and Y.shape == self._out_shape and Y.dtype is self._dtype:
                flags = Y.flags  # the common case inline: a dense (1, nr) row
                Yr = Y if flags.c_contiguous and flags.behaved else None
            else:
                Yr = self._fast_targets(Y, 1)
            if Yr is not None:
                guard = self._guard
                grad = np.empty(self.plan.n_params, dtype=self._dtype)
                guard.enter_read()
                try:
                    ws = self._state().ws
                    status, J = self._calls.loss_grad(
                        X, Yr, self._params, self._ipack, ws.Z, ws.A, ws.dZ, ws.dA, grad
                    )
                finally:
                    guard.readers.pop()
                if status == 0:
                    return J, grad
        X = as_features(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        with self._shared():
            self._check_params()
            state = self._state()
            J = self._loss_and_gradient_unchecked(X, Y, state)
            return J, state.grad.copy()

    def _loss_and_gradient_unchecked(
        self, X: np.ndarray, Y: np.ndarray, state: _ThreadState | None = None,
        params: np.ndarray | None = None, sw: np.ndarray | None = None,
    ) -> float:  # fmt: skip
        """Mean loss; the gradient goes to ``state.grad`` (``self._grad`` when state is None).

        ``params`` (default: the network's own buffer) is read in place of the parameters, with
        no copy: L-BFGS evaluates at its own vector this way.  ``sw`` weighs the rows (the
        weighted mean and its gradient).  ``X`` may be a scipy.sparse matrix: each chunk of rows
        is then densified on its own, never the whole matrix.
        """
        if state is None:
            ws, grad, grad_chunk = self._ws, self._grad, self._grad_chunk
        else:
            ws, grad, grad_chunk = state.ws, state.grad, state.grad_chunk
        n = X.shape[0]
        scale = 1.0 / (n if sw is None else float(sw.sum()))
        out_kind = self.plan.out_kind
        total = 0.0
        for idx, s in enumerate(self._chunks(n)):
            m = s.stop - s.start
            Xs = X[s]
            if not isinstance(Xs, np.ndarray) and hasattr(Xs, "toarray"):
                Xs = np.ascontiguousarray(Xs.toarray(), dtype=self._dtype)
            sws = None if sw is None else sw[s]
            self._forward_chunk(Xs, ws, params)
            Zr, Ar = self._output_block(ws.Z, m), self._output_block(ws.A, m)
            if sws is None:
                total += kernels.loss_sum(Y[s], Zr, Ar, out_kind)
            else:
                total += kernels.loss_sum_weighted(Y[s], Zr, Ar, out_kind, sws)
            if idx == 0:
                self._backward_chunk(Xs, Y[s], grad, scale, ws, params, sws)
            else:
                self._backward_chunk(Xs, Y[s], grad_chunk, scale, ws, params, sws)
                grad += grad_chunk
        return total * scale

    def trace(self, X: np.ndarray, Y: np.ndarray) -> Trace:
        """Forward and backward pass over all of X at once; per-layer z, a, dJ/dz, dJ/da copies.

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, in the forms described in the user guide's "Data" page.

        Returns
        -------
        Trace
            Per-layer copies of z, a, dJ/dz and dJ/da, the mean loss and the gradient.
        """
        X = as_features(X, self.spec, lazy=False)
        Y = as_targets(Y, self.spec, X.shape[0], lazy=False)
        with self._exclusive("trace"):
            self._check_params()
            try:
                self._ws.ensure(X.shape[0])
            except ValueError as exc:
                raise ValueError(
                    f"X has {X.shape[0]} rows and trace() keeps z, a, dJ/dz and dJ/da for every "
                    f"row at once: {exc}"
                ) from None
            return self._trace_unchecked(X, Y)

    def _trace_unchecked(self, X: np.ndarray, Y: np.ndarray) -> Trace:
        # Inputs already validated and the lock held (fit's per-epoch diagnostics call this).
        m, r = X.shape[0], self.spec.n_layers
        self._ws.ensure(m)
        self._forward_chunk(X)
        ws, p = self._ws, self.plan
        J = kernels.loss_sum(
            Y, self._output_block(ws.Z, m), self._output_block(ws.A, m), p.out_kind
        )
        self._backward_chunk(X, Y, self._grad, 1.0 / m)
        z = [None] + [ws.layer(ws.Z, p, k, m).copy() for k in range(1, r + 1)]
        a = [X.copy()] + [ws.layer(ws.A, p, k, m).copy() for k in range(1, r + 1)]
        dz = [None] + [ws.layer(ws.dZ, p, k, m).copy() for k in range(1, r + 1)]
        da = [None] + [ws.layer(ws.dA, p, k, m).copy() for k in range(1, r)] + [None]
        return Trace(z, a, dz, da, J / m, self._grad.copy())

    # ------------------------------------------------------------------ curvature
    def hvp(self, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
        """H v for the exact Hessian H of the mean loss, by Pearlmutter's R-operator in O(N).

        ``v`` and the result have the parameter layout.  See :func:`fastbp.hessian.hvp`.

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, in the forms described in the user guide's "Data" page.
        v : array_like
            A direction in the parameter layout.

        Returns
        -------
        numpy.ndarray
            H v, see :func:`fastbp.hessian.hvp`.
        """
        from fastbp.hessian import hvp

        return hvp(self, X, Y, v)

    def gnvp(self, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
        """G v for the generalised Gauss-Newton matrix G = Jᵀ H_loss J (positive semidefinite).

        See :func:`fastbp.hessian.gnvp`.

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, in the forms described in the user guide's "Data" page.
        v : array_like
            A direction in the parameter layout.

        Returns
        -------
        numpy.ndarray
            G v, see :func:`fastbp.hessian.gnvp`.
        """
        from fastbp.hessian import gnvp

        return gnvp(self, X, Y, v)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        epochs: int = 20,
        batch_size: int = 1,
        optimizer: str | Optimizer = "sgd",
        lr: float = 0.01,
        momentum: float = 0.9,
        l2: float = 0.0,
        schedule: str | Schedule = "constant",
        shuffle: bool = True,
        validation_fraction: float = 0.0,
        early_stopping: bool = False,
        patience: int = 5,
        min_delta: float = 0.0,
        seed: int | None = 0,
        progress: bool = True,
        warm_start: bool = False,
        diagnostics: bool = False,
        sample_weight: np.ndarray | None = None,
    ) -> History:
        """Train in place with whole epochs inside compiled calls.

        Parameters
        ----------
        X, Y : array_like
            Training data, in the forms described in the user guide's "Data" page.
        epochs : int
            Number of passes over the training data (0 is allowed and does nothing).
        batch_size : int
            1 is per-example SGD; larger values average the gradient over each batch of
            consecutive examples of the epoch's order (the last batch may be shorter).
        optimizer : str or fastbp.optim.Optimizer
            ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, or an
            :class:`~fastbp.optim.Optimizer` (for Adam's β1, β2, ε).
        lr : float
            The learning rate α (> 0).
        momentum : float
            μ for ``momentum`` and ``nesterov``.
        l2 : float
            λ of the penalty (λ/2) Σ_k ‖W[k]‖²_F on weights only (biases are not penalised);
            its gradient λ W[k] is added to every step's gradient.
        schedule : str or fastbp.optim.Schedule
            Changes ``lr`` per epoch: ``"constant"``, ``"invscaling"``, ``"step"``, ``"cosine"``
            or a :class:`~fastbp.optim.Schedule`.
        shuffle : bool
            Draw a new order each epoch from the seeded generator; ``False`` keeps the data
            order, so ``fit(X, Y, batch_size=1, optimizer="sgd", shuffle=False)`` is exactly the
            lecture's θ ← θ − α ∇J_i(θ) for i = 1..n, in order.
        validation_fraction : float
            Hold out this fraction (a seeded random subset) to measure ``val_loss`` and
            ``val_score`` after every epoch.
        early_stopping : bool
            Stop when the validation loss has not improved by more than ``min_delta`` for
            ``patience`` epochs, and restore the parameters of the best epoch.
        patience : int
            Epochs without improvement before early stopping.
        min_delta : float
            The improvement of the validation loss that counts.
        seed : int
            Seeds shuffling and the validation split; with the same seed, data and parameters,
            fit gives bit-identical results (on one thread).
        progress : bool
            Show a progress bar (tqdm if installed, else one line per epoch on stderr).
        warm_start : bool
            Continue with the optimizer state of the previous fit (or of a loaded file) instead
            of starting from zero velocity/moments.
        diagnostics : bool
            After every epoch, record per-layer gradient norms and activation statistics
            (:mod:`fastbp.diagnostics`) on a fixed seeded subsample of at most 512 training rows
            in ``history.diagnostics``, and warn once
            (:class:`~fastbp.diagnostics.GradientWarning`) if ‖dJ/dW[1]‖ / ‖dJ/dW[r]‖ leaves
            ``fastbp.diagnostics.GRADIENT_RATIO_BAND``.  Training itself is unchanged.
        sample_weight : array_like or None
            Non-negative weights s_i, one per row (None: all 1).  They are normalised to mean 1
            over the training rows, s̃ = s / mean(s), and each step's gradient is
            (1/m) Σ_{i∈B} s̃_i ∇J_i over the batch B of m rows (+ the L2 term): an unbiased
            estimate of the gradient of the weighted mean Σ s_i J_i / Σ s_i, equal to it when
            one batch holds every row;
            with batch_size=1 each step is scaled by s̃_i.  ``History.loss`` and ``val_loss``
            are weighted means.  Each batch is then one compiled loss-and-gradient call and
            one compiled optimizer step, called from Python.

        Returns
        -------
        History
            One entry per completed epoch; also kept in ``net.history``.

        Raises
        ------
        FitDivergedError
            If the loss or a parameter becomes NaN/inf; the parameters of the end of the last
            good epoch are restored first.  Ctrl-C restores the same snapshot and returns the
            history with ``interrupted=True``.
        """
        return _fit(
            self, X, Y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
            momentum=momentum, l2=l2, schedule=schedule, shuffle=shuffle,
            validation_fraction=validation_fraction, early_stopping=early_stopping,
            patience=patience, min_delta=min_delta, seed=seed, progress=progress,
            warm_start=warm_start, diagnostics=diagnostics, sample_weight=sample_weight,
        )  # fmt: skip

    def partial_fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        *,
        optimizer: str | Optimizer = "sgd",
        lr: float = 0.01,
        momentum: float = 0.9,
        l2: float = 0.0,
        batch_size: int = 1,
    ) -> float:
        """One pass over the given rows, in the given order; returns their mean loss.

        For online learning: the optimizer state (momentum velocity, Adam's moments and step
        count) stays on the network (:attr:`optimizer`) between calls, and continues as long as
        the optimizer's settings (name, μ for the momentum methods, β1, β2, ε for Adam) stay the
        same; another optimizer, or other settings, start from a fresh state.  A :meth:`fit`
        with ``warm_start=False`` also starts afresh.  ``save(..., include_optimizer_state=True)``
        (the default) keeps the state, and :meth:`load` brings it back.

        Calling it row by row gives exactly (bit for bit) the parameters of
        ``fit(X, Y, epochs=1, batch_size=1, shuffle=False)`` with the same settings, and for
        ``batch_size=B`` calls on consecutive blocks of B rows those of ``fit(..., batch_size=B)``;
        each call runs the kernel that fit runs.

        Parameters
        ----------
        X, Y : array_like
            The rows, as for :meth:`fit`.  One row, shape (1, n0), of the network's dtype takes a
            fast path whose checks run inside the compiled call.
        optimizer : str or fastbp.optim.Optimizer
            ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"`` or an Optimizer (for Adam's
            β1, β2, ε).
        lr : float
            Learning rate α > 0.
        momentum : float
            μ for ``momentum`` and ``nesterov``.
        l2 : float
            λ of the penalty (λ/2) Σ_k ‖W[k]‖²_F (weights only), as in :meth:`fit`.
        batch_size : int
            1 is per-example SGD; B averages the gradient over runs of B consecutive rows (the
            last run may be shorter; B larger than the number of rows makes one batch of them).

        Returns
        -------
        float
            The mean over the rows of each row's loss just before the step that used it (as
            ``History.loss``).

        Raises
        ------
        ValueError, TypeError
            Bad rows or settings, refused before anything changes.
        fastbp.FitDivergedError
            A non-finite loss or parameter; the parameters and optimizer state of before the call
            are restored first.
        RuntimeError
            Another thread is using the network.
        """
        opt = self.optimizer
        if (
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
            # The optimizer state continues: try the lean path (checks inside the kernel).
            loss = self._partial_fit_lean(X, Y, opt, lr, l2, batch_size)
            if loss is not None:
                return loss
        # A first call, another optimizer, other array types or anything unusual.
        return _partial_fit(
            self, X, Y, optimizer=optimizer, lr=lr, momentum=momentum, l2=l2,
            batch_size=batch_size,
        )  # fmt: skip

    def _partial_fit_lean(
        self, X: object, Y: object, opt: Optimizer, lr: float, l2: float, batch_size: int
    ) -> float | None:
        """partial_fit through one packed kernel call, or None if the checked path must run.

        Taken only for arrays that already have the network's dtype and layout; the kernel
        checks their values and refuses aliasing before anything is written, and restores the
        parameters and optimizer state if the step diverges (the checked path then reports it).
        """
        # Exact dtype objects (``is``): anything unusual, even an equal non-native dtype, takes
        # the checked path, so the compiled entry points always see the types they were built for.
        dtype = self._dtype
        if type(X) is not np.ndarray or X.ndim != 2 or X.dtype is not dtype:
            return None
        n = X.shape[0]
        if X.shape[1] != self._row_shape[1] or not 1 <= n <= _LEAN_MAX_ROWS:
            return None
        flags = X.flags
        if not (flags.c_contiguous and flags.behaved):
            return None
        if type(Y) is np.ndarray and Y.ndim == 2 and Y.dtype is dtype and Y.shape[0] == n:
            flags = Y.flags  # the common case inline: dense (n, nr) rows
            if Y.shape[1] != self._out_shape[1] or not (flags.c_contiguous and flags.behaved):
                return None
        else:
            Y = self._fast_targets(Y, n)
            if Y is None:
                return None
        s1, s2 = opt.s1, opt.s2
        if s1.dtype is not dtype or s2.dtype is not dtype:
            return None
        snaps = self._snapshots
        if snaps is None or snaps[0].shape != s1.shape or snaps[1].shape != s2.shape:
            snaps = self._snapshots = (np.empty_like(s1), np.empty_like(s2))
        if self._order.shape[0] < n:
            self._order = np.arange(max(n, 2 * self._order.shape[0]), dtype=np.int64)
        calls, info, params, ws = self._calls, self._info, self._params, self._ws
        guard = self._guard
        guard.enter_write("partial_fit")
        try:
            if calls.check(X, Y, params, self._ipack, s1, s2, self._good, *snaps, info):
                return None  # nothing was written; the checked path says what is wrong
            # The very kernel (and compiled specialisation) that fit's epoch loop calls.
            if batch_size == 1 and opt.name == "sgd":  # fit's kernel: the specialised one
                with _QUIET_IF_NO_JIT():  # plain-Python kernels: overflow is handled, not warned
                    sgd_example_epoch_dispatch(
                        self.spec, X, Y, self._order[:n], params, self.plan, ws, lr, l2, info
                    )
                step0 = None
            else:
                p, m = self.plan, min(batch_size, n)
                ws.ensure(m)
                Xb, Yb = self._gather_buffers(m)
                step0 = int(opt.step[0])
                calls.minibatch(
                    X, Y, self._order[:n], m, params, p.widths, p.acts, p.out_kind, p.w_off,
                    p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, self._grad,
                    p.weight_mask, l2, self._blas_min_rows, opt.code, lr, opt.momentum,
                    opt.beta1, opt.beta2, opt.eps, s1, s2, opt.step, info,
                )  # fmt: skip
            if calls.settle(params, s1, s2, self._good, *snaps, info):
                if step0 is not None:
                    opt.step[0] = step0  # restored; the checked path reruns it and reports
                return None
        finally:
            guard.exit_write()
        return float(info[0]) / n  # = info[0] / info[1], as fit's History.loss

    def _fast_targets(self, Y: object, n: int) -> np.ndarray | None:
        """Y as a dense (n, nr) array without copying when it already is one (or (n,) for one
        output); integer labels become one-hot rows.  None sends the caller to ``as_targets``."""
        if type(Y) is not np.ndarray:
            return None
        nr = self.spec.n_outputs
        if Y.ndim == 2:
            if Y.shape[0] != n or Y.shape[1] != nr or Y.dtype is not self._dtype:
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
                return self._eye()[label : label + 1] if 0 <= label < nr else None
            if Y.min() < 0 or Y.max() >= nr:
                return None
            return self._eye()[Y]
        if nr == 1 and Y.dtype is self._dtype:
            flags = Y.flags
            return Y.reshape(n, 1) if flags.c_contiguous and flags.behaved else None
        return None

    def _gather_buffers(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The (m, n0) and (m, nr) gather buffers of the minibatch kernel (kept for the last m)."""
        buffers = self._gather
        if buffers is None or buffers[0].shape[0] != m:
            spec = self.spec
            buffers = (
                np.zeros((m, spec.n_inputs), dtype=self._dtype),
                np.zeros((m, spec.n_outputs), dtype=self._dtype),
            )
            self._gather = buffers
        return buffers

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, nr): softmax rows or per-output sigmoids.

        Parameters
        ----------
        X : array_like
            (n, n0) rows.

        Returns
        -------
        numpy.ndarray
            (n, nr) probabilities.
        """
        if self.spec.loss in ("squared", "poisson"):
            raise ValueError(
                f"predict_proba needs a classification loss; this network is {self.spec.loss!r}"
            )
        return self.forward(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Regression outputs (n, nr); class labels (n,) for softmax; 0/1 labels for logistic.

        For ``logistic`` the result has shape (n,) when there is one output, else (n, nr).

        Parameters
        ----------
        X : array_like
            (n, n0) rows.

        Returns
        -------
        numpy.ndarray
            Values, labels or 0/1 labels as described above.
        """
        out = self.forward(X)
        if self.spec.loss == "softmax_cross_entropy":
            return out.argmax(axis=1)
        if self.spec.loss == "logistic":
            labels = (out >= 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return out

    def score(self, X: np.ndarray, Y: np.ndarray) -> float:
        """R² (mean over outputs) for ``squared``; accuracy otherwise (see fastbp.train.score).

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, in the forms described in the user guide's "Data" page.

        Returns
        -------
        float
            R² or accuracy.
        """
        X = as_features(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        with self._shared():
            self._check_params()
            # The output first: refuses outputs too large to hold before Y is expanded.
            Y_pred = self._forward_unchecked(X, self._state().ws)
            Y_true = Y.to_array() if isinstance(Y, LazyRows) else Y
            return _score(self.spec.loss, Y_pred, Y_true)

    # ------------------------------------------------------------------ files
    def save(
        self,
        path: str | os.PathLike,
        arrays: dict[str, np.ndarray] | None = None,
        metadata: dict | None = None,
        include_optimizer_state: bool = True,
    ) -> Path:
        """Write the network to ``path`` atomically (see :mod:`fastbp.io` for the format).

        The file holds the spec, the parameters, the last fit's optimizer settings and history,
        and, unless ``include_optimizer_state`` is False, the optimizer state, so that
        ``Network.load(path).fit(..., warm_start=True)`` resumes training.  ``arrays`` are extra
        named numeric arrays stored alongside (e.g. a feature standardiser) and ``metadata`` a
        JSON-ready dict; both come back from :meth:`load` as ``net.extras`` and ``net.metadata``.
        No pickle is written or read.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write.
        arrays : dict of str to numpy.ndarray, optional
            Extra numeric arrays to store.
        metadata : dict, optional
            JSON-ready metadata.
        include_optimizer_state : bool
            Store the optimizer state too.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        if not isinstance(include_optimizer_state, (bool, np.bool_)):
            raise TypeError(
                f"include_optimizer_state must be True or False, got {include_optimizer_state!r}"
            )
        opt = self.optimizer
        with self._shared():  # a save during another thread's fit would catch it mid-epoch
            return save_model(
                path, self.spec, self._params, init=self.init, seed=self.seed,
                optimizer=None if opt is None else opt.settings(),
                history=None if self.history is None else self.history.to_dict(),
                arrays=arrays,
                optimizer_state=opt.state_arrays() if opt is not None and include_optimizer_state
                else None,
                metadata=metadata,
            )  # fmt: skip

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Read a file written by :meth:`save` (``allow_pickle=False``; every key, dtype and shape
        is checked against the spec; anything else raises :class:`fastbp.io.ModelFileError`).

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        Network
            The network, with ``history``, ``optimizer``, ``extras`` and ``metadata`` restored.
        """
        loaded = load_model(path)
        net = cls(loaded.spec, init="zeros")
        net._params[...] = loaded.params
        net.init, net.seed = loaded.init, loaded.seed
        if loaded.history is not None:
            try:
                net.history = History.from_dict(loaded.history)
            except (TypeError, ValueError) as exc:
                raise ModelFileError(f"{os.fspath(path)}: bad history record: {exc}") from None
        if loaded.optimizer is not None:
            record, allowed = loaded.optimizer, {"name", "momentum", "beta1", "beta2", "eps"}
            if set(record) - allowed or not isinstance(record.get("name"), str):
                raise ModelFileError(
                    f"{os.fspath(path)}: bad optimizer record: it must hold a 'name' and only the "
                    f"settings {sorted(allowed)}, got {record!r:.120}"
                )
            try:
                opt = Optimizer(**record)
                if loaded.optimizer_state is not None:
                    opt.load_state(loaded.optimizer_state, net.n_params, net.spec.np_dtype)
                else:
                    opt.reset(net.n_params, net.spec.np_dtype)
            except (TypeError, ValueError) as exc:
                raise ModelFileError(f"{os.fspath(path)}: bad optimizer record: {exc}") from None
            net.optimizer = opt
        net.extras = dict(loaded.arrays)
        net.metadata = loaded.metadata
        return net

    # ------------------------------------------------------------------ interop (fastbp.interop)
    def to_onnx(self, path: str | os.PathLike, *, opset: int | None = None) -> Path:
        """Write an ONNX model computing :meth:`forward` (input ``X``, output ``Y``, dynamic batch).

        Needs ``fastbp[onnx]``; see :func:`fastbp.interop.to_onnx` for the graph and the options.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the ``.onnx`` file.
        opset : int, optional
            The ONNX opset (default 17; 13 and up).

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from fastbp.interop.onnx_export import to_onnx

        return to_onnx(self, path, opset=opset)

    def to_torch(self, *, logits: bool = False):
        """A ``torch.nn.Sequential`` computing :meth:`forward`, in the network's dtype.

        Needs ``fastbp[torch]``; see :func:`fastbp.interop.to_torch`.

        Parameters
        ----------
        logits : bool
            Leave the output activation out.

        Returns
        -------
        torch.nn.Sequential
            Linear layers and activations (the output activation too, unless ``logits``).
        """
        from fastbp.interop.torch_convert import to_torch

        return to_torch(self, logits=logits)

    @classmethod
    def from_torch(cls, module, *, loss: str = "squared") -> Network:
        """The network of a ``torch.nn.Sequential`` of ``Linear`` layers and activations.

        Needs ``fastbp[torch]``; see :func:`fastbp.interop.from_torch` for what is accepted.

        Parameters
        ----------
        module : torch.nn.Sequential
            ``Linear`` layers and activations.
        loss : str
            The loss of the network (sets the output activation expected after the last ``Linear``).

        Returns
        -------
        Network
            With the module's weights, in its dtype.
        """
        from fastbp.interop.torch_convert import from_torch

        return from_torch(module, loss=loss)

    @classmethod
    def from_sklearn(cls, estimator) -> Network:
        """The network of a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``.

        Needs ``fastbp[sklearn]``; see :func:`fastbp.interop.from_sklearn`.

        Parameters
        ----------
        estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
            A fitted estimator (any solver), or a fastbp.sklearn one.

        Returns
        -------
        Network
            ``forward`` gives the estimator's ``predict`` / ``predict_proba`` outputs.
        """
        from fastbp.interop.sklearn_convert import from_sklearn

        return from_sklearn(estimator)

    def kernel_source(self) -> str:
        """The Python source of the training kernel specialised to this network's spec.

        ``fit`` with ``batch_size=1`` and plain SGD runs this code (compiled by Numba and cached
        on disk, see :mod:`fastbp.specialise`) unless ``FASTBP_SPECIALISE=0``.  The depth,
        activations, loss and dtype are written into it; the widths are read at run time, so
        every network that differs only in its widths shares it.

        Returns
        -------
        str
            The generated module's source, e.g. for ``print(net.kernel_source())``.

        Raises
        ------
        ValueError
            For a loss without a specialised kernel (``poisson``: it trains with the generic
            kernel).
        """
        from fastbp.specialise import generate_source

        return generate_source(self.spec)

    def __repr__(self) -> str:
        return (
            f"Network({self.spec!r}, n_params={self.n_params}, init={self.init!r}, "
            f"seed={self.seed!r})"
        )
