"""Compiled training epochs: one call runs a whole epoch (or a chunk of one) over an index array.

Two kernels:

* :func:`sgd_example_epoch` — per-example SGD exactly as the lecture states it, for each i in
  ``order``: θ ← θ − α (∇J_i(θ) + λ W-mask ⊙ θ).  Backward and update are fused layer by layer:
  dJ/da[k−1] = W[k]ᵀ dJ/dz[k] is computed with the old W[k] before W[k] is updated, and the lower
  layers are not yet touched, so every gradient entry is evaluated at the old θ.  Exact.
* :func:`minibatch_epoch` — for each batch B of ``batch_size`` consecutive entries of ``order``
  (the last one may be short): g = (1/|B|) Σ_{i∈B} ∇J_i(θ) + λ W-mask ⊙ θ, then one optimizer
  step (:data:`SGD`, :data:`MOMENTUM`, :data:`NESTEROV` or :data:`ADAM`, see :func:`apply_update`).

``info`` (float64[4]) is written: info[0] = Σ J_i over the examples processed, info[1] = number of
examples processed, info[2] = 1 if a non-finite loss stopped the kernel early, else 0.
"""

from __future__ import annotations

import math

import numpy as np

from fastbp._jit import jit
from fastbp.activations import act_prime
from fastbp.kernels import (
    backward,
    biases,
    block,
    forward,
    loss_sum,
    weights,
)

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3


@jit
def sgd_example_epoch(
    X, Y, order, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A, dZ, dA, lr, l2, info
):
    """Per-example SGD over ``order`` (see the module docstring).  Updates params in place."""
    r = widths.shape[0] - 1
    total = 0.0
    done = 0
    decay = 1.0 - lr * l2
    for t in range(order.shape[0]):
        i = order[t]
        x = X[i : i + 1]
        forward(x, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A, False)
        J = loss_sum(Y[i : i + 1], block(Z, u_off, widths, r, 1), block(A, u_off, widths, r, 1),
                     out_kind)  # fmt: skip
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += 1
        dz = dZ[u_off[r - 1] : u_off[r]]
        a_out = A[u_off[r - 1] : u_off[r]]
        for j in range(widths[r]):
            dz[j] = a_out[j] - Y[i, j]
        for k in range(r, 0, -1):
            n_out = widths[k]
            n_in = widths[k - 1]
            W = weights(params, w_off, widths, k)
            b = biases(params, b_off, widths, k)
            dz = dZ[u_off[k - 1] : u_off[k]]
            if k > 1:
                # dJ/da[k-1] = W[k]^T dJ/dz[k], with the old W[k].
                da = dA[u_off[k - 2] : u_off[k - 1]]
                for p in range(n_in):
                    da[p] = 0.0
                for j in range(n_out):
                    d = dz[j]
                    for p in range(n_in):
                        da[p] += W[j, p] * d
                a_prev = A[u_off[k - 2] : u_off[k - 1]]
            else:
                a_prev = X[i]
            # W[k] <- W[k] - lr (dJ/dz[k] a[k-1]^T + l2 W[k]);  b[k] <- b[k] - lr dJ/dz[k].
            for j in range(n_out):
                step = lr * dz[j]
                if l2 != 0.0:
                    for p in range(n_in):
                        W[j, p] = decay * W[j, p] - step * a_prev[p]
                else:
                    for p in range(n_in):
                        W[j, p] -= step * a_prev[p]
                b[j] -= step
            if k > 1:
                # dJ/dz[k-1] = dJ/da[k-1] ⊙ σ'(z[k-1]).
                code = acts[k - 2]
                z_prev = Z[u_off[k - 2] : u_off[k - 1]]
                dz_prev = dZ[u_off[k - 2] : u_off[k - 1]]
                for p in range(n_in):
                    dz_prev[p] = da[p] * act_prime(code, z_prev[p], a_prev[p])
    info[0] += total
    info[1] += done


@jit
def apply_update(kind, params, grad, lr, mu, beta1, beta2, eps, s1, s2, step):
    """One optimizer step on the flat buffers, in place.  ``step`` is the 1-based step count.

    * SGD:       θ ← θ − α g
    * MOMENTUM:  v ← μ v − α g;  θ ← θ + v                              (v = s1)
    * NESTEROV:  v ← μ v − α g;  θ ← θ + μ v − α g                      (v = s1)
    * ADAM:      m ← β1 m + (1−β1) g;  s ← β2 s + (1−β2) g²;
                 θ ← θ − α m̂ / (√ŝ + ε),  m̂ = m/(1−β1^t), ŝ = s/(1−β2^t)  (m = s1, s = s2)
    """
    n = params.shape[0]
    if kind == MOMENTUM:
        for q in range(n):
            s1[q] = mu * s1[q] - lr * grad[q]
            params[q] += s1[q]
    elif kind == NESTEROV:
        for q in range(n):
            s1[q] = mu * s1[q] - lr * grad[q]
            params[q] += mu * s1[q] - lr * grad[q]
    elif kind == ADAM:
        c1 = 1.0 / (1.0 - beta1**step)
        c2 = 1.0 / (1.0 - beta2**step)
        for q in range(n):
            g = grad[q]
            s1[q] = beta1 * s1[q] + (1.0 - beta1) * g
            s2[q] = beta2 * s2[q] + (1.0 - beta2) * g * g
            params[q] -= lr * (s1[q] * c1) / (math.sqrt(s2[q] * c2) + eps)
    else:
        for q in range(n):
            params[q] -= lr * grad[q]


@jit
def minibatch_epoch(
    X, Y, order, batch_size, params, widths, acts, out_kind, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
):  # fmt: skip
    """Minibatch optimisation over ``order`` (see the module docstring).

    ``Xb``, ``Yb`` are (batch_size, n0) and (batch_size, nr) gather buffers; ``step`` is an int64[1]
    step counter incremented once per batch (Adam's bias correction uses it).
    """
    r = widths.shape[0] - 1
    n = order.shape[0]
    n0 = X.shape[1]
    nr = Y.shape[1]
    total = 0.0
    done = 0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        for t in range(m):
            i = order[start + t]
            for p in range(n0):
                Xb[t, p] = X[i, p]
            for j in range(nr):
                Yb[t, j] = Y[i, j]
        xb = Xb[:m]
        yb = Yb[:m]
        use_blas = m >= blas_min_rows
        forward(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A, use_blas)
        J = loss_sum(yb, block(Z, u_off, widths, r, m), block(A, u_off, widths, r, m), out_kind)
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        backward(xb, yb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A, dZ, dA,
                 grad, 1.0 / m, use_blas)  # fmt: skip
        if l2 != 0.0:
            for q in range(params.shape[0]):
                grad[q] += l2 * weight_mask[q] * params[q]
        step[0] += 1
        apply_update(kind, params, grad, lr, mu, beta1, beta2, eps, s1, s2, step[0])
    info[0] += total
    info[1] += done


def count_nonfinite(params: np.ndarray) -> int:
    """Number of NaN/inf entries (Python helper used by the training driver)."""
    return int(params.size - np.count_nonzero(np.isfinite(params)))
