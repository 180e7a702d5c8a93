"""scikit-learn's epoch loop in one compiled call: many epochs, their losses and the stopping rule.

On a small dataset an epoch's compiled work is a few tens of microseconds, as much as the Python
around it (shuffle, snapshot, two kernel calls, divergence check, loss, stopping rule).  So
:func:`run_epochs` runs a block of epochs in one call: for each epoch, the batches in the given
order (the full batches with λ = α/batch_size, then the short last batch with λ = α/m, all
through :func:`fastbp.epochs.minibatch_epoch_blas`; the per-epoch path takes the loops for a
last batch under ``blas_min_rows`` rows and the fused SGD update for plain SGD without L2, which
round differently; the caller sends batch sizes under ``blas_min_rows`` to the per-epoch
path), the divergence
check and restore of :func:`fastbp.row_kernels.settle`, scikit-learn's epoch loss (the batches'
mean losses weighted by their sizes, plus ½α Σ_b ‖W‖²/n with ‖W‖² averaged over the epoch's
start and end), and the stopping rule (``tol``, ``n_iter_no_change``, the ``invscaling`` and
``adaptive`` learning rates).  The permutations are drawn in Python beforehand, from the same
``RandomState`` in the same order (:class:`fastbp.sklearn._base._BaseMLP`).

Only one epoch kernel is called, so compiling this function on an empty cache costs little more
than compiling that kernel.  Compiled into another function, LLVM may vectorise it differently:
results agree with the per-epoch path to rounding, not always to the bit
(``tests/test_sklearn_loop.py``).  The sum of squared weights runs in fastbp's parameter order.
"""

from __future__ import annotations

import math

import numpy as np

from fastbp._jit import jit
from fastbp.epochs import minibatch_epoch_blas
from fastbp.row_kernels import settle, snapshot

# rule[...]: the constants of the stopping rule and of the loss.
R_TOL, R_PATIENCE, R_SCHEDULE, R_POWER_T, R_LR_INIT, R_OFFSET, R_OUT_DIV, R_SGD_FAMILY = range(8)
N_RULE = 8
# state[...]: what the loop carries from one epoch (and one call) to the next.
S_LR, S_BEST, S_COUNT, S_T, S_W2 = range(5)
N_STATE = 5
#: Learning-rate schedules (scikit-learn's ``learning_rate``).
CONSTANT, INVSCALING, ADAPTIVE = 0, 1, 2
#: What :func:`run_epochs` returns besides the number of epochs done.
RAN, STOPPED, DIVERGED = 0, 1, 2


@jit
def weights_squared(params, weight_mask):
    """Σ_k ‖W[k]‖²_F: the squares of the parameters the mask marks as weights."""
    s = 0.0
    for q in range(params.shape[0]):
        if weight_mask[q] != 0.0:
            s += params[q] * params[q]
    return s


@jit
def run_epochs(X, Y, orders, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off,
               u_off, Xb, Yb, Z, A, dZ, dA, grad, weight_mask, alpha, blas_min_rows, kind, mu,
               beta1, beta2, eps, s1, s2, step, good, good1, good2, info, rule, state,
               losses):  # fmt: skip
    """Run the epochs whose row orders are the rows of ``orders``; returns (epochs done, how).

    ``how`` is :data:`RAN` (every epoch ran), :data:`STOPPED` (the stopping rule ended the fit
    after the last epoch done) or :data:`DIVERGED` (the next epoch's loss or parameters became
    non-finite: its start was restored, parameters, optimizer state and step count).  ``losses``
    gets each epoch's scikit-learn loss; ``state`` carries the learning rate, the best loss, the
    no-improvement count, the samples seen and the last ‖W‖² (NaN: not known) in and out.
    """
    n_epochs, n = orders.shape
    n_full = (n // batch_size) * batch_size
    n_batches = -(-n // batch_size)
    sgd_family = rule[R_SGD_FAMILY] != 0.0
    for e in range(n_epochs):
        order = orders[e]
        w2_start = state[S_W2]
        if math.isnan(w2_start):
            w2_start = weights_squared(params, weight_mask)
        snapshot(params, s1, s2, good, good1, good2)
        step0 = step[0]
        lr = state[S_LR]
        total = 0.0
        for part in range(2):
            lo = 0 if part == 0 else n_full
            hi = n_full if part == 0 else n
            if hi == lo:
                continue
            m = batch_size if part == 0 else hi - lo
            info[0] = 0.0
            info[1] = 0.0
            info[2] = 0.0
            minibatch_epoch_blas(X, Y, order[lo:hi], m, params, widths, acts, out_kind,
                                 loss_param, w_off, b_off, u_off, Xb, Yb, Z, A, dZ, dA, grad,
                                 weight_mask, alpha / m, blas_min_rows, kind, lr, mu, beta1, beta2,
                                 eps, s1, s2, step, info)  # fmt: skip
            if settle(params, s1, s2, good, good1, good2, info) != 0:  # restored
                step[0] = step0
                state[S_W2] = w2_start
                return e, DIVERGED
            total += info[0] / max(info[1], 1.0) * (hi - lo)
        w2_end = weights_squared(params, weight_mask)
        state[S_W2] = w2_end
        loss = total / n / rule[R_OUT_DIV]
        loss += rule[R_OFFSET] + 0.5 * alpha * n_batches * 0.5 * (w2_start + w2_end) / n
        losses[e] = loss
        state[S_T] += n
        if loss > state[S_BEST] - rule[R_TOL]:
            state[S_COUNT] += 1.0
        else:
            state[S_COUNT] = 0.0
        if loss < state[S_BEST]:
            state[S_BEST] = loss
        schedule = rule[R_SCHEDULE]
        if sgd_family and schedule == INVSCALING:
            state[S_LR] = rule[R_LR_INIT] / (state[S_T] + 1.0) ** rule[R_POWER_T]
        if state[S_COUNT] > rule[R_PATIENCE]:
            if sgd_family and schedule == ADAPTIVE and state[S_LR] > 1e-6:
                state[S_LR] /= 5.0
                state[S_COUNT] = 0.0
            else:
                return e + 1, STOPPED
    return n_epochs, RAN


def new_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Fresh ``rule`` and ``state`` arrays for :func:`run_epochs`."""
    return np.zeros(N_RULE), np.full(N_STATE, np.nan)
