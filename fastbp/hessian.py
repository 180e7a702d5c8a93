"""Hessian-vector and Gauss-Newton-vector products of the mean loss, in O(N) per product.

Both use Pearlmutter's R-operator, R{f} = d/dt f(θ + t v) at t = 0 (equations in
:mod:`fastbp.rop_kernels`): an ordinary forward pass (``kernels.forward``), an R-forward pass
carrying R{z}, R{a} beside z, a, then one backward pass.  Each product costs a small constant number
of gradient evaluations (8 matrix products per layer for H v and 5 for G v, against 3 for the
gradient), never the O(N) gradients that forming H column by column would take.

* :func:`hvp`: H v, H = ∇²J the exact Hessian of J(θ) = (1/n) Σ_i J_i(θ), the loss that
  ``Network.loss_and_gradient`` differentiates.  H is symmetric but in general indefinite.
* :func:`gnvp`: G v, G = (1/n) Σ_i J_iᵀ H_loss,i J_i the generalised Gauss-Newton matrix, with J_i
  the Jacobian of the output pre-activation z[r] with respect to θ and H_loss,i = ∂²J_i/∂z[r]² (I,
  diag(a(1 − a)) or diag(a) − aaᵀ).  G is symmetric positive semidefinite and drops the σ''
  (second-order network) terms of H.
"""

from __future__ import annotations

import weakref

import numpy as np

from fastbp import kernels, rop_kernels, row_kernels
from fastbp.lowered import LoweredNetwork, NetworkLike, as_lowered, lowered_with_data
from fastbp.lowering import Workspace
from fastbp.validate import as_params


class _RopState:
    """R-workspaces of one network, allocated on first use and grown (never shrunk) after.

    ``ws`` holds R{z}, R{a}, R{dJ/dz}, R{dJ/da} in its Z, A, dZ, dA buffers (layout of
    lowering.Workspace); ``chunk`` receives one chunk's product before it is accumulated.  The
    ordinary z, a, dJ/dz, dJ/da live in the network's own workspace.
    """

    __slots__ = ("chunk", "gnvp_row", "hvp_row", "ipack", "ws")

    def __init__(self, net: LoweredNetwork) -> None:
        dtype = net.spec.np_dtype
        self.ws = Workspace(net.plan.n_units, 1, dtype)
        self.chunk = np.zeros(net.plan.n_params, dtype=dtype)
        # The one-row fast path: direct entries that check X, Y and v's kinds (dtype, layout)
        # on every call and refuse a mismatch; the kernels check the values themselves.
        self.ipack = row_kernels.pack_plan(net.plan)
        rows, flat = row_kernels.row_kind(dtype), row_kernels.row_kind(dtype, ndim=1)
        direct, layout = row_kernels.DirectCall, row_kernels.LAYOUT
        self.hvp_row = direct(rop_kernels.hvp_row, refuse=layout, kinds=(rows, rows, flat))
        self.gnvp_row = direct(rop_kernels.gnvp_row, refuse=layout, kinds=(rows, rows, flat))


#: LoweredNetwork -> its _RopState; entries disappear with their network.
_STATES: weakref.WeakKeyDictionary[LoweredNetwork, _RopState] = weakref.WeakKeyDictionary()


def _state(net: LoweredNetwork) -> _RopState:
    state = _STATES.get(net)
    if state is None:
        state = _STATES[net] = _RopState(net)
    return state


def hvp(net: NetworkLike, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H v for the Hessian H of the mean loss J = (1/n) Σ_i J_i with respect to ``net.params``.

    Parameters
    ----------
    net : fastbp.Network
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.
    v : array_like
        A direction in the flat parameter layout (``net.n_params`` finite values); converted to
        the network's dtype.

    Returns
    -------
    numpy.ndarray
        A new array of the network's dtype in the parameter layout.

    Notes
    -----
    Costs one forward pass,
    one R-forward pass and one backward pass that carries dJ/dz and R{dJ/dz} together (it does not
    form the gradient): O(N) per example.  Batches of more than ``fastbp.lowered.CHUNK_ROWS``
    rows are processed in chunks and accumulated, as for the gradient.
    """
    return _product(net, X, Y, v, gauss_newton=False)


def gnvp(net: NetworkLike, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """G v for the generalised Gauss-Newton matrix G = (1/n) Σ_i J_iᵀ H_loss,i J_i (PSD).

    Same arguments and result as :func:`hvp`.  Costs one forward, one R-forward and one linear
    backward pass; no ordinary backward pass is needed, and G v does not depend on Y (which is
    still validated).

    Parameters
    ----------
    net : fastbp.Network
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.
    v : array_like
        A direction in the flat parameter layout.

    Returns
    -------
    numpy.ndarray
        A new array of the network's dtype in the parameter layout.
    """
    return _product(net, X, Y, v, gauss_newton=True)


def _product(net: NetworkLike, X: object, Y: object, v: object, gauss_newton: bool) -> np.ndarray:
    lowered = as_lowered(net)
    out = _one_row(lowered, X, Y, v, gauss_newton)
    if out is not None:
        return out
    net, X, Y = lowered_with_data(lowered, X, Y)
    v = as_params(v, net.plan.n_params, net.spec.np_dtype, name="v")
    out = np.empty(net.plan.n_params, dtype=net.spec.np_dtype)
    with net.exclusive("hvp"):
        net.check_params()
        product_unchecked(net, X, Y, v, gauss_newton, out)
    return out


def _one_row(
    net: LoweredNetwork, X: object, Y: object, v: object, gauss_newton: bool
) -> np.ndarray | None:
    """The batch-1 fast path: one compiled call that checks its input itself, or None.

    Taken for one dense row X (1, n0), Y (1, n_out) and a flat v, all C-contiguous, writeable
    and of the network's dtype.  The kernel (:func:`fastbp.rop_kernels.hvp_row`,
    :func:`~fastbp.rop_kernels.gnvp_row`) checks x, y, and, through z and R{z}, the parameters
    and v; anything else, or a nonzero status, returns None and the caller takes the checked
    path, which raises the documented error (or computes what the fast path declined).
    """
    if not (type(X) is np.ndarray and type(Y) is np.ndarray and type(v) is np.ndarray):
        return None
    spec = net.spec
    if (
        X.shape != (1, spec.n_inputs)
        or Y.shape != (1, spec.n_outputs)
        or v.shape != (net.plan.n_params,)
    ):
        return None
    state = _state(net)
    ws, rws = net.ws, state.ws
    out = np.empty(net.plan.n_params, dtype=net.dtype)
    with net.exclusive("hvp"):
        if gauss_newton:
            status = state.gnvp_row.call(X, Y, v, net.params, state.ipack, ws.Z, ws.A,
                                         rws.Z, rws.A, rws.dZ, rws.dA, out)  # fmt: skip
        else:
            status = state.hvp_row.call(X, Y, v, net.params, state.ipack, ws.Z, ws.A, ws.dZ,
                                        ws.dA, rws.Z, rws.A, rws.dZ, rws.dA, out)  # fmt: skip
    return out if status == 0 else None


def product_unchecked(
    net: LoweredNetwork,
    X: np.ndarray,
    Y: np.ndarray,
    v: np.ndarray,
    gauss_newton: bool,
    out: np.ndarray,
) -> None:
    """Write H v (or G v) into ``out``, chunk by chunk: the unchecked product.

    The caller has validated X, Y and v for ``net`` and holds it alone
    (``net.exclusive(...)``); :func:`hvp` and :func:`gnvp` are the checked entry points.

    Parameters
    ----------
    net : LoweredNetwork
        The network.
    X, Y : numpy.ndarray
        Validated rows and dense targets.
    v : numpy.ndarray
        The direction, in the parameter layout and the network's dtype.
    gauss_newton : bool
        G v instead of H v.
    out : numpy.ndarray
        Parameter-sized output (overwritten).
    """
    p, ws, state = net.plan, net.ws, _state(net)
    rws = state.ws
    n = X.shape[0]
    scale = 1.0 / n
    for idx, s in enumerate(net.chunks(n)):
        Xc, Yc = X[s], Y[s]
        m = s.stop - s.start
        use_blas = m >= net.blas_min_rows
        rws.ensure(m)
        target = out if idx == 0 else state.chunk
        if use_blas:
            net.forward_chunk(Xc)
            rop_kernels.r_forward(
                Xc, net.params, v, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
                ws.Z, ws.A, rws.Z, rws.A,
            )  # fmt: skip
        else:  # small batches: W[k] and V[k] read once for both passes
            ws.ensure(m)
            rop_kernels.forward_and_r_forward(
                Xc, net.params, v, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
                ws.Z, ws.A, rws.Z, rws.A,
            )  # fmt: skip
        # One path per call (BLAS or loops), so a first call compiles only the path it runs.
        if gauss_newton:
            rop_kernels.gnvp_seed(Yc, net.output_block(ws.A, m, ws),
                                  net.output_block(rws.A, m, rws),
                                  net.output_block(rws.dZ, m, rws), p.out_kind, p.loss_param,
                                  scale)  # fmt: skip
            layers = (kernels.backprop_layers_blas if use_blas
                      else kernels.backprop_layers_loops)  # fmt: skip
            layers(Xc, net.params, p.widths, p.acts, p.w_off, p.b_off, p.u_off, ws.Z, ws.A,
                   rws.dZ, rws.dA, target, 1.0)  # fmt: skip
        else:
            backward = (rop_kernels.hvp_backward_blas if use_blas
                        else rop_kernels.hvp_backward_loops)  # fmt: skip
            backward(
                Xc, Yc, net.params, v, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off,
                p.b_off, p.u_off, ws.Z, ws.A, ws.dZ, ws.dA, rws.Z, rws.A, rws.dZ, rws.dA,
                target, scale,
            )  # fmt: skip
        if idx > 0:
            out += state.chunk
