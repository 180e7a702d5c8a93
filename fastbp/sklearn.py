"""scikit-learn estimators backed by fastbp: :class:`MLPRegressor` and :class:`MLPClassifier`.

This module imports scikit-learn (``pip install "fastbp[sklearn]"``); ``import fastbp`` does not.

The estimators take every parameter of scikit-learn's ``MLPRegressor``/``MLPClassifier``, with
the same defaults (plus fastbp's ``dtype`` and ``progress``), and follow the same training
procedure: the same initialisation, validation split and
shuffling (all drawn from ``random_state`` in the same order), the same minibatches, the same
optimizer updates, the same stopping rule.  Each epoch runs inside fastbp's compiled kernels.
For ``solver="sgd"`` a fastbp estimator and a scikit-learn one built with the same parameters and
``random_state`` produce the same weights to rounding error.  The tests check this for a few
epochs.  For ``solver="adam"`` they differ by the placement of ε (below).

How the parameters map onto fastbp
----------------------------------
============================  ===================================================================
scikit-learn parameter         fastbp
============================  ===================================================================
``hidden_layer_sizes``         ``NetworkSpec.widths = [n_features, *hidden_layer_sizes, n_out]``
``activation``                 ``"logistic"`` → ``"sigmoid"``; ``"relu"``, ``"tanh"``,
                               ``"identity"`` keep their names; fastbp's ``"softplus"`` and
                               ``"leaky_relu"`` are accepted too
``solver="sgd"``               ``momentum == 0`` → ``"sgd"``; otherwise ``"nesterov"`` if
                               ``nesterovs_momentum`` else ``"momentum"`` (same update formulas:
                               v ← μv − αg, θ ← θ + v, or θ ← θ + μv − αg for Nesterov)
``solver="lbfgs"``             ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` on the
                               flat parameter vector, ``maxiter=max_iter``, ``maxfun=max_fun``,
                               ``gtol=tol``; objective: the (weighted) mean loss, over outputs
                               for the squared error, + (α / 2 Σ s_i) Σ‖W‖².  For k > 1 squared-
                               error outputs scikit-learn's gradient is k times that of its
                               reported loss; fastbp's is the gradient of the objective itself
``solver="adam"``              ``"adam"`` with β1 = ``beta_1``, β2 = ``beta_2``, ε = ``epsilon``.
                               scikit-learn adds ε to √v and fastbp to √v̂ = √(v/(1−β2^t)), so
                               scikit-learn's ε is in effect ε·√(1−β2^t) in fastbp's formula.
``solver="momentum"``,         fastbp's own names, with μ = ``momentum`` (not in scikit-learn)
``"nesterov"``
``alpha``                      ``l2 = alpha / batch_size`` per step (see below)
``batch_size``                 ``"auto"`` = min(200, n_samples); values above n_samples are
                               clipped with a warning, as in scikit-learn
``learning_rate_init``         ``lr``
``learning_rate``              ``"constant"``, ``"invscaling"`` (α = α0/(t+1)^power_t after each
                               epoch, t = samples seen), ``"adaptive"`` (α/5 when the loss stalls);
                               for the sgd solvers only, as in scikit-learn
``max_iter``                   epochs
``n_iter_no_change``, ``tol``  the stopping rule (fastbp's ``patience`` and ``min_delta``), with
                               scikit-learn's semantics: stop when the training loss (or, with
                               ``early_stopping``, the validation *score*) has not improved by
                               ``tol`` for more than ``n_iter_no_change`` consecutive epochs
``early_stopping``,            hold out ``validation_fraction`` (stratified for single-output
``validation_fraction``        classification) and restore the best-scoring epoch at the end
``shuffle``, ``random_state``  per-epoch permutation and initialisation, drawn from
                               ``check_random_state(random_state)``
``verbose``                    scikit-learn's lines (``Iteration N, loss = ...``, ``Validation
                               score: ...``, the stopping message) on stdout
``progress``                   fastbp only: its progress bar (tqdm when installed)
``loss`` (regressor)           ``"squared_error"`` → ``"squared"``; ``"poisson"`` → ``"poisson"``
                               (exp output; ``loss_`` adds scikit-learn's z-free Σ y log y − y)
``max_fun``                    L-BFGS's limit on loss evaluations
``sample_weight``              weighted means of the loss and gradient (per batch for sgd/adam,
                               with λ = α/Σ_B s_i; one compiled call per batch then)
``momentum``                   μ
``warm_start``                 continue from the fitted network (a new optimizer state, as in
                               scikit-learn; ``partial_fit`` keeps the optimizer state)
``dtype``                      fastbp only: ``"auto"`` (default: float32 for float32 X, else
                               float64, as scikit-learn), ``"float64"`` or ``"float32"``
sparse ``X`` (CSR/CSC)         sgd/adam epochs: the CSR first-layer kernel of
                               :mod:`fastbp.sparse_kernels` (:data:`SPARSE_TRAINING`); predictions,
                               L-BFGS, weighted batches: :data:`SPARSE_CHUNK_ROWS` rows densified
                               at a time, never the whole matrix
============================  ===================================================================

**L2 penalty.**  scikit-learn adds (α / 2m)·Σ_k ‖W_k‖² to the mean loss of a batch of m examples,
so each step's gradient gets (α/m)·W.  fastbp's ``l2`` = λ adds λ·W to the step's mean gradient,
so the mapping is λ = α/m.  The last batch of an epoch can be shorter than the others.  It is
then trained in its own compiled call with λ = α/m_last, which matches scikit-learn exactly.
Biases are not penalised in either library.

**Initialisation.**  As scikit-learn: W and b ~ U(±√(f/(n_in+n_out))), with f = 2 for the
logistic activation and 6 otherwise, drawn from ``random_state`` in the same order.

**Classifier outputs.**  The targets are binarised with ``LabelBinarizer``, so ``classes_`` may
hold labels of any hashable, sortable type.  Binary problems use **one sigmoid output with the
logistic loss**, as scikit-learn does, and ``coefs_[-1]`` has shape (n_hidden, 1).
``predict_proba`` returns the columns [1 − p, p].  Multiclass problems use softmax with
cross-entropy.  Multilabel indicator targets use one sigmoid output per label.

**Fitted attributes.**  ``network_`` is the :class:`fastbp.Network`.  ``coefs_[k]`` is a
transposed view of fastbp's W[k + 1], shape (n_in, n_out) as in scikit-learn, and
``intercepts_[k]`` is a view of b[k + 1].  Writing to them changes the network.
``loss_curve_`` holds scikit-learn's loss per epoch: for regression, the mean over outputs of
½(ŷ − y)², which is fastbp's loss divided by the number of outputs.  It also includes the L2
term, evaluated with the mean of ‖W‖² at the start and at the end of the epoch (scikit-learn
evaluates it before every batch).  Also set: ``n_iter_``, ``t_``, ``loss_``, ``best_loss_``,
``validation_scores_``, ``best_validation_score_``, ``n_features_in_``, ``n_outputs_``,
``n_layers_``, ``out_activation_``, and for the classifier ``classes_``.

**Divergence.**  Without ``early_stopping`` a non-finite loss raises
:class:`fastbp.FitDivergedError` (a ValueError) with scikit-learn's message plus the likely
cause; the weights of the start of the diverging epoch are kept.  With ``early_stopping`` the
epoch is recorded with a NaN loss and validation score, a ConvergenceWarning is issued, the
best-validation weights are restored and training stops there (scikit-learn runs on with NaN
weights to ``max_iter``).

**Pickling.**  A fitted estimator pickles its network as the spec, the parameters and the optimizer
state.  It does not pickle the ``Network`` object, which holds a lock and its workspaces.
``copy.deepcopy``, ``joblib`` and ``GridSearchCV(n_jobs=...)`` work through the same path.  For
files meant to last, prefer ``est.network_.save(path)``: fastbp's own format, with no pickle.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from fastbp import epochs as fastbp_epochs
from fastbp import row_kernels, sparse_kernels
from fastbp.activations import ACTIVATIONS
from fastbp.interrupt import ctrl_c_deferred
from fastbp.network import Network
from fastbp.optim import Optimizer
from fastbp.progress import Progress
from fastbp.row_kernels import DirectCall
from fastbp.spec import NetworkSpec
from fastbp.train import FitDivergedError, History
from fastbp.validate import as_features, as_sample_weight, as_targets

__all__ = ["MLPClassifier", "MLPRegressor"]

#: scikit-learn activation names → fastbp names (fastbp's own names are accepted as they are).
SKLEARN_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
}

#: Solvers: scikit-learn's three plus fastbp's momentum methods by name.
SOLVERS = ("lbfgs", "sgd", "adam", "momentum", "nesterov")
STOCHASTIC_SOLVERS = ("sgd", "adam", "momentum", "nesterov")
#: MLPRegressor's losses → fastbp NetworkSpec losses.
REGRESSION_LOSSES = {"squared_error": "squared", "poisson": "poisson"}
DTYPE_OPTIONS = ("auto", "float32", "float64")
#: Rows densified at a time when X is a scipy.sparse matrix (rounded to whole batches): for
#: predictions, L-BFGS, sample-weighted batches, and training when SPARSE_TRAINING = "densify".
SPARSE_CHUNK_ROWS = 2048
#: How sgd/adam epochs read a sparse X: "csr" (the default; the first layer multiplies the CSR
#: rows in :mod:`fastbp.sparse_kernels`) or "densify" (chunks of SPARSE_CHUNK_ROWS rows through
#: the dense epoch kernel).  Both are tested to give the same weights; scripts/bench_sparse.py
#: measures them.
SPARSE_TRAINING = "csr"
LEARNING_RATES = ("constant", "invscaling", "adaptive")

_FLOAT_DTYPES = (np.float64, np.float32)


def _fastbp_activation(activation: object) -> str:
    if isinstance(activation, str):
        if activation in SKLEARN_ACTIVATIONS:
            return SKLEARN_ACTIVATIONS[activation]
        if activation in ACTIVATIONS:
            return activation
    allowed = sorted(set(SKLEARN_ACTIVATIONS) | set(ACTIVATIONS))
    raise ValueError(f"activation={activation!r} is not supported; allowed: {allowed}")


def _number(value: object, name: str, lo: float, hi: float, lo_open=False, hi_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def _integer(value: object, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


# ----------------------------------------------------------------------------- pickling
def _network_state(net: Network) -> dict:
    """What a Network is, without its lock and workspaces (see the module docstring)."""
    opt = net.optimizer
    return {
        "spec": net.spec.to_dict(),
        "params": net.params.copy(),
        "init": net.init,
        "seed": net.seed if isinstance(net.seed, (int, np.integer, type(None))) else None,
        "optimizer": None if opt is None else opt.settings(),
        "optimizer_state": None if opt is None else {k: v.copy() for k, v in
                                                     opt.state_arrays().items()},
        "history": None if net.history is None else net.history.to_dict(),
    }  # fmt: skip


def _network_from_state(state: dict) -> Network:
    net = Network(NetworkSpec.from_dict(state["spec"]), init="zeros")
    net.params = state["params"]
    net.init, net.seed = state["init"], state["seed"]
    if state["optimizer"] is not None:
        opt = Optimizer(**state["optimizer"])
        opt.load_state(state["optimizer_state"], net.n_params, net.spec.np_dtype)
        net.optimizer = opt
    if state["history"] is not None:
        net.history = History.from_dict(state["history"])
    return net


# ----------------------------------------------------------------------------- base class
class _Epochs:
    """One fit's epochs, each through fastbp's compiled minibatch kernel with little Python.

    The data is checked once (``as_features``/``as_targets``), the kernel gathers each batch
    through the epoch's order itself (no ``X[order]`` copies), and the kernel is entered
    directly (:class:`fastbp.row_kernels.DirectCall`; the argument types never change within a
    fit).  An epoch in scikit-learn's batch order is one call for the full batches with
    λ = α/batch_size, plus one for a short last batch with λ = α/m_last, so the L2 term
    matches scikit-learn's per batch.  Divergence (a non-finite loss or parameter) restores the
    parameters and optimizer state of the start of the epoch and raises
    :class:`fastbp.FitDivergedError`; Ctrl-C (deferred to the end of the compiled call)
    restores the same snapshot and reports the epoch as interrupted.

    A scipy.sparse ``X`` is densified :data:`SPARSE_CHUNK_ROWS` rows (whole batches) at a time,
    in the epoch's order, and each dense chunk goes through the same kernel.  With sample
    weights each batch is one compiled weighted loss-and-gradient call plus one compiled
    optimizer step (λ = α/Σ_B s_i, as scikit-learn's weighted batch loss).
    """

    def __init__(self, net: Network, X, Y, batch_size: int, opt: Optimizer, resume: bool,
                 sw=None):  # fmt: skip
        spec = net.spec
        self.net = net
        self.sparse = sp.issparse(X)
        if self.sparse:
            X = X.tocsr()
            try:  # the CSR kernel indexes with indptr/indices: check them, O(nnz), before it runs
                X.check_format(full_check=True)
            except ValueError as exc:
                raise ValueError(f"X is a malformed sparse matrix: {exc}") from None
            X.data = np.ascontiguousarray(X.data, dtype=spec.np_dtype)
        self.X = X if self.sparse else as_features(X, spec)
        self.Y = as_targets(Y, spec, self.X.shape[0])
        self.sw = None if sw is None else as_sample_weight(sw, self.X.shape[0], spec.np_dtype)
        self.batch_size = batch_size
        dtype = spec.np_dtype
        previous = net.optimizer
        if (resume and previous is not None and previous.name == opt.name
                and previous.compatible(net.n_params, dtype)):  # fmt: skip
            opt.s1, opt.s2, opt.step = previous.s1, previous.s2, previous.step
        else:
            opt.reset(net.n_params, dtype)
        net.optimizer = self.opt = opt
        net.lowered.ws.ensure(batch_size)
        self.gather = {}
        self.info = np.zeros(3, dtype=np.float64)
        self.good = np.empty_like(net.params)
        self.good1, self.good2 = np.empty_like(opt.s1), np.empty_like(opt.s2)
        self.kernel = DirectCall(fastbp_epochs.minibatch_epoch)
        self.csr_kernel = DirectCall(sparse_kernels.minibatch_epoch_csr)
        self.settle = DirectCall(row_kernels.settle)
        # Transposed views: ravel() then runs in scikit-learn's coefs_ order, so the sums round
        # as scikit-learn's do.
        self.weights = [net.layer(k)[0].T for k in range(1, spec.n_layers + 1)]
        self.ctrl_c = None

    def weights_squared(self) -> float:
        """Σ_k ‖W[k]‖²_F (inf, without a warning, for weights on their way to diverging)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return float(sum(np.dot(w.ravel(), w.ravel()) for w in self.weights))

    def _buffers(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        if m not in self.gather:
            dtype = self.net.spec.np_dtype
            self.gather[m] = (np.zeros((m, self.X.shape[1]), dtype),
                              np.zeros((m, self.Y.shape[1]), dtype))  # fmt: skip
        return self.gather[m]

    def _dense_rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of a sparse X as a dense C-contiguous array (only these rows)."""
        rows = self.X[idx].toarray()
        return np.ascontiguousarray(rows, dtype=self.net.spec.np_dtype)

    def _call(self, X, Y, idx, m, lr, l2) -> None:
        net, opt, p, info, ws = self.net, self.opt, self.net.plan, self.info, self.net.lowered.ws
        Xb, Yb = self._buffers(m)
        self.kernel(
            X, Y, idx, m, net.params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
            Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, net.lowered.grad, p.weight_mask, float(l2),
            net.lowered.blas_min_rows, opt.code, float(lr), opt.momentum, opt.beta1, opt.beta2,
            opt.eps, opt.s1, opt.s2, opt.step, info,
        )  # fmt: skip

    def _part(self, idx: np.ndarray, m: int, lr: float, alpha: float) -> None:
        """Train on the batches of ``idx`` (each of m rows); info[0] += Σ J, info[1] += rows."""
        if self.sw is not None:
            self._weighted_batches(idx, m, lr, alpha)
        elif not self.sparse:
            self._call(self.X, self.Y, idx, m, lr, alpha / m)
        elif SPARSE_TRAINING == "csr":
            net, opt, p, ws = self.net, self.opt, self.net.plan, self.net.lowered.ws
            X = self.X
            self.csr_kernel(
                X.indptr, X.indices, X.data, self.Y, idx, m, net.params, p.widths, p.acts,
                p.out_kind, p.w_off, p.b_off, p.u_off, self._buffers(m)[1], ws.Z, ws.A, ws.dZ,
                ws.dA, net.lowered.grad, p.weight_mask, float(alpha / m),
                net.lowered.blas_min_rows, opt.code,
                float(lr), opt.momentum, opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step,
                self.info,
            )  # fmt: skip
        else:
            step = max(1, SPARSE_CHUNK_ROWS // m) * m
            info = self.info
            for lo in range(0, idx.shape[0], step):
                chunk = idx[lo : lo + step]
                before = info[0], info[1]
                self._call(self._dense_rows(chunk), np.ascontiguousarray(self.Y[chunk]),
                           np.arange(chunk.shape[0], dtype=np.int64), m, lr, alpha / m)  # fmt: skip
                if info[2] != 0.0 or info[1] - before[1] < chunk.shape[0]:
                    break

    def _weighted_batches(self, idx: np.ndarray, m: int, lr: float, alpha: float) -> None:
        net, opt, info = self.net, self.opt, self.info
        params, grad, mask = net.params, net.lowered.grad, net.plan.weight_mask
        for lo in range(0, idx.shape[0], m):
            b = idx[lo : lo + m]
            Xb = self._dense_rows(b) if self.sparse else self.X[b]
            sw_b = self.sw[b]
            total = float(sw_b.sum())
            if total <= 0.0:
                info[1] += b.shape[0]  # all-zero weights: no step (the gradient is undefined)
                continue
            J = net.lowered.loss_and_gradient(Xb, np.ascontiguousarray(self.Y[b]), sw=sw_b)
            if not np.isfinite(J):
                info[2] = 1.0
                return
            info[0] += J * b.shape[0]
            info[1] += b.shape[0]
            self.l2_batches += b.shape[0] / total
            if alpha != 0.0:
                grad += (alpha / total) * mask * params
            opt.step[0] += 1
            fastbp_epochs.apply_update(opt.code, params, grad, float(lr), opt.momentum,
                                       opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2,
                                       int(opt.step[0]))  # fmt: skip

    def run(self, order: np.ndarray, lr: float, alpha: float) -> tuple[float, bool]:
        """One epoch over ``order``; returns (mean data loss, interrupted)."""
        net, opt, info = self.net, self.opt, self.info
        params = net.params
        n = order.shape[0]
        bs = self.batch_size
        n_full = (n // bs) * bs
        parts = [(order[:n_full], bs)]
        if n_full < n:
            parts.append((order[n_full:], n - n_full))
        total = 0.0
        # Σ_b m_b / Σ_{i∈B} s_i: the L2 term of scikit-learn's epoch loss is ½α‖W‖² times this / n.
        self.l2_batches = 0.0 if self.sw is not None else -(-n // bs)
        net.lowered.guard.enter_write("fit")
        try:
            np.copyto(self.good, params)
            np.copyto(self.good1, opt.s1)
            np.copyto(self.good2, opt.s2)
            step0 = int(opt.step[0])
            for idx, m in parts:
                if idx.shape[0] == 0:
                    continue
                info[0] = info[1] = info[2] = 0.0
                self._part(idx, m, lr, alpha)
                diverged = self.settle(params, opt.s1, opt.s2, self.good, self.good1, self.good2,
                                       info)  # fmt: skip
                if diverged or (self.ctrl_c is not None and self.ctrl_c.is_set()):
                    params[...] = self.good
                    opt.s1[...], opt.s2[...] = self.good1, self.good2
                    opt.step[0] = step0
                    if diverged:
                        raise FitDivergedError(
                            "the loss or the parameters became NaN/inf", epoch=0,
                            history=History(),
                        )  # fmt: skip
                    return np.nan, True
                # scikit-learn's epoch loss: each batch's (weighted) mean loss times its size.
                total += info[0] / max(info[1], 1.0) * idx.shape[0]
        finally:
            net.lowered.guard.exit_write()
        loss = total / n
        if net.spec.loss == "squared":
            loss /= net.spec.n_outputs  # scikit-learn reports the mean over outputs
        return loss, False


class _BaseMLP(BaseEstimator):
    """Shared parameters, training loop and pickling of the two estimators."""

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
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.loss = loss
        self.dtype = dtype
        self.progress = progress

    # -------------------------------------------------------------- parameters
    def _check_settings(self) -> None:
        """Validate the constructor parameters (at fit time, as scikit-learn requires)."""
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, (numbers.Integral, np.integer)) and not isinstance(hidden, bool):
            hidden = [hidden]
        try:
            hidden = list(hidden)
        except TypeError:
            raise TypeError(
                f"hidden_layer_sizes must be an integer or a sequence of integers, got {hidden!r}"
            ) from None
        for h in hidden:
            if isinstance(h, (bool, np.bool_)) or not isinstance(h, numbers.Integral) or h <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {self.hidden_layer_sizes}")
        self._hidden = [int(h) for h in hidden]
        self._act = _fastbp_activation(self.activation)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver={self.solver!r} is not supported; allowed: {SOLVERS}")
        if self.learning_rate not in LEARNING_RATES:
            raise ValueError(
                f"learning_rate={self.learning_rate!r} is not supported; allowed: {LEARNING_RATES}"
            )
        _number(self.alpha, "alpha", 0, np.inf)
        _number(self.learning_rate_init, "learning_rate_init", 0, np.inf, lo_open=True)
        _number(self.power_t, "power_t", 0, np.inf)
        _integer(self.max_iter, "max_iter", 1)
        _number(self.tol, "tol", 0, np.inf)
        _number(self.momentum, "momentum", 0, 1, hi_open=True)
        _number(self.validation_fraction, "validation_fraction", 0, 1, True, True)
        _number(self.beta_1, "beta_1", 0, 1, hi_open=True)
        _number(self.beta_2, "beta_2", 0, 1, hi_open=True)
        _number(self.epsilon, "epsilon", 0, np.inf, lo_open=True)
        inf = isinstance(self.n_iter_no_change, numbers.Real) and self.n_iter_no_change == np.inf
        if not inf:
            _integer(self.n_iter_no_change, "n_iter_no_change", 1)
        _integer(self.max_fun, "max_fun", 1)
        if not isinstance(self.dtype, str) or self.dtype not in DTYPE_OPTIONS:
            raise ValueError(f"dtype={self.dtype!r} is not supported; allowed: {DTYPE_OPTIONS}")
        if not isinstance(self.verbose, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"verbose must be a bool or an integer, got {self.verbose!r}")
        self._check_loss()
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _integer(self.batch_size, "batch_size", 1)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "progress"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def _make_optimizer(self) -> Optimizer:
        """The fastbp optimizer for ``solver`` (see the mapping in the module docstring)."""
        if self.solver == "adam":
            return Optimizer("adam", beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)
        if self.solver == "sgd":
            if self.momentum == 0:
                return Optimizer("sgd")
            name = "nesterov" if self.nesterovs_momentum else "momentum"
            return Optimizer(name, momentum=self.momentum)
        return Optimizer(self.solver, momentum=self.momentum)

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
        spec = NetworkSpec(widths, [self._act] * len(self._hidden), loss, dtype)
        net = Network(spec, init="zeros")
        net.seed = self.random_state if isinstance(self.random_state, numbers.Integral) else None
        factor = 2.0 if self._act == "sigmoid" else 6.0
        for k in range(1, spec.n_layers + 1):  # scikit-learn's _init_coef, in its draw order
            bound = np.sqrt(factor / (widths[k - 1] + widths[k]))
            W, b = net.layer(k)
            W[...] = rs.uniform(-bound, bound, (widths[k - 1], widths[k])).T
            b[...] = rs.uniform(-bound, bound, widths[k])
        self.network_ = net
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(widths)
        self.out_activation_ = {
            "squared": "identity", "softmax_cross_entropy": "softmax", "poisson": "exp"
        }.get(loss, "logistic")  # fmt: skip
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
        self._check_settings()
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
                dtype,
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
        self._fit_epochs(X, Y, rs, incremental, sample_weight)
        return self

    def _poisson_offset(self, Y, sample_weight) -> float:
        """The z-free part of scikit-learn's Poisson loss, (weighted) mean of Σ_j y log y − y.

        fastbp's per-example Poisson loss is Σ_j exp(z_j) − y_j z_j; scikit-learn reports the
        half deviance, which adds this constant.  It is added to ``loss_`` and the L-BFGS
        objective so that both read as scikit-learn's (it changes L-BFGS-B's relative-decrease
        stopping test, not the gradient).  0 for the other losses.
        """
        if self._loss_for(Y) != "poisson":
            return 0.0
        Yd = np.asarray(Y, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_row = np.where(Yd > 0, Yd * np.log(np.where(Yd > 0, Yd, 1.0)), 0.0) - Yd
        return float(np.average(per_row.sum(axis=1), weights=sample_weight))

    def _fit_lbfgs(self, X, Y, sample_weight) -> None:
        """scipy's L-BFGS-B on the flat parameter buffer (see the module docstring).

        The objective is scikit-learn's: the (weighted) mean loss, divided by the number of
        outputs for the squared error, plus (α / 2 Σ s_i) Σ_k ‖W[k]‖².  For a float64 network
        the kernels read the optimizer's own vector x as the parameters (no copy per call); a
        float32 network casts x into one preallocated float32 buffer per call, as L-BFGS-B works
        in float64.
        """
        net = self.network_
        spec = net.spec
        Yd = np.ascontiguousarray(Y, dtype=spec.np_dtype)
        Xd = X if sp.issparse(X) else as_features(X, spec)
        sw = None if sample_weight is None else as_sample_weight(
            sample_weight, X.shape[0], spec.np_dtype)  # fmt: skip
        n_total = float(X.shape[0] if sw is None else sw.sum())
        per_output = float(spec.n_outputs) if spec.loss == "squared" else 1.0
        alpha = float(self.alpha)
        mask = net.plan.weight_mask.astype(np.float64)
        grad64 = np.empty(net.n_params, dtype=np.float64)
        masked = np.empty(net.n_params, dtype=np.float64)  # W-mask ⊙ x
        scratch = None if spec.np_dtype == np.float64 else np.empty(net.n_params, spec.np_dtype)
        verbose = bool(self.verbose)
        offset = self._loss_offset

        def loss_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            if scratch is None and x.dtype == np.float64 and x.flags.c_contiguous:
                params = x
            else:
                params = scratch if scratch is not None else np.empty_like(net.params)
                np.copyto(params, x, casting="unsafe")
            with np.errstate(over="ignore", invalid="ignore"):
                J = net.lowered.loss_and_gradient(Xd, Yd, params=params, sw=sw) / per_output
                J += offset
                np.multiply(mask, x, out=masked)
                J += 0.5 * alpha * float(np.dot(masked, x)) / n_total
                np.multiply(net.lowered.grad, 1.0 / per_output, out=grad64, casting="unsafe")
                np.multiply(masked, alpha / n_total, out=masked)
                np.add(grad64, masked, out=grad64)
            # A new array each call: scipy keeps the previous gradient while it evaluates.
            return J, grad64.copy()

        callback = None
        if verbose:
            iteration = [0]

            def callback(intermediate_result) -> None:
                iteration[0] += 1
                print(f"Iteration {iteration[0]}, loss = {intermediate_result.fun:.8f}")

        x0 = net.params.astype(np.float64)
        net.lowered.guard.enter_write("fit")
        try:
            result = scipy.optimize.minimize(
                loss_grad, x0, method="L-BFGS-B", jac=True, callback=callback,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
            )  # fmt: skip
        finally:
            net.lowered.guard.exit_write()
        self.n_iter_ = min(int(result.nit), self.max_iter)
        if result.status != 0:
            msg = (
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                f"(status={result.status}):\n{result.message}\n"
            )
            if self.n_iter_ == self.max_iter:
                msg += (
                    f"\nIncrease the number of iterations to improve the convergence "
                    f"(max_iter={self.max_iter})."
                )
            warnings.warn(msg, ConvergenceWarning, stacklevel=4)
        self.loss_ = float(result.fun)
        if not np.isfinite(result.x).all():
            raise ValueError(self._nonfinite_message(X))
        net.params = result.x.astype(spec.np_dtype)

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

    def _fit_epochs(self, X, Y, rs, incremental: bool, sample_weight=None) -> None:
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
        epochs = _Epochs(net, X, Y, batch_size, self._make_optimizer(), self._resume_optimizer,
                         sample_weight)  # fmt: skip
        self._resume_optimizer = True
        sgd_family = self.solver != "adam"
        sample_idx = np.arange(n)
        verbose = bool(self.verbose)
        bar = Progress(
            1 if incremental else self.max_iter, bool(self.progress), unit="epoch", desc="fit"
        )
        diverged = False
        self.n_iter_ = 0
        ctrl_c_guard = ctrl_c_deferred()
        epochs.ctrl_c = ctrl_c_guard.__enter__()
        try:
            for _ in range(self.max_iter):
                if self.shuffle:
                    # sklearn.utils.shuffle(sample_idx, random_state=rs), without its checks: the
                    # same draw (rs.shuffle of arange(n)) and so the same order.
                    perm = np.arange(n)
                    rs.shuffle(perm)
                    sample_idx = sample_idx[perm]
                w2_start = epochs.weights_squared()
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
                w2 = 0.5 * (w2_start + epochs.weights_squared())
                self.n_iter_ += 1
                self.t_ += n
                self.loss_ = float(
                    data_loss + self._loss_offset + 0.5 * self.alpha * epochs.l2_batches * w2 / n
                )
                self.loss_curve_.append(self.loss_)
                if verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                if diverged:
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
        finally:
            ctrl_c_guard.__exit__(None, None, None)
            bar.close()
        if self.early_stopping:
            net.params = self._best_params

    def _last_val(self) -> float:
        return self.validation_scores_[-1] if self.validation_scores_ else np.nan

    def _update_no_improvement_count(self, X_val, y_val, sw_val=None) -> None:
        if self.early_stopping:
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
        X = X.tocsr()
        try:  # scipy's toarray trusts indptr/indices: check them first, O(nnz)
            X.check_format(full_check=True)
        except ValueError as exc:
            raise ValueError(f"X is a malformed sparse matrix: {exc}") from None
        out = np.empty((X.shape[0], net.spec.n_outputs), dtype=net.spec.np_dtype)
        for lo in range(0, X.shape[0], SPARSE_CHUNK_ROWS):
            rows = X[lo : lo + SPARSE_CHUNK_ROWS].toarray()
            out[lo : lo + rows.shape[0]] = net.forward(rows.astype(net.spec.np_dtype, copy=False))
        return out

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=_FLOAT_DTYPES, reset=False, accept_sparse=["csr", "csc", "coo"]
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
    def fit(self, X, y, sample_weight=None):
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
    def from_sklearn(cls, estimator):
        """A fitted estimator of this class with the weights and settings of a scikit-learn one.

        ``estimator`` is a fitted ``sklearn.neural_network`` estimator of the same kind
        (``MLPClassifier`` for :class:`MLPClassifier`).  The parameters, the weights (in their
        dtype, which becomes ``dtype``), the classes and the fitted attributes (``loss_curve_``,
        ``n_iter_``, ...) are copied, so ``predict``/``predict_proba`` give the same outputs.  The
        optimizer state is not: a later ``partial_fit`` or ``warm_start`` fit starts a new one.
        Settings fastbp cannot train with (``solver="lbfgs"``) raise ValueError; use
        :meth:`fastbp.Network.from_sklearn` to convert the network alone.

        Returns
        -------
        MLPClassifier or MLPRegressor
            The fitted fastbp estimator.
        """
        from fastbp.interop.sklearn_convert import fastbp_estimator_from_sklearn

        return fastbp_estimator_from_sklearn(cls, estimator)

    def to_sklearn(self):
        """The fitted scikit-learn estimator with this one's weights and settings.

        The parameters are copied (``solver="momentum"``/``"nesterov"`` become scikit-learn's
        ``"sgd"`` with ``nesterovs_momentum`` False/True, the same updates), and so are the
        weights, the classes and the fitted attributes, so ``predict``/``predict_proba`` give the
        same outputs.  fastbp's ``softplus`` and ``leaky_relu`` have no scikit-learn counterpart
        and raise ValueError.  float32 weights stay float32; scikit-learn then computes in the
        dtype of X.

        Returns
        -------
        sklearn.neural_network.MLPClassifier or MLPRegressor
            The fitted scikit-learn estimator.
        """
        from fastbp.interop.sklearn_convert import sklearn_estimator_from_fastbp

        return sklearn_estimator_from_fastbp(self)

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        state = dict(super().__getstate__())
        if "network_" in state:
            state["network_"] = _network_state(state["network_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("network_"), dict):
            state = dict(state, network_=_network_from_state(state["network_"]))
        super().__setstate__(state)


# ----------------------------------------------------------------------------- regressor
class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multilayer perceptron regressor trained with fastbp kernels.

    The parameters (every one of ``sklearn.neural_network.MLPRegressor``'s, with its default)
    and fitted attributes are scikit-learn's, plus ``dtype``, ``progress`` and ``network_``.
    ``loss`` is ``"squared_error"`` (identity output) or ``"poisson"`` (exponential output, y ≥ 0).
    The mapping is in the :mod:`fastbp.sklearn` docstring.  ``y`` may be (n,) or (n, n_outputs).
    ``predict`` returns (n,) for a single output and (n, n_outputs) otherwise, in the network's
    dtype (float32 for float32 X with the default ``dtype="auto"``).
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        loss="squared_error",
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
        dtype="auto",
        progress=False,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, loss=loss,
            solver=solver, alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, progress=progress,
        )  # fmt: skip

    def _check_loss(self) -> None:
        if not isinstance(self.loss, str) or self.loss not in REGRESSION_LOSSES:
            raise ValueError(
                f"loss={self.loss!r} is not supported; allowed: {sorted(REGRESSION_LOSSES)}"
            )

    def _is_classifier(self) -> bool:
        return False

    def _loss_for(self, Y) -> str:
        return REGRESSION_LOSSES[self.loss]

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=_FLOAT_DTYPES, reset=reset,
            accept_sparse=["csr", "csc"],
        )  # fmt: skip
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        y = np.asarray(y, dtype=np.float64)
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for Poisson regression."
            )
        return X, y

    def _decode(self, out: np.ndarray) -> np.ndarray:
        return out.ravel() if out.shape[1] == 1 else out

    def _metric(self, y, y_pred, sample_weight=None) -> float:
        return r2_score(y, y_pred, sample_weight=sample_weight)

    @available_if(lambda self: self._check_stochastic())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current network and optimizer state.

        Available for the stochastic solvers only (not ``"lbfgs"``), as in scikit-learn.

        Returns
        -------
        self
            The updated estimator.
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Predicted values: (n,) for a single output, else (n, n_outputs)."""
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# ----------------------------------------------------------------------------- classifier
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multilayer perceptron classifier trained with fastbp kernels.

    The parameters (every one of ``sklearn.neural_network.MLPClassifier``'s, with its default)
    and fitted attributes are scikit-learn's, plus ``dtype``, ``progress`` and ``network_``.
    Binary problems use
    one sigmoid output with the logistic loss.  Multiclass problems use softmax with
    cross-entropy.  Multilabel indicator targets use one sigmoid per label.  Labels can be of any
    type that ``LabelBinarizer`` accepts, and ``classes_`` lists them.
    """

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
        dtype="auto",
        progress=False,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, loss="log_loss",
            solver=solver, alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, progress=progress,
        )  # fmt: skip

    def _check_loss(self) -> None:
        pass  # always the log loss (scikit-learn's MLPClassifier has no loss parameter)

    def _is_classifier(self) -> bool:
        return True

    def _loss_for(self, Y) -> str:
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax_cross_entropy"
        return "logistic"  # binary (one output) and multilabel (one output per label)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, multi_output=True, dtype=_FLOAT_DTYPES, reset=reset,
            accept_sparse=["csr", "csc"],
        )  # fmt: skip
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool)

    def _decode(self, out: np.ndarray) -> np.ndarray:
        if out.dtype == bool:  # already binarised targets (the validation split)
            out = out.astype(np.float64)
        if out.shape[1] == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def _metric(self, y, y_pred, sample_weight=None) -> float:
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    @available_if(lambda self: self._check_stochastic())
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current network and optimizer state.

        ``classes`` (every label that will ever be seen) is required on the first call and must
        not change afterwards, as in scikit-learn.  Available for the stochastic solvers only.

        Returns
        -------
        self
            The updated estimator.
        """
        fitted = getattr(self, "classes_", None)
        if fitted is None:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(fitted, unique_labels(classes)):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, was: "
                f"{fitted!r}"
            )
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Predicted labels (n,), or an (n, n_labels) indicator matrix for multilabel targets."""
        return self._decode(self._forward(X))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes) in the order of ``classes_``.

        Binary: [1 − p, p] from the single sigmoid output.  Multilabel: one probability per label.
        """
        out = self._forward(X)
        if out.shape[1] == 1:
            p = out.ravel()
            return np.vstack([1 - p, p]).T
        return out

    def predict_log_proba(self, X) -> np.ndarray:
        """log of :meth:`predict_proba`."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
