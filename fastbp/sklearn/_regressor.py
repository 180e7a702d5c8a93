"""The regressor: :class:`MLPRegressor` (targets, the R² metric, the squared/Poisson losses)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import validate_data

from fastbp.sklearn._base import _BaseMLP
from fastbp.sklearn._params import FLOAT_DTYPES, REGRESSION_LOSSES


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
            self, X, y, multi_output=True, y_numeric=True, dtype=FLOAT_DTYPES, reset=reset,
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
