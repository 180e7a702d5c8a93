"""Bridge to the MLP: one example's loss of a :class:`fastbp.Network`, recorded op by op.

The circuit's inputs are the network's flat parameters θ in ``net.params`` layout
(W[1] | b[1] | ... | W[r] | b[r], each W row-major); x and y are baked in as constants.  Its
gradient is therefore dJ/dθ computed by a generic tape, independently of the MLP kernels, and the
two implementations of backpropagation can be checked against each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np
from numpy.typing import ArrayLike

from fastbp import reference as mlp_reference
from fastbp.activations import RECORDS
from fastbp.circuit import recording
from fastbp.circuit.recording import Recorder, Var
from fastbp.circuit.recording import exp as c_exp
from fastbp.circuit.recording import log as c_log
from fastbp.circuit.tape import Circuit
from fastbp.spec import NetworkSpec
from fastbp.validate import as_features, as_targets

if TYPE_CHECKING:
    from fastbp.network import Network


#: The losses :func:`from_network` writes a tape for (the others refuse, never another's J).
CIRCUIT_LOSSES = frozenset({"squared", "logistic", "poisson", "softmax_cross_entropy"})


def _activation(name: str, z: Var) -> Var:
    """σ(z) built from circuit ops by the activation's record (:attr:`Activation.circuit`)."""
    build = RECORDS[name].circuit if name in RECORDS else None
    if build is None:
        raise ValueError(f"activation {name!r} has no circuit form")
    return build(z, recording)


def _one_example(
    net: Network, x: ArrayLike, y: ArrayLike
) -> tuple[NetworkSpec, np.ndarray, np.ndarray]:
    spec = NetworkSpec(net.spec.widths, net.spec.activations, net.spec.loss, "float64")
    x_arr = np.asarray(x)
    if x_arr.ndim == 1:
        x_arr = x_arr.reshape(1, -1)
    X = cast(np.ndarray, as_features(x_arr, spec, "x", lazy=False))  # lazy=False: an array
    if X.shape[0] != 1:
        raise ValueError(
            f"from_network records one example: x must be (n0,) or (1, n0), got {X.shape}"
        )
    y_arr = np.asarray(y)
    nr = spec.n_outputs
    if y_arr.ndim == 0:
        y_arr = y_arr.reshape(1)  # a class label, or the target of a single output
    elif y_arr.ndim == 1 and y_arr.shape[0] == nr:
        y_arr = y_arr.reshape(1, nr)  # one target row (softmax has nr >= 2, so not a label)
    Y = cast(np.ndarray, as_targets(y_arr, spec, 1, "y", lazy=False))  # lazy=False: an array
    return spec, X[0], Y[0]


def from_network(net: Network, x: ArrayLike, y: ArrayLike) -> Circuit:
    """The loss J(θ) of ``net`` on the single example (x, y) as a circuit over θ.

    ``x`` has shape (n0,) or (1, n0); ``y`` is a target row (nr,), or a class label for
    ``softmax_cross_entropy``.  Evaluate it at ``net.params``: ``c.gradient(net.params)`` equals
    ``net.loss_and_gradient(x.reshape(1, -1), y)[1]``.  The tape is written op by op:
    z[k] = b[k] + Σ_p W[k][j][p] a[k−1][p], the hidden activation, then the loss (squared:
    ½ Σ (z − y)²; logistic: Σ softplus(z) − y z; poisson: Σ exp(z) − y z; softmax
    cross-entropy: Σ y (lse(z) − z) with lse(z) = m + log Σ exp(z − m), where the constant m
    is max z at the current parameters: any constant gives the same function, this one keeps
    exp from overflowing near θ).

    Parameters
    ----------
    net : fastbp.Network
        The network whose loss is recorded.
    x : array_like
        One example, shape (n0,) or (1, n0).
    y : array_like
        Its target row, or a class label for ``softmax_cross_entropy``.

    Returns
    -------
    Circuit
        A circuit over the ``net.n_params`` parameters with one output, J(θ).

    Raises
    ------
    ValueError
        For a robust loss (``huber``, ``absolute_error``, ``quantile``): the circuit has no op
        for their abs(r) and max.
    """
    from fastbp.network import Network

    if not isinstance(net, Network):
        raise TypeError(f"net must be a fastbp.Network, got {type(net).__name__}")
    if net.spec.loss not in CIRCUIT_LOSSES:
        raise ValueError(
            f"loss={net.spec.loss!r} has no circuit (fastbp.circuit.from_network records only "
            f"{sorted(CIRCUIT_LOSSES)}: it has no op for abs(r) or max)"
        )
    spec, x_row, y_row = _one_example(net, x, y)
    widths, r = spec.widths, spec.n_layers
    index_W, index_b = mlp_reference.unpack(range(spec.n_params), widths)
    rec = Recorder()
    theta = [rec.input() for _ in range(spec.n_params)]
    a: list = [float(v) for v in x_row]
    z: list = []
    for k in range(1, r + 1):
        z = []
        for j in range(widths[k]):
            z_j = theta[int(index_b[k][j])]
            for p in range(widths[k - 1]):
                z_j = z_j + theta[int(index_W[k][j][p])] * a[p]
            z.append(z_j)
        if k < r:
            a = [_activation(spec.activations[k - 1], z_j) for z_j in z]
    y = [float(v) for v in y_row]
    if spec.loss == "squared":
        J = 0.5 * sum((z[j] - y[j]) ** 2 for j in range(len(y)))
    elif spec.loss == "logistic":
        J = sum(recording.softplus(z[j]) - y[j] * z[j] for j in range(len(y)))
    elif spec.loss == "poisson":
        J = sum(c_exp(z[j]) - y[j] * z[j] for j in range(len(y)))
    else:
        params = net.params.astype(np.float64).tolist()
        z_now = mlp_reference.loss_and_gradient(
            params, widths, spec.activations, spec.loss, [x_row.tolist()], [y]
        ).z[0][r]
        m = max(z_now)
        lse = m + c_log(sum(c_exp(z_j - m) for z_j in z))
        J = sum(y[j] * (lse - z[j]) for j in range(len(y)) if y[j] != 0.0)
    return rec.circuit([J])
