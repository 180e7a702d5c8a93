"""A fitted estimator's network as plain data, for pickling.

A :class:`fastbp.Network` holds a lock and its workspaces, which do not pickle; the estimators
pickle what the network *is* instead: the spec, the parameters, the optimizer settings and state,
and the history (see ``__getstate__`` in :mod:`fastbp.sklearn._base`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastbp.history import History
from fastbp.network import Network
from fastbp.optim import Optimizer
from fastbp.spec import NetworkSpec


def network_state(net: Network) -> dict[str, Any]:
    """What a Network is, without its lock and workspaces.

    Parameters
    ----------
    net : Network
        The network.

    Returns
    -------
    dict
        ``spec``, ``params``, ``init``, ``seed``, ``optimizer``, ``optimizer_state`` and
        ``history``, as plain data and copies of arrays.
    """
    opt = net.optimizer
    return {
        "spec": net.spec.to_dict(),
        "params": net.params.copy(),
        "init": net.init,
        "seed": net.seed if isinstance(net.seed, (int, np.integer, type(None))) else None,
        "optimizer": None if opt is None else opt.settings(),
        "optimizer_state": None if opt is None else {k: v.copy() for k, v in
                                                     opt.state_arrays().items()},
        "history": None if net.history is None else net.history.to_dict(),
    }  # fmt: skip


def network_from_state(state: dict[str, Any]) -> Network:
    """The Network that :func:`network_state` described.

    Parameters
    ----------
    state : dict
        What :func:`network_state` returned.

    Returns
    -------
    Network
        A new network with those parameters, optimizer state and history.
    """
    net = Network(NetworkSpec.from_dict(state["spec"]), init="zeros")
    net.params = state["params"]
    net.init, net.seed = state["init"], state["seed"]
    if state["optimizer"] is not None:
        opt = Optimizer(**state["optimizer"])
        opt.load_state(state["optimizer_state"], net.n_params, net.spec.np_dtype)
        net.optimizer = opt
    if state["history"] is not None:
        net.history = History.from_dict(state["history"])
    return net
