"""``predict``, ``predict_proba`` and ``score`` of :class:`fastbp.Network`: the methods that work
in the user's units.

A mixin, as :mod:`fastbp.conversions` is, so that these methods sit on ``Network`` while their
code lives here.  When the network carries preprocessing (:attr:`fastbp.Network.preprocessing`,
see :mod:`fastbp.preprocessing`), they standardise raw features on the way in and, for
``squared`` regression, undo the target standardisation on the way out; without it they are
:meth:`fastbp.Network.forward` and its labels, unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fastbp import train
from fastbp.rows import LazyRows
from fastbp.validate import as_features, as_targets

if TYPE_CHECKING:
    from fastbp.lowered import LoweredNetwork
    from fastbp.preprocessing import Preprocessing
    from fastbp.spec import NetworkSpec


class Predictions:
    """``predict``, ``predict_proba`` and ``score`` of :class:`fastbp.Network`."""

    if TYPE_CHECKING:
        spec: NetworkSpec
        lowered: LoweredNetwork
        preprocessing: Preprocessing | None

        def forward(self, X: np.ndarray) -> np.ndarray: ...

    def _user_outputs(self, X: np.ndarray) -> np.ndarray:
        """``forward`` from raw rows to outputs in the user's units (the preprocessing applied)."""
        pre = self.preprocessing
        if pre is None:
            return self.forward(X)
        out = self.forward(pre.to_network_inputs(X, self.spec))  # type: ignore[arg-type]
        return pre.to_user_outputs(out)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, nr): softmax rows or per-output sigmoids.

        Takes raw rows: a network with :attr:`preprocessing` standardises them first.

        Parameters
        ----------
        X : array_like
            (n, n0) rows, in the user's units.

        Returns
        -------
        numpy.ndarray
            (n, nr) probabilities.
        """
        if self.spec.loss_record.task == "regression":
            raise ValueError(
                f"predict_proba needs a classification loss; this network is {self.spec.loss!r}"
            )
        return self._user_outputs(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Regression outputs (n, nr); class labels (n,) for softmax; 0/1 labels for logistic.

        For ``logistic`` the result has shape (n,) when there is one output, else (n, nr).  In the
        user's units: a network with :attr:`preprocessing` (a model saved by ``fastbp train`` or
        ``fastbp sweep``) standardises the raw rows first and returns regression outputs in the
        targets' units; without it this is :meth:`forward` (and its labels).

        Parameters
        ----------
        X : array_like
            (n, n0) rows, in the user's units.

        Returns
        -------
        numpy.ndarray
            Values, labels or 0/1 labels as described above.
        """
        out = self.forward(X) if self.preprocessing is None else self._user_outputs(X)
        if self.spec.output_activation == "softmax":
            return out.argmax(axis=1)
        if self.spec.output_activation == "sigmoid":
            labels = (out >= 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return out

    def score(self, X: np.ndarray, Y: np.ndarray) -> float:
        """R² (mean over outputs) for ``squared``; accuracy otherwise (see fastbp.train.score).

        In the user's units, as :meth:`predict`: raw rows and targets for a network with
        :attr:`preprocessing`.

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, in the forms described in the user guide's "Data" page.

        Returns
        -------
        float
            R² or accuracy.
        """
        pre = self.preprocessing
        X = as_features(X, self.spec) if pre is None else pre.to_network_inputs(X, self.spec)
        Y = as_targets(Y, self.spec, X.shape[0])
        with self.lowered.shared():
            self.lowered.check_params()
            # The output first: refuses outputs too large to hold before Y is expanded.
            Y_pred = self.lowered.forward(X, self.lowered.buffers().ws)
            if pre is not None:
                Y_pred = pre.to_user_outputs(Y_pred)
            Y_true = Y.to_array() if isinstance(Y, LazyRows) else Y
            return train.score(self.spec.loss, Y_pred, Y_true)
