"""Network: a lowered spec with its parameter buffer, workspaces and the public passes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastbp import kernels
from fastbp._blas import HAVE_BLAS
from fastbp.init import INITIALISERS
from fastbp.io import ModelFileError, load_model, save_model
from fastbp.lowering import Plan, Workspace, lower
from fastbp.optim import Optimizer, Schedule
from fastbp.spec import NetworkSpec
from fastbp.train import History
from fastbp.train import fit as _fit
from fastbp.train import score as _score
from fastbp.validate import as_features, as_params, as_targets, check_seed

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


#: A Network holds this many parameter-sized arrays (parameters, gradient, chunk gradient and the
#: weight mask of the plan); ``fit`` adds a snapshot and up to two optimizer state arrays.
PARAM_SIZED_ARRAYS = 4


def _physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX, or not reported
        return None


def _check_memory(spec: NetworkSpec) -> None:
    """Refuse, before allocating, a network whose arrays cannot fit in this machine's memory."""
    need = PARAM_SIZED_ARRAYS * spec.n_params * spec.np_dtype.itemsize
    have = _physical_memory_bytes()
    if have is not None and need > have:
        raise ValueError(
            f"widths {list(spec.widths)} need {need / 2**30:.1f} GiB for the parameters, "
            f"gradients and mask of the network ({spec.n_params:,} parameters × "
            f"{PARAM_SIZED_ARRAYS} arrays), more than this machine's {have / 2**30:.1f} GiB"
        )


class Network:
    """A multilayer perceptron whose parameters live in one flat buffer.

    Parameters
    ----------
    spec:
        The :class:`NetworkSpec` to build.
    init:
        Initialiser name from :data:`fastbp.init.INITIALISERS` (default ``"xavier_normal"``:
        Var(w) = 2 / (n_in + n_out)); biases start at 0.
    seed:
        Seed (or ``np.random.Generator``) for the initialiser; the same seed gives bit-identical
        parameters.

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
        self._lock = threading.Lock()
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
        with self._exclusive():
            self._params[...] = value

    @property
    def n_params(self) -> int:
        return self.plan.n_params

    def layer(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` of layer k = 1..r as views into :attr:`params`; W has shape (n_k, n_{k−1})."""
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
        with self._exclusive():
            other._params[...] = self._params
        return other

    # ------------------------------------------------------------------ passes
    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        # The workspaces are shared by every call on this network: refuse concurrent use.
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(
                "this Network is already running a pass in another thread; use one Network per "
                "thread (net.copy()) or serialise the calls"
            )
        try:
            yield
        finally:
            self._lock.release()

    def _check_params(self) -> None:
        with np.errstate(invalid="ignore"):  # inf * 0 when kernels run as Python (no JIT)
            finite = kernels.all_finite(self._params)
        if not finite:
            raise ValueError(
                "the network's parameters contain NaN or inf; they must be finite (reinitialise "
                "the network or reload it from a file)"
            )

    def _forward_chunk(self, X: np.ndarray) -> None:
        p, ws = self.plan, self._ws
        ws.ensure(X.shape[0])
        if X.shape[0] == 1:  # the per-example fast path: 1-D views, no batch blocks
            kernels.forward_example(
                X[0], self._params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
                ws.Z, ws.A,
            )  # fmt: skip
            return
        kernels.forward(
            X, self._params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
            ws.Z, ws.A, X.shape[0] >= self._blas_min_rows,
        )  # fmt: skip

    def _backward_chunk(self, X: np.ndarray, Y: np.ndarray, grad: np.ndarray, scale: float) -> None:
        p, ws = self.plan, self._ws
        if X.shape[0] == 1:
            kernels.backward_example(
                X[0], Y[0], self._params, p.widths, p.acts, p.w_off, p.b_off, p.u_off,
                ws.Z, ws.A, ws.dZ, ws.dA, grad, scale,
            )  # fmt: skip
            return
        kernels.backward(
            X, Y, self._params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
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
        """
        X = as_features(X, self.spec)
        with self._exclusive():
            self._check_params()
            return self._forward_unchecked(X)

    def _forward_unchecked(self, X: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], self.spec.n_outputs), dtype=self.spec.np_dtype)
        for s in self._chunks(X.shape[0]):
            self._forward_chunk(X[s])
            out[s] = self._output_block(self._ws.A, s.stop - s.start)
        return out

    def loss(self, X: np.ndarray, Y: np.ndarray) -> float:
        """Mean over the n examples of the per-example loss J_i."""
        X = as_features(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        with self._exclusive():
            self._check_params()
            return self._loss_unchecked(X, Y)

    def _loss_unchecked(self, X: np.ndarray, Y: np.ndarray) -> float:
        total = 0.0
        for s in self._chunks(X.shape[0]):
            m = s.stop - s.start
            self._forward_chunk(X[s])
            total += kernels.loss_sum(
                Y[s], self._output_block(self._ws.Z, m), self._output_block(self._ws.A, m),
                self.plan.out_kind,
            )  # fmt: skip
        return total / X.shape[0]

    def loss_and_gradient(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean loss J and its gradient dJ/dθ (flat, same layout as :attr:`params`, a copy)."""
        X = as_features(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        with self._exclusive():
            self._check_params()
            J = self._loss_and_gradient_unchecked(X, Y)
            return J, self._grad.copy()

    def _loss_and_gradient_unchecked(self, X: np.ndarray, Y: np.ndarray) -> float:
        n = X.shape[0]
        total = 0.0
        for idx, s in enumerate(self._chunks(n)):
            m = s.stop - s.start
            self._forward_chunk(X[s])
            total += kernels.loss_sum(
                Y[s], self._output_block(self._ws.Z, m), self._output_block(self._ws.A, m),
                self.plan.out_kind,
            )  # fmt: skip
            if idx == 0:
                self._backward_chunk(X[s], Y[s], self._grad, 1.0 / n)
            else:
                self._backward_chunk(X[s], Y[s], self._grad_chunk, 1.0 / n)
                self._grad += self._grad_chunk
        return total / n

    def trace(self, X: np.ndarray, Y: np.ndarray) -> Trace:
        """Forward and backward pass over all of X at once; per-layer z, a, dJ/dz, dJ/da copies."""
        X = as_features(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        with self._exclusive():
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
        """
        from fastbp.hessian import hvp

        return hvp(self, X, Y, v)

    def gnvp(self, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
        """G v for the generalised Gauss-Newton matrix G = Jᵀ H_loss J (positive semidefinite).

        See :func:`fastbp.hessian.gnvp`.
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
    ) -> History:
        """Train in place with whole epochs inside compiled calls; returns the :class:`History`.

        Parameters
        ----------
        epochs: number of passes over the training data (0 is allowed and does nothing).
        batch_size: 1 is per-example SGD; larger values average the gradient over each batch of
            consecutive examples of the epoch's order (the last batch may be shorter).
        optimizer: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, or a
            :class:`fastbp.optim.Optimizer` (for Adam's β1, β2, ε).
        lr: the learning rate α (> 0); ``schedule`` changes it per epoch: ``"constant"``,
            ``"invscaling"``, ``"step"``, ``"cosine"`` or a :class:`fastbp.optim.Schedule`.
        momentum: μ for ``momentum`` and ``nesterov``.
        l2: λ of the penalty (λ/2) Σ_k ‖W[k]‖²_F on weights only (biases are not penalised); its
            gradient λ W[k] is added to every step's gradient.
        shuffle: draw a new order each epoch from the seeded generator; ``False`` keeps the data
            order, so ``fit(X, Y, batch_size=1, optimizer="sgd", shuffle=False)`` is exactly the
            lecture's θ ← θ − α ∇J_i(θ) for i = 1..n, in order.
        validation_fraction: hold out this fraction (a seeded random subset) to measure
            ``val_loss`` and ``val_score`` after every epoch.
        early_stopping: stop when the validation loss has not improved by more than ``min_delta``
            for ``patience`` epochs, and restore the parameters of the best epoch.
        seed: seeds shuffling and the validation split; with the same seed, data and parameters,
            fit gives bit-identical results (on one thread).
        progress: show a progress bar (tqdm if installed, else one line per epoch on stderr).
        warm_start: continue with the optimizer state of the previous fit (or of a loaded file)
            instead of starting from zero velocity/moments.
        diagnostics: after every epoch, record per-layer gradient norms and activation
            statistics (:mod:`fastbp.diagnostics`) on a fixed seeded subsample of at most 512
            training rows in ``history.diagnostics``, and warn once
            (:class:`fastbp.diagnostics.GradientWarning`) if ‖dJ/dW[1]‖ / ‖dJ/dW[r]‖ leaves
            :data:`fastbp.diagnostics.GRADIENT_RATIO_BAND`.  Training itself is unchanged.

        Raises :class:`fastbp.FitDivergedError` if the loss or a parameter becomes NaN/inf; the
        parameters of the end of the last good epoch are restored first.  Ctrl-C restores the
        same snapshot and returns the history with ``interrupted=True``.
        """
        return _fit(
            self, X, Y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
            momentum=momentum, l2=l2, schedule=schedule, shuffle=shuffle,
            validation_fraction=validation_fraction, early_stopping=early_stopping,
            patience=patience, min_delta=min_delta, seed=seed, progress=progress,
            warm_start=warm_start, diagnostics=diagnostics,
        )  # fmt: skip

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, nr): softmax rows or per-output sigmoids."""
        if self.spec.loss == "squared":
            raise ValueError("predict_proba needs a classification loss; this network is 'squared'")
        return self.forward(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Regression outputs (n, nr); class labels (n,) for softmax; 0/1 labels for logistic.

        For ``logistic`` the result has shape (n,) when there is one output, else (n, nr).
        """
        out = self.forward(X)
        if self.spec.loss == "softmax_cross_entropy":
            return out.argmax(axis=1)
        if self.spec.loss == "logistic":
            labels = (out >= 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return out

    def score(self, X: np.ndarray, Y: np.ndarray) -> float:
        """R² (mean over outputs) for ``squared``; accuracy otherwise (see fastbp.train.score)."""
        X = as_features(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        with self._exclusive():
            self._check_params()
            return _score(self.spec.loss, self._forward_unchecked(X), Y)

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
        """
        if not isinstance(include_optimizer_state, (bool, np.bool_)):
            raise TypeError(
                f"include_optimizer_state must be True or False, got {include_optimizer_state!r}"
            )
        opt = self.optimizer
        with self._exclusive():  # a save during another thread's fit would catch it mid-epoch
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
        is checked against the spec; anything else raises :class:`fastbp.io.ModelFileError`)."""
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
        """
        from fastbp.specialise import generate_source

        return generate_source(self.spec)

    def __repr__(self) -> str:
        return (
            f"Network({self.spec!r}, n_params={self.n_params}, init={self.init!r}, "
            f"seed={self.seed!r})"
        )
