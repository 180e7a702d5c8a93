"""Compiled inverted dropout on the hidden layers: masks, forward, backward and a minibatch epoch.

In training, hidden layer k with rate p_k > 0 hands the next layer the dropped activations

    ã[k] = a[k] ⊙ s[k],   s[k]_j = m_j / (1 − p_k),   m_j = 0 with probability p_k, else 1,

so E[ã[k]] = a[k] and inference (which never drops) needs no rescaling.  Backward, with the
undropped a[k] kept for σ' (sigmoid and tanh take σ' from a):

    dJ/da[k] = (W[k+1]ᵀ dJ/dz[k+1]) ⊙ s[k],   dJ/dz[k] = dJ/da[k] ⊙ σ'(z[k]),
    dJ/dW[k+1] = dJ/dz[k+1] ã[k]ᵀ.

Workspaces, in the layout of Z and A (:mod:`fastbp.lowering`): ``S`` holds the scales s (0 or
1/(1 − p), in the network's dtype) and ``AD`` the dropped activations ã; a layer with p = 0 reads
and writes neither (its next layer reads A).

Masks are counter-based, so a run is reproducible and depends on no thread or call order: for
step t (the optimizer's 1-based step count), batch row i and the pair of units j = 2q, 2q + 1 of
layer k, with U = n1 + ... + nr and c = i U + u_off[k−1] + q (unique: q < n_k),

    stream_t = h(key ⊕ h(t)),   b = h(stream_t + (c + 1) γ),
    m_{2q} = 0 iff ⌊b / 2³²⌋ < θ_k,   m_{2q+1} = 0 iff (b mod 2³²) < θ_k,   θ_k = ⌊p_k 2³²⌋,

where h is the splitmix64 finaliser and γ = 0x9E3779B97F4A7C15 (splitmix64's own increment), in
wrapping uint64 arithmetic: one 64-bit hash serves two units, each dropped with probability
θ_k / 2³², within 2.4·10⁻¹⁰ of p_k.  ``key`` comes from the fit's seed
(:func:`fastbp.dropout.dropout_key`).
"""

from __future__ import annotations

import math

import numpy as np

from fastbp._blas import matmul_nt
from fastbp._jit import jit, jit_inline
from fastbp.epochs import batch_loss_and_seed, gather_rows
from fastbp.kernels import (
    activate,
    add_bias,
    affine_row,
    backprop_activation,
    backprop_linear,
    bias_activate,
    biases,
    block,
    output_transform,
    weight_gradient,
    weights,
)
from fastbp.toolbox_kernels import toolbox_step

#: splitmix64's increment, the golden ratio in 64 bits.
GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_ONE = np.uint64(1)
#: The shift to a hash's high half, and the mask of its low half.
HALF_SHIFT = np.uint64(32)
LOW_HALF = np.uint64(0xFFFFFFFF)
#: 2³²: θ_k = ⌊p_k 2³²⌋ (exact in float64, then truncated).
TWO_32 = 4294967296.0


@jit_inline
def mix64(z):
    """splitmix64's finaliser h(z), a bijection of uint64 that mixes every bit into every bit."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def step_stream(key, t):
    """stream_t = h(key ⊕ h(t)): the mask stream of optimizer step t (uint64)."""
    return mix64(np.uint64(key) ^ mix64(np.uint64(t)))


@jit_inline
def pair_bits(stream, c):
    """b = h(stream + (c + 1) γ): the 64 bits of counter c, one 32-bit half per unit."""
    return mix64(stream + (np.uint64(c) + _ONE) * GAMMA)


@jit_inline
def threshold(p):
    """θ = ⌊p 2³²⌋ (uint64): a unit is dropped when its 32-bit half is below θ."""
    return np.uint64(p * TWO_32)


@jit
def draw_masks(key, t, m, widths, u_off, rates, S):
    """The scales s[k] of step t for a batch of m rows: 0 where u < p_k, else 1/(1 − p_k).

    Writes the blocks of ``S`` of the hidden layers with p_k > 0 (see the module docstring).
    """
    r = widths.shape[0] - 1
    U = u_off[r]
    T = S.dtype.type
    stream = step_stream(key, t)
    for k in range(1, r):
        p = rates[k - 1]
        if p <= 0.0:
            continue
        keep = T(1.0 / (1.0 - p))
        zero = T(0.0)
        thr = threshold(p)
        Sk = block(S, u_off, widths, k, m)
        n = widths[k]
        half = n >> 1
        for i in range(m):
            base = i * U + u_off[k - 1]
            s = Sk[i]
            for q in range(half):
                bits = pair_bits(stream, base + q)
                s[2 * q] = zero if (bits >> HALF_SHIFT) < thr else keep
                s[2 * q + 1] = zero if (bits & LOW_HALF) < thr else keep
            if n & 1:
                bits = pair_bits(stream, base + half)
                s[n - 1] = zero if (bits >> HALF_SHIFT) < thr else keep


@jit
def previous_block(X, A, AD, u_off, widths, rates, k, m):
    """What layer k reads: x for k = 1, else ã[k−1] (``AD``) when p_{k−1} > 0, else a[k−1]."""
    if k == 1:
        return X
    if rates[k - 2] > 0.0:
        return block(AD, u_off, widths, k - 1, m)
    return block(A, u_off, widths, k - 1, m)


@jit
def dropout_forward(X, params, widths, acts, out_kind, w_off, b_off, u_off, rates, S, Z, A, AD,
                    use_blas):  # fmt: skip
    """Forward pass with the scales ``S``: z[k] = W[k] ã[k−1] + b[k], a[k] = σ(z[k]), ã = a ⊙ s.

    Writes Z and A (undropped, as :func:`fastbp.kernels.forward`) and AD for the layers that
    drop.  ``use_blas`` picks the products of :func:`fastbp.kernels.forward_blas` or the loops.
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        W = weights(params, w_off, widths, k)
        b = biases(params, b_off, widths, k)
        Zk = block(Z, u_off, widths, k, m)
        Ak = block(A, u_off, widths, k, m)
        A_prev = previous_block(X, A, AD, u_off, widths, rates, k, m)
        if use_blas:
            matmul_nt(A_prev, W, Zk)
            if k < r:
                bias_activate(acts[k - 1], b, Zk, Ak)
            else:
                add_bias(b, Zk)
        else:
            for i in range(m):
                affine_row(A_prev[i], W, b, Zk[i])
            if k < r:
                activate(acts[k - 1], Zk, Ak)
        if k == r:
            output_transform(out_kind, Zk, Ak)
        elif rates[k - 1] > 0.0:
            Sk = block(S, u_off, widths, k, m)
            ADk = block(AD, u_off, widths, k, m)
            n = widths[k]
            for i in range(m):
                for j in range(n):
                    ADk[i, j] = Ak[i, j] * Sk[i, j]


@jit
def dropout_backprop(X, params, widths, acts, w_off, b_off, u_off, rates, S, Z, A, AD, dZ, dA,
                     grad, use_blas):  # fmt: skip
    """The layer loop of the backward pass with the scales ``S``, from a seeded dZ[r] down.

    dJ/dW[k] = Σ_i dZ_i[k] ã_i[k−1]ᵀ, dJ/db[k] = Σ_i dZ_i[k]; dJ/da[k−1] = (dZ[k] W[k]) ⊙ s[k−1]
    and dJ/dz[k−1] = dJ/da[k−1] ⊙ σ'(z[k−1]).  Writes dZ, dA and overwrites ``grad``.
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(r, 0, -1):
        dZk = block(dZ, u_off, widths, k, m)
        A_prev = previous_block(X, A, AD, u_off, widths, rates, k, m)
        weight_gradient(dZk, A_prev, weights(grad, w_off, widths, k),
                        biases(grad, b_off, widths, k), 1.0, use_blas)  # fmt: skip
        if k > 1:
            dA_prev = block(dA, u_off, widths, k - 1, m)
            backprop_linear(dZk, weights(params, w_off, widths, k), dA_prev, use_blas)
            if rates[k - 2] > 0.0:
                Sk = block(S, u_off, widths, k - 1, m)
                n = widths[k - 1]
                for i in range(m):
                    for j in range(n):
                        dA_prev[i, j] *= Sk[i, j]
            backprop_activation(acts[k - 2], block(Z, u_off, widths, k - 1, m),
                                block(A, u_off, widths, k - 1, m), dA_prev,
                                block(dZ, u_off, widths, k - 1, m))  # fmt: skip


@jit
def dropout_loss_grad(X, Y, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off, rates,
                      S, Z, A, AD, dZ, dA, grad, use_blas):  # fmt: skip
    """Σ_i J_i with the given scales ``S`` (a mask from outside), and ``grad`` = (1/m) Σ_i ∇J_i.

    Returns the sum of the losses; writes the workspaces and ``grad``.
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    dropout_forward(X, params, widths, acts, out_kind, w_off, b_off, u_off, rates, S, Z, A, AD,
                    use_blas)  # fmt: skip
    J = batch_loss_and_seed(Y, block(Z, u_off, widths, r, m), block(A, u_off, widths, r, m),
                            block(dZ, u_off, widths, r, m), out_kind, loss_param)  # fmt: skip
    dropout_backprop(X, params, widths, acts, w_off, b_off, u_off, rates, S, Z, A, AD, dZ, dA,
                     grad, use_blas)  # fmt: skip
    return J


@jit
def minibatch_epoch_dropout(
    X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info, wd, clip_norm, warmup,
    key, rates, S, AD,
):  # fmt: skip
    """:func:`fastbp.toolbox_kernels.minibatch_epoch_toolbox` with dropout.

    For each batch B, at optimizer step t = ``step[0]`` + 1: draw the scales of step t
    (:func:`draw_masks`), g = (1/|B|) Σ_{i∈B} ∇J_i(θ; s) + λ W-mask ⊙ θ, then
    :func:`fastbp.toolbox_kernels.toolbox_step` (any optimizer; warm-up, clipping and weight
    decay when on).  BLAS when ``batch_size`` ≥ ``blas_min_rows``, else loops.  Per-example SGD
    runs here as batches of one row.  Writes ``params``, the state, ``info``, S and AD.
    """
    r = widths.shape[0] - 1
    n = order.shape[0]
    use_blas = batch_size >= blas_min_rows
    total = 0.0
    done = 0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        gather_rows(X, Y, order, start, m, Xb, Yb)
        xb = Xb[:m]
        draw_masks(key, step[0] + 1, m, widths, u_off, rates, S)
        dropout_forward(xb, params, widths, acts, out_kind, w_off, b_off, u_off, rates, S, Z, A,
                        AD, use_blas)  # fmt: skip
        J = batch_loss_and_seed(Yb[:m], block(Z, u_off, widths, r, m),
                                block(A, u_off, widths, r, m), block(dZ, u_off, widths, r, m),
                                out_kind, loss_param)  # fmt: skip
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        dropout_backprop(xb, params, widths, acts, w_off, b_off, u_off, rates, S, Z, A, AD, dZ,
                         dA, grad, use_blas)  # fmt: skip
        if l2 != 0.0:
            for q in range(params.shape[0]):
                grad[q] += l2 * weight_mask[q] * params[q]
        toolbox_step(kind, params, grad, weight_mask, lr, mu, beta1, beta2, eps, wd, clip_norm,
                     warmup, s1, s2, step)  # fmt: skip
    info[0] += total
    info[1] += done
