"""Conversions of a :class:`fastbp.Network` to and from other libraries (:mod:`fastbp.interop`).

A mixin, so that these methods sit on ``Network`` while their code lives here; each one imports
its converter (and the optional library it needs) only when called.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from fastbp.network import Network


class Conversions:
    """``to_onnx``, ``to_torch``, ``from_torch`` and ``from_sklearn`` of :class:`fastbp.Network`."""

    def to_onnx(
        self,
        path: str | os.PathLike,
        *,
        opset: int | None = None,
        dtype: str | None = None,
        preprocessing: bool = True,
    ) -> Path:
        """Write an ONNX model computing :meth:`predict`'s values (input ``X``, output ``Y``).

        ``Y`` is what :meth:`forward` returns (values, softmax or sigmoid probabilities), with
        the network's :attr:`~fastbp.Network.preprocessing` built into the graph: raw features
        in, regression outputs in the targets' units out.  The batch dimension is dynamic.  Needs
        ``fastbp[onnx]``; see :func:`fastbp.interop.to_onnx` for the graph.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the ``.onnx`` file.
        opset : int, optional
            The ONNX opset (default 17; 13 and up).
        dtype : {"float32", "float64"}, optional
            The graph's dtype (default: the network's); a float64 network exported as float32
            has its parameters rounded to float32.
        preprocessing : bool
            Build the preprocessing into the graph (default); False exports the bare network,
            computing :meth:`forward` in the network's units.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from fastbp.interop.onnx_export import to_onnx

        return to_onnx(self, path, opset=opset, dtype=dtype,
                       preprocessing=_check_flag(preprocessing))  # fmt: skip

    def to_torch(self, *, logits: bool = False, preprocessing: bool = True) -> torch.nn.Sequential:
        """A ``torch.nn.Sequential`` computing :meth:`predict`'s values, in the network's dtype.

        Linear layers and activations, computing :meth:`forward`; the network's
        :attr:`~fastbp.Network.preprocessing` is folded into the first ``Linear`` (W ← W /
        x_scale, b ← b − W x_mean / x_scale) and, for regression, the last (W ← y_scale W,
        b ← y_scale b + y_mean), so that the module takes raw features and returns the targets'
        units, equal to the network's up to rounding.  Needs ``fastbp[torch]``; see
        :func:`fastbp.interop.to_torch`.

        Parameters
        ----------
        logits : bool
            Leave the output activation out.
        preprocessing : bool
            Fold the preprocessing into the weights (default); False converts the bare network,
            computing :meth:`forward` in the network's units.

        Returns
        -------
        torch.nn.Sequential
            Linear layers and activations (the output activation too, unless ``logits``).
        """
        from fastbp.interop.torch_convert import to_torch

        return to_torch(self, logits=logits, preprocessing=_check_flag(preprocessing))

    @classmethod
    def from_torch(
        cls, module: torch.nn.Module, *, loss: str = "squared", huber_delta: float = 1.0,
        quantile: float = 0.5,
    ) -> Network:  # fmt: skip
        """The network of a ``torch.nn.Sequential`` of ``Linear`` layers and activations.

        Needs ``fastbp[torch]``; see :func:`fastbp.interop.from_torch` for what is accepted.

        Parameters
        ----------
        module : torch.nn.Sequential
            ``Linear`` layers and activations.
        loss : str
            The loss of the network (sets the output activation expected after the last ``Linear``).
        huber_delta, quantile : float
            The loss's parameter for ``loss="huber"`` or ``loss="quantile"`` (as for
            :class:`~fastbp.NetworkSpec`; the module holds no loss).

        Returns
        -------
        Network
            With the module's weights, in its dtype.
        """
        from fastbp.interop.torch_convert import torch_network

        return torch_network(cls, module, loss=loss, huber_delta=huber_delta, quantile=quantile)

    @classmethod
    def from_sklearn(cls, estimator: MLPClassifier | MLPRegressor | Any) -> Network:
        """The network of a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``.

        Needs ``fastbp[sklearn]``; see :func:`fastbp.interop.from_sklearn`.

        Parameters
        ----------
        estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
            A fitted estimator (any solver), or a fastbp.sklearn one.

        Returns
        -------
        Network
            ``forward`` gives the estimator's ``predict`` / ``predict_proba`` outputs.
        """
        from fastbp.interop.sklearn_convert import sklearn_network

        return sklearn_network(cls, estimator)


def _check_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"preprocessing must be True or False, got {value!r}")
    return value
