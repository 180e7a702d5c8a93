"""Per-example quantities of a batch in one pass: gradients, their norms and variance, diag(G).

For a batch of n rows the mean loss is J(θ) = (1/n) Σ_i J_i(θ), the loss that
``Network.loss_and_gradient`` differentiates.  Its backward pass already holds every example's
dJ_i/dz[k] before it sums them, and per layer

    dJ_i/dW[k] = dJ_i/dz[k] a_i[k−1]ᵀ,    dJ_i/db[k] = dJ_i/dz[k],

so each quantity below is one forward and one backward pass over the rows, chunk by chunk
(``fastbp.lowered.CHUNK_ROWS`` rows at a time), with compiled kernels from
:mod:`fastbp.per_example_kernels`.  Only :func:`per_example_gradients` allocates an
(n, n_params) array; the others allocate O(n + n_params).

* :func:`per_example_gradients`: row i is ∇J_i, the gradient of example i's own loss (not of
  J_i / n); the mean of the rows is the gradient of J.
* :func:`per_example_norms`: ‖∇J_i‖, from ‖dJ_i/dW[k]‖² = ‖dJ_i/dz[k]‖² ‖a_i[k−1]‖².
* :func:`gradient_variance`: (1/n) Σ_i (∇J_i − ∇J)², per parameter (population variance).
* :func:`gauss_newton_diagonal`: the diagonal of G = (1/n) Σ_i J_iᵀ H_loss,i J_i, the matrix of
  :func:`fastbp.hessian.gnvp`.

Relation to BackPACK (1.7.1), whose individual gradients are those of the loss it is given,
reduction included.  With ``reduction="mean"`` ("sum" drops the 1/n): ``BatchGrad`` is
∇J_i / n; ``BatchL2Grad`` is ‖∇J_i‖² / n² split per parameter tensor; ``Variance`` is the
population variance of ∇J_i / n, i.e. :func:`gradient_variance` / n²; ``DiagGGNExact`` equals
:func:`gauss_newton_diagonal`.  ``CrossEntropyLoss`` is fastbp's softmax cross-entropy.
``MSELoss(reduction="mean")`` is (1/(n d)) Σ_i ‖f_i − y_i‖² = (2/d) J for d outputs (fastbp's
squared loss is ½‖a − y‖²), so each of its individual gradients carries another factor 2/d
(``BatchGrad`` 2∇J_i/(n d), ``BatchL2Grad`` and ``Variance`` (2/d)², ``DiagGGNExact`` 2/d).
"""

from __future__ import annotations

import numpy as np

from fastbp import kernels
from fastbp import per_example_kernels as pek
from fastbp.losses import RECORDS
from fastbp.lowered import LoweredNetwork, NetworkLike, lowered_with_data
from fastbp.lowering import Workspace
from fastbp.validate import check_allocation

__all__ = [
    "gauss_newton_diagonal",
    "gradient_variance",
    "per_example_gradients",
    "per_example_norms",
]

#: Loss codes whose output-loss Hessian has a factor in :func:`per_example_kernels.ggn_seed`.
GGN_FACTORS = frozenset(r.code for r in RECORDS.values())


def _backprop(net: LoweredNetwork, ws: Workspace, m: int) -> None:
    """dJ/dz[k] for k < r from the seeded output block of ``ws.dZ`` (BLAS on large chunks)."""
    p = net.plan
    pek.backprop_deltas(net.params, p.widths, p.acts, p.w_off, p.u_off, ws.Z, ws.A, ws.dZ, ws.dA,
                        m, m >= net.blas_min_rows)  # fmt: skip


def _deltas(net: LoweredNetwork, ws: Workspace, Xc: np.ndarray, Yc: np.ndarray) -> None:
    """Forward pass of a chunk, then every row's dJ_i/dz[k] into ``ws.dZ`` (no gradient)."""
    m = Xc.shape[0]
    net.forward_chunk(Xc, ws)
    kernels.seed_output(Yc, net.output_block(ws.A, m, ws), net.output_block(ws.dZ, m, ws),
                        net.plan.out_kind, net.plan.loss_param, net.no_weights)  # fmt: skip
    _backprop(net, ws, m)


class _Squares:
    """Scratch of :func:`per_example_kernels.add_squared_gradients` for chunks of ≤ ``rows`` rows:
    X∘X (rows, n0) and the hidden a∘a in the workspace layout (per call, O(rows × units))."""

    __slots__ = ("A2", "X2")

    def __init__(self, net: LoweredNetwork, rows: int) -> None:
        self.X2 = np.empty((rows, net.spec.n_inputs), dtype=net.dtype)
        self.A2 = np.empty(rows * net.plan.n_units, dtype=net.dtype)

    def fill(self, net: LoweredNetwork, ws: Workspace, Xc: np.ndarray) -> np.ndarray:
        """Square the chunk's inputs (after its forward pass); returns the X∘X view."""
        m = Xc.shape[0]
        X2 = self.X2[:m]
        pek.square_inputs(Xc, net.plan.widths, net.plan.u_off, ws.A, m, X2, self.A2)
        return X2


def _add_squares(
    net: LoweredNetwork,
    ws: Workspace,
    Xc: np.ndarray,
    X2: np.ndarray,
    sq: _Squares,
    out: np.ndarray,
    scratch: np.ndarray,
    total: np.ndarray | None = None,
) -> None:
    """out += Σ_i (∇J_i)² over the chunk's rows (and total += Σ_i ∇J_i when given)."""
    p, m = net.plan, Xc.shape[0]
    with_total = total is not None
    pek.add_squared_gradients(
        Xc, X2, p.widths, p.w_off, p.b_off, p.u_off, ws.A, sq.A2, ws.dZ, ws.dA, m, out,
        total if total is not None else out, scratch, with_total, m >= net.blas_min_rows,
    )  # fmt: skip


def per_example_gradients(net: NetworkLike, X: object, Y: object) -> np.ndarray:
    """The gradient of each example's loss J_i, one row per example.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.

    Returns
    -------
    numpy.ndarray
        (n, n_params) of the network's dtype; row i is ∇J_i in the layout of ``net.params``.
        Row i equals the gradient ``net.loss_and_gradient(X[i:i+1], Y[i:i+1])`` of a one-row
        batch, and the mean of the rows equals the gradient of the batch's mean loss.  (BackPACK's
        ``BatchGrad`` with a mean-reduced loss holds ∇J_i / n.)

    Raises
    ------
    ValueError
        If the (n, n_params) result would not fit in this machine's memory (checked before it
        is allocated), or for invalid X, Y.
    """
    lowered, Xa, Ya = lowered_with_data(net, X, Y)
    n, n_params, dtype = Xa.shape[0], lowered.plan.n_params, lowered.dtype
    check_allocation(
        n * n_params * dtype.itemsize,
        f"per-example gradients ({n:,} rows × {n_params:,} parameters, {dtype})",
    )
    G = np.empty((n, n_params), dtype=dtype)
    p = lowered.plan
    with lowered.shared():
        lowered.check_params()
        ws = lowered.buffers().ws
        for s in lowered.chunks(n):
            m = s.stop - s.start
            _deltas(lowered, ws, Xa[s], Ya[s])
            pek.write_per_example_gradients(Xa[s], p.widths, p.w_off, p.b_off, p.u_off, ws.A,
                                            ws.dZ, m, G[s])  # fmt: skip
    return G


def per_example_norms(net: NetworkLike, X: object, Y: object) -> np.ndarray:
    """‖∇J_i‖, the Euclidean norm of each example's gradient, without forming the gradients.

    Per layer ‖dJ_i/dW[k]‖² = ‖dJ_i/dz[k]‖² ‖a_i[k−1]‖² (the Frobenius norm of an outer product)
    and ‖dJ_i/db[k]‖² = ‖dJ_i/dz[k]‖², summed over the layers.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.

    Returns
    -------
    numpy.ndarray
        (n,) of the network's dtype: the row norms of :func:`per_example_gradients`.  (BackPACK's
        ``BatchL2Grad`` with a mean-reduced loss holds ‖∇J_i‖² / n², per parameter tensor.)
    """
    lowered, Xa, Ya = lowered_with_data(net, X, Y)
    n, p = Xa.shape[0], lowered.plan
    out = np.zeros(n, dtype=lowered.dtype)
    with lowered.shared():
        lowered.check_params()
        ws = lowered.buffers().ws
        for s in lowered.chunks(n):
            _deltas(lowered, ws, Xa[s], Ya[s])
            pek.add_row_norms_sq(Xa[s], p.widths, p.u_off, ws.A, ws.dZ, s.stop - s.start, out[s])
    np.sqrt(out, out=out)
    return out


def gradient_variance(net: NetworkLike, X: object, Y: object) -> np.ndarray:
    """Per-parameter variance of the per-example gradients over the batch.

    v = (1/n) Σ_i (∇J_i)² − (∇J)², elementwise, with ∇J = (1/n) Σ_i ∇J_i the gradient of the mean
    loss: the population variance (divisor n, not n − 1), computed as BackPACK's ``Variance``
    does, from Σ_i (∇J_i)² (per layer (dZ∘dZ)ᵀ(A∘A)) and the mean gradient, with no
    (n, n_params) array.  Rounding can leave entries whose variance is far below ∇J² slightly
    negative; they are set to 0.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.

    Returns
    -------
    numpy.ndarray
        (n_params,) of the network's dtype, in the parameter layout.  BackPACK's ``Variance``
        on a mean-reduced loss, whose individual gradients are ∇J_i / n, is this divided by n².
    """
    lowered, Xa, Ya = lowered_with_data(net, X, Y)
    n, n_params, dtype = Xa.shape[0], lowered.plan.n_params, lowered.dtype
    squares = np.zeros(n_params, dtype=dtype)
    mean = np.zeros(n_params, dtype=dtype)
    with lowered.shared():
        lowered.check_params()
        buffers = lowered.buffers()
        ws, scratch = buffers.ws, buffers.grad_chunk
        sq = _Squares(lowered, min(n, lowered.chunk_rows))
        for s in lowered.chunks(n):
            Xc = Xa[s]
            _deltas(lowered, ws, Xc, Ya[s])
            X2 = sq.fill(lowered, ws, Xc)
            _add_squares(lowered, ws, Xc, X2, sq, squares, scratch, mean)
    pek.finish_variance(squares, mean, n)  # one pass, no parameter-sized temporaries
    return squares


def gauss_newton_diagonal(net: NetworkLike, X: object, Y: object) -> np.ndarray:
    """The diagonal of the generalised Gauss-Newton matrix G = (1/n) Σ_i J_iᵀ H_loss,i J_i.

    G is the matrix whose products :func:`fastbp.hessian.gnvp` computes (J_i the Jacobian of
    example i's output pre-activation z[r], H_loss,i = ∂²J_i/∂z[r]²).  Exact, as BackPACK's
    ``DiagGGNExact``: each H_loss,i = S_i S_iᵀ is factored (squared: S = I; softmax
    cross-entropy: columns √p_c (e_c − p); logistic: √(a_c(1 − a_c)) e_c; poisson:
    √a_c e_c; Huber 1[abs(r_c) ≤ δ] e_c; absolute error, quantile 0), each of the n_r columns of
    S_i is backpropagated like an output gradient, and diag(G) for W[k] is
    (1/n) Σ_i Σ_c (dz_ic[k])² (a_i[k−1])², for b[k] (1/n) Σ_i Σ_c (dz_ic[k])².
    Costs one forward pass and n_r backward passes (no gradient, no (n, n_params) array).  The
    targets are validated; only Huber's G depends on them.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.

    Returns
    -------
    numpy.ndarray
        (n_params,) of the network's dtype, in the parameter layout.

    Raises
    ------
    ValueError
        For a loss without a Hessian factor here (every loss of ``fastbp.LOSSES`` has one).
    """
    lowered, Xa, Ya = lowered_with_data(net, X, Y)
    p = lowered.plan
    if p.out_kind not in GGN_FACTORS:
        raise ValueError(
            f"gauss_newton_diagonal has no factor of the output-loss Hessian for "
            f"loss={lowered.spec.loss!r}"
        )
    n, n_out = Xa.shape[0], lowered.spec.n_outputs
    out = np.zeros(p.n_params, dtype=lowered.dtype)
    with lowered.shared():
        lowered.check_params()
        buffers = lowered.buffers()
        ws, scratch = buffers.ws, buffers.grad_chunk
        sq = _Squares(lowered, min(n, lowered.chunk_rows))
        for s in lowered.chunks(n):
            Xc, m = Xa[s], s.stop - s.start
            lowered.forward_chunk(Xc, ws)
            X2 = sq.fill(lowered, ws, Xc)
            Ar, dZr = lowered.output_block(ws.A, m, ws), lowered.output_block(ws.dZ, m, ws)
            for c in range(n_out):
                pek.ggn_seed(p.out_kind, p.loss_param, Ar, Ya[s], c, dZr)
                _backprop(lowered, ws, m)
                _add_squares(lowered, ws, Xc, X2, sq, out, scratch)
    out /= n
    return out
