"""Compiled training epochs: one call runs a whole epoch (or a chunk of one) over an index array.

Two kernels:

* :func:`sgd_example_epoch` — per-example SGD exactly as the lecture states it, for each i in
  ``order``: θ ← θ − α (∇J_i(θ) + λ W-mask ⊙ θ).  Backward and update are fused layer by layer:
  dJ/da[k−1] = W[k]ᵀ dJ/dz[k] is computed with the old W[k] before W[k] is updated, and the lower
  layers are not yet touched, so every gradient entry is evaluated at the old θ.  Exact.
* :func:`minibatch_epoch` — for each batch B of ``batch_size`` consecutive entries of ``order``
  (the last one may be short): g = (1/|B|) Σ_{i∈B} ∇J_i(θ) + λ W-mask ⊙ θ, then one optimizer
  step (:data:`SGD`, :data:`MOMENTUM`, :data:`NESTEROV` or :data:`ADAM`, see :func:`apply_update`).
  It runs one of three compiled variants (:func:`minibatch_kernel`): BLAS products, explicit
  loops, or BLAS with plain SGD folded into the weight-gradient gemm.  They are separate
  functions because Numba compiles every branch of a function it compiles: one kernel holding
  all three paths made a first fit compile all three (the cold start of issue 24).

``info`` (float64[4]) is written: info[0] = Σ J_i over the examples processed, info[1] = number of
examples processed, info[2] = 1 if a non-finite loss stopped the kernel early, else 0.
"""

from __future__ import annotations

import math

from fastbp._blas import gemm_scratch, matmul_nn, sgd_update_tn
from fastbp._jit import jit, jit_inline
from fastbp.kernels import (
    backprop_activation,
    backprop_activation_vec,
    backprop_layers_blas,
    backprop_layers_loops,
    bias_sums,
    biases,
    block,
    forward_blas,
    forward_example,
    forward_loops,
    loss_sum,
    weights,
)
from fastbp.losses import example_loss, output_seed

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3
#: Adam's step (its decoupled weight decay: :func:`fastbp.toolbox_kernels.toolbox_step`).
ADAMW = 4


@jit_inline
def sgd_row(w, a_prev, step, decay, d, da):
    """One row j of W[k] in a per-example SGD step: w ← decay · w − step · a[k−1].

    ``step`` = α dJ/dz[k][j] and ``decay`` = 1 − α λ (exactly 1 without L2).  When ``da`` is not
    empty (k > 1) the old row is read into dJ/da[k−1] += w · d in the same pass, so W[k] is read
    once for both the backward pass and the update.
    """
    if da.shape[0] == 0:
        for p in range(w.shape[0]):
            w[p] = decay * w[p] - step * a_prev[p]
    else:
        for p in range(w.shape[0]):
            old = w[p]
            da[p] += old * d
            w[p] = decay * old - step * a_prev[p]


@jit
def sgd_example_epoch(
    X,
    Y,
    order,
    params,
    widths,
    acts,
    out_kind,
    loss_param,
    w_off,
    b_off,
    u_off,
    Z,
    A,
    dZ,
    dA,
    lr,
    l2,
    info,
):
    """Per-example SGD over ``order`` (see the module docstring).  Updates params in place.

    Backward and update share one pass over each row of W[k] (read old row, accumulate
    dJ/da[k−1], write new row), which halves the memory traffic on W.  Rows whose dJ/dz is
    exactly 0 (dead ReLU units) are skipped when l2 = 0: their update is exactly zero, and so is
    their contribution to dJ/da[k−1].
    """
    r = widths.shape[0] - 1
    n_last = widths[r]
    last = u_off[r - 1]
    total = 0.0
    done = 0
    decay = 1.0 - lr * l2
    for t in range(order.shape[0]):
        i = order[t]
        forward_example(X[i], params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
        J = example_loss(out_kind, loss_param, Z, A, last, n_last, Y, i)
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += 1
        output_seed(out_kind, loss_param, A[last : last + n_last], Y[i], dZ[last : last + n_last],
                    1.0)  # fmt: skip
        for k in range(r, 0, -1):
            W = weights(params, w_off, widths, k)
            b = biases(params, b_off, widths, k)
            dz = dZ[u_off[k - 1] : u_off[k]]
            a_prev = X[i] if k == 1 else A[u_off[k - 2] : u_off[k - 1]]
            # dJ/da[k-1] is accumulated from the old rows of W[k] during the update (k > 1).
            da = dA[u_off[k - 2] : u_off[k - 1]] if k > 1 else dA[0:0]
            da[:] = 0.0
            for j in range(widths[k]):
                step = lr * dz[j]
                if dz[j] != 0.0 or decay != 1.0:  # else the row and its dJ/da share are 0
                    sgd_row(W[j], a_prev, step, decay, dz[j], da)
                b[j] -= step
            if k > 1:
                # dJ/dz[k-1] = dJ/da[k-1] ⊙ σ'(z[k-1]).
                backprop_activation_vec(
                    acts[k - 2], Z[u_off[k - 2] : u_off[k - 1]], a_prev, da,
                    dZ[u_off[k - 2] : u_off[k - 1]],
                )  # fmt: skip
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
    * ADAMW:     ADAM's step; its weight decay θ ← θ (1 − α λ_wd) is done before, by
                 :func:`fastbp.toolbox_kernels.toolbox_step` (training runs AdamW only there)

    The step computes in the buffers' dtype: the settings are rounded to it once (float32
    networks update in float32, as PyTorch's and optax's optimizers do; the step used to be
    formed in float64 and rounded back, 3.3× slower for Adam on W3's 670 k parameters).  New
    moments are kept in locals, so that nothing is read back after a store (the buffers may alias
    as far as the compiler knows): Adam in float64 runs 1.8× faster for that alone, with the same
    results.
    """
    n = params.shape[0]
    T = params.dtype.type
    alpha = T(lr)
    if kind == MOMENTUM:
        m_ = T(mu)
        for q in range(n):
            u = m_ * s1[q] - alpha * grad[q]
            s1[q] = u
            params[q] += u
    elif kind == NESTEROV:
        m_ = T(mu)
        for q in range(n):
            g = alpha * grad[q]
            u = m_ * s1[q] - g
            s1[q] = u
            params[q] += m_ * u - g
    elif kind == ADAM or kind == ADAMW:
        c1 = T(1.0 / (1.0 - beta1**step))
        c2 = T(1.0 / (1.0 - beta2**step))
        b1, b2 = T(beta1), T(beta2)
        ob1, ob2 = T(1.0 - beta1), T(1.0 - beta2)
        e = T(eps)
        for q in range(n):
            g = grad[q]
            m = b1 * s1[q] + ob1 * g
            s = b2 * s2[q] + ob2 * g * g
            s1[q] = m
            s2[q] = s
            params[q] -= alpha * (m * c1) / (math.sqrt(s * c2) + e)
    else:
        for q in range(n):
            params[q] -= alpha * grad[q]


@jit
def gather_rows(X, Y, order, start, m, Xb, Yb):
    """Xb[t] = X[order[start + t]] and Yb[t] = Y[order[start + t]] for t < m.  Writes Xb, Yb."""
    n0 = X.shape[1]
    nr = Y.shape[1]
    for t in range(m):
        i = order[start + t]
        xb = Xb[t]
        x = X[i]
        for p in range(n0):
            xb[p] = x[p]
        yb = Yb[t]
        y = Y[i]
        for j in range(nr):
            yb[j] = y[j]


@jit
def sgd_backprop_update(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, lr,
                        scal):  # fmt: skip
    """The backward pass fused with the plain SGD step θ ← θ − α g, BLAS path, from layer r down.

    Needs the seeded dJ/dz[r] (mean over the batch folded in).  For each layer k: first
    dJ/da[k−1] = dZ[k] W[k] with the old W[k] and dJ/dz[k−1] = dJ/da[k−1] ⊙ σ'(z[k−1]); then
    W[k] ← W[k] − α dZ[k]ᵀ a[k−1] in one gemm (:func:`fastbp._blas.sgd_update_tn`) and
    b[k] ← b[k] − α Σ_i dZ_i[k] (the sums land in ``grad``'s bias slots).  The same step as
    :func:`backprop_layers` followed by :func:`apply_update` with SGD, without writing the weight
    gradient and reading it back; the rounding differs (the gemm scales its sum by −α).
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(r, 0, -1):
        dZk = block(dZ, u_off, widths, k, m)
        W = weights(params, w_off, widths, k)
        A_prev = X if k == 1 else block(A, u_off, widths, k - 1, m)
        if k > 1:
            dA_prev = block(dA, u_off, widths, k - 1, m)
            matmul_nn(dZk, W, dA_prev)
            backprop_activation(acts[k - 2], block(Z, u_off, widths, k - 1, m), A_prev, dA_prev,
                                block(dZ, u_off, widths, k - 1, m))  # fmt: skip
        sgd_update_tn(dZk, A_prev, W, -lr, scal)
        gb = biases(grad, b_off, widths, k)
        bias_sums(dZk, gb)
        b = biases(params, b_off, widths, k)
        for j in range(b.shape[0]):
            b[j] -= lr * gb[j]


@jit
def batch_loss_and_seed(yb, Zr, Ar, dZr, out_kind, loss_param):
    """J = Σ_i J_i over a batch's output block, and the seed dJ/dz[r]_i = ψ(a[r]_i − y_i)/m
    (:func:`fastbp.losses.output_seed`).

    The mean's 1/m goes into the seed (the backward pass is linear in it), so no pass over the
    weight gradient scales it afterwards.  Writes dZr; returns J (the caller stops on NaN/inf).
    """
    m = Ar.shape[0]
    J = loss_sum(yb, Zr, Ar, out_kind, loss_param)
    inv_m = 1.0 / m
    for t in range(m):
        output_seed(out_kind, loss_param, Ar[t], yb[t], dZr[t], inv_m)
    return J


@jit
def minibatch_epoch_blas(
    X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
):  # fmt: skip
    """:func:`minibatch_epoch` with every batch's products through BLAS (any optimizer)."""
    r = widths.shape[0] - 1
    n = order.shape[0]
    total = 0.0
    done = 0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        gather_rows(X, Y, order, start, m, Xb, Yb)
        xb = Xb[:m]
        forward_blas(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
        J = batch_loss_and_seed(Yb[:m], block(Z, u_off, widths, r, m),
                                block(A, u_off, widths, r, m), block(dZ, u_off, widths, r, m),
                                out_kind, loss_param)  # fmt: skip
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        backprop_layers_blas(xb, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad,
                             1.0)  # fmt: skip
        if l2 != 0.0:
            for q in range(params.shape[0]):
                grad[q] += l2 * weight_mask[q] * params[q]
        step[0] += 1
        apply_update(kind, params, grad, lr, mu, beta1, beta2, eps, s1, s2, step[0])
    info[0] += total
    info[1] += done


@jit
def minibatch_epoch_loops(
    X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
):  # fmt: skip
    """:func:`minibatch_epoch` with every batch's products by explicit loops (small batches)."""
    r = widths.shape[0] - 1
    n = order.shape[0]
    total = 0.0
    done = 0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        gather_rows(X, Y, order, start, m, Xb, Yb)
        xb = Xb[:m]
        forward_loops(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
        J = batch_loss_and_seed(Yb[:m], block(Z, u_off, widths, r, m),
                                block(A, u_off, widths, r, m), block(dZ, u_off, widths, r, m),
                                out_kind, loss_param)  # fmt: skip
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        backprop_layers_loops(xb, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad,
                              1.0)  # fmt: skip
        if l2 != 0.0:
            for q in range(params.shape[0]):
                grad[q] += l2 * weight_mask[q] * params[q]
        step[0] += 1
        apply_update(kind, params, grad, lr, mu, beta1, beta2, eps, s1, s2, step[0])
    info[0] += total
    info[1] += done


@jit
def minibatch_epoch_sgd_blas(
    X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
):  # fmt: skip
    """:func:`minibatch_epoch` for plain SGD without L2 through BLAS: each W[k] is updated by the
    weight-gradient gemm itself (β = 1, :func:`sgd_backprop_update`)."""
    r = widths.shape[0] - 1
    n = order.shape[0]
    total = 0.0
    done = 0
    scal = gemm_scratch(params)  # α, β for sgd_update_tn, once per call
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        gather_rows(X, Y, order, start, m, Xb, Yb)
        xb = Xb[:m]
        forward_blas(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
        J = batch_loss_and_seed(Yb[:m], block(Z, u_off, widths, r, m),
                                block(A, u_off, widths, r, m), block(dZ, u_off, widths, r, m),
                                out_kind, loss_param)  # fmt: skip
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        sgd_backprop_update(xb, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad,
                            lr, scal)  # fmt: skip
        step[0] += 1
    info[0] += total
    info[1] += done


def minibatch_kernel(kind: int, l2: float, batch_size: int, blas_min_rows: int):
    """The compiled epoch :func:`minibatch_epoch` runs for these settings.

    Batches of at least ``blas_min_rows`` rows take BLAS (the short last batch of the epoch
    too); plain SGD without L2 there folds the update into the gemm.  Each variant compiles
    only its own path: a first fit compiles one of them, not all three.

    Parameters
    ----------
    kind : int
        The optimizer code (:data:`SGD`, :data:`MOMENTUM`, :data:`NESTEROV`, :data:`ADAM`).
    l2 : float
        The L2 strength.
    batch_size : int
        Rows per batch.
    blas_min_rows : int
        The network's BLAS threshold (``LoweredNetwork.blas_min_rows``).

    Returns
    -------
    numba dispatcher
        :func:`minibatch_epoch_sgd_blas`, :func:`minibatch_epoch_blas` or
        :func:`minibatch_epoch_loops`; all take :func:`minibatch_epoch`'s arguments.
    """
    if batch_size < blas_min_rows:
        return minibatch_epoch_loops
    if kind == SGD and l2 == 0.0:
        return minibatch_epoch_sgd_blas
    return minibatch_epoch_blas


def minibatch_epoch(
    X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
):  # fmt: skip
    """Minibatch optimisation over ``order`` (see the module docstring); runs the compiled
    variant :func:`minibatch_kernel` picks.

    ``Xb``, ``Yb`` are (batch_size, n0) and (batch_size, nr) gather buffers; ``step`` is an int64[1]
    step counter incremented once per batch (Adam's bias correction uses it).
    """
    minibatch_kernel(kind, l2, batch_size, blas_min_rows)(
        X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
        Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
        kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
    )  # fmt: skip
