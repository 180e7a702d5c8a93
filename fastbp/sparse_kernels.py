"""Compiled minibatch epoch on a CSR matrix: the first layer multiplies the sparse rows directly.

For a row x of a CSR matrix (``indptr``, ``indices``, ``data``) with nonzeros x_c at columns c:

    z[1]_j = b[1]_j + Σ_c W[1]_{j c} x_c                 (only the stored entries)
    dJ/dW[1]_{j c} = (1/m) Σ_{t∈B} dJ/dz[1]_{t j} x_{t c},   dJ/db[1]_j = (1/m) Σ_t dJ/dz[1]_{t j}

Layers 2..r, the loss, the seed dJ/dz[r] = prediction − target and the optimizer step are the
dense kernels of :mod:`fastbp.kernels` and :func:`fastbp.epochs.apply_update`, so one epoch does
exactly what :func:`fastbp.epochs.minibatch_epoch` does on the densified rows, up to the order of
the first layer's sums.  No row is ever densified.
"""

from __future__ import annotations

import math

from fastbp._jit import jit
from fastbp.epochs import apply_update
from fastbp.kernels import (
    activate,
    affine,
    backprop_activation,
    backprop_linear,
    biases,
    block,
    loss_sum,
    output_transform,
    weight_gradient,
    weights,
)
from fastbp.losses import output_seed


@jit
def csr_first_layer(indptr, indices, data, order, start, m, W1, b1, Z1):
    """The first layer's pre-activations of m CSR rows: z[1]_j = b[1]_j + Σ_c W[1]_{j c} x_c.

    Z1[t, j] = b1[j] + Σ_q data[q] W1[j, indices[q]], q over the stored entries of the row
    i = order[start + t].  Writes Z1[:m].

    Parameters
    ----------
    indptr, indices, data : numpy.ndarray
        The CSR arrays of X (int32/int64 indptr and indices, float data of the network's dtype).
    order : numpy.ndarray
        The epoch's row numbers (int64), in batch order.
    start, m : int
        The batch is order[start:start + m].
    W1, b1 : numpy.ndarray
        (n1, n0) weights and (n1,) biases of layer 1.
    Z1 : numpy.ndarray
        (≥ m, n1) output block.

    Returns
    -------
    None
    """
    n1 = Z1.shape[1]
    for t in range(m):
        i = order[start + t]
        for j in range(n1):
            Z1[t, j] = b1[j]
        for q in range(indptr[i], indptr[i + 1]):
            c = indices[q]
            v = data[q]
            for j in range(n1):
                Z1[t, j] += v * W1[j, c]


@jit
def csr_first_layer_gradient(indptr, indices, data, order, start, m, dZ1, gW1, gb1, scale):
    """The first layer's gradient from m CSR rows (outer products over stored entries).

    gW1 = scale Σ_t dZ1[t, :] ⊗ x_t and gb1 = scale Σ_t dZ1[t, :], with x_t the row
    X[order[start + t]]; the outer products run over its stored entries only.  Overwrites gW1
    and gb1.

    Parameters
    ----------
    indptr, indices, data : numpy.ndarray
        The CSR arrays of X.
    order : numpy.ndarray
        The epoch's row numbers (int64), in batch order.
    start, m : int
        The batch is order[start:start + m].
    dZ1 : numpy.ndarray
        (≥ m, n1) dJ/dz[1] per row.
    gW1, gb1 : numpy.ndarray
        (n1, n0) and (n1,) gradient views (written).
    scale : float
        1/m for the gradient of the batch mean.

    Returns
    -------
    None
    """
    n1, n0 = gW1.shape
    for j in range(n1):
        for p in range(n0):
            gW1[j, p] = 0.0
    for t in range(m):
        i = order[start + t]
        for q in range(indptr[i], indptr[i + 1]):
            c = indices[q]
            v = scale * data[q]
            for j in range(n1):
                gW1[j, c] += v * dZ1[t, j]
    for j in range(n1):
        s = 0.0
        for t in range(m):
            s += dZ1[t, j]
        gb1[j] = scale * s


@jit
def minibatch_epoch_csr(
    indptr, indices, data, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off,
    b_off, u_off, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
):  # fmt: skip
    """:func:`fastbp.epochs.minibatch_epoch` with X given as CSR arrays (see the module docstring).

    Per batch B of m rows: forward (the CSR first layer, then the dense layers), J = Σ_{i∈B} J_i,
    the seed dJ/dz[r] = ψ(a[r] − y), the dense layers' backward pass, the CSR first layer's
    gradient, g += λ W-mask ⊙ θ, and one optimizer step (:func:`fastbp.epochs.apply_update`).
    Stops at the first batch with a non-finite loss, before its step.

    Parameters
    ----------
    indptr, indices, data : numpy.ndarray
        The CSR arrays of X (checked by the caller: indices in range, indptr monotone).
    Y : numpy.ndarray
        (n, nr) dense targets.
    order : numpy.ndarray
        The epoch's row numbers (int64), in batch order.
    batch_size : int
        Rows per batch (the last one may be shorter).
    params : numpy.ndarray
        The flat parameter buffer (updated in place).
    widths, acts, out_kind, loss_param, w_off, b_off, u_off : numpy.ndarray, int or float
        The plan (:class:`fastbp.lowering.Plan`).
    Yb : numpy.ndarray
        (batch_size, nr) gather buffer for the batch's targets.
    Z, A, dZ, dA : numpy.ndarray
        Workspaces of at least batch_size rows.
    grad, weight_mask : numpy.ndarray
        The gradient buffer and the plan's 1-on-weights mask.
    l2 : float
        The L2 strength λ.
    blas_min_rows : int
        Batches of at least this many rows use BLAS for the dense layers.
    kind, lr, mu, beta1, beta2, eps : int or float
        The optimizer code and settings (:func:`fastbp.epochs.apply_update`).
    s1, s2 : numpy.ndarray
        The optimizer state (updated in place).
    step : numpy.ndarray
        The step counter (int64[1]), incremented once per batch.
    info : numpy.ndarray
        Totals (float64[3]): info[0] += Σ J_i, info[1] += rows processed, info[2] = 1 on a
        non-finite loss.

    Returns
    -------
    None
    """
    r = widths.shape[0] - 1
    n = order.shape[0]
    nr = Y.shape[1]
    total = 0.0
    done = 0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        for t in range(m):
            i = order[start + t]
            for j in range(nr):
                Yb[t, j] = Y[i, j]
        yb = Yb[:m]
        use_blas = m >= blas_min_rows
        # Forward: the sparse first layer, then the dense layers.
        Z1 = block(Z, u_off, widths, 1, m)
        A1 = block(A, u_off, widths, 1, m)
        csr_first_layer(indptr, indices, data, order, start, m, weights(params, w_off, widths, 1),
                        biases(params, b_off, widths, 1), Z1)  # fmt: skip
        if r > 1:
            activate(acts[0], Z1, A1)
        else:
            output_transform(out_kind, Z1, A1)
        for k in range(2, r + 1):
            Zk = block(Z, u_off, widths, k, m)
            Ak = block(A, u_off, widths, k, m)
            affine(block(A, u_off, widths, k - 1, m), weights(params, w_off, widths, k),
                   biases(params, b_off, widths, k), Zk, use_blas)  # fmt: skip
            if k < r:
                activate(acts[k - 1], Zk, Ak)
            else:
                output_transform(out_kind, Zk, Ak)
        Zr = block(Z, u_off, widths, r, m)
        Ar = block(A, u_off, widths, r, m)
        J = loss_sum(yb, Zr, Ar, out_kind, loss_param)
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        # Backward: dJ/dz[r] = ψ(prediction − target), the dense layers, then the sparse first.
        dZr = block(dZ, u_off, widths, r, m)
        for t in range(m):
            output_seed(out_kind, loss_param, Ar[t], yb[t], dZr[t], 1.0)
        scale = 1.0 / m
        for k in range(r, 1, -1):
            dZk = block(dZ, u_off, widths, k, m)
            weight_gradient(dZk, block(A, u_off, widths, k - 1, m), weights(grad, w_off, widths, k),
                            biases(grad, b_off, widths, k), scale, use_blas)  # fmt: skip
            dA_prev = block(dA, u_off, widths, k - 1, m)
            backprop_linear(dZk, weights(params, w_off, widths, k), dA_prev, use_blas)
            backprop_activation(acts[k - 2], block(Z, u_off, widths, k - 1, m),
                                block(A, u_off, widths, k - 1, m), dA_prev,
                                block(dZ, u_off, widths, k - 1, m))  # fmt: skip
        csr_first_layer_gradient(indptr, indices, data, order, start, m,
                                 block(dZ, u_off, widths, 1, m), weights(grad, w_off, widths, 1),
                                 biases(grad, b_off, widths, 1), scale)  # fmt: skip
        if l2 != 0.0:
            for q in range(params.shape[0]):
                grad[q] += l2 * weight_mask[q] * params[q]
        step[0] += 1
        apply_update(kind, params, grad, lr, mu, beta1, beta2, eps, s1, s2, step[0])
    info[0] += total
    info[1] += done
