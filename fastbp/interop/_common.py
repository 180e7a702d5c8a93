"""Helpers shared by the converters: optional imports and checks of the network."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fastbp.network import Network

#: Python package -> the fastbp extra that installs it.
EXTRAS = {"onnx": "onnx", "onnxruntime": "onnx", "torch": "torch", "sklearn": "sklearn"}


def require(module: str, what: str) -> ModuleType:
    """Import an optional dependency, or raise ImportError naming the extra that installs it.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"onnx"`` or ``"torch.nn"``.
    what : str
        What needs it (a function name), for the message.

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    ImportError
        Naming the fastbp extra that installs the package.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module.split(".")[0], module)
        raise ImportError(
            f"{what} needs the optional package {module.split('.')[0]!r}: "
            f'pip install "fastbp[{extra}]" ({exc})'
        ) from None


def check_network(net: object, what: str) -> Network:
    """``net`` must be a :class:`fastbp.Network` with finite parameters.

    A network with NaN or inf parameters cannot run ``forward`` either, so no converter writes it.

    Parameters
    ----------
    net : object
        The caller's argument.
    what : str
        The converter's name, for the message.

    Returns
    -------
    fastbp.Network
        ``net`` itself.

    Raises
    ------
    TypeError
        If ``net`` is not a Network.
    ValueError
        If its parameters contain NaN or inf.
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
