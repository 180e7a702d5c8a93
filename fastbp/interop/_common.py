"""Helpers shared by the converters: optional imports and checks of the network."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from fastbp.spec import NetworkSpec

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
    A network is recognised by what the converters use (a ``NetworkSpec`` ``spec``, ``params``
    and ``layer(k)``), not by importing :mod:`fastbp.network`: ``Network``'s own methods call
    these converters, so importing it here would close an import circle.

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
    if not (
        isinstance(getattr(net, "spec", None), NetworkSpec)
        and isinstance(getattr(net, "params", None), np.ndarray)
        and callable(getattr(net, "layer", None))
    ):
        raise TypeError(f"{what} needs a fastbp.Network, got {type(net).__name__}")
    params = net.params  # type: ignore[attr-defined]
    if not np.isfinite(params).all():
        raise ValueError(
            f"{what}: the network's parameters contain NaN or inf; a converted model would not "
            "compute what net.forward computes (which refuses them)"
        )
    return net  # type: ignore[return-value]


def build_network(
    network_class: Any,
    spec: NetworkSpec,
    layers: Sequence[tuple[np.ndarray, np.ndarray]],
    metadata: dict[str, Any] | None = None,
) -> Any:
    """A network of ``spec`` holding the given weights: the one place converters build one.

    Parameters
    ----------
    network_class : type
        :class:`fastbp.Network` (or the class a ``Network`` classmethod was called on).
    spec : NetworkSpec
        Widths, activations, loss and dtype.
    layers : sequence of tuple of numpy.ndarray
        (W[k], b[k]) for k = 1..L, shapes (n_k, n_{k−1}) and (n_k,), finite.
    metadata : dict, optional
        Stored as ``net.metadata`` (e.g. the source and the class labels).

    Returns
    -------
    fastbp.Network
        With ``init = "zeros"`` and ``seed = None`` recorded (the weights came from elsewhere).
    """
    net = network_class(spec, init="zeros")
    for k, (W, b) in enumerate(layers, start=1):
        W_k, b_k = net.layer(k)
        W_k[...] = W
        b_k[...] = b
    net.init, net.seed = "zeros", None
    if metadata is not None:
        net.metadata = metadata
    return net
