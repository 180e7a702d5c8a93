"""scikit-learn estimators backed by fastbp: :class:`MLPRegressor` and :class:`MLPClassifier`.

This package imports scikit-learn (``pip install "fastbp[sklearn]"``); ``import fastbp`` does not.
Its modules, one job each: ``_params`` (allowed values, parameter checks, the sparse switches),
``_state`` (what a pickle holds), ``_epochs`` (the epoch runner), ``_lbfgs`` (the L-BFGS driver),
``_base`` (the shared estimator and scikit-learn's procedure), ``_classifier`` and
``_regressor``.  They drive the network through ``net.lowered`` and its public API only.

The estimators take every parameter of scikit-learn's ``MLPRegressor``/``MLPClassifier``, with
the same defaults (plus fastbp's ``dtype`` and ``progress``), and follow the same training
procedure: the same initialisation, validation split and shuffling (all drawn from
``random_state`` in the same order), the same minibatches, the same optimizer updates, the same
stopping rule.  Each epoch runs inside fastbp's compiled kernels.
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
                               ``"identity"`` keep their names; beyond scikit-learn, fastbp's
                               other activations (``"softplus"``, ``"leaky_relu"``, ``"gelu"``,
                               ``"silu"``, ``"elu"``, ``"selu"``, ``"mish"``) are accepted too
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
``max_grad_norm``,             fastbp only: DP-SGD (:mod:`fastbp.privacy`), Opacus's clipping
``noise_multiplier``           and noise; stochastic solvers, dense X, no ``sample_weight``
``solver="adamw"``             fastbp only: Adam with decoupled weight decay (torch's AdamW)
``weight_decay``,              fastbp only: PyTorch's weight decay (weights only; coupled but
``clip_norm``, ``warmup``      for adamw; None: 0.01 for adamw, else 0), global gradient-norm
                               clipping per step, and steps of linear learning-rate warm-up;
                               stochastic solvers
``dropout``                    fastbp only: inverted dropout on the hidden layers in training
                               (:mod:`fastbp.dropout`); stochastic solvers, no ``sample_weight``
``class_weight`` (classifier)  fastbp only: a dict, one dict per label, or ``"balanced"``
                               (scikit-learn's rule), multiplying ``sample_weight``
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

import sys
import types

import fastbp.sklearn._params as _params
from fastbp import preload as _preload
from fastbp.sklearn._base import _BaseMLP as _BaseMLP  # fastbp.interop.sklearn_convert uses it
from fastbp.sklearn._classifier import MLPClassifier
from fastbp.sklearn._params import (
    DTYPE_OPTIONS,
    LEARNING_RATES,
    REGRESSION_LOSSES,
    SKLEARN_ACTIVATIONS,
    SOLVERS,
    STOCHASTIC_SOLVERS,
)
from fastbp.sklearn._regressor import MLPRegressor

__all__ = [
    "DTYPE_OPTIONS",
    "EPOCH_LOOP",
    "LEARNING_RATES",
    "REGRESSION_LOSSES",
    "SKLEARN_ACTIVATIONS",
    "SOLVERS",
    "SPARSE_CHUNK_ROWS",
    "SPARSE_TRAINING",
    "STOCHASTIC_SOLVERS",
    "MLPClassifier",
    "MLPRegressor",
]

# Documented, and pickled, as fastbp.sklearn.MLPClassifier/MLPRegressor wherever they are defined.
MLPClassifier.__module__ = MLPRegressor.__module__ = __name__

#: The switches that the fits read at call time; they live in :mod:`fastbp.sklearn._params`.
_SWITCHES = ("EPOCH_LOOP", "SPARSE_CHUNK_ROWS", "SPARSE_TRAINING")
#: Their defaults: deleting a switch from the package restores its default.
_DEFAULTS = {name: getattr(_params, name) for name in _SWITCHES}


class _Package(types.ModuleType):
    """This package, with :data:`SPARSE_TRAINING`, :data:`SPARSE_CHUNK_ROWS` and
    :data:`EPOCH_LOOP` read from and written to :mod:`fastbp.sklearn._params`, where the fits
    read them."""

    def __getattr__(self, name: str) -> object:
        if name in _SWITCHES:
            return getattr(_params, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value: object) -> None:
        if name in _SWITCHES:
            setattr(_params, name, value)
        else:
            super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        # A switch is never removed: deleting it restores its default.  (pytest's monkeypatch
        # undoes a patch of a name missing from the module's __dict__ by deleting it.)
        if name in _SWITCHES:
            setattr(_params, name, _DEFAULTS[name])
        else:
            super().__delattr__(name)


sys.modules[__name__].__class__ = _Package


def _estimator_kernels() -> tuple:
    """The kernels an estimator's first partial_fit, fit and predict run on dense float64 rows
    at the default settings, in that order (batches of 200 rows take BLAS; the other epoch
    variants load on first use)."""
    from fastbp import epochs, kernels, row_kernels
    from fastbp.sklearn import _loop

    return (kernels.all_finite, epochs.minibatch_epoch_blas, row_kernels.settle,
            _loop.run_epochs, kernels.forward_blas)  # fmt: skip


def _plain_float64(sig) -> bool:
    """Whether a kernel signature takes float64 arrays, all C-contiguous, as the estimators
    pass them (other specialisations in the cache, float32 or strided rows, load on first use)."""
    floats = [t for t in sig if hasattr(t, "layout") and str(t.dtype).startswith("float")]
    return bool(floats) and all(str(t.dtype) == "float64" and t.layout == "C" for t in floats)


# A fresh process's first partial_fit finds these in memory (see fastbp.preload).
_preload.start(_estimator_kernels, keep=_plain_float64)
