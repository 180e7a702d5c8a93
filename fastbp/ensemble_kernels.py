"""Compiled drivers that run the per-member kernels for every member of an ensemble at once.

An ensemble's M parameter vectors are the rows of one (M, n_params) array ``P``.  Each driver
is one compiled call: a ``numba.prange`` loop over T work slots (T = the thread count), and slot
t runs the contiguous block of members ``t M / T`` to ``(t + 1) M / T`` one after another with
its own workspace (``XB[t]``, ``ZS[t]``, ...: one workspace per thread, never one per member).
A member runs the very kernel :meth:`fastbp.Network.fit` runs for one network
(:mod:`fastbp.epochs`), on a private copy of its row of ``P`` and of its optimizer state
(:func:`private_state`: neighbouring rows share cache lines, and two threads writing them at
every step would slow each other down), with its own order of the rows, so member i of the
ensemble equals that network trained alone, and nothing depends on T.  Data is either shared,
``X3`` of shape (1, n, n0), or per member, (M, n, n0): member i reads
``X3[min(i, len(X3) - 1)]``, so shared data is never copied.  ``active[i] == 0`` skips member i
(stopped early or diverged).

Divergence is settled per member in compiled code (:func:`settle`): a member whose loss or
parameters are no longer finite gets its last good state back and is switched off; the others
go on.  The per-example SGD driver specialised to a spec is generated with that spec's kernels
(:mod:`fastbp.specialise`); the SIMD-lane kernel is in :mod:`fastbp.lanes`.

Launch every parallel driver inside :func:`fastbp._parallel.launch`.
"""

from __future__ import annotations

from numba import prange

from fastbp._jit import jit, jit_inline, jit_parallel
from fastbp.epochs import (
    minibatch_epoch_blas,
    minibatch_epoch_loops,
    minibatch_epoch_sgd_blas,
    sgd_example_epoch,
)
from fastbp.kernels import (
    block,
    forward_blas,
    forward_example,
    forward_loops,
    loss_sum,
)
from fastbp.pcg64 import shuffle as pcg64_shuffle
from fastbp.row_kernels import settle as settle_one
from fastbp.row_kernels import snapshot as snapshot_one
from fastbp.toolbox_kernels import minibatch_epoch_toolbox


@jit_inline
def private_state(t, i, P, S1, S2, steps, info, PW, SW1, SW2, STW, IW):
    """Member i's parameters, optimizer state and info, copied into slot t's private rows.

    A thread trains its member on these rows, never on the shared (M, ·) arrays: there,
    neighbouring members' rows share cache lines, and two threads updating neighbours at every
    step would pass those lines back and forth between their cores (false sharing).  The slot
    rows are padded apart (:class:`fastbp.ensemble_pass.Buffers`).  Returns the views.
    """
    p = PW[t, : P.shape[1]]
    s1 = SW1[t, : S1.shape[1]]
    s2 = SW2[t, : S2.shape[1]]
    st = STW[t, :1]
    inf = IW[t, :3]
    p[:] = P[i]
    s1[:] = S1[i]
    s2[:] = S2[i]
    st[:] = steps[i]
    inf[:] = info[i]
    return p, s1, s2, st, inf


@jit_inline
def publish_state(i, p, s1, s2, st, inf, P, S1, S2, steps, info):
    """Copy member i's private rows (:func:`private_state`) back to the shared arrays."""
    P[i] = p
    S1[i] = s1
    S2[i] = s2
    steps[i] = st
    info[i] = inf


@jit_inline
def private_params(t, i, P, info, PW, IW):
    """:func:`private_state` for the per-example SGD drivers (no optimizer state)."""
    p = PW[t, : P.shape[1]]
    inf = IW[t, :3]
    p[:] = P[i]
    inf[:] = info[i]
    return p, inf


@jit_parallel
def minibatch_blas(
    X3, Y3, orders, lo, hi, batch_size, P, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    XB, YB, ZS, AS, DZS, DAS, GS, weight_mask, l2s, blas_min_rows,
    kind, lrs, mus, beta1, beta2, eps, S1, S2, steps, info, active, PW, SW1, SW2, STW, IW,
):  # fmt: skip
    """:func:`fastbp.epochs.minibatch_epoch_blas` for every active member, over
    ``orders[i, lo:hi]``, with member i's ``l2s[i]``, ``lrs[i]``, ``mus[i]`` and state rows
    (copied into slot t's private rows for the call, see the module docstring)."""
    M = P.shape[0]
    T = XB.shape[0]
    n = P.shape[1]
    for t in prange(T):
        for i in range(t * M // T, (t + 1) * M // T):
            if active[i] != 0:
                p, s1, s2, st, inf = private_state(t, i, P, S1, S2, steps, info, PW, SW1, SW2,
                                                   STW, IW)  # fmt: skip
                minibatch_epoch_blas(
                    X3[min(i, X3.shape[0] - 1)], Y3[min(i, Y3.shape[0] - 1)], orders[i, lo:hi],
                    batch_size, p, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
                    XB[t], YB[t], ZS[t], AS[t], DZS[t], DAS[t], GS[t, :n], weight_mask,
                    float(l2s[i]), blas_min_rows, kind, float(lrs[i]), float(mus[i]), beta1,
                    beta2, eps, s1, s2, st, inf,
                )  # fmt: skip
                publish_state(i, p, s1, s2, st, inf, P, S1, S2, steps, info)


@jit_parallel
def minibatch_loops(
    X3, Y3, orders, lo, hi, batch_size, P, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    XB, YB, ZS, AS, DZS, DAS, GS, weight_mask, l2s, blas_min_rows,
    kind, lrs, mus, beta1, beta2, eps, S1, S2, steps, info, active, PW, SW1, SW2, STW, IW,
):  # fmt: skip
    """:func:`minibatch_blas` with :func:`fastbp.epochs.minibatch_epoch_loops`."""
    M = P.shape[0]
    T = XB.shape[0]
    n = P.shape[1]
    for t in prange(T):
        for i in range(t * M // T, (t + 1) * M // T):
            if active[i] != 0:
                p, s1, s2, st, inf = private_state(t, i, P, S1, S2, steps, info, PW, SW1, SW2,
                                                   STW, IW)  # fmt: skip
                minibatch_epoch_loops(
                    X3[min(i, X3.shape[0] - 1)], Y3[min(i, Y3.shape[0] - 1)], orders[i, lo:hi],
                    batch_size, p, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
                    XB[t], YB[t], ZS[t], AS[t], DZS[t], DAS[t], GS[t, :n], weight_mask,
                    float(l2s[i]), blas_min_rows, kind, float(lrs[i]), float(mus[i]), beta1,
                    beta2, eps, s1, s2, st, inf,
                )  # fmt: skip
                publish_state(i, p, s1, s2, st, inf, P, S1, S2, steps, info)


@jit_parallel
def minibatch_sgd_blas(
    X3, Y3, orders, lo, hi, batch_size, P, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    XB, YB, ZS, AS, DZS, DAS, GS, weight_mask, l2s, blas_min_rows,
    kind, lrs, mus, beta1, beta2, eps, S1, S2, steps, info, active, PW, SW1, SW2, STW, IW,
):  # fmt: skip
    """:func:`minibatch_blas` with :func:`fastbp.epochs.minibatch_epoch_sgd_blas` (plain SGD,
    λ = 0: the members given to it all have l2s[i] = 0)."""
    M = P.shape[0]
    T = XB.shape[0]
    n = P.shape[1]
    for t in prange(T):
        for i in range(t * M // T, (t + 1) * M // T):
            if active[i] != 0:
                p, s1, s2, st, inf = private_state(t, i, P, S1, S2, steps, info, PW, SW1, SW2,
                                                   STW, IW)  # fmt: skip
                minibatch_epoch_sgd_blas(
                    X3[min(i, X3.shape[0] - 1)], Y3[min(i, Y3.shape[0] - 1)], orders[i, lo:hi],
                    batch_size, p, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
                    XB[t], YB[t], ZS[t], AS[t], DZS[t], DAS[t], GS[t, :n], weight_mask,
                    float(l2s[i]), blas_min_rows, kind, float(lrs[i]), float(mus[i]), beta1,
                    beta2, eps, s1, s2, st, inf,
                )  # fmt: skip
                publish_state(i, p, s1, s2, st, inf, P, S1, S2, steps, info)


@jit_parallel
def minibatch_toolbox(
    X3, Y3, orders, lo, hi, batch_size, P, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    XB, YB, ZS, AS, DZS, DAS, GS, weight_mask, l2s, blas_min_rows,
    kind, lrs, mus, beta1, beta2, eps, S1, S2, steps, info, active, PW, SW1, SW2, STW, IW,
    wd, clip_norm, warmup,
):  # fmt: skip
    """:func:`minibatch_blas` with :func:`fastbp.toolbox_kernels.minibatch_epoch_toolbox`
    (weight decay / AdamW ``wd``, ``clip_norm``, ``warmup``, shared by the members; per-example
    SGD too, as batches of one row, as a single network's fit runs it)."""
    M = P.shape[0]
    T = XB.shape[0]
    n = P.shape[1]
    for t in prange(T):
        for i in range(t * M // T, (t + 1) * M // T):
            if active[i] != 0:
                p, s1, s2, st, inf = private_state(t, i, P, S1, S2, steps, info, PW, SW1, SW2,
                                                   STW, IW)  # fmt: skip
                minibatch_epoch_toolbox(
                    X3[min(i, X3.shape[0] - 1)], Y3[min(i, Y3.shape[0] - 1)], orders[i, lo:hi],
                    batch_size, p, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
                    XB[t], YB[t], ZS[t], AS[t], DZS[t], DAS[t], GS[t, :n], weight_mask,
                    float(l2s[i]), blas_min_rows, kind, float(lrs[i]), float(mus[i]), beta1,
                    beta2, eps, s1, s2, st, inf, wd, clip_norm, warmup,
                )  # fmt: skip
                publish_state(i, p, s1, s2, st, inf, P, S1, S2, steps, info)


#: The minibatch drivers by the name of the epoch kernel they run (see
#: :func:`fastbp.epochs.minibatch_kernel`).
MINIBATCH_DRIVERS = {
    "minibatch_epoch_blas": minibatch_blas,
    "minibatch_epoch_loops": minibatch_loops,
    "minibatch_epoch_sgd_blas": minibatch_sgd_blas,
}


@jit_parallel
def sgd_example(
    X3, Y3, orders, lo, hi, P, widths, acts, out_kind, loss_param, w_off, b_off, u_off, ZS, AS, DZS,
    DAS, lrs, l2s, info, active, PW, IW,
):  # fmt: skip
    """:func:`fastbp.epochs.sgd_example_epoch` (the generic per-example SGD kernel) for every
    active member, over ``orders[i, lo:hi]`` with ``lrs[i]`` and ``l2s[i]``."""
    M = P.shape[0]
    T = ZS.shape[0]
    for t in prange(T):
        for i in range(t * M // T, (t + 1) * M // T):
            if active[i] != 0:
                p, inf = private_params(t, i, P, info, PW, IW)
                sgd_example_epoch(
                    X3[min(i, X3.shape[0] - 1)], Y3[min(i, Y3.shape[0] - 1)], orders[i, lo:hi], p,
                    widths, acts, out_kind, loss_param, w_off, b_off, u_off, ZS[t], AS[t], DZS[t],
                    DAS[t], float(lrs[i]), float(l2s[i]), inf,
                )  # fmt: skip
                P[i] = p
                info[i] = inf


@jit_parallel
def shuffle_orders(orders, train_rows, states, active):
    """Each active member's order for the next epoch: ``orders[i]`` = its training rows,
    shuffled by :func:`fastbp.pcg64.shuffle` with its generator's state ``states[i]`` (NumPy's
    ``permutation`` of those rows, to the bit), members over the threads."""
    for i in prange(orders.shape[0]):
        if active[i] != 0:
            row = orders[i]
            row[:] = train_rows[i]
            pcg64_shuffle(row, states[i])


@jit
def _gather_x(X, idx, lo, m, Xb):
    """Xb[t] = X[idx[lo + t]] for t < m.  Writes Xb."""
    n0 = X.shape[1]
    for t in range(m):
        x = X[idx[lo + t]]
        xb = Xb[t]
        for p in range(n0):
            xb[p] = x[p]


@jit
def _gather_y(Y, idx, lo, m, Yb):
    """Yb[t] = Y[idx[lo + t]] for t < m.  Writes Yb."""
    nr = Y.shape[1]
    for t in range(m):
        y = Y[idx[lo + t]]
        yb = Yb[t]
        for j in range(nr):
            yb[j] = y[j]


@jit_parallel
def outputs(
    X3, Y3, idx, P, widths, acts, out_kind, loss_param, w_off, b_off, u_off, XB, YB, ZS, AS,
    chunk_rows, blas_min_rows, with_loss, active, out, losses,
):  # fmt: skip
    """Every active member's outputs on its rows ``idx[min(i, len(idx) - 1)]``, and their loss
    sum (other members' entries are left as they were).

    Rows go through the network in chunks of ``chunk_rows``, each by the forward kernel
    :meth:`fastbp.lowered.LoweredNetwork.forward_chunk` picks for its size, so the outputs
    (and, with ``with_loss``, the sums Σ J_i into ``losses[i]``, as
    :meth:`~fastbp.lowered.LoweredNetwork.loss` forms them) are those of the member alone.
    Writes ``out`` (M, n, nr) and ``losses`` (M,).
    """
    M = P.shape[0]
    T = XB.shape[0]
    r = widths.shape[0] - 1
    nr = widths[r]
    n = idx.shape[1]
    for t in prange(T):
        for i in range(t * M // T, (t + 1) * M // T):
            if active[i] == 0:
                continue
            X = X3[min(i, X3.shape[0] - 1)]
            rows = idx[min(i, idx.shape[0] - 1)]
            params = P[i]
            Z = ZS[t]
            A = AS[t]
            total = 0.0
            for lo in range(0, n, chunk_rows):
                m = min(chunk_rows, n - lo)
                xb = XB[t][:m]
                _gather_x(X, rows, lo, m, xb)
                if m == 1:
                    forward_example(xb[0], params, widths, acts, out_kind, w_off, b_off, u_off,
                                    Z, A)  # fmt: skip
                elif m >= blas_min_rows:
                    forward_blas(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
                else:
                    forward_loops(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
                Ar = block(A, u_off, widths, r, m)
                o = out[i]
                for s in range(m):
                    for j in range(nr):
                        o[lo + s, j] = Ar[s, j]
                if with_loss:
                    yb = YB[t][:m]
                    _gather_y(Y3[min(i, Y3.shape[0] - 1)], rows, lo, m, yb)
                    total += loss_sum(yb, block(Z, u_off, widths, r, m), Ar, out_kind, loss_param)
            losses[i] = total


@jit
def settle(P, S1, S2, steps, good_P, good_S1, good_S2, good_steps, info, active, failed):
    """After a compiled chunk: every active member whose loss was not finite (``info[i, 2]``) or
    whose parameters are not finite gets its last good parameters and optimizer state back
    (:func:`fastbp.row_kernels.settle`, the rule every training path uses), is switched off
    (``active[i] = 0``) and marked (``failed[i] = 1``).  Returns how many failed.
    """
    count = 0
    for i in range(P.shape[0]):
        if active[i] == 0:
            continue
        if settle_one(P[i], S1[i], S2[i], good_P[i], good_S1[i], good_S2[i], info[i]) != 0:
            steps[i, 0] = good_steps[i, 0]
            active[i] = 0
            failed[i] = 1
            count += 1
    return count


@jit
def snapshot(P, S1, S2, steps, good_P, good_S1, good_S2, good_steps, active):
    """The end of a good epoch: copy every active member's state to the restore buffers
    (:func:`fastbp.row_kernels.snapshot`)."""
    for i in range(P.shape[0]):
        if active[i] != 0:
            snapshot_one(P[i], S1[i], S2[i], good_P[i], good_S1[i], good_S2[i])
            good_steps[i, 0] = steps[i, 0]


__all__ = [
    "MINIBATCH_DRIVERS",
    "minibatch_blas",
    "minibatch_loops",
    "minibatch_sgd_blas",
    "outputs",
    "settle",
    "sgd_example",
    "shuffle_orders",
    "snapshot",
]
