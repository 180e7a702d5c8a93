"""The regressor: :class:`MLPRegressor` (targets, the R² metric, the squared/Poisson losses)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import validate_data

from fastbp.losses import RECORDS as LOSS_RECORDS
from fastbp.sklearn._base import _BaseMLP
from fastbp.sklearn._lean import LeanState, value_targets
from fastbp.sklearn._params import FLOAT_DTYPES, REGRESSION_LOSSES

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; only read by type checkers


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multilayer perceptron regressor trained with fastbp kernels.

    The parameters (every one of ``sklearn.neural_network.MLPRegressor``'s, with its default)
    and fitted attributes are scikit-learn's, plus ``dtype``, ``progress``, DP-SGD's
    ``max_grad_norm`` and ``noise_multiplier``, and ``network_``.
    ``loss`` is ``"squared_error"`` (identity output), ``"poisson"`` (exponential output, y ≥ 0),
    or beyond scikit-learn's MLPRegressor the robust ``"huber"``, ``"absolute_error"`` and
    ``"quantile"`` (identity output; the names of ``HistGradientBoostingRegressor``).
    The mapping is in the :mod:`fastbp.sklearn` docstring.  ``y`` may be (n,) or (n, n_outputs).
    ``predict`` returns (n,) for a single output and (n, n_outputs) otherwise, in the network's
    dtype (float32 for float32 X with the default ``dtype="auto"``).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        The hidden widths; the network is ``[n_features, *hidden_layer_sizes, n_outputs]``.
    activation : str, default="relu"
        The hidden activation: scikit-learn's ``"relu"``, ``"tanh"``, ``"logistic"`` (fastbp's
        ``"sigmoid"``), ``"identity"``, and beyond scikit-learn any other of
        :data:`fastbp.ACTIVATIONS` (``"softplus"``, ``"leaky_relu"``, ``"gelu"``, ``"silu"``,
        ``"elu"``, ``"selu"``, ``"mish"``).
    loss : {"squared_error", "poisson", "huber", "absolute_error", "quantile"}, \
            default="squared_error"
        The loss: identity output and squared error, or exponential output and the Poisson
        deviance (y ≥ 0); beyond scikit-learn's MLPRegressor, with an identity output and
        r = prediction − y: ``"huber"`` (½ r² for abs(r) ≤ δ, δ (abs(r) − ½ δ) beyond),
        ``"absolute_error"`` (abs(r)) and ``"quantile"`` (the pinball loss of the quantile τ).
        Unlike scikit-learn's squared error, their reported losses sum over the outputs.
    huber_delta : float, default=1.0
        Huber's δ > 0, in units of y (y is not standardised); only with ``loss="huber"``.  Beyond
        scikit-learn's MLPRegressor.
    quantile : float, default=0.5
        The quantile τ in (0, 1) of ``loss="quantile"`` (the name
        ``HistGradientBoostingRegressor`` uses); only with that loss.  Beyond scikit-learn's
        MLPRegressor.
    solver : {"adam", "sgd", "lbfgs", "momentum", "nesterov", "adamw"}, default="adam"
        The optimizer; ``"momentum"``/``"nesterov"`` are fastbp's names for sgd with momentum,
        ``"adamw"`` Adam with decoupled ``weight_decay`` (torch.optim.AdamW; fastbp only).
    alpha : float, default=0.0001
        The L2 strength: (α / 2m) Σ‖W‖² per batch of m rows (biases are not penalised).
    batch_size : int or "auto", default="auto"
        Rows per batch; ``"auto"`` is min(200, n_samples), larger values are clipped.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The schedule of the sgd solvers.
    learning_rate_init : float, default=0.001
        The initial learning rate (stochastic solvers).
    power_t : float, default=0.5
        The exponent of ``"invscaling"``.
    max_iter : int, default=200
        Epochs (stochastic solvers) or iterations (L-BFGS).
    shuffle : bool, default=True
        Shuffle the rows every epoch.
    random_state : int, RandomState instance or None, default=None
        Initialisation, validation split and shuffles, drawn in scikit-learn's order.
    tol : float, default=1e-4
        The improvement that resets the stopping rule (L-BFGS: ``gtol``).
    verbose : bool or int, default=False
        Print scikit-learn's progress lines.
    warm_start : bool, default=False
        Continue from the fitted network (with a new optimizer state).
    momentum : float, default=0.9
        The momentum μ of the sgd solvers, in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for ``solver="sgd"`` with μ > 0.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows, stop on the validation score and restore
        the best epoch's weights.
    validation_fraction : float, default=0.1
        The held-out fraction, in (0, 1).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's ε (scikit-learn adds it to √v; see the mapping in :mod:`fastbp.sklearn`).
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` before stopping (or dividing an adaptive
        learning rate by 5).
    max_fun : int, default=15000
        L-BFGS's limit on loss evaluations.
    dtype : {"auto", "float32", "float64"}, default="auto"
        The network's dtype (fastbp only); ``"auto"`` follows X (float32 stays float32).
    progress : bool, default=False
        Show fastbp's progress bar (fastbp only).
    max_grad_norm : float or None, default=None
        DP-SGD (fastbp only, :mod:`fastbp.privacy`): clip each example's gradient to this norm
        C, Opacus's way, before the batch's sum is noised and averaged; the stochastic solvers,
        dense X and no ``sample_weight``.  The L2 term α is added after the noise.
    noise_multiplier : float, default=0.0
        DP-SGD's σ (fastbp only): Gaussian noise of standard deviation σ C on each batch's sum
        of clipped gradients, drawn from ``random_state`` (None: fresh entropy).
    weight_decay : float or None, default=None
        PyTorch's weight decay λ_wd (fastbp only; the stochastic solvers): for ``"adamw"``
        decoupled (torch.optim.AdamW, θ ← θ (1 − α λ_wd) on the weights; None is its 0.01),
        for the others coupled (torch.optim.SGD's and Adam's: λ_wd W added to every step's
        gradient after clipping, weights only; None is 0).
    clip_norm : float or None, default=None
        Global gradient-norm clipping (fastbp only, ``torch.nn.utils.clip_grad_norm_``): each
        step's gradient (with the α term) is scaled by min(1, C / (‖g‖ + 10⁻⁶)).
    dropout : float or sequence of float, default=0.0
        Inverted dropout on the hidden layers in training (fastbp only, :mod:`fastbp.dropout`):
        one rate in [0, 1) or one per hidden layer; masks drawn from ``random_state`` (an int
        gives the same masks every fit); the stochastic solvers, no ``sample_weight``.
        Predictions never drop.
    warmup : int, default=0
        Steps (batches) of linear learning-rate warm-up, α_t = α · min(1, t / warmup), in front
        of ``learning_rate``'s schedule (fastbp only; the stochastic solvers); the step count
        continues across ``partial_fit`` calls.

    Attributes
    ----------
    network_ : fastbp.Network
        The fitted network.
    coefs_, intercepts_ : list of numpy.ndarray
        Views of the network's weights, transposed to (n_in, n_out), and biases.
    loss_ : float
        scikit-learn's loss at the end of the fit (with the L2 term).
    loss_curve_ : list of float
        The loss per epoch (stochastic solvers).
    best_loss_ : float or None
        The lowest loss of the curve (None with ``early_stopping``).
    validation_scores_ : list of float or None
        The validation score per epoch (``early_stopping`` only).
    best_validation_score_ : float or None
        The best of them.
    n_iter_ : int
        Epochs or L-BFGS iterations run.
    t_ : int
        Rows seen by the stochastic solvers.
    n_features_in_, n_outputs_, n_layers_ : int
        The input width, the output width and the number of layers (inputs included).
    out_activation_ : str
        ``"identity"``, ``"exp"``, ``"logistic"`` or ``"softmax"``.

    See Also
    --------
    MLPClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : The scikit-learn estimator this one follows.
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
        max_grad_norm=None,
        noise_multiplier=0.0,
        weight_decay=None,
        clip_norm=None,
        huber_delta=1.0,
        quantile=0.5,
        dropout=0.0,
        warmup=0,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, loss=loss,
            solver=solver, alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, progress=progress, max_grad_norm=max_grad_norm,
            noise_multiplier=noise_multiplier, weight_decay=weight_decay, clip_norm=clip_norm,
            dropout=dropout, warmup=warmup,
        )  # fmt: skip
        self.huber_delta, self.quantile = huber_delta, quantile

    def _check_loss(self) -> None:
        if not isinstance(self.loss, str) or self.loss not in REGRESSION_LOSSES:
            raise ValueError(
                f"loss={self.loss!r} is not supported; allowed: {sorted(REGRESSION_LOSSES)}"
            )

    def _is_classifier(self) -> bool:
        return False

    def _loss_params(self, loss: str) -> dict:
        """The NetworkSpec keyword of the loss's parameter (``huber_delta``, ``quantile``)."""
        param = LOSS_RECORDS[loss].param
        return {} if param is None else {param: getattr(self, param)}

    def _loss_for(self, Y) -> str:
        return REGRESSION_LOSSES[self.loss]

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=FLOAT_DTYPES, reset=reset,
            accept_sparse=["csr", "csc"],
        )  # fmt: skip
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        y = np.asarray(y, dtype=np.float64)
        counts = LOSS_RECORDS[REGRESSION_LOSSES[self.loss]].output == "exp"
        if counts and (y < 0).any():
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for Poisson regression."
            )
        return X, y

    def _lean_targets(self, y, n: int, state: LeanState, dtype: np.dtype) -> np.ndarray | None:
        exp = LOSS_RECORDS[REGRESSION_LOSSES[self.loss]].output == "exp"
        return value_targets(y, n, self.n_outputs_, dtype, exp)

    def _decode(self, out: np.ndarray) -> np.ndarray:
        return out.ravel() if out.shape[1] == 1 else out

    def _metric(self, y, y_pred, sample_weight=None) -> float:
        return r2_score(y, y_pred, sample_weight=sample_weight)

    @available_if(lambda self: self._check_stochastic())
    def partial_fit(self, X: ArrayLike | sp.spmatrix, y: ArrayLike,
                    sample_weight: ArrayLike | None = None) -> Self:  # fmt: skip
        """One epoch over (X, y), continuing from the current network and optimizer state.

        Available for the stochastic solvers only (not ``"lbfgs"``), as in scikit-learn.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            The inputs; sparse matrices are densified a chunk of rows at a time, never whole.
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array_like of shape (n_samples,) or None
            Per-sample weights.

        Returns
        -------
        self
            The updated estimator.
        """
        if sample_weight is None and self._lean_partial_fit(X, y):
            return self  # the steady state of a streaming loop (fastbp.sklearn._lean)
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X: ArrayLike | sp.spmatrix) -> np.ndarray:
        """The network's predictions for X.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            The inputs; sparse matrices are densified a chunk of rows at a time, never whole.

        Returns
        -------
        numpy.ndarray
            (n_samples,) for a single output, else (n_samples, n_outputs), in the network's
            dtype.
        """
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
