"""The classifier: :class:`MLPClassifier` (labels, the output layer per target type, accuracy)."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from fastbp.sklearn._base import _BaseMLP
from fastbp.sklearn._params import FLOAT_DTYPES


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
