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

    def to_onnx(self, path: str | os.PathLike, *, opset: int | None = None) -> Path:
        """Write an ONNX model computing :meth:`forward` (input ``X``, output ``Y``, dynamic batch).

        Needs ``fastbp[onnx]``; see :func:`fastbp.interop.to_onnx` for the graph and the options.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the ``.onnx`` file.
        opset : int, optional
            The ONNX opset (default 17; 13 and up).

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from fastbp.interop.onnx_export import to_onnx

        return to_onnx(self, path, opset=opset)

    def to_torch(self, *, logits: bool = False) -> torch.nn.Sequential:
        """A ``torch.nn.Sequential`` computing :meth:`forward`, in the network's dtype.

        Needs ``fastbp[torch]``; see :func:`fastbp.interop.to_torch`.

        Parameters
        ----------
        logits : bool
            Leave the output activation out.

        Returns
        -------
        torch.nn.Sequential
            Linear layers and activations (the output activation too, unless ``logits``).
        """
        from fastbp.interop.torch_convert import to_torch

        return to_torch(self, logits=logits)

    @classmethod
    def from_torch(cls, module: torch.nn.Module, *, loss: str = "squared") -> Network:
        """The network of a ``torch.nn.Sequential`` of ``Linear`` layers and activations.

        Needs ``fastbp[torch]``; see :func:`fastbp.interop.from_torch` for what is accepted.

        Parameters
        ----------
        module : torch.nn.Sequential
            ``Linear`` layers and activations.
        loss : str
            The loss of the network (sets the output activation expected after the last ``Linear``).

        Returns
        -------
        Network
            With the module's weights, in its dtype.
        """
        from fastbp.interop.torch_convert import from_torch

        return from_torch(module, loss=loss)

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
        from fastbp.interop.sklearn_convert import from_sklearn

        return from_sklearn(estimator)
