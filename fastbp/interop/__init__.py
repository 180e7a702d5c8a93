"""Using a fastbp network elsewhere: ONNX export, PyTorch and scikit-learn conversion.

Every converter here is exact: it writes or reads the same function the network computes (same
layers, same activations, same output), or it refuses with an error that says what cannot be
expressed.  Nothing in this package imports ONNX, PyTorch or scikit-learn until a converter that
needs it is called; each raises :class:`ImportError` naming the extra to install.

===========================  ===========================================  ===================
function                     what it does                                 needs
===========================  ===========================================  ===================
:func:`to_onnx`              writes an ONNX model computing ``forward``   ``fastbp[onnx]``
:func:`onnx_model`           the same model as an ``onnx.ModelProto``     ``fastbp[onnx]``
:func:`ensemble_to_onnx`     writes an ONNX model of an ensemble's mean   ``fastbp[onnx]``
:func:`ensemble_onnx_model`  the same model as an ``onnx.ModelProto``     ``fastbp[onnx]``
:func:`to_torch`             a ``torch.nn.Sequential`` in the same dtype  ``fastbp[torch]``
:func:`from_torch`           a Network from such a ``Sequential``         ``fastbp[torch]``
:func:`from_sklearn`         a Network from a fitted ``MLPClassifier``    ``fastbp[sklearn]``
                             or ``MLPRegressor``
===========================  ===========================================  ===================

The methods ``Network.to_onnx``, ``Ensemble.to_onnx``, ``Network.to_torch``,
``Network.from_torch`` and ``Network.from_sklearn`` call the same converters.
The converters never import :mod:`fastbp.network` or :mod:`fastbp.ensemble` (``from_torch`` and
``from_sklearn`` pass them the class, from :mod:`fastbp.interop.networks`), so the imports point
one way.
"""

from __future__ import annotations

from fastbp.interop.networks import from_sklearn, from_torch
from fastbp.interop.onnx_export import (
    DEFAULT_OPSET,
    MIN_OPSET,
    ensemble_onnx_model,
    ensemble_to_onnx,
    onnx_model,
    to_onnx,
)
from fastbp.interop.torch_convert import to_torch

__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "ensemble_onnx_model",
    "ensemble_to_onnx",
    "from_sklearn",
    "from_torch",
    "onnx_model",
    "to_onnx",
    "to_torch",
]
