"""PyTorch conversion: a Network to and from a ``torch.nn.Sequential`` of ``Linear`` layers.

``to_torch`` builds ``Sequential(Linear, act, Linear, act, ..., Linear[, output])`` in the
network's dtype, with ``nn.Identity()`` for an ``identity`` hidden layer and, after the last
``Linear``, ``nn.Softmax(dim=-1)`` for ``softmax_cross_entropy``, ``nn.Sigmoid()`` for
``logistic``, fastbp's ``Exp()`` module for ``poisson`` and nothing for ``squared``
(``logits=True`` leaves the output activation out, for ``CrossEntropyLoss`` /
``BCEWithLogitsLoss``).  ``Linear.weight`` is fastbp's W[k] (same shape,
(n_k, n_{k−1})) and ``Linear.bias`` is b[k].

=================================  ==============================================================
torch module                       fastbp
=================================  ==============================================================
``Linear(bias=True)``              one layer (W[k], b[k]); float32 or float64, all the same dtype
``ReLU``, ``Sigmoid``, ``Tanh``    ``relu``, ``sigmoid``, ``tanh``
``Softplus(beta=1, threshold)``    ``softplus``.  torch returns z itself where z > threshold;
                                   fastbp returns z + log1p(e^−z), which differs by less than
                                   e^−threshold.  ``from_torch`` accepts threshold ≥ 20 (the
                                   default; the difference is then < 2.1e-9 and only for z > 20);
                                   ``to_torch`` writes threshold = 40, where z + e^−z rounds to z
                                   in float32 and float64, so the two agree to rounding.
``LeakyReLU(0.01)``                ``leaky_relu`` (only the slope 0.01 that fastbp uses)
``GELU()``, ``SiLU``, ``ELU()``,   ``gelu`` (``approximate="none"`` only), ``silu``, ``elu``
``SELU``, ``Mish``                 (α = 1 only), ``selu``, ``mish``
``Identity`` / nothing             ``identity`` between two ``Linear`` layers
``Softmax(dim=-1 or 1)``           after the last ``Linear`` only, with
                                   ``loss="softmax_cross_entropy"``
``Sigmoid``                        after the last ``Linear`` only, with ``loss="logistic"``
``fastbp.interop.torch_convert.``  after the last ``Linear`` only, with ``loss="poisson"``
``exp_module_class()`` (``Exp``)   (torch.nn has no exponential module)
``Dropout(p)``                     the spec's ``dropout`` rate of a hidden layer: after the
                                   layer's activation (or its ``Linear`` for ``identity``),
                                   never after the last ``Linear``; ``to_torch`` writes one after
                                   each hidden layer with a rate > 0 (the module is in ``eval()``
                                   mode, so it computes the inference ``net.forward``)
=================================  ==============================================================

Anything else (another slope, a ``Linear`` without bias, another dropout module, nested
containers, two activations in a row, an activation after the last ``Linear`` that is not the
loss's output)
raises ValueError naming the module by its index and repr.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastbp.activations import RECORDS
from fastbp.interop._common import build_network, check_network, require
from fastbp.spec import LOSSES, NetworkSpec

#: Softplus threshold written by to_torch: above it z + log1p(exp(-z)) rounds to z in both dtypes.
TORCH_SOFTPLUS_THRESHOLD = RECORDS["softplus"].torch[1]["threshold"]
#: Smallest Softplus threshold from_torch accepts (torch's default).
MIN_SOFTPLUS_THRESHOLD = RECORDS["softplus"].torch_at_least["threshold"]


_EXP_CLASS = None


def exp_module_class() -> type:
    """``Exp``, the torch module y = exp(x) that ends a ``loss="poisson"`` network.

    torch.nn has no exponential module, so fastbp defines this one (once, when torch is first
    needed); :func:`from_torch` accepts it as the output of ``loss="poisson"``.

    Returns
    -------
    type
        The ``torch.nn.Module`` subclass ``Exp``.

    Raises
    ------
    ImportError
        If torch is not installed.
    """
    global _EXP_CLASS
    if _EXP_CLASS is None:
        import torch
        from torch import nn

        class Exp(nn.Module):
            """y = exp(x), elementwise: the output of a fastbp ``loss="poisson"`` network."""

            def forward(self, x):
                return torch.exp(x)

        _EXP_CLASS = Exp
    return _EXP_CLASS


def _hidden_module(nn, act: str):
    """The torch module of a hidden activation, from its record (:attr:`Activation.torch`)."""
    cls, kwargs = RECORDS[act].torch
    return getattr(nn, cls)(**kwargs)


def folded_layers(net: Any, preprocessing: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W[k], b[k]) of ``net``, with its preprocessing folded into the first and last layers.

    Standardised inputs (x − m) / s feed layer 1 as W (x − m) / s + b = (W / s) x + (b − (W / s) m);
    de-standardised outputs z · t + u (regression) come from (t W) a + (t b + u).  Computed in
    float64 and returned in the network's dtype; without preprocessing, copies of the layers.

    Parameters
    ----------
    net : fastbp.Network
        The network.
    preprocessing : bool
        Fold ``net.preprocessing`` in (when it is set).

    Returns
    -------
    list of tuple of numpy.ndarray
        One (W, b) per layer, (n_k, n_{k−1}) and (n_k,).
    """
    spec = net.spec
    layers = [tuple(np.array(a, dtype=np.float64) for a in net.layer(k))
              for k in range(1, spec.n_layers + 1)]  # fmt: skip
    pre = getattr(net, "preprocessing", None) if preprocessing else None
    if pre is not None and pre.x is not None:
        W, b = layers[0]
        W = W / pre.x.scale_
        layers[0] = (W, b - W @ pre.x.mean_)
    if pre is not None and pre.y is not None:
        W, b = layers[-1]
        layers[-1] = (W * pre.y.scale_[:, None], b * pre.y.scale_ + pre.y.mean_)
    dtype = spec.np_dtype
    return [(np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(b, dtype=dtype))
            for W, b in layers]  # fmt: skip


def to_torch(net: Any, *, logits: bool = False, preprocessing: bool = True) -> Any:
    """A ``torch.nn.Sequential`` computing ``net.forward`` in the network's dtype.

    With ``net.preprocessing`` (and ``preprocessing=True``) it is folded into the weights (see
    :func:`folded_layers`): the module takes raw features and returns what ``net.predict``
    computes before its labels (to rounding).

    Parameters
    ----------
    net : fastbp.Network
        The network; its parameters must be finite.  They are copied.
    logits : bool
        Leave out the output activation (softmax or sigmoid), so that the module returns z[r].
    preprocessing : bool
        Fold ``net.preprocessing`` into the first and last ``Linear`` (when it is set).

    Returns
    -------
    torch.nn.Sequential
        ``Linear`` layers with the network's weights and biases, the hidden activations, and the
        output activation (see the module docstring).  It is in eval mode with gradients enabled
        on its parameters, ready to train further.
    """
    torch = require("torch", "to_torch")
    net = check_network(net, "to_torch")
    if not isinstance(logits, (bool, np.bool_)):
        raise TypeError(f"logits must be True or False, got {logits!r}")
    if not isinstance(preprocessing, (bool, np.bool_)):
        raise TypeError(f"preprocessing must be True or False, got {preprocessing!r}")
    nn = torch.nn
    spec = net.spec
    dtype = getattr(torch, spec.dtype)  # torch.float32 or torch.float64
    modules = []
    r = spec.n_layers
    layers = folded_layers(net, preprocessing)
    for k in range(1, r + 1):
        W, b = layers[k - 1]
        lin = nn.Linear(spec.widths[k - 1], spec.widths[k], bias=True, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        modules.append(lin)
        if k < r:
            modules.append(_hidden_module(nn, spec.activations[k - 1]))
            if spec.dropout[k - 1] > 0:
                modules.append(nn.Dropout(spec.dropout[k - 1]))
    if not logits:
        if spec.output_activation == "softmax":
            modules.append(nn.Softmax(dim=-1))
        elif spec.output_activation == "sigmoid":
            modules.append(nn.Sigmoid())
        elif spec.output_activation == "exp":
            modules.append(exp_module_class()())
    return nn.Sequential(*modules).eval()


def _describe(i: int, module) -> str:
    return f"module [{i}] {module!r}"


def _torch_form(name: str) -> str:
    cls, kwargs = RECORDS[name].torch
    return f"{cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _hidden_activation(nn, i: int, module) -> str | None:
    """fastbp name of a supported hidden activation module, or None if it is not one.

    A module matches a record (:attr:`Activation.torch`) when it is of the record's class and
    its attributes equal the record's arguments (or reach the floors of ``torch_at_least``).
    """
    for rec in RECORDS.values():
        cls, kwargs = rec.torch
        if rec.name == "identity" or type(module) is not getattr(nn, cls, None):
            continue
        for attr, want in kwargs.items():
            have = getattr(module, attr)
            floor = rec.torch_at_least.get(attr)
            if not (have >= floor if floor is not None else have == want):
                wanted = ", ".join(
                    f"{k} >= {rec.torch_at_least[k]:g}" if k in rec.torch_at_least else f"{k}={v!r}"
                    for k, v in kwargs.items()
                )
                raise ValueError(
                    f"{_describe(i, module)}: fastbp's {rec.name} is {cls} with {wanted}; "
                    f"{attr}={have!r} cannot be expressed"
                )
        return rec.name
    return None


def torch_network(
    network_class: Any, module: Any, *, loss: str = "squared", huber_delta: float = 1.0,
    quantile: float = 0.5,
) -> Any:  # fmt: skip
    """A network of ``network_class`` computing what a ``torch.nn.Sequential`` computes.

    The converter behind :func:`fastbp.interop.from_torch` and ``Network.from_torch``; it takes
    the class so that it never imports :mod:`fastbp.network`.

    Parameters
    ----------
    network_class : type
        :class:`fastbp.Network` or a subclass.
    module : torch.nn.Sequential
        ``Linear`` layers (with bias, float32 or float64, all one dtype) separated by at most one
        supported activation each (see the module docstring).
    loss : str
        The network's loss: ``"squared"`` (the module must end with its last ``Linear``),
        ``"softmax_cross_entropy"`` or ``"logistic"`` (the module may end with the matching
        ``Softmax`` or ``Sigmoid``, or with the last ``Linear``, i.e. return logits).
    huber_delta, quantile : float
        The loss's parameter for ``loss="huber"`` or ``loss="quantile"`` (as for
        :class:`~fastbp.NetworkSpec`; the module holds no loss).

    Returns
    -------
    fastbp.Network
        With the module's weights copied into the parameter buffer, in the module's dtype.
    """
    torch = require("torch", "from_torch")
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"from_torch needs a torch.nn.Sequential, got {type(module).__name__}")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss = {loss!r} is unknown; allowed: {sorted(LOSSES)}")
    items = list(module)
    linears: list[tuple[int, Any]] = []  # (index, torch.nn.Linear)
    acts: list[str] = []
    pending: tuple[int, str] | None = None  # activation seen since the last Linear
    output_module: tuple[int, Any] | None = None
    rates: list[float] = []  # dropout of each hidden layer
    drop: tuple[int, float] | None = None  # Dropout seen since the last Linear
    for i, m in enumerate(items):
        if isinstance(m, nn.Identity):
            continue
        if type(m) is nn.Dropout:
            if not linears or drop is not None or output_module is not None:
                raise ValueError(f"{_describe(i, m)}: fastbp drops once per hidden layer, after "
                                 "its activation")  # fmt: skip
            drop = (i, float(m.p))
            continue
        if isinstance(m, nn.Linear):
            if output_module is not None:
                j, om = output_module
                raise ValueError(
                    f"{_describe(j, om)} is followed by a Linear; softmax is only allowed as the "
                    "output activation"
                )
            if linears:
                acts.append("identity" if pending is None else pending[1])
                rates.append(0.0 if drop is None else drop[1])
            pending = drop = None
            if m.bias is None:
                raise ValueError(
                    f"{_describe(i, m)} has no bias; fastbp layers are z = W a + b (a Linear "
                    "without bias cannot be expressed)"
                )
            if type(m) is not nn.Linear:
                raise ValueError(f"{_describe(i, m)} is a subclass of Linear; only Linear itself")
            if linears:
                j, prev = linears[-1]
                if m.in_features != prev.out_features:
                    raise ValueError(
                        f"{_describe(i, m)} takes {m.in_features} inputs but {_describe(j, prev)} "
                        f"gives {prev.out_features}"
                    )
            linears.append((i, m))
            continue
        if isinstance(m, exp_module_class()):
            if output_module is not None or pending is not None or not linears:
                raise ValueError(f"{_describe(i, m)} must come right after the last Linear")
            output_module = (i, m)
            continue
        if isinstance(m, nn.Softmax):
            if m.dim not in (-1, 1):
                raise ValueError(
                    f"{_describe(i, m)}: only a softmax over the features (dim=-1 or 1) is "
                    "supported"
                )
            if output_module is not None or pending is not None or not linears:
                raise ValueError(f"{_describe(i, m)} must come right after the last Linear")
            output_module = (i, m)
            continue
        name = _hidden_activation(nn, i, m)
        if name is None:
            raise ValueError(
                f"{_describe(i, m)} is not supported; allowed: Linear (with bias), "
                f"{', '.join(_torch_form(n) for n in RECORDS)}, and Softmax(dim=-1) "
                "or Sigmoid as the output"
            )
        if not linears:
            raise ValueError(f"{_describe(i, m)} comes before the first Linear")
        if drop is not None:
            raise ValueError(f"{_describe(i, m)} follows {_describe(drop[0], items[drop[0]])}; "
                             "fastbp drops after a layer's activation")  # fmt: skip
        blocker = pending if pending is not None else output_module
        if blocker is not None:
            j = blocker[0]
            raise ValueError(
                f"{_describe(i, m)} follows {_describe(j, items[j])}; fastbp applies one "
                "activation per layer"
            )
        pending = (i, name)
    if not linears:
        raise ValueError("the Sequential holds no Linear layer")
    if drop is not None:
        raise ValueError(f"{_describe(drop[0], items[drop[0]])} follows the last Linear; "
                         "fastbp's output layer never drops")  # fmt: skip
    # What follows the last Linear must be the loss's output activation (or nothing: logits).
    out_act = LOSSES[loss][1]
    if output_module is not None:
        j, om = output_module
        wanted = "exp" if isinstance(om, exp_module_class()) else "softmax"
        if out_act != wanted:
            need = "poisson" if wanted == "exp" else "softmax_cross_entropy"
            raise ValueError(
                f"{_describe(j, om)} ends the Sequential, which needs loss={need!r}, got "
                f"loss={loss!r}"
            )
    if pending is not None:
        j, name = pending
        if not (name == "sigmoid" and out_act == "sigmoid"):
            hint = " (use loss='logistic')" if name == "sigmoid" else ""
            raise ValueError(
                f"{_describe(j, items[j])} after the last Linear is not the output of "
                f"loss={loss!r} ({out_act}){hint}; fastbp's output activation comes from the loss"
            )
    dtypes = set()
    for i, lin in linears:
        for p in (lin.weight, lin.bias):
            if p.dtype not in (torch.float32, torch.float64):
                raise ValueError(
                    f"{_describe(i, lin)} has dtype {p.dtype}; fastbp needs float32 or float64"
                )
            dtypes.add(str(p.dtype).removeprefix("torch."))
    if len(dtypes) != 1:
        raise ValueError(f"the Linear layers mix dtypes {sorted(dtypes)}; convert them to one")
    widths = [linears[0][1].in_features] + [lin.out_features for _, lin in linears]
    try:
        spec = NetworkSpec(widths, acts, loss, dtypes.pop(), dropout=rates,
                           huber_delta=huber_delta, quantile=quantile)  # fmt: skip
    except ValueError as exc:  # a rate outside [0, 1), a loss parameter out of range
        raise ValueError(f"from_torch: {exc}") from None
    layers = []
    for i, lin in linears:
        weight = lin.weight.detach().cpu().numpy()
        bias = lin.bias.detach().cpu().numpy()
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise ValueError(f"{_describe(i, lin)} has NaN or inf parameters")
        layers.append((weight, bias))
    return build_network(network_class, spec, layers)
