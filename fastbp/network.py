"""Network: the public face of a lowered spec (:class:`fastbp.lowered.LoweredNetwork`).

It checks every input at the boundary (:mod:`fastbp.validate`), holds the guard, and composes
the layers below: the unchecked passes of :mod:`fastbp.lowered`, training (:mod:`fastbp.train`),
curvature products (:mod:`fastbp.hessian`), the one-row fast paths (:mod:`fastbp.online`) and
files (:mod:`fastbp.io`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fastbp import hessian, online, train
from fastbp.conversions import Conversions
from fastbp.history import History
from fastbp.init import INITIALISERS
from fastbp.io import ModelFileError, load_model, save_model
from fastbp.lowered import (
    BLAS_MIN_ROWS,
    CHUNK_ROWS,
    FIT_PARAM_SIZED_ARRAYS,
    PARAM_SIZED_ARRAYS,
    LoweredNetwork,
    Trace,
)
from fastbp.lowering import Plan
from fastbp.online import SMALL_MAX_ROWS
from fastbp.optim import Optimizer, Schedule
from fastbp.predictions import Predictions
from fastbp.preprocessing import Preprocessing, merged_arrays
from fastbp.spec import NetworkSpec
from fastbp.validate import as_features, as_params, as_sample_weight, as_targets, check_seed

__all__ = [
    "BLAS_MIN_ROWS",
    "CHUNK_ROWS",
    "FIT_PARAM_SIZED_ARRAYS",
    "PARAM_SIZED_ARRAYS",
    "Network",
    "Trace",
]


class Network(Predictions, Conversions):
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

    Units: :meth:`predict`, :meth:`predict_proba`, :meth:`score`, :meth:`to_onnx` and
    :meth:`to_torch` take raw rows and give outputs in the user's units, applying
    :attr:`preprocessing` when it is set (a model saved by ``fastbp train`` or ``fastbp sweep``);
    :meth:`forward`, :meth:`loss`, :meth:`gradient`, :meth:`fit` and :meth:`partial_fit` work in
    the network's own (standardised) units.  Without preprocessing the two are the same.
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
        #: The lowered network: plan, buffers, workspaces, guard, optimizer and history.
        self.lowered = LoweredNetwork(spec)
        self.spec = spec
        self.plan: Plan = self.lowered.plan
        self.init: str | None = init
        self.seed: int | np.random.Generator | None = seed
        # The fast paths' references, held directly (one attribute lookup per call).
        self._params = self.lowered.params
        self._guard = self.lowered.guard
        self._dtype = self.lowered.dtype
        self._fast = online.FastPaths(self.lowered)
        self._out_shape = self._fast.out_shape
        self._n0, self._n_out = spec.n_inputs, spec.n_outputs
        self._ipack = self._fast.ipack
        self._buffers = self.lowered.buffers  # this thread's workspaces (a bound method)
        #: Extra arrays and metadata stored with the network in its file (see :meth:`save`).
        self.extras: dict[str, np.ndarray] = {}
        self.metadata: dict | None = None
        #: Feature (and target) standardisation applied by predict, predict_proba, score and the
        #: exports, or None (see fastbp.preprocessing); saved and loaded with the network.
        self.preprocessing: Preprocessing | None = None
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
        with self.lowered.exclusive("a params assignment"):
            self._params[...] = value

    @property
    def n_params(self) -> int:
        """The number of parameters N (the length of :attr:`params`)."""
        return self.plan.n_params

    @property
    def optimizer(self) -> Optimizer | None:
        """The optimizer (settings and state) of the last :meth:`fit` or :meth:`partial_fit`."""
        return self.lowered.optimizer

    @optimizer.setter
    def optimizer(self, value: Optimizer | None) -> None:
        if value is not None and not isinstance(value, Optimizer):
            raise TypeError(f"optimizer must be a fastbp.optim.Optimizer or None, got {value!r}")
        self.lowered.optimizer = value

    @property
    def history(self) -> History | None:
        """The :class:`~fastbp.history.History` of the last :meth:`fit`, or None."""
        return self.lowered.history

    @history.setter
    def history(self, value: History | None) -> None:
        if value is not None and not isinstance(value, History):
            raise TypeError(f"history must be a fastbp.History or None, got {value!r}")
        self.lowered.history = value

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
        """An independent network with the same spec and parameters.

        Returns
        -------
        Network
            A new network with a copy of :attr:`preprocessing` (optimizer and history empty).
        """
        other = Network(self.spec, init="zeros")
        other.init, other.seed = self.init, self.seed
        other.preprocessing = None if self.preprocessing is None else self.preprocessing.copy()
        with self.lowered.shared():
            other._params[...] = self._params
        return other

    # ------------------------------------------------------------------ passes
    def forward(self, X: np.ndarray) -> np.ndarray:
        """Predictions for the rows of X, shape (n, nr), in the network's own units.

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
        if type(X) is np.ndarray and X.ndim == 2:
            # Up to SMALL_MAX_ROWS rows: one packed kernel that checks X itself; its direct
            # entry refuses (LAYOUT) any dtype or layout it was not compiled for.
            m, n0 = X.shape
            if n0 == self._n0 and 0 < m <= SMALL_MAX_ROWS:
                readers = self._guard.readers
                readers.append(None)  # the guard's enter_read, inline
                if self._guard.writer is not None:
                    readers.pop()
                    self._guard.enter_read()  # raises the documented RuntimeError
                try:
                    ws = self._buffers().ws
                    out = np.empty((m, self._n_out), dtype=self._dtype)
                    if m == 1:
                        status = self._fast.forward.call(
                            X, self._params, self._ipack, ws.Z, ws.A, out
                        )
                    else:
                        if ws.capacity < m:
                            ws.ensure(m)
                        status = self._fast.forward_rows[m >= self.lowered.blas_min_rows].call(
                            X, self._params, self._ipack, ws.Z, ws.A, out
                        )
                finally:
                    readers.pop()
                if self._guard.pending:  # a refused writer waits for a gap (Guard)
                    self._guard.yield_to_writer()
                if status == 0:
                    return out
            # Anything unusual (NaN/inf input or parameters, overflow) takes the checked path.
        X = as_features(X, self.spec)
        with self.lowered.shared():
            self.lowered.check_params()
            return self.lowered.forward(X, self.lowered.buffers().ws)

    def loss(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Mean over the n examples of the per-example loss J_i (thread-safe, as :meth:`forward`).

        In the network's own units, as :meth:`forward` (no :attr:`preprocessing` is applied).

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
        with self.lowered.shared():
            self.lowered.check_params()
            return self.lowered.loss(X, Y, self.lowered.buffers().ws, sw)

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
            with self.lowered.shared():
                self.lowered.check_params()
                state = self.lowered.buffers()
                J = self.lowered.loss_and_gradient(X, Y, state, sw=sw)
                return J, state.grad.copy()
        if type(X) is np.ndarray and X.ndim == 2:
            # Up to SMALL_MAX_ROWS rows: one packed kernel that checks X and Y itself.
            m, n0 = X.shape
            if n0 == self._n0 and 0 < m <= SMALL_MAX_ROWS:
                if type(Y) is np.ndarray and Y.ndim == 2 and Y.shape[0] == m:
                    Yr = Y if Y.shape[1] == self._n_out else None  # dense rows: kinds checked
                else:
                    Yr = self._fast.targets(Y, m)
                if Yr is not None:
                    grad = np.empty(self.plan.n_params, dtype=self._dtype)
                    readers = self._guard.readers
                    readers.append(None)  # the guard's enter_read, inline
                    if self._guard.writer is not None:
                        readers.pop()
                        self._guard.enter_read()  # raises the documented RuntimeError
                    try:
                        ws = self._buffers().ws
                        if m == 1:
                            status, J = self._fast.loss_grad.call(
                                X, Yr, self._params, self._ipack, ws.Z, ws.A, ws.dZ, ws.dA, grad
                            )
                        else:
                            if ws.capacity < m:
                                ws.ensure(m)
                            variant = self._fast.loss_grad_rows[m >= self.lowered.blas_min_rows]
                            status, J = variant.call(
                                X, Yr, self._params, self._ipack, ws.Z, ws.A, ws.dZ, ws.dA, grad,
                                self.lowered.no_weights,
                            )  # fmt: skip
                    finally:
                        readers.pop()
                    if self._guard.pending:  # a refused writer waits for a gap (Guard)
                        self._guard.yield_to_writer()
                    if status == 0:
                        return J, grad
        X = as_features(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        with self.lowered.shared():
            self.lowered.check_params()
            state = self.lowered.buffers()
            J = self.lowered.loss_and_gradient(X, Y, state)
            return J, state.grad.copy()

    def gradient(
        self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """The gradient dJ/dθ of the mean loss alone (see :meth:`loss_and_gradient`).

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, in the forms described in the user guide's "Data" page.
        sample_weight : array_like or None
            Non-negative row weights, as for :meth:`loss_and_gradient`.

        Returns
        -------
        numpy.ndarray
            The (n_params,) gradient, a new array in the layout of :attr:`params`.
        """
        return self.loss_and_gradient(X, Y, sample_weight)[1]

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
        with self.lowered.exclusive("trace"):
            self.lowered.check_params()
            try:
                self.lowered.ws.ensure(X.shape[0])
            except ValueError as exc:
                raise ValueError(
                    f"X has {X.shape[0]} rows and trace() keeps z, a, dJ/dz and dJ/da for every "
                    f"row at once: {exc}"
                ) from None
            return self.lowered.trace(X, Y)

    # ------------------------------------------------------------------ curvature
    def hvp(self, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
        """H v for the exact Hessian H of the mean loss, by Pearlmutter's R-operator in O(N).

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
        return hessian.hvp(self.lowered, X, Y, v)

    def gnvp(self, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
        """G v for the Gauss-Newton matrix G = Jᵀ H_loss J (:func:`fastbp.hessian.gnvp`).

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
        return hessian.gnvp(self.lowered, X, Y, v)

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
        max_grad_norm: float | None = None,
        noise_multiplier: float = 0.0,
        weight_decay: float | None = None,
        clip_norm: float | None = None,
        warmup: int = 0,
    ) -> History:
        """Train in place with whole epochs inside compiled calls.

        X and Y are in the network's own units: for a network with :attr:`preprocessing`, pass
        ``pre.to_network_inputs(X, net.spec)`` and ``pre.to_network_targets(y)`` (with ``pre =
        net.preprocessing``) to train further on raw data.

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
            ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"``, or an
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
            Hold out this fraction (a seeded random subset) for ``val_loss`` and ``val_score``.
        early_stopping : bool
            Stop when the validation loss has not improved by more than ``min_delta`` for
            ``patience`` epochs, and restore the parameters of the best epoch.
        patience : int
            Epochs without improvement before early stopping.
        min_delta : float
            The improvement of the validation loss that counts.
        seed : int
            Seeds shuffling, the validation split and the spec's dropout masks; with the same
            seed, data and parameters, fit gives bit-identical results (on one thread).
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
            Non-negative weights s_i, one per row (None: all 1), normalised to mean 1 over the
            training rows, s̃ = s / mean(s); each step's gradient is (1/m) Σ_{i∈B} s̃_i ∇J_i
            over the batch B of m rows (+ the L2 term), an unbiased estimate of the gradient of
            Σ s_i J_i / Σ s_i.  ``History.loss`` and ``val_loss`` are weighted means.  Each
            batch is then one compiled gradient call and one compiled step, from Python.
        max_grad_norm, noise_multiplier : float or None, float
            DP-SGD as Opacus does it (:mod:`fastbp.privacy`): each batch steps along
            (Σ c_i g_i + σ C ξ) / B (B = batch_size when it divides the rows), with
            c_i = min(1, C / (‖g_i‖ + 10⁻⁶)), ξ ~ N(0, I), C = ``max_grad_norm`` and
            σ = ``noise_multiplier``; any optimizer, not with
            ``sample_weight``.  The noise has its own stream of ``seed`` (``seed=None`` for a
            real guarantee); ``history.epsilon(delta)`` is the ε spent.
        weight_decay, clip_norm, warmup : float or None, float or None, int
            Weight decay (:class:`~fastbp.optim.Optimizer`), global gradient-norm clipping and a
            linear warm-up over steps (:func:`fastbp.train.toolbox`); not with DP-SGD.

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
        return train.fit(
            self.lowered, X, Y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
            momentum=momentum, l2=l2, schedule=schedule, shuffle=shuffle,
            validation_fraction=validation_fraction, early_stopping=early_stopping,
            patience=patience, min_delta=min_delta, seed=seed, progress=progress,
            warm_start=warm_start, diagnostics=diagnostics, sample_weight=sample_weight,
            max_grad_norm=max_grad_norm, noise_multiplier=noise_multiplier,
            weight_decay=weight_decay, clip_norm=clip_norm, warmup=warmup,
        )  # fmt: skip

    def partial_fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        *,
        optimizer: str | Optimizer | None = None,
        lr: float | None = None,
        momentum: float | None = None,
        l2: float = 0.0,
        batch_size: int = 1,
        max_grad_norm: float | None = None,
        noise_multiplier: float = 0.0,
        seed: int | None = None,
        weight_decay: float | None = None,
        clip_norm: float | None = None,
        warmup: int = 0,
    ) -> float:
        """One pass over the given rows, in the given order; returns their mean loss.

        For online learning: with the defaults it continues the network's optimizer
        (:attr:`optimizer`: name, settings and state, e.g. Adam's moments after a :meth:`fit`
        or a :meth:`load`) at the rate it last trained with; an untrained network starts plain
        SGD at lr = 0.01.  An explicit ``optimizer=`` continues the state only when its name
        and settings (μ; β1, β2, ε) are the network's, else starts afresh, as does a
        :meth:`fit` with ``warm_start=False``.  :meth:`save` and :meth:`load` keep the state.

        Calling it row by row gives exactly (bit for bit) the parameters of
        ``fit(X, Y, epochs=1, batch_size=1, shuffle=False)`` with the same settings, and for
        ``batch_size=B`` calls on consecutive blocks of B rows those of ``fit(..., batch_size=B)``;
        each call runs the kernel that fit runs.

        Parameters
        ----------
        X, Y : array_like
            The rows, as for :meth:`fit`.  Rows of the network's dtype in C order take a fast
            path whose checks run inside the compiled call.
        optimizer : None, str or fastbp.optim.Optimizer
            None (the default) continues the network's optimizer, or starts ``"sgd"`` when it
            has none; else ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"`` or an
            Optimizer (for Adam's β1, β2, ε).
        lr : float or None
            Learning rate α > 0; None (the default) is the rate the network last trained with
            (the last epoch of :meth:`fit`, the last partial_fit, or after :meth:`load` the
            saved history's last epoch), else 0.01.
        momentum : float or None
            μ for ``momentum`` and ``nesterov``; None (the default) is the network's current μ
            when its optimizer is one of them, else 0.9.
        l2 : float
            λ of the penalty (λ/2) Σ_k ‖W[k]‖²_F (weights only), as in :meth:`fit`.
        batch_size : int
            1 is per-example SGD; B averages the gradient over runs of B consecutive rows (the
            last run may be shorter; B larger than the number of rows makes one batch of them).
        max_grad_norm, noise_multiplier, seed : float or None, float, int or None
            DP-SGD as in :meth:`fit` (ε of many calls: :func:`fastbp.privacy.epsilon`); ``seed``
            seeds its noise, fresh entropy on every call by default (a repeated seed would
            repeat the noise), and the dropout masks' key (None: 0; :mod:`fastbp.dropout`).
        weight_decay, clip_norm, warmup : float or None, float or None, int
            As in :meth:`fit` (None keeps the λ_wd of the same optimizer; warm-up counts steps).

        Returns
        -------
        float
            The mean of each row's loss just before the step that used it (as ``History.loss``).

        Raises
        ------
        ValueError, TypeError
            Bad rows or settings, refused before anything changes.
        fastbp.FitDivergedError
            A non-finite loss or parameter; the parameters and optimizer state are restored first.
        RuntimeError
            Another thread is using the network.
        """
        # The optimizer state continues on arrays of the right kind: the lean path (one call).
        plain = max_grad_norm is None and weight_decay is None and clip_norm is None
        if plain and noise_multiplier == 0.0 and warmup == 0:
            loss = self._fast.partial_fit(X, Y, optimizer, lr, momentum, l2, batch_size)
            if loss is not None:
                return loss
        # A first call, another optimizer, DP-SGD, other array types or anything unusual.
        return train.partial_fit(
            self.lowered, X, Y, optimizer=optimizer, lr=lr, momentum=momentum, l2=l2,
            batch_size=batch_size, max_grad_norm=max_grad_norm, noise_multiplier=noise_multiplier,
            seed=seed, weight_decay=weight_decay, clip_norm=clip_norm, warmup=warmup,
        )  # fmt: skip

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
        :attr:`preprocessing` is stored as the arrays ``x_mean``, ``x_scale`` (and ``y_mean``,
        ``y_scale``), names reserved for it, and :meth:`load` restores it.  No pickle is used.

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
        with self.lowered.shared():  # a save during another thread's fit would catch it mid-epoch
            return save_model(
                path, self.spec, self._params, init=self.init, seed=self.seed,
                optimizer=None if opt is None else opt.settings(),
                history=None if self.history is None else self.history.to_dict(),
                arrays=merged_arrays(self.preprocessing, arrays),
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
            The network, with ``history``, ``optimizer``, ``extras``, ``metadata`` and
            ``preprocessing`` (from complete ``x_mean``/``x_scale``, ``y_mean``/``y_scale``).
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
            if net.history.lr:  # partial_fit's default rate: the one the network last used
                net.lowered.last_lr = net.history.lr[-1]
        if loaded.optimizer is not None:
            try:
                net.optimizer = Optimizer.from_record(
                    loaded.optimizer, loaded.optimizer_state, net.n_params, net.spec.np_dtype
                )
            except ValueError as exc:
                raise ModelFileError(f"{os.fspath(path)}: bad optimizer record: {exc}") from None
        net.extras = dict(loaded.arrays)
        net.metadata = loaded.metadata
        try:
            net.preprocessing = Preprocessing.from_arrays(net.extras)
            if net.preprocessing is not None:
                net.preprocessing.check(net.spec)
        except ValueError as exc:
            raise ModelFileError(f"{os.fspath(path)}: {exc}") from None
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
