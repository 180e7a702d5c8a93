"""Compiled optimizer steps with the toolbox options: weight decay, AdamW, clipping and warm-up.

One step (:func:`toolbox_step`), with t the 1-based step count, α the epoch's scheduled rate:

1. warm-up:   α_t = α · min(1, t / W) for ``warmup`` W > 0 (PyTorch's
   ``LinearLR(start_factor=1/W, total_iters=W-1)`` stepped after every optimizer step);
2. clipping:  g ← g · min(1, C / (‖g‖₂ + 10⁻⁶)) over the whole gradient, for ``clip_norm`` C > 0
   (``torch.nn.utils.clip_grad_norm_``);
3. weight decay λ_wd on the weights only (W-mask): ``adamw`` decays θ ← θ (1 − α_t λ_wd) before
   its Adam step (``torch.optim.AdamW``); every other optimizer adds λ_wd W-mask ⊙ θ to the
   clipped gradient (``torch.optim.SGD``'s and ``Adam``'s ``weight_decay``);
4. the step :func:`fastbp.epochs.apply_update` with α_t.

The gradient g handed in already holds fastbp's ``l2`` term (part of the loss), so ``l2`` is
clipped and ``weight_decay`` is not, as in PyTorch where an L2 term of the loss is in ``.grad``
and ``weight_decay`` is added by the optimizer.

:func:`minibatch_epoch_toolbox` is :func:`fastbp.epochs.minibatch_epoch` with this step; training
runs it only when one of the options is on (per-example SGD included, as batches of one row),
so the default settings keep the fused and specialised kernels.
"""

from __future__ import annotations

import math

from fastbp._jit import jit
from fastbp.epochs import ADAMW, apply_update, batch_loss_and_seed, gather_rows
from fastbp.kernels import (
    backprop_layers_blas,
    backprop_layers_loops,
    block,
    forward_blas,
    forward_loops,
)

#: torch.nn.utils.clip_grad_norm_'s guard against a zero norm.
CLIP_EPS = 1e-6


@jit
def toolbox_step(
    kind, params, grad, weight_mask, lr, mu, beta1, beta2, eps, wd, clip_norm, warmup, s1, s2,
    step,
):  # fmt: skip
    """One optimizer step with warm-up, clipping and weight decay (the module docstring's 1-4).

    ``step`` (int64[1]) is incremented first; ``clip_norm`` ≤ 0 and ``warmup`` ≤ 0 mean off.
    The norm is summed in float64; the factors are rounded to the buffers' dtype once.  Writes
    ``params``, ``s1``, ``s2``, ``step`` and (scaled, decayed) ``grad`` in place.
    """
    n = params.shape[0]
    T = params.dtype.type
    step[0] += 1
    t = step[0]
    rate = lr
    if warmup > 0 and t < warmup:
        rate = lr * (t / warmup)
    if clip_norm > 0.0:
        total = 0.0
        for q in range(n):
            g = float(grad[q])
            total += g * g
        coef = clip_norm / (math.sqrt(total) + CLIP_EPS)
        if coef < 1.0:
            c = T(coef)
            for q in range(n):
                grad[q] *= c
    if wd != 0.0:
        if kind == ADAMW:
            keep = T(1.0 - rate * wd)
            for q in range(n):
                if weight_mask[q] != 0:
                    params[q] *= keep
        else:
            w = T(wd)
            for q in range(n):
                grad[q] += w * weight_mask[q] * params[q]
    apply_update(kind, params, grad, rate, mu, beta1, beta2, eps, s1, s2, t)


@jit
def minibatch_epoch_toolbox(
    X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info, wd, clip_norm, warmup,
):  # fmt: skip
    """:func:`fastbp.epochs.minibatch_epoch` with :func:`toolbox_step` as the step.

    For each batch B: g = (1/|B|) Σ_{i∈B} ∇J_i(θ) + λ W-mask ⊙ θ, then :func:`toolbox_step`.
    Batches take BLAS when ``batch_size`` ≥ ``blas_min_rows``, else explicit loops, as
    :func:`fastbp.epochs.minibatch_kernel` chooses.  Writes ``params``, the state, ``info``.
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
        if use_blas:
            forward_blas(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
        else:
            forward_loops(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
        J = batch_loss_and_seed(Yb[:m], block(Z, u_off, widths, r, m),
                                block(A, u_off, widths, r, m), block(dZ, u_off, widths, r, m),
                                out_kind, loss_param)  # fmt: skip
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        if use_blas:
            backprop_layers_blas(xb, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA,
                                 grad, 1.0)  # fmt: skip
        else:
            backprop_layers_loops(xb, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA,
                                  grad, 1.0)  # fmt: skip
        if l2 != 0.0:
            for q in range(params.shape[0]):
                grad[q] += l2 * weight_mask[q] * params[q]
        toolbox_step(kind, params, grad, weight_mask, lr, mu, beta1, beta2, eps, wd, clip_norm,
                     warmup, s1, s2, step)  # fmt: skip
    info[0] += total
    info[1] += done
