"""The classifier: :class:`MLPClassifier` (labels, the output layer per target type, accuracy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from fastbp.sklearn._base import _BaseMLP
from fastbp.sklearn._lean import LeanState, class_targets
from fastbp.sklearn._params import FLOAT_DTYPES

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; only read by type checkers


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multilayer perceptron classifier trained with fastbp kernels.

    The parameters (every one of ``sklearn.neural_network.MLPClassifier``'s, with its default)
    and fitted attributes are scikit-learn's, plus ``dtype``, ``progress``, DP-SGD's
    ``max_grad_norm`` and ``noise_multiplier``, and ``network_``.
    Binary problems use one sigmoid output with the logistic loss.  Multiclass problems use
    softmax with cross-entropy.  Multilabel indicator targets use one sigmoid per label.  Labels
    can be of any type that ``LabelBinarizer`` accepts, and ``classes_`` lists them.  How each
    parameter maps onto fastbp is in the :mod:`fastbp.sklearn` docstring.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        The hidden widths; the network is ``[n_features, *hidden_layer_sizes, n_outputs]``.
    activation : str, default="relu"
        The hidden activation: scikit-learn's ``"relu"``, ``"tanh"``, ``"logistic"`` (fastbp's
        ``"sigmoid"``), ``"identity"``, and beyond scikit-learn any other of
        :data:`fastbp.ACTIVATIONS` (``"softplus"``, ``"leaky_relu"``, ``"gelu"``, ``"silu"``,
        ``"elu"``, ``"selu"``, ``"mish"``).
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
    class_weight : dict, list of dict, "balanced" or None, default=None
        Weights of the classes (fastbp only; scikit-learn's ``MLPClassifier`` has none), as in
        scikit-learn's linear classifiers: ``{label: weight}`` (labels left out weigh 1), one
        such dict per label for multilabel targets, or ``"balanced"``, n_samples / (n_classes ·
        bincount(y)) computed from the ``y`` given to :meth:`fit`.  Each row's weight multiplies
        its ``sample_weight``; the loss and gradient become weighted means.  :meth:`partial_fit`
        takes a dict (single-label targets) but not ``"balanced"``, which needs every row's label
        at once (pass ``compute_class_weight("balanced", ...)``'s dict instead).  Not with DP-SGD,
        which takes no weights.

    Attributes
    ----------
    network_ : fastbp.Network
        The fitted network.
    coefs_, intercepts_ : list of numpy.ndarray
        Views of the network's weights, transposed to (n_in, n_out), and biases.
    classes_ : numpy.ndarray
        The labels, in the order of the ``predict_proba`` columns.
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
    MLPRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : The scikit-learn estimator this one follows.
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
        max_grad_norm=None,
        noise_multiplier=0.0,
        weight_decay=None,
        clip_norm=None,
        class_weight=None,
        dropout=0.0,
        warmup=0,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, loss="log_loss",
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
        self.class_weight = class_weight

    def _check_loss(self) -> None:
        pass  # always the log loss (scikit-learn's MLPClassifier has no loss parameter)

    def _is_classifier(self) -> bool:
        return True

    def _loss_params(self, loss: str) -> dict:
        return {}

    def _loss_for(self, Y) -> str:
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax_cross_entropy"
        return "logistic"  # binary (one output) and multilabel (one output per label)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, multi_output=True, dtype=FLOAT_DTYPES, reset=reset,
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

    def _lean_targets(self, y, n: int, state: LeanState, dtype: np.dtype) -> np.ndarray | None:
        return class_targets(y, n, self.classes_, self._label_binarizer.y_type_, state, dtype)

    def _decode(self, out: np.ndarray) -> np.ndarray:
        if out.dtype == bool:  # already binarised targets (the validation split)
            out = out.astype(np.float64)
        if out.shape[1] == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def _metric(self, y, y_pred, sample_weight=None) -> float:
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def _weighted(self, y: ArrayLike, sample_weight: ArrayLike | None, incremental: bool):
        """``sample_weight`` times each row's ``class_weight`` (unchanged when that is None).

        fit: scikit-learn's ``compute_sample_weight`` (its checks and messages).  partial_fit:
        a dict looked up per row, its labels checked against ``classes_``, since one batch need
        not hold every class.
        """
        cw = self.class_weight
        if cw is None:
            return sample_weight
        y_arr = np.asarray(y)
        if not incremental:
            weights = compute_sample_weight(cw, y_arr)
        elif isinstance(cw, dict) and y_arr.ndim == 1:
            unknown = [label for label in cw if label not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"class_weight has labels not in classes_ {self.classes_!r}: "
                                 f"{unknown!r}")  # fmt: skip
            weights = np.array([float(cw.get(label, 1.0)) for label in y_arr.tolist()])
        else:
            raise ValueError(
                f"class_weight={cw!r} is not supported by partial_fit (only a dict, for "
                "single-label targets): 'balanced' needs every label at once; pass the dict of "
                "sklearn.utils.class_weight.compute_class_weight('balanced', classes=..., y=...) "
                "computed on a large enough sample of the labels"
            )
        if (
            weights.shape != (y_arr.shape[0],)
            or not np.all(np.isfinite(weights))
            or (weights < 0).any()
        ):
            raise ValueError(f"class_weight={cw!r} gives weights that are not finite and >= 0")
        if sample_weight is None:
            return weights
        return weights * np.asarray(sample_weight, dtype=np.float64)

    def fit(self, X: ArrayLike | sp.spmatrix, y: ArrayLike,
            sample_weight: ArrayLike | None = None) -> Self:  # fmt: skip
        """Fit the network to X (n_samples, n_features) and the labels y.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            The inputs; sparse matrices are densified a chunk of rows at a time, never whole.
        y : array_like of shape (n_samples,) or (n_samples, n_labels)
            Labels, or a multilabel indicator matrix.
        sample_weight : array_like of shape (n_samples,) or None
            Per-sample weights (times ``class_weight``'s): the loss and its gradient become
            weighted means.

        Returns
        -------
        self
            The fitted estimator.
        """
        sample_weight = self._weighted(y, sample_weight, incremental=False)
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(lambda self: self._check_stochastic())
    def partial_fit(
        self, X: ArrayLike | sp.spmatrix, y: ArrayLike, classes: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:  # fmt: skip
        """One epoch over (X, y), continuing from the current network and optimizer state.

        Available for the stochastic solvers only, as in scikit-learn.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            The inputs; sparse matrices are densified a chunk of rows at a time, never whole.
        y : array_like of shape (n_samples,) or (n_samples, n_labels)
            Labels, or a multilabel indicator matrix.
        classes : array_like or None
            Every label that will ever be seen: required on the first call, and must not change
            afterwards.
        sample_weight : array_like of shape (n_samples,) or None
            Per-sample weights (times ``class_weight``'s, a dict here).

        Returns
        -------
        self
            The updated estimator.

        Raises
        ------
        ValueError
            If ``classes`` is missing on the first call or differs from the first call's.
        """
        fitted = getattr(self, "classes_", None)
        if (
            sample_weight is None
            and self.class_weight is None
            and fitted is not None
            and (classes is None or _same_classes(classes, fitted))
            and self._lean_partial_fit(X, y)
        ):
            return self  # the steady state of a streaming loop (fastbp.sklearn._lean)
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
        sample_weight = self._weighted(y, sample_weight, incremental=True)
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X: ArrayLike | sp.spmatrix) -> np.ndarray:
        """The predicted labels for X.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            The inputs; sparse matrices are densified a chunk of rows at a time, never whole.

        Returns
        -------
        numpy.ndarray
            (n_samples,) labels, or an (n_samples, n_labels) indicator matrix for multilabel
            targets.
        """
        return self._decode(self._forward(X))

    def predict_proba(self, X: ArrayLike | sp.spmatrix) -> np.ndarray:
        """Class probabilities in the order of ``classes_``.

        Binary: [1 − p, p] from the single sigmoid output.  Multilabel: one probability per label.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            The inputs; sparse matrices are densified a chunk of rows at a time, never whole.

        Returns
        -------
        numpy.ndarray
            (n_samples, n_classes) probabilities, in the network's dtype.
        """
        out = self._forward(X)
        if out.shape[1] == 1:
            p = out.ravel()
            return np.vstack([1 - p, p]).T
        return out

    def predict_log_proba(self, X: ArrayLike | sp.spmatrix) -> np.ndarray:
        """The logarithm of :meth:`predict_proba` (−inf where a probability is 0).

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            The inputs; sparse matrices are densified a chunk of rows at a time, never whole.

        Returns
        -------
        numpy.ndarray
            (n_samples, n_classes) log-probabilities.
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _same_classes(classes: object, fitted: np.ndarray) -> bool:
    """Whether ``classes`` is plainly the fitted ``classes_`` again (an ndarray of the same
    sorted labels); anything else is checked by the full path."""
    return (
        type(classes) is np.ndarray
        and classes.shape == fitted.shape
        and classes.dtype == fitted.dtype
        and np.array_equal(np.sort(classes), fitted)
    )
