"""Helpers shared by the converters: optional imports and checks of the network."""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

#: Python package -> the fastbp extra that installs it.
EXTRAS = {"onnx": "onnx", "onnxruntime": "onnx", "torch": "torch", "sklearn": "sklearn"}


def require(module: str, what: str) -> ModuleType:
    """Import an optional dependency, or raise ImportError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module.split(".")[0], module)
        raise ImportError(
            f"{what} needs the optional package {module.split('.')[0]!r}: "
            f'pip install "fastbp[{extra}]" ({exc})'
        ) from None


def check_network(net: object, what: str):
    """``net`` must be a :class:`fastbp.Network` with finite parameters (else TypeError/ValueError).

    A network with NaN or inf parameters cannot run ``forward`` either, so no converter writes it.
    """
    from fastbp.network import Network

    if not isinstance(net, Network):
        raise TypeError(f"{what} needs a fastbp.Network, got {type(net).__name__}")
    if not np.isfinite(net.params).all():
        raise ValueError(
            f"{what}: the network's parameters contain NaN or inf; a converted model would not "
            "compute what net.forward computes (which refuses them)"
        )
    return net
