"""Compiled DP-SGD epochs: per-example clipping and Gaussian noise, Opacus's semantics.

For each batch of ``batch_size`` rows of ``order`` (the last batch may have fewer), with
clipping norm C and noise multiplier σ:

    g_i = ∇J_i(θ),   c_i = min(1, C / (‖g_i‖ + 10⁻⁶)),
    g   = (Σ_i c_i g_i + σ C ξ) / D + λ W-mask ⊙ θ,   ξ ~ N(0, I),

then one optimizer step (:func:`fastbp.epochs.apply_update`).  This is what Opacus's
``DPOptimizer`` does with flat clipping and a mean-reduced loss: its clip factor, its noise on
the sum, then the division by its *expected* batch size D, the same for every batch
(:func:`fastbp.privacy.opacus_rate`: D = B when B divides the rows, and a short last batch is
divided by D too, where a plain minibatch step divides by the rows it has); weight decay is the
optimizer's, after the noise.

No per-example gradient is formed.  The backward pass runs to the deltas first
(:func:`fastbp.per_example_kernels.backprop_deltas`): every layer's dJ_i/dz[k] for every
row.  ‖g_i‖² = Σ_k ‖dz_i[k]‖² (‖a_i[k−1]‖² + 1) by the outer-product identity
(:func:`fastbp.per_example_kernels.add_row_norms_sq`).  Since g_i is linear in its deltas, scaling
row i of every dZ[k] by c_i / D and then forming the weight gradient dZ[k]ᵀ A[k−1] as usual gives
Σ_i c_i g_i / D in one product per layer.  The extra cost over a plain minibatch step is the
norms (one pass over the deltas and activations) and the noise (n_params multiply-adds).

``noise`` holds one row of standard normals per batch of the chunk (drawn in Python from the
fit's seeded generator, so the noise is reproducible and from NumPy's well-tested sampler); with
σ = 0 it may have no rows.  ``info`` as in :mod:`fastbp.epochs`.
"""

from __future__ import annotations

import math

from fastbp._jit import jit
from fastbp.epochs import apply_update, gather_rows
from fastbp.kernels import (
    biases,
    block,
    forward,
    loss_sum,
    seed_output,
    weight_gradient,
    weights,
)
from fastbp.per_example_kernels import add_row_norms_sq, backprop_deltas

#: Opacus's guard in the clip factor C / (‖g_i‖ + 1e-6).
CLIP_EPS = 1e-6


@jit
def clip_factors(norms_sq, max_grad_norm, m, scale):
    """norms_sq[i] ← scale · min(1, C / (√norms_sq[i] + 10⁻⁶)) for the first m rows, in place.

    Returns the number of clipped rows (factor < 1 before the scale).
    """
    clipped = 0
    for i in range(m):
        c = max_grad_norm / (math.sqrt(norms_sq[i]) + CLIP_EPS)
        if c < 1.0:
            clipped += 1
        else:
            c = 1.0
        norms_sq[i] = scale * c
    return clipped


@jit
def scale_delta_rows(widths, u_off, dZ, m, factors):
    """Row i of every layer's block of dZ times factors[i] (the m rows of a batch)."""
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        dZk = block(dZ, u_off, widths, k, m)
        for i in range(m):
            f = dZk.dtype.type(factors[i])
            d = dZk[i]
            for j in range(d.shape[0]):
                d[j] *= f


@jit
def clipped_mean_gradient(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, m,
                          divisor, max_grad_norm, norms, use_blas):  # fmt: skip
    """grad = (1/D) Σ_i c_i ∇J_i (D = ``divisor``) over the m rows of a batch, from a forward
    pass and a seeded output block dJ_i/dz[r].

    X is the batch's (m, n0) input rows.  ``norms`` (≥ m, float64) is scratch: it ends holding
    the factors c_i / D.  Overwrites grad and the deltas; returns the number of clipped rows.
    """
    backprop_deltas(params, widths, acts, w_off, u_off, Z, A, dZ, dA, m, use_blas)
    for i in range(m):
        norms[i] = 0.0
    add_row_norms_sq(X, widths, u_off, A, dZ, m, norms)
    clipped = clip_factors(norms, max_grad_norm, m, 1.0 / divisor)
    scale_delta_rows(widths, u_off, dZ, m, norms)
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        A_prev = X if k == 1 else block(A, u_off, widths, k - 1, m)
        weight_gradient(block(dZ, u_off, widths, k, m), A_prev, weights(grad, w_off, widths, k),
                        biases(grad, b_off, widths, k), 1.0, use_blas)  # fmt: skip
    return clipped


@jit
def dp_minibatch_epoch(
    X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
    max_grad_norm, noise_std, divisor, noise, norms,
):  # fmt: skip
    """DP-SGD over ``order`` (see the module docstring); the first arguments as for
    :func:`fastbp.epochs.minibatch_epoch`.

    ``noise_std`` = σ C; ``divisor`` = D; ``noise``: one row of n_params standard normals per
    batch (no rows when σ = 0); ``norms``: float64 scratch of batch_size.  info[3] += the number
    of clipped examples.
    """
    r = widths.shape[0] - 1
    n = order.shape[0]
    total = 0.0
    done = 0
    clipped = 0
    t = 0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        use_blas = m >= blas_min_rows
        gather_rows(X, Y, order, start, m, Xb, Yb)
        xb = Xb[:m]
        forward(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A, use_blas)
        Ar = block(A, u_off, widths, r, m)
        dZr = block(dZ, u_off, widths, r, m)
        J = loss_sum(Yb[:m], block(Z, u_off, widths, r, m), Ar, out_kind, loss_param)
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        seed_output(Yb[:m], Ar, dZr, out_kind, loss_param, norms[:0])  # ψ(a_i − y_i), unweighted
        clipped += clipped_mean_gradient(xb, params, widths, acts, w_off, b_off, u_off, Z, A, dZ,
                                         dA, grad, m, divisor, max_grad_norm, norms,
                                         use_blas)  # fmt: skip
        if noise_std != 0.0:
            s = grad.dtype.type(noise_std / divisor)
            xi = noise[t]
            for q in range(grad.shape[0]):
                grad[q] += s * xi[q]
        if l2 != 0.0:
            for q in range(params.shape[0]):
                grad[q] += l2 * weight_mask[q] * params[q]
        t += 1
        step[0] += 1
        apply_update(kind, params, grad, lr, mu, beta1, beta2, eps, s1, s2, step[0])
    info[0] += total
    info[1] += done
    info[3] += clipped
