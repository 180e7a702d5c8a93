"""scikit-learn ``MLPRegressor`` / ``MLPClassifier`` with its plain SGD solver.

Settings: ``solver="sgd"``, ``batch_size``, ``learning_rate="constant"``,
``learning_rate_init=lr``, ``momentum=0``, ``nesterovs_momentum=False``, ``alpha=0`` (no L2),
``shuffle=False``, ``max_iter=1``.

Starting from fastbp's parameters: one ``partial_fit`` on the first batch creates the model
(``coefs_``, ``intercepts_``, the label binarizer with ``classes=range(k)``, the optimizer),
then ``coefs_[k][...] = W[k]ᵀ`` and ``intercepts_[k][...] = b[k]`` overwrite its parameters in
place.  An epoch is then one ``partial_fit(X, y)``: exactly one pass over the data in order
(``max_iter`` does not apply to ``partial_fit``, so no ConvergenceWarning is raised; one is
filtered anyway).  With momentum 0 sklearn's update is θ ← θ − α g.  Its squared loss is
½·mean over the batch (and over outputs; there is one output here) of (a − y)², so its
gradient equals fastbp's mean of ∇½‖a − y‖²; the gate checks this.  No W4/W5: gradients and
forward passes are not public API.
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

LIBRARY = "sklearn"


def setup(threads: int) -> None:
    """Nothing to set: sklearn's MLP uses numpy's BLAS, whose threads come from the environment."""


def versions() -> dict:
    return {"sklearn": sklearn.__version__}


class Trainer:
    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray) -> None:
        if job["activation"] != "relu":
            raise NotImplementedError("the sklearn peer is set up for ReLU hidden layers only")
        bs = job["batch_size"]
        settings = dict(
            hidden_layer_sizes=tuple(job["widths"][1:-1]), activation="relu", solver="sgd",
            alpha=0.0, batch_size=bs, learning_rate="constant", learning_rate_init=job["lr"],
            momentum=0.0, nesterovs_momentum=False, shuffle=False, max_iter=1,
            early_stopping=False, random_state=0,
        )  # fmt: skip
        self.X = X
        if job["loss"] == "softmax_cross_entropy":
            self.model = MLPClassifier(**settings)
            self.y = np.asarray(Y)
            self._partial_fit(X[:bs], self.y[:bs], classes=np.arange(job["widths"][-1]))
        else:
            self.model = MLPRegressor(**settings)
            self.y = np.asarray(Y).reshape(-1)  # (n,): a (n, 1) y warns in sklearn
            self._partial_fit(X[:bs], self.y[:bs])
        model = self.model
        for (W, b), coef, bias in zip(layers, model.coefs_, model.intercepts_, strict=True):
            coef[...] = W.T
            bias[...] = b

    def _partial_fit(self, X, y, **kwargs) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.partial_fit(X, y, **kwargs)

    def epoch(self) -> None:
        self._partial_fit(self.X, self.y)

    def params(self):
        pairs = zip(self.model.coefs_, self.model.intercepts_, strict=True)
        return [(c.T.copy(), i.copy()) for c, i in pairs]
