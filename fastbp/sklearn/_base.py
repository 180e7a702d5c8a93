"""The estimators' shared base: parameters, the scikit-learn training procedure, pickling.

:class:`_BaseMLP` holds what :class:`~fastbp.sklearn.MLPClassifier` and
:class:`~fastbp.sklearn.MLPRegressor` share: the constructor parameters and their checks, the
initialisation (scikit-learn's, in its draw order), the stochastic solvers' loop (shuffling,
learning-rate schedules, the stopping rule, early stopping, the loss curve; each epoch runs in
:class:`fastbp.sklearn._epochs.EpochRunner`), the L-BFGS fit (:mod:`fastbp.sklearn._lbfgs`),
predictions on dense or sparse rows, the conversions and pickling.  The subclasses add the
target handling (labels or values), the metric and the public ``partial_fit``/``predict*``.
The mapping of each parameter onto fastbp is in the :mod:`fastbp.sklearn` docstring.
"""

from __future__ import annotations

import numbers
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

import fastbp.sklearn._params as _params
from fastbp.compiling import COMPILING_MESSAGE, CompileWatch
from fastbp.history import FitDivergedError, History
from fastbp.interrupt import ctrl_c_deferred
from fastbp.losses import RECORDS as LOSS_RECORDS
from fastbp.network import Network
from fastbp.optim import ADAM_FAMILY, Optimizer
from fastbp.privacy import check_privacy, noise_generator
from fastbp.progress import Progress
from fastbp.sklearn import _loop
from fastbp.sklearn._epochs import EpochRunner, csr_rows
from fastbp.sklearn._lbfgs import minimize_lbfgs
from fastbp.sklearn._lean import LeanState, dense_rows, same_settings, settings_key
from fastbp.sklearn._params import (
    DTYPE_OPTIONS,
    FLOAT_DTYPES,
    LEARNING_RATES,
    SOLVERS,
    STOCHASTIC_SOLVERS,
    check_hidden_layer_sizes,
    check_integer,
    check_number,
    check_toolbox_params,
    fastbp_activation,
    make_optimizer,
)
from fastbp.sklearn._state import network_from_state, network_state
from fastbp.spec import NetworkSpec

#: The compiled epoch loop's blocks: at most this many epochs, about this many seconds of work.
_LOOP_MAX_BLOCK = 64
_LOOP_BLOCK_SECONDS = 0.1

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; only read by type checkers


class _BaseMLP(BaseEstimator):
    """Shared parameters, training loop and pickling of the two estimators."""

    # Fitted attributes of the stochastic solvers whose type depends on early_stopping.
    loss_curve_: list[float]
    validation_scores_: list[float] | None
    best_validation_score_: float | None
    best_loss_: float | None

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        loss=None,
        dtype="auto",
        progress=False,
        max_grad_norm=None,
        noise_multiplier=0.0,
        weight_decay=None,
        clip_norm=None,
        dropout=0.0,
        warmup=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter, self.shuffle = max_iter, shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start, self.momentum = warm_start, momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.loss = loss
        self.dtype = dtype
        self.progress = progress
        self.max_grad_norm, self.noise_multiplier = max_grad_norm, noise_multiplier
        self.weight_decay, self.clip_norm = weight_decay, clip_norm
        self.dropout, self.warmup = dropout, warmup

    # -------------------------------------------------------------- parameters
    def _check_settings(self) -> None:
        """Validate the constructor parameters (at fit time, as scikit-learn requires)."""
        self._hidden = check_hidden_layer_sizes(self.hidden_layer_sizes)
        self._act = fastbp_activation(self.activation)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver={self.solver!r} is not supported; allowed: {SOLVERS}")
        if self.learning_rate not in LEARNING_RATES:
            raise ValueError(
                f"learning_rate={self.learning_rate!r} is not supported; allowed: {LEARNING_RATES}"
            )
        check_number(self.alpha, "alpha", 0, np.inf)
        check_number(self.learning_rate_init, "learning_rate_init", 0, np.inf, lo_open=True)
        check_number(self.power_t, "power_t", 0, np.inf)
        check_integer(self.max_iter, "max_iter", 1)
        check_number(self.tol, "tol", 0, np.inf)
        check_number(self.momentum, "momentum", 0, 1, hi_open=True)
        check_number(self.validation_fraction, "validation_fraction", 0, 1, True, True)
        check_number(self.beta_1, "beta_1", 0, 1, hi_open=True)
        check_number(self.beta_2, "beta_2", 0, 1, hi_open=True)
        check_number(self.epsilon, "epsilon", 0, np.inf, lo_open=True)
        inf = isinstance(self.n_iter_no_change, numbers.Real) and self.n_iter_no_change == np.inf
        if not inf:
            check_integer(self.n_iter_no_change, "n_iter_no_change", 1)
        check_integer(self.max_fun, "max_fun", 1)
        self._dp = check_privacy(self.max_grad_norm, self.noise_multiplier)
        self._tools = check_toolbox_params(self, self._dp is not None)
        if not isinstance(self.dtype, str) or self.dtype not in DTYPE_OPTIONS:
            raise ValueError(f"dtype={self.dtype!r} is not supported; allowed: {DTYPE_OPTIONS}")
        if not isinstance(self.verbose, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"verbose must be a bool or an integer, got {self.verbose!r}")
        self._check_loss()
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_integer(self.batch_size, "batch_size", 1)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "progress"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def _make_optimizer(self) -> Optimizer:
        """The fastbp optimizer for ``solver`` (:func:`fastbp.sklearn._params.make_optimizer`)."""
        return make_optimizer(self)

    # -------------------------------------------------------------- fitted attributes
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices (n_in, n_out) per layer: transposed views of the network's W[k]."""
        net = self.network_
        return [net.layer(k)[0].T for k in range(1, net.spec.n_layers + 1)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors per layer: views of the network's b[k]."""
        net = self.network_
        return [net.layer(k)[1] for k in range(1, net.spec.n_layers + 1)]

    # -------------------------------------------------------------- training
    def _network_dtype(self, X) -> str:
        """``dtype``, or for ``"auto"`` the dtype of X (float32 stays float32, as scikit-learn)."""
        if self.dtype != "auto":
            return self.dtype
        return "float32" if X.dtype == np.float32 else "float64"

    def _initialize(self, n_features: int, n_outputs: int, loss: str, rs, dtype: str) -> None:
        widths = [n_features, *self._hidden, n_outputs]
        spec = NetworkSpec(widths, [self._act] * len(self._hidden), loss, dtype,
                           dropout=self.dropout, **self._loss_params(loss))  # fmt: skip
        net = Network(spec, init="zeros")
        net.seed = (
            int(self.random_state) if isinstance(self.random_state, numbers.Integral) else None
        )
        factor = 2.0 if self._act == "sigmoid" else 6.0
        for k in range(1, spec.n_layers + 1):  # scikit-learn's _init_coef, in its draw order
            bound = np.sqrt(factor / (widths[k - 1] + widths[k]))
            W, b = net.layer(k)
            W[...] = rs.uniform(-bound, bound, (widths[k - 1], widths[k])).T
            b[...] = rs.uniform(-bound, bound, widths[k])
        self.network_ = net
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(widths)
        out = spec.output_activation
        self.out_activation_ = "logistic" if out == "sigmoid" else out  # scikit-learn's name
        self.n_iter_ = 0
        self.t_ = 0
        if self.solver in STOCHASTIC_SOLVERS:
            self._stochastic_attributes()

    def _stochastic_attributes(self) -> None:
        """The fitted attributes of the stochastic solvers (scikit-learn sets them only there)."""
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._best_params = self.network_.params.copy()
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _fit(self, X, y, incremental: bool, sample_weight=None):
        self.__dict__.pop("_lean", None)  # the full path: nothing is reused until it succeeds
        self._check_settings()
        settings = settings_key(self)
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        rs = check_random_state(self.random_state)
        loss = self._loss_for(Y)
        if first_pass:
            dtype = self._network_dtype(X)
            self._initialize(X.shape[1], Y.shape[1], loss, rs, dtype)
        else:
            spec = self.network_.spec
            dtype = spec.dtype if self.dtype == "auto" else self.dtype
            wanted = NetworkSpec(
                [X.shape[1], *self._hidden, Y.shape[1]], [self._act] * len(self._hidden), loss,
                dtype, dropout=self.dropout, **self._loss_params(loss),
            )  # fmt: skip
            if wanted != spec:
                raise ValueError(
                    f"warm_start/partial_fit needs the architecture of the fitted network "
                    f"{spec!r}; the current parameters and data give {wanted!r}"
                )
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if X.dtype != self.network_.spec.np_dtype:
            X = X.astype(self.network_.spec.np_dtype)
        self._loss_offset = self._poisson_offset(Y, sample_weight)
        if self._dp is not None and (self.solver == "lbfgs" or sp.issparse(X)
                                     or sample_weight is not None):  # fmt: skip
            raise ValueError("max_grad_norm needs a stochastic solver, dense X, no weights")
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight)
            return self
        if not hasattr(self, "loss_curve_"):  # warm start from an L-BFGS fit
            self._stochastic_attributes()
        if first_pass or not incremental or not hasattr(self, "_lr"):
            self._lr = float(self.learning_rate_init)
            self._resume_optimizer = False
        else:
            self._resume_optimizer = True
        runner = self._fit_epochs(X, Y, rs, incremental, sample_weight)
        if incremental and not self.early_stopping and self._dp is None:
            self._lean = LeanState(settings, runner)
        return self

    def _lean_partial_fit(self, X, y) -> bool:
        """``partial_fit``'s steady state (:mod:`fastbp.sklearn._lean`); False: take the full path.

        Runs only when the last full call left a :class:`~fastbp.sklearn._lean.LeanState`, the
        constructor parameters still have the values it validated, and X and y are plain arrays
        that pass the lean checks; the epoch is then the full path's (``_fit_epochs``).  The
        subclasses turn y into dense targets (``_lean_targets``), as they decode outputs.
        """
        state = self.__dict__.get("_lean")
        net = self.__dict__.get("network_")
        if state is None or net is None or "feature_names_in_" in self.__dict__:
            return False
        if not same_settings(state.settings, settings_key(self)):
            return False
        dtype = net.spec.np_dtype
        rows = dense_rows(X, self.n_features_in_, dtype, net.params)
        if rows is None:
            return False
        Y = self._lean_targets(y, rows.shape[0], state, dtype)
        if Y is None:
            return False
        self._loss_offset = self._poisson_offset(Y, None)
        rs = state.random_state(self.random_state)
        state.runner = self._fit_epochs(rows, Y, rs, True, None, state.runner, checked=True)
        return True

    def _poisson_offset(self, Y, sample_weight) -> float:
        """The z-free part of scikit-learn's Poisson loss, (weighted) mean of Σ_j y log y − y.

        fastbp's per-example Poisson loss is Σ_j exp(z_j) − y_j z_j; scikit-learn reports the
        half deviance, which adds this constant, to ``loss_`` and the L-BFGS objective (it
        changes L-BFGS-B's relative-decrease stopping test, not the gradient); 0 otherwise."""
        if LOSS_RECORDS[self._loss_for(Y)].sklearn != "poisson":  # scikit-learn's deviance
            return 0.0
        Yd = np.asarray(Y, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_row = np.where(Yd > 0, Yd * np.log(np.where(Yd > 0, Yd, 1.0)), 0.0) - Yd
        return float(np.average(per_row.sum(axis=1), weights=sample_weight))

    def _fit_lbfgs(self, X, Y, sample_weight) -> None:
        """scipy's L-BFGS-B on the flat parameter buffer (:mod:`fastbp.sklearn._lbfgs`)."""
        net = self.network_
        self.n_iter_, self.loss_, x = minimize_lbfgs(
            net, X, Y, sample_weight, alpha=float(self.alpha), max_iter=self.max_iter,
            max_fun=self.max_fun, tol=self.tol, verbose=bool(self.verbose),
            loss_offset=self._loss_offset,
        )  # fmt: skip
        if not np.isfinite(x).all():
            raise ValueError(self._nonfinite_message(X))
        net.params = x.astype(net.spec.np_dtype)

    def _nonfinite_message(self, X) -> str:
        """scikit-learn's message for non-finite weights, plus the likely cause."""
        msg = (
            "Solver produced non-finite parameter weights. The input data may contain large "
            "values and need to be preprocessed."
        )
        data = X.data if sp.issparse(X) else X
        big = float(np.max(np.abs(data))) if data.size else 0.0
        if big > 1e10:
            return msg + (
                f" The largest |X| is {big:.3g}: standardise the features (for example with "
                "sklearn.preprocessing.StandardScaler)."
            )
        return msg + (
            f" The largest |X| is {big:.3g}, so the likely cause is a learning rate too large "
            f"for this problem (learning_rate_init={self.learning_rate_init!r}); the parameters "
            "of the start of the diverging epoch were kept."
        )

    def _fit_epochs(self, X, Y, rs, incremental: bool, sample_weight=None,
                    runner: EpochRunner | None = None, checked: bool = False,
                    ) -> EpochRunner:  # fmt: skip
        """The stochastic solvers' epochs; returns the epoch runner (``runner`` if it could be
        reused for these rows, see :meth:`EpochRunner.reuse`)."""
        net = self.network_
        X_val = y_val = sw_val = None
        if self.early_stopping:
            stratify = Y if self._is_classifier() and Y.shape[1] == 1 else None
            split = [X, Y] if sample_weight is None else [X, Y, sample_weight]
            parts = train_test_split(
                *split, random_state=rs, test_size=self.validation_fraction, stratify=stratify
            )
            X, X_val, Y, Y_val = parts[:4]
            if sample_weight is not None:
                sample_weight, sw_val = parts[4], parts[5]
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the size "
                    "of your dataset."
                )
            y_val = self._decode(Y_val)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                    "clipped",
                    stacklevel=4,
                )
            batch_size = int(np.clip(self.batch_size, 1, n))
        Y = Y.astype(net.spec.np_dtype, copy=False)
        if runner is not None and runner.reuse(X, Y, batch_size):
            epochs = runner
        else:
            dp_rng = None if self._dp is None else noise_generator(rs.randint(2**31 - 1), self.t_)
            epochs = EpochRunner(net, X, Y, batch_size, self._make_optimizer(),
                                 self._resume_optimizer, sample_weight, checked, self._dp,
                                 dp_rng, self._tools)  # fmt: skip
        self._resume_optimizer = True
        sgd_family = self.solver not in ADAM_FAMILY
        sample_idx = np.arange(n)
        verbose = bool(self.verbose)
        total = 1 if incremental else self.max_iter
        diverged = False
        self.n_iter_ = 0
        with (
            ctrl_c_deferred() as epochs.ctrl_c,
            Progress(total, bool(self.progress), unit="epoch", desc="fit") as bar,
            CompileWatch(on_compile=lambda: bar.note(COMPILING_MESSAGE)) as watch,
        ):
            shown = 0.0
            w2_end: float | None = None
            compiled = (
                _params.EPOCH_LOOP == "compiled" and not incremental and not self.early_stopping
                and sample_weight is None and not verbose and type(epochs.X) is np.ndarray
                and batch_size >= epochs.lowered.blas_min_rows and self._dp is None
                and epochs.plain
            )  # fmt: skip
            if compiled:  # blocks of epochs in one compiled call (fastbp.sklearn._loop)
                self._compiled_epochs(epochs, X, rs, sample_idx, bar, watch)
            for _ in range(0 if compiled else self.max_iter):  # one epoch at a time
                if self.shuffle:
                    # sklearn.utils.shuffle(sample_idx, random_state=rs), without its checks: the
                    # same draw (rs.shuffle of arange(n)) and so the same order.
                    perm = np.arange(n)
                    rs.shuffle(perm)
                    sample_idx = sample_idx[perm]
                # The weights have not changed since the last epoch's end: its sum carries over.
                w2_start = epochs.weights_squared() if w2_end is None else w2_end
                try:
                    data_loss, interrupted = epochs.run(sample_idx, self._lr, self.alpha)
                except FitDivergedError:
                    if not self.early_stopping:
                        raise FitDivergedError(
                            self._nonfinite_message(X), epoch=self.n_iter_ + 1, history=History()
                        ) from None
                    # As scikit-learn: the diverged epoch is recorded with a NaN loss and a NaN
                    # validation score, and the best-validation weights are restored below.
                    # Every later epoch would start from NaN weights, so fastbp stops here.
                    diverged = True
                    data_loss, interrupted = np.nan, False
                if interrupted:
                    warnings.warn("Training interrupted by user.", stacklevel=4)
                    break
                w2_end = epochs.weights_squared()
                w2 = 0.5 * (w2_start + w2_end)
                self.n_iter_ += 1
                self.t_ += n
                self.loss_ = float(
                    data_loss + self._loss_offset + 0.5 * self.alpha * epochs.l2_batches * w2 / n
                )
                self.loss_curve_.append(self.loss_)
                if verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                if diverged:  # only with early_stopping: validation_scores_ is a list
                    assert self.validation_scores_ is not None
                    self.validation_scores_.append(float("nan"))
                    if verbose:
                        print(f"Validation score: {self.validation_scores_[-1]:f}")
                    warnings.warn(
                        f"Training diverged at iteration {self.n_iter_} (non-finite loss); the "
                        "weights of the best validation score were restored. Try a smaller "
                        "learning_rate_init or standardised features.",
                        ConvergenceWarning,
                        stacklevel=4,
                    )
                    break
                self._update_no_improvement_count(X_val, y_val, sw_val)
                if sgd_family and self.learning_rate == "invscaling":
                    self._lr = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
                bar.exclude(watch.seconds - shown)  # compiling says nothing of the time left
                shown = watch.seconds
                bar.update({"loss": self.loss_, "val_score": self._last_val()})
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if self.early_stopping else "Training loss"
                    msg = (
                        f"{what} did not improve more than tol={self.tol:f} for "
                        f"{self.n_iter_no_change:d} consecutive epochs."
                        if self.n_iter_no_change != np.inf else ""
                    )  # fmt: skip
                    if sgd_family and self.learning_rate == "adaptive" and self._lr > 1e-6:
                        self._lr /= 5.0
                        self._no_improvement_count = 0
                        if verbose:
                            print(f"{msg} Setting learning rate to {self._lr:f}")
                    else:
                        if verbose:
                            adaptive = sgd_family and self.learning_rate == "adaptive"
                            print(msg + (" Learning rate too small." if adaptive else "")
                                  + " Stopping.")  # fmt: skip
                        break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                        "the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=4,
                    )
        if self.early_stopping:
            net.params = self._best_params
        return epochs

    def _compiled_epochs(self, runner: EpochRunner, X: np.ndarray, rs, sample_idx: np.ndarray,
                         bar: Progress, watch: CompileWatch) -> None:  # fmt: skip
        """fit's epochs in blocks, each block one call of :func:`fastbp.sklearn._loop.run_epochs`.

        The permutations are drawn here from ``rs`` as the per-epoch loop draws them; when the fit
        ends inside a block, ``rs`` is wound back to where that loop would have left it.  A block
        starts at one epoch and grows to about 0.1 s of work (at most 64 epochs), so that the
        progress display moves and Ctrl-C (noticed after each block, which then stands) stops
        promptly.
        """
        low, opt, net = runner.lowered, runner.opt, self.network_
        p, ws, Y = low.plan, low.ws, runner.Y
        n, bs = sample_idx.shape[0], runner.batch_size
        Xb, Yb = runner.gather_buffers(bs)  # the short last batch uses their first rows
        rule, state = _loop.new_arrays()
        squared = net.spec.loss_record.mean_over_outputs  # scikit-learn's squared error
        schedule = LEARNING_RATES.index(self.learning_rate)
        sgd_family = self.solver not in ADAM_FAMILY
        rule[:] = (self.tol, float(self.n_iter_no_change), schedule, self.power_t,
                   self.learning_rate_init, self._loss_offset,
                   net.spec.n_outputs if squared else 1, sgd_family)  # fmt: skip
        state[_loop.S_LR] = self._lr
        state[_loop.S_BEST] = self.best_loss_
        state[_loop.S_COUNT] = self._no_improvement_count
        state[_loop.S_T] = self.t_
        losses = np.empty(_LOOP_MAX_BLOCK)
        block, shown = 1, watch.seconds
        kernel = runner.loop_kernel
        while self.n_iter_ < self.max_iter:
            size = min(block, self.max_iter - self.n_iter_)
            saved = rs.get_state() if self.shuffle else None
            orders = np.empty((size, n), dtype=np.int64)
            for e in range(size):
                if self.shuffle:
                    perm = np.arange(n)
                    rs.shuffle(perm)
                    sample_idx = sample_idx[perm]
                orders[e] = sample_idx
            start = time.perf_counter()
            with low.exclusive("fit"):
                done, how = kernel(
                    runner.X, Y, orders, bs, low.params, p.widths, p.acts, p.out_kind, p.loss_param,
                    p.w_off, p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, low.grad,
                    p.weight_mask, float(self.alpha), low.blas_min_rows, opt.code, opt.momentum,
                    opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step, runner.good,
                    runner.good1, runner.good2, runner.info, rule, state, losses,
                )  # fmt: skip
            elapsed = time.perf_counter() - start - (watch.seconds - shown)
            drawn = done + (how == _loop.DIVERGED)
            if saved is not None and drawn < size:  # wind rs back to the per-epoch loop's place
                rs.set_state(saved)
                for _ in range(drawn):
                    rs.shuffle(np.arange(n))
            for e in range(done):
                self.n_iter_ += 1
                self.t_ += n
                self.loss_ = float(losses[e])
                self.loss_curve_.append(self.loss_)
                bar.update({"loss": self.loss_})
            self._lr = float(state[_loop.S_LR])
            self._no_improvement_count = int(state[_loop.S_COUNT])
            self.best_loss_ = float(state[_loop.S_BEST])
            bar.exclude(watch.seconds - shown)  # compiling says nothing of the time left
            shown = watch.seconds
            if how == _loop.DIVERGED:
                raise FitDivergedError(
                    self._nonfinite_message(X), epoch=self.n_iter_ + 1, history=History()
                )
            if how == _loop.STOPPED:
                return
            if runner.ctrl_c is not None and runner.ctrl_c.is_set():
                warnings.warn("Training interrupted by user.", stacklevel=5)
                return
            per_epoch = max(elapsed, 1e-9) / size
            block = int(min(_LOOP_MAX_BLOCK, max(1, _LOOP_BLOCK_SECONDS / per_epoch)))
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=5,
        )

    def _last_val(self) -> float:
        return self.validation_scores_[-1] if self.validation_scores_ else np.nan

    def _update_no_improvement_count(self, X_val, y_val, sw_val=None) -> None:
        # _stochastic_attributes set the scores (early_stopping) or best_loss_ (otherwise).
        if self.early_stopping:
            assert self.validation_scores_ is not None and self.best_validation_score_ is not None
            score = self._score_arrays(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.network_.params.copy()
        else:
            assert self.best_loss_ is not None
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _score_arrays(self, X, y, sample_weight=None) -> float:
        if not np.isfinite(self.network_.params).all():
            return np.nan
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._forward_rows(X)
            if not np.isfinite(out).all():
                return np.nan
            return float(self._metric(y, self._decode(out), sample_weight=sample_weight))

    def _forward_rows(self, X) -> np.ndarray:
        """network_.forward, densifying a scipy.sparse X a chunk of rows at a time."""
        net = self.network_
        if not sp.issparse(X):
            return net.forward(X)
        X = csr_rows(X)  # scipy's toarray trusts indptr/indices: checked first, O(nnz)
        out = np.empty((X.shape[0], net.spec.n_outputs), dtype=net.spec.np_dtype)
        for lo in range(0, X.shape[0], _params.SPARSE_CHUNK_ROWS):
            rows = X[lo : lo + _params.SPARSE_CHUNK_ROWS].toarray()
            out[lo : lo + rows.shape[0]] = net.forward(rows.astype(net.spec.np_dtype, copy=False))
        return out

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=FLOAT_DTYPES, reset=False, accept_sparse=["csr", "csc", "coo"]
        )
        return self._forward_rows(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR/CSC, densified a chunk of rows at a time
        return tags

    def _check_stochastic(self) -> bool:
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                "stochastic."
            )
        return True

    # -------------------------------------------------------------- public API
    def fit(self, X: ArrayLike | sp.spmatrix, y: ArrayLike,
            sample_weight: ArrayLike | None = None) -> Self:  # fmt: skip
        """Fit the network to X (n_samples, n_features) and y.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            The inputs; sparse matrices are densified a chunk of rows at a time, never whole.
        y : array_like
            Targets (regression) or labels (classification).
        sample_weight : array_like of shape (n_samples,) or None
            Per-sample weights: the loss and its gradient become weighted means.

        Returns
        -------
        self
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    # -------------------------------------------------------------- conversion
    @classmethod
    def from_sklearn(cls, estimator: Any) -> Self:
        """A fitted estimator of this class with the weights and settings of a scikit-learn one.

        ``estimator`` is a fitted ``sklearn.neural_network`` estimator of the same kind
        (``MLPClassifier`` for :class:`MLPClassifier`).  The parameters, the weights (in their
        dtype, which becomes ``dtype``), the classes and the fitted attributes (``loss_curve_``,
        ``n_iter_``, ...) are copied, so ``predict``/``predict_proba`` give the same outputs.  The
        optimizer state is not: a later ``partial_fit`` or ``warm_start`` fit starts a new one.
        Settings fastbp cannot train with (``solver="lbfgs"``) raise ValueError; use
        :meth:`fastbp.Network.from_sklearn` to convert the network alone.

        Parameters
        ----------
        estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
            The fitted scikit-learn estimator.

        Returns
        -------
        MLPClassifier or MLPRegressor
            The fitted fastbp estimator.

        Raises
        ------
        ValueError
            If the estimator is of the other kind, not fitted, or uses settings fastbp cannot
            train with.
        """
        from fastbp.interop.networks import fastbp_estimator_from_sklearn

        return fastbp_estimator_from_sklearn(cls, estimator)

    def to_sklearn(self) -> Any:
        """The fitted scikit-learn estimator with this one's weights and settings.

        scikit-learn's parameters are copied (``solver="momentum"``/``"nesterov"`` become its
        ``"sgd"`` with ``nesterovs_momentum`` False/True; fastbp's own, ``dtype`` to
        ``class_weight``, are dropped), so are the weights, classes and fitted attributes, so
        ``predict``/``predict_proba`` agree.  Activations scikit-learn lacks (``softplus``,
        ``gelu``, ...) raise ValueError.  float32 weights stay float32; scikit-learn then
        computes in the dtype of X.

        Returns
        -------
        sklearn.neural_network.MLPClassifier or MLPRegressor
            The fitted scikit-learn estimator.

        Raises
        ------
        ValueError
            If the estimator uses an activation scikit-learn does not have.
        """
        from fastbp.interop.sklearn_convert import sklearn_estimator_from_fastbp

        return sklearn_estimator_from_fastbp(self)

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        state = dict(super().__getstate__())
        if "network_" in state:
            state["network_"] = network_state(state["network_"])
        lean = state.pop("_lean", None)  # its runner holds compiled entry points and buffers
        if lean is not None:
            state["_lean_settings"] = lean.settings  # validated values, plain data
        return state

    def __setstate__(self, state):
        if isinstance(state.get("network_"), dict):
            state = dict(state, network_=network_from_state(state["network_"]))
        settings = state.get("_lean_settings")
        if settings is not None:
            state = {k: v for k, v in state.items() if k != "_lean_settings"}
            state["_lean"] = LeanState(settings)  # the runner is made on the next call
        super().__setstate__(state)
