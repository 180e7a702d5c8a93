"""W3 per-op profile of fastbp's minibatch epoch, and an in-process A/B of the fused kernels.

W3 is 784-512-512-10 ReLU, softmax cross-entropy, batch 128.  In ONE process, pinned to one CPU
with one BLAS thread, this script:

1. times each op class of :func:`fastbp.epochs.minibatch_epoch` on its own, with the shapes of a
   W3 batch, by calling the kernels' pieces in a compiled loop (no Python between calls): the
   three gemm calls of the forward pass, of the weight gradient and of the backward pass, the
   bias + activation passes, the loss, the seed dJ/dz[r], the weight-gradient bias sums, the
   activation backprop, the row gather into Xb/Yb and the optimizer update (SGD and Adam).  Each
   is reported per batch and as a share of the measured epoch;
2. compares each gemm with ``np.dot`` on the same operands and layouts (called from Python) and
   with the one-core peak (an n × n ``np.dot``), and prints the layouts Numba compiled the
   products for (C/F only: BLAS takes them as transpose flags, nothing is copied);
3. runs the epoch of the kernels before the fusion (kept below as ``old_minibatch_epoch``) and
   today's ``minibatch_epoch`` interleaved, several rounds, and reports the median time of each
   and the median (and range) of the per-round ratios.

Run::

    python scripts/profile_w3.py                   # both dtypes, SGD and Adam
    python scripts/profile_w3.py --dtype float32 --rounds 21 --cpu 1

Timings are medians over interleaved repeats; on a shared machine only the ratios from one run
mean anything.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Profile this checkout's fastbp, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from fastbp import epochs as ek  # noqa: E402
from fastbp import kernels as K  # noqa: E402
from fastbp._blas import gemm_scratch, matmul_nn, matmul_nt, matmul_tn, sgd_update_tn  # noqa: E402
from fastbp._jit import jit  # noqa: E402
from fastbp.activations import act_prime  # noqa: E402
from fastbp.losses import SOFTMAX_CE, output_seed  # noqa: E402
from fastbp.optim import Optimizer  # noqa: E402
from fastbp.validate import as_features, as_targets  # noqa: E402
from fastbp.workloads import W3  # noqa: E402

# --- the kernels as they were before the fusion (the "A" of the A/B) -------------------------


@jit
def old_forward(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A, use_blas):
    """forward() before the fusion: gemm, a bias pass, then a separate activation pass."""
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        W = K.weights(params, w_off, widths, k)
        b = K.biases(params, b_off, widths, k)
        Zk = K.block(Z, u_off, widths, k, m)
        Ak = K.block(A, u_off, widths, k, m)
        if k == 1:
            K.affine(X, W, b, Zk, use_blas)
        else:
            K.affine(K.block(A, u_off, widths, k - 1, m), W, b, Zk, use_blas)
        if k < r:
            K.activate(acts[k - 1], Zk, Ak)
        else:
            K.output_transform(out_kind, Zk, Ak)


@jit
def old_weight_gradient(dZ, A_prev, gW, gb, scale, use_blas):
    """weight_gradient() before: gemm, a scale pass over gW, column sums down dZ."""
    if use_blas:
        matmul_tn(dZ, A_prev, gW)
    else:
        K.loop_matmul_tn(dZ, A_prev, gW)
    m, n_out = dZ.shape
    n_in = A_prev.shape[1]
    for j in range(n_out):
        for p in range(n_in):
            gW[j, p] *= scale
    for j in range(n_out):
        s = 0.0
        for i in range(m):
            s += dZ[i, j]
        gb[j] = scale * s


@jit
def old_backprop_activation(code, Z, A, dA, dZ):
    """backprop_activation() before: act_prime dispatched per entry."""
    m, n = Z.shape
    for i in range(m):
        for j in range(n):
            dZ[i, j] = dA[i, j] * act_prime(code, Z[i, j], A[i, j])


@jit
def old_backward(X, Y, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, scale,
                 use_blas):  # fmt: skip
    """backward() before: unscaled seed, the scale applied to every weight gradient."""
    m = X.shape[0]
    r = widths.shape[0] - 1
    dZr = K.block(dZ, u_off, widths, r, m)
    Ar = K.block(A, u_off, widths, r, m)
    for i in range(m):
        output_seed(SOFTMAX_CE, math.nan, Ar[i], Y[i], dZr[i], 1.0)  # a − y, W3's seed
    for k in range(r, 0, -1):
        dZk = K.block(dZ, u_off, widths, k, m)
        gW = K.weights(grad, w_off, widths, k)
        gb = K.biases(grad, b_off, widths, k)
        if k == 1:
            old_weight_gradient(dZk, X, gW, gb, scale, use_blas)
        else:
            old_weight_gradient(dZk, K.block(A, u_off, widths, k - 1, m), gW, gb, scale, use_blas)
            dA_prev = K.block(dA, u_off, widths, k - 1, m)
            K.backprop_linear(dZk, K.weights(params, w_off, widths, k), dA_prev, use_blas)
            old_backprop_activation(acts[k - 2], K.block(Z, u_off, widths, k - 1, m),
                                    K.block(A, u_off, widths, k - 1, m), dA_prev,
                                    K.block(dZ, u_off, widths, k - 1, m))  # fmt: skip


@jit
def old_minibatch_epoch(
    X, Y, order, batch_size, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Xb, Yb, Z, A, dZ, dA, grad, weight_mask, l2, blas_min_rows,
    kind, lr, mu, beta1, beta2, eps, s1, s2, step, info,
):  # fmt: skip
    """minibatch_epoch() before the fusion (same arguments)."""
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
        old_forward(xb, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A, use_blas)
        J = K.loss_sum(yb, K.block(Z, u_off, widths, r, m), K.block(A, u_off, widths, r, m),
                       out_kind, loss_param)  # fmt: skip
        if not math.isfinite(J):
            info[2] = 1.0
            break
        total += J
        done += m
        old_backward(xb, yb, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad,
                     1.0 / m, use_blas)  # fmt: skip
        if l2 != 0.0:
            for q in range(params.shape[0]):
                grad[q] += l2 * weight_mask[q] * params[q]
        step[0] += 1
        ek.apply_update(kind, params, grad, lr, mu, beta1, beta2, eps, s1, s2, step[0])
    info[0] += total
    info[1] += done


# --- op loops: each calls one piece ``n`` times with W3's shapes -----------------------------


@jit
def rep_nt(n, A, W, Z):
    for _ in range(n):
        matmul_nt(A, W, Z)


@jit
def rep_tn(n, dZ, A, gW):
    for _ in range(n):
        matmul_tn(dZ, A, gW)


@jit
def rep_update_tn(n, dZ, A, W, scal):
    for _ in range(n):
        sgd_update_tn(dZ, A, W, -1e-12, scal)


@jit
def rep_nn(n, dZ, W, dA):
    for _ in range(n):
        matmul_nn(dZ, W, dA)


@jit
def rep_bias_act_old(n, code, b, Z, A):
    m, w = Z.shape
    for _ in range(n):
        for i in range(m):
            for j in range(w):
                Z[i, j] += b[j]
        K.activate(code, Z, A)


@jit
def rep_bias_act_new(n, code, b, Z, A):
    for _ in range(n):
        K.bias_activate(code, b, Z, A)


@jit
def rep_output(n, out_kind, b, Z, A):
    for _ in range(n):
        K.add_bias(b, Z)
        K.output_transform(out_kind, Z, A)


@jit
def rep_loss_seed(n, out_kind, Y, Z, A, dZ):
    m = Z.shape[0]
    for _ in range(n):
        K.loss_sum(Y, Z, A, out_kind, math.nan)
        for t in range(m):
            output_seed(out_kind, math.nan, A[t], Y[t], dZ[t], 1.0 / m)


@jit
def rep_wsums_old(n, dZ, gW, gb, scale):
    m, n_out = dZ.shape
    n_in = gW.shape[1]
    for _ in range(n):
        for j in range(n_out):
            for p in range(n_in):
                gW[j, p] *= scale
        for j in range(n_out):
            s = 0.0
            for i in range(m):
                s += dZ[i, j]
            gb[j] = scale * s


@jit
def rep_wsums_new(n, dZ, gb):
    m, n_out = dZ.shape
    for _ in range(n):
        for j in range(n_out):
            gb[j] = 0.0
        for i in range(m):
            dz = dZ[i]
            for j in range(n_out):
                gb[j] += dz[j]


@jit
def rep_bpact_old(n, code, Z, A, dA, dZ):
    for _ in range(n):
        old_backprop_activation(code, Z, A, dA, dZ)


@jit
def rep_bpact_new(n, code, Z, A, dA, dZ):
    for _ in range(n):
        K.backprop_activation(code, Z, A, dA, dZ)


@jit
def rep_gather_old(n, X, Y, order, Xb, Yb):
    m, n0 = Xb.shape
    nr = Yb.shape[1]
    for _ in range(n):
        for t in range(m):
            i = order[t]
            for p in range(n0):
                Xb[t, p] = X[i, p]
            for j in range(nr):
                Yb[t, j] = Y[i, j]


@jit
def rep_gather_new(n, X, Y, order, Xb, Yb):
    for _ in range(n):
        ek.gather_rows(X, Y, order, 0, Xb.shape[0], Xb, Yb)


@jit
def rep_update(n, kind, params, grad, lr, s1, s2, step):
    for _ in range(n):
        step[0] += 1
        ek.apply_update(kind, params, grad, lr, 0.9, 0.9, 0.999, 1e-8, s1, s2, step[0])


def bind(f, *args):
    """fn(n) = f(n, *args): one op loop with its operands bound."""
    return lambda n: f(n, *args)


def npdot(a, b, out):
    """fn(n): n calls of NumPy's own ``np.dot(a, b, out=out)`` from Python."""

    def run(n: int) -> None:
        for _ in range(n):
            np.dot(a, b, out=out)

    return run


def best_time(fn, reps: int, repeats: int) -> float:
    """Best (minimum) seconds per call of fn(reps) over ``repeats`` timed blocks.

    On a loaded machine the median of a block measures the load as much as the op; the best
    block is the closest to the op's own cost, so the profile and the gemm table use it.
    """
    fn(1)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(reps)
        times.append((time.perf_counter() - t0) / reps)
    return float(np.min(times))


class Setup:
    """A W3 network, its data and every buffer the epoch and the op loops use."""

    def __init__(self, dtype: str, n: int, optimizer: str) -> None:
        self.net = W3.network(dtype)
        spec = self.net.spec
        X, y = W3.data(dtype, n=n)
        self.X = as_features(X, spec)
        self.Y = as_targets(y, spec, X.shape[0])
        self.bs = W3.batch_size
        self.order = np.arange(n, dtype=np.int64)
        low = self.net.lowered
        low.ws.ensure(self.bs)
        self.p, self.ws, self.grad = low.plan, low.ws, low.grad
        self.Xb = np.zeros((self.bs, spec.n_inputs), dtype=spec.np_dtype)
        self.Yb = np.zeros((self.bs, spec.n_outputs), dtype=spec.np_dtype)
        self.opt = Optimizer(optimizer)
        self.opt.reset(self.net.n_params, spec.np_dtype)
        self.info = np.zeros(3, dtype=np.float64)
        self.params0 = self.net.params.copy()
        self.blas_min_rows = low.blas_min_rows

    def epoch(self, kernel) -> float:
        """Seconds for one epoch of ``kernel`` from the initial parameters and optimizer state."""
        self.net.params[...] = self.params0
        opt, p, ws = self.opt, self.p, self.ws
        opt.reset(self.net.n_params, self.net.spec.np_dtype)
        t0 = time.perf_counter()
        kernel(
            self.X, self.Y, self.order, self.bs, self.net.params, p.widths, p.acts, p.out_kind,
            p.loss_param, p.w_off, p.b_off, p.u_off, self.Xb, self.Yb, ws.Z, ws.A, ws.dZ, ws.dA,
            self.grad, p.weight_mask, 0.0, self.blas_min_rows, opt.code, W3.lr, opt.momentum,
            opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step, self.info,
        )  # fmt: skip
        return time.perf_counter() - t0


def ab_epochs(s: Setup, rounds: int) -> dict:
    """Old and new epoch interleaved ``rounds`` times; medians and per-round ratios."""
    s.epoch(old_minibatch_epoch)
    before = s.net.params.copy()
    s.epoch(ek.minibatch_epoch)
    # Batch 128: the 1/m folded into the seed is a power of two, so the bits must not change.
    same_bits = bool(np.array_equal(before, s.net.params))
    max_diff = float(np.max(np.abs(before - s.net.params)))
    old, new = [], []
    for r in range(rounds):
        pair = [("old", old_minibatch_epoch), ("new", ek.minibatch_epoch)]
        if r % 2:
            pair.reverse()
        for name, kern in pair:
            (old if name == "old" else new).append(s.epoch(kern))
    ratios = np.array(old) / np.array(new)
    return {
        "old": float(np.median(old)),
        "new": float(np.median(new)),
        "ratio": float(np.median(ratios)),
        "ratio_q": (float(np.quantile(ratios, 0.25)), float(np.quantile(ratios, 0.75))),
        "ratio_range": (float(ratios.min()), float(ratios.max())),
        "same_bits": same_bits,
        "max_diff": max_diff,
        "old_best": float(np.min(old)),
        "new_best": float(np.min(new)),
    }


def op_profile(s: Setup, reps: int, repeats: int) -> list[tuple[str, float, float]]:
    """(op class, new seconds per batch, old seconds per batch) for one W3 batch."""
    net, p, bs = s.net, s.p, s.bs
    r = len(net.spec.widths) - 1
    dt = net.spec.np_dtype
    widths = net.spec.widths
    rng = np.random.default_rng(0)
    # Realistic contents: one forward and backward on the first batch.
    s.epoch(ek.minibatch_epoch)
    Zs = [K.block(s.ws.Z, p.u_off, p.widths, k, bs) for k in range(1, r + 1)]
    As = [s.Xb] + [K.block(s.ws.A, p.u_off, p.widths, k, bs) for k in range(1, r + 1)]
    dZs = [K.block(s.ws.dZ, p.u_off, p.widths, k, bs) for k in range(1, r + 1)]
    dAs = [K.block(s.ws.dA, p.u_off, p.widths, k, bs) for k in range(1, r)]
    Ws = [K.weights(net.params, p.w_off, p.widths, k) for k in range(1, r + 1)]
    bs_ = [K.biases(net.params, p.b_off, p.widths, k) for k in range(1, r + 1)]
    gWs = [K.weights(s.grad, p.w_off, p.widths, k) for k in range(1, r + 1)]
    gbs = [K.biases(s.grad, p.b_off, p.widths, k) for k in range(1, r + 1)]
    Zc = [z.copy() for z in Zs]
    for z in Zc:
        z[...] = rng.normal(size=z.shape)
    acts = p.acts
    T = lambda f: best_time(f, reps, repeats)  # noqa: E731  (old and new interleaved below)
    rows = []

    def add(name, new_f, old_f=None):
        tn = T(new_f)
        to = T(old_f) if old_f is not None else tn
        rows.append((name, tn, to))

    add("gather X, Y rows into Xb, Yb",
        lambda n: rep_gather_new(n, s.X, s.Y, s.order, s.Xb, s.Yb),
        lambda n: rep_gather_old(n, s.X, s.Y, s.order, s.Xb, s.Yb))  # fmt: skip
    add("forward gemm Z = A Wᵀ (3)",
        lambda n: [rep_nt(n, As[k], Ws[k], Zs[k]) for k in range(r)] and None)  # fmt: skip
    add("bias + activation (2 hidden)",
        lambda n: [rep_bias_act_new(n, acts[k], bs_[k], Zc[k], As[k + 1]) for k in range(r - 1)]
        and None,
        lambda n: [rep_bias_act_old(n, acts[k], bs_[k], Zc[k], As[k + 1]) for k in range(r - 1)]
        and None)  # fmt: skip
    add("output bias + softmax", lambda n: rep_output(n, p.out_kind, bs_[r - 1], Zc[r - 1], As[r]))
    add(
        "loss + seed dJ/dz[r]",
        lambda n: rep_loss_seed(n, p.out_kind, s.Yb, Zs[r - 1], As[r], dZs[r - 1]),
    )
    sgd = s.opt.name == "sgd"
    scal = gemm_scratch(net.params)
    Wc = [w.copy() for w in Ws]  # the folded update writes W: time it on copies
    add("weight-gradient gemm gW = dZᵀ A (3)"
        + ("; now W ← W − α dZᵀA, the SGD step folded in" if sgd else ""),
        (lambda n: [rep_update_tn(n, dZs[k], As[k], Wc[k], scal)
                    for k in range(r)] and None) if sgd else
        (lambda n: [rep_tn(n, dZs[k], As[k], gWs[k]) for k in range(r)] and None),
        lambda n: [rep_tn(n, dZs[k], As[k], gWs[k]) for k in range(r)] and None)  # fmt: skip
    add("weight-gradient scale + bias sums (3)",
        lambda n: [rep_wsums_new(n, dZs[k], gbs[k]) for k in range(r)] and None,
        lambda n: [rep_wsums_old(n, dZs[k], gWs[k], gbs[k], 1.0 / bs) for k in range(r)]
        and None)  # fmt: skip
    add(
        "backward gemm dA = dZ W (2)",
        lambda n: [rep_nn(n, dZs[k], Ws[k], dAs[k - 1]) for k in range(1, r)] and None,
    )
    add("activation backprop (2)",
        lambda n: [rep_bpact_new(n, acts[k - 1], Zs[k - 1], As[k], dAs[k - 1], dZs[k - 1])
                   for k in range(1, r)] and None,
        lambda n: [rep_bpact_old(n, acts[k - 1], Zs[k - 1], As[k], dAs[k - 1], dZs[k - 1])
                   for k in range(1, r)] and None)  # fmt: skip
    opt = Optimizer(s.opt.name)
    opt.reset(net.n_params, dt)
    params = net.params.copy()
    grad = (1e-3 * rng.normal(size=params.shape)).astype(dt)
    upd = bind(rep_update, opt.code, params, grad, 1e-9, opt.s1, opt.s2, opt.step)
    if sgd:  # now folded into the gemm above (the bias step stays in the bias-sum pass)
        add("optimizer update (sgd): a separate pass before, folded now", lambda n: None, upd)
    else:
        add(f"optimizer update ({opt.name})", upd)
    del widths
    return rows


def gemm_report(s: Setup, repeats: int) -> list[str]:
    """Each gemm of a W3 batch: Numba's call against np.dot and against the one-core peak."""
    net, bs = s.net, s.bs
    dt = net.spec.np_dtype
    r = len(net.spec.widths) - 1
    rng = np.random.default_rng(1)
    lines = []
    npk = 1024
    a = rng.normal(size=(npk, npk)).astype(dt)
    b = rng.normal(size=(npk, npk)).astype(dt)
    c = np.empty_like(a)
    peak_fn = npdot(a, b, c)
    peaks = [2 * npk**3 / best_time(peak_fn, 2, 3) for _ in range(repeats)]
    peak = max(peaks)
    rows = []
    lines.append("| gemm | shape (m×k·k×n) | numba µs | np.dot µs | numba / np.dot | numba GFLOP/s "
                 "| % of the run's peak |")  # fmt: skip
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    w = net.spec.widths
    for k in range(1, r + 1):
        n_in, n_out = w[k - 1], w[k]
        A = rng.normal(size=(bs, n_in)).astype(dt)
        W = rng.normal(size=(n_out, n_in)).astype(dt)
        Z = np.empty((bs, n_out), dt)
        dZ = rng.normal(size=(bs, n_out)).astype(dt)
        gW = np.empty((n_out, n_in), dt)
        dA = np.empty((bs, n_in), dt)
        flops = 2 * bs * n_in * n_out
        cases = [
            (f"fwd L{k}  Z = A·Wᵀ", f"{bs}×{n_in}·{n_in}×{n_out}",
             bind(rep_nt, A, W, Z), npdot(A, W.T, Z)),
            (f"grad L{k} gW = dZᵀ·A", f"{n_out}×{bs}·{bs}×{n_in}",
             bind(rep_tn, dZ, A, gW), npdot(dZ.T, A, gW)),
        ]  # fmt: skip
        if k > 1:
            cases.append((f"bwd L{k}  dA = dZ·W", f"{bs}×{n_out}·{n_out}×{n_in}",
                          bind(rep_nn, dZ, W, dA), npdot(dZ, W, dA)))  # fmt: skip
        for name, shape, fnb, fnp in cases:
            reps = max(1, int(2e8 / flops))
            tbs, tps = [], []
            for _ in range(repeats):  # interleaved
                tbs.append(best_time(fnb, reps, 1))
                tps.append(best_time(fnp, reps, 1))
                peak = max(peak, 2 * npk**3 / best_time(peak_fn, 1, 1))
            tb, tp = min(tbs), min(tps)
            rows.append((name, shape, tb, tp, flops))
    for name, shape, tb, tp, flops in rows:  # against the best peak seen during the loop
        lines.append(f"| {name} | {shape} | {tb * 1e6:.0f} | {tp * 1e6:.0f} | {tb / tp:.2f} "
                     f"| {flops / tb / 1e9:.1f} | {100 * flops / tb / peak:.0f} % |")  # fmt: skip
    lines.insert(
        0,
        f"one-core peak (best {npk}² np.dot during the loop, {dt}): "
        f"{peak / 1e9:.1f} GFLOP/s; times are best of {repeats} interleaved blocks",
    )
    # The kernels hand the products views made by block()/weights(): their Numba type says
    # whether BLAS gets them as they are (layout C, or F for a .T) or Numba must copy (A).
    p = s.p
    K.block(s.ws.Z, p.u_off, p.widths, 1, bs)
    K.weights(net.params, p.w_off, p.widths, 1)
    views = sorted({str(sig.return_type) for f in (K.block, K.weights)
                    for sig in f.nopython_signatures})  # fmt: skip
    lines.append(f"Operand views in the kernels: {', '.join(views)}; the products take X, Xb[:m] "
                 "(C) and W.T / dZ.T (F of a C array), which numba.np.linalg.call_xxgemm passes "
                 "as BLAS transpose flags: no operand is copied.")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dtype", default="float32,float64")
    ap.add_argument("--optimizer", default="sgd,adam")
    ap.add_argument("--n", type=int, default=1024, help="rows per epoch (multiple of 128)")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved A/B epochs")
    ap.add_argument("--reps", type=int, default=20, help="calls per timed op block")
    ap.add_argument("--repeats", type=int, default=7, help="timed blocks per op")
    ap.add_argument("--cpu", type=int, default=1, help="CPU to pin to (-1: no pinning)")
    ap.add_argument("--no-ops", action="store_true", help="only the A/B epochs")
    args = ap.parse_args(argv)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    print(f"# W3 profile: 784-512-512-10 ReLU, softmax CE, batch 128, {args.n} rows per epoch")
    print(f"pinned to CPU {args.cpu}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    for dtype in args.dtype.split(","):
        for opt in args.optimizer.split(","):
            s = Setup(dtype, args.n, opt)
            n_batches = math.ceil(args.n / s.bs)
            ab = ab_epochs(s, args.rounds)
            print(f"## {dtype}, {opt}\n")
            diff = ab["max_diff"]
            same = "identical bits" if ab["same_bits"] else f"max |before − after| = {diff:.3g}"
            print(f"epoch A/B ({args.rounds} interleaved rounds): before fusion "
                  f"{ab['old'] / n_batches * 1e3:.3f} ms/batch, after "
                  f"{ab['new'] / n_batches * 1e3:.3f} ms/batch; before/after = "
                  f"{ab['ratio']:.3f} (quartiles {ab['ratio_q'][0]:.3f}–{ab['ratio_q'][1]:.3f}, "
                  f"range {ab['ratio_range'][0]:.3f}–{ab['ratio_range'][1]:.3f}); best epochs "
                  f"{ab['old_best'] / ab['new_best']:.3f}.  Parameters after one epoch: "
                  f"{same}\n")  # fmt: skip
            if args.no_ops:
                continue
            per_batch = ab["new_best"] / n_batches  # best epochs, as the ops are best blocks
            per_batch_old = ab["old_best"] / n_batches
            rows = op_profile(s, args.reps, args.repeats)
            print("| op class | after µs/batch | share | before µs/batch | share |")
            print("|---|---:|---:|---:|---:|")
            for name, tn, to in rows:
                print(f"| {name} | {tn * 1e6:.0f} | {100 * tn / per_batch:.1f} % | "
                      f"{to * 1e6:.0f} | {100 * to / per_batch_old:.1f} % |")  # fmt: skip
            sn, so = sum(x[1] for x in rows), sum(x[2] for x in rows)
            print(
                f"| sum of the ops | {sn * 1e6:.0f} | {100 * sn / per_batch:.1f} % | "
                f"{so * 1e6:.0f} | {100 * so / per_batch_old:.1f} % |"
            )
            print(f"| best epoch / batch | {per_batch * 1e6:.0f} | 100 % | "
                  f"{per_batch_old * 1e6:.0f} | 100 % |\n")  # fmt: skip
            if opt == args.optimizer.split(",")[0]:
                print("\n".join(gemm_report(s, max(3, args.repeats // 2))) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
