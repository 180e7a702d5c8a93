"""The backpropagation lecture's claims, measured: one reproducible experiment per claim.

Each experiment is a function returning a JSON-ready dict of what it measured, with ``holds``
(whether the claim held in this run) and ``verdict`` (one line saying so, with the numbers).
:func:`run` runs a selection, writes ``<letter>_<name>.json`` and ``.png`` for each into a
folder and prints the verdicts; ``fastbp lecture --out DIR [--quick] [--only a,b]`` and the
scripts in ``scripts/lecture/`` call it.

==  ===================  =================================================================
a   backprop_cost        backprop costs O(N); central finite differences cost O(N·l) = O(N²)
b   hvp_cost             a Hessian-vector product (R-operator) also costs O(N)
c   zero_init            zero initialisation fails by symmetry, Xavier does not; Xavier keeps
                         the activation variance in range where N(0, 1) does not
d   vanishing            gradients vanish through sigmoid chains (σ' ≤ ¼), much less with ReLU
e   lemmas               the two-layer lemmas, each against finite differences
f   sgd                  per-example SGD on the diabetes data; a too-large rate diverges and the
                         last good epoch is restored
==  ===================  =================================================================

Timings (a, b) use the explicit-loop kernels (``net._blas_min_rows`` set out of reach): their
cost is a fixed number of multiply-adds per parameter and example, which is what the O(N)
statement counts.  BLAS is O(N) too, but its speed per flop grows with the matrix size and its
threads contend on a shared machine, which would blur a fitted slope.  Each time is the median
of several rounds that visit every network in turn (so a burst of load hits all sizes alike),
each round timing, after one untimed call, enough back-to-back calls to last several
milliseconds.  The batch is fixed (32 rows).

Nothing here imports matplotlib until a plot is written (:mod:`fastbp.plot`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fastbp.diagnostics import gradient_diagnostics
from fastbp.gradcheck import finite_difference_gradient
from fastbp.network import Network
from fastbp.spec import NetworkSpec
from fastbp.validate import as_features, as_targets

#: A cost ratio (gradient/loss, hvp/gradient) counts as bounded when it stays below this over
#: the whole sweep.  Backprop does about 3 layer products per forward product and the
#: R-operator about 8 per 3, so both ratios are near 3; single points on a loaded 2-core
#: machine have read up to 5.2.  A cost growing faster than the loss would cross any constant.
BOUNDED_RATIO = 8.0

#: Fitted log-log slopes accepted as "linear in N" and "quadratic in N".
LINEAR_SLOPE = (0.7, 1.3)
QUADRATIC_MIN_SLOPE = 1.6

#: Slopes accepted as "linear in N" for H v.  Its working set (eight workspaces and four
#: parameter-sized arrays) outgrows the L2 cache in the middle of the sweep, which raises the
#: cost per parameter of the larger networks and adds about 0.1 to the fitted slope (1.0–1.26
#: measured); an O(N²) method reads ≥ 1.6.
HVP_SLOPE = (0.7, 1.4)

#: Step of every central difference here (float64: O(h²) truncation ≈ 1e-12, rounding ≈ 1e-10).
FD_STEP = 1e-6

#: The lemmas must agree with central differences to this relative error (max abs error over
#: the entries / max(1, max |finite difference|)), and the compiled passes with the lemmas'
#: right-hand sides to LEMMA_COMPILED_RTOL (the same products in another summation order).
LEMMA_FD_RTOL = 1e-6
LEMMA_COMPILED_RTOL = 1e-12


# --------------------------------------------------------------------------- timing helpers
def _calibrate(fn: Callable[[], object], min_seconds: float) -> int:
    """Calls per timing sample so that one sample lasts about ``min_seconds`` (after a warm-up)."""
    fn()
    once = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        once = min(once, time.perf_counter() - t0)
    return max(1, math.ceil(min_seconds / max(once, 1e-7)))


def _sample(fn: Callable[[], object], loops: int) -> float:
    fn()  # untimed: bring this network's buffers back into cache after the other cases ran
    t0 = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - t0) / loops


def interleaved_medians(
    cases: Sequence[dict[str, Callable[[], object]]], rounds: int, min_seconds: float
) -> list[dict[str, float]]:
    """Median seconds per call of every operation of every case.

    ``cases[c][op]`` is a callable.  Each of ``rounds`` rounds times every (case, op) once, with
    enough back-to-back calls to last ``min_seconds`` after one untimed call (so that a network
    too big for one timed call is not timed cold); the result is the median over rounds.
    """
    loops = [{op: _calibrate(fn, min_seconds) for op, fn in case.items()} for case in cases]
    samples: list[dict[str, list[float]]] = [{op: [] for op in case} for case in cases]
    for _ in range(rounds):
        for c, case in enumerate(cases):
            for op, fn in case.items():
                samples[c][op].append(_sample(fn, loops[c][op]))
    return [{op: float(np.median(s)) for op, s in case.items()} for case in samples]


def loglog_slope(N: Sequence[float], t: Sequence[float]) -> float:
    """Least-squares slope of log t against log N: the exponent p of t ∝ N^p."""
    return float(np.polyfit(np.log(np.asarray(N, float)), np.log(np.asarray(t, float)), 1)[0])


def _timing_network(widths: list[int], activation: str, batch: int, seed: int):
    spec = NetworkSpec(widths, activation, "squared", "float64")
    net = Network(spec, init="he_normal", seed=seed)  # keeps deep ReLU activations O(1)
    net._blas_min_rows = 2**62  # explicit loops: see the module docstring
    rng = np.random.default_rng(seed)
    X = as_features(rng.normal(size=(batch, widths[0])), spec)
    Y = as_targets(rng.normal(size=(batch, widths[-1])), spec, batch)
    return net, X, Y


def _sweep_sizes(quick: bool) -> dict[str, list[list[int]]]:
    """Architectures of the two sweeps: growing width at depth 2, growing depth at width 64."""
    widths = [64, 128, 256, 512] if quick else [32, 64, 128, 256, 512, 1024]
    depths = [2, 4, 8, 16, 32, 72] if quick else [2, 4, 8, 16, 32, 64, 128]
    return {
        "width": [[32, w, w, 1] for w in widths],
        "depth": [[64] + [64] * d + [1] for d in depths],
    }


def _cost_sweep(ops: Sequence[str], quick: bool, seed: int, batch: int, fd_budget: float) -> dict:
    """Time ``ops`` (of loss, grad, hvp, fd) on both sweeps; see :func:`backprop_cost`."""
    from fastbp.hessian import _product_unchecked

    rounds, min_seconds = (7, 0.005) if quick else (9, 0.02)
    sweeps = {}
    for sweep, archs in _sweep_sizes(quick).items():
        nets = [_timing_network(w, "relu", batch, seed) for w in archs]
        cases = []
        for net, X, Y in nets:
            v = np.random.default_rng(seed + 1).normal(size=net.n_params)
            out = np.empty(net.n_params)
            funcs = {
                "loss": lambda net=net, X=X, Y=Y: net._loss_unchecked(X, Y),
                "grad": lambda net=net, X=X, Y=Y: net._loss_and_gradient_unchecked(X, Y),
                "hvp": lambda net=net, X=X, Y=Y, v=v, out=out: _product_unchecked(
                    net, X, Y, v, False, out
                ),
            }
            cases.append({op: funcs[op] for op in ("loss", "grad", "hvp") if op in ops})
        times = interleaved_medians(cases, rounds, min_seconds)
        rec: dict = {
            "widths": archs,
            "N": [net.n_params for net, _, _ in nets],
            **{f"{op}_s": [t[op] for t in times] for op in ("loss", "grad", "hvp") if op in ops},
        }
        if "fd" in ops:
            rec.update(_fd_times(nets, rec["loss_s"], fd_budget, seed))
        rec["slope"] = {
            key[:-2]: loglog_slope(rec["N"], rec[key]) for key in rec if key.endswith("_s")
        }
        sweeps[sweep] = rec
    return sweeps


def _fd_times(nets, loss_s: list[float], budget: float, seed: int) -> dict:
    """Seconds for central differences over all N parameters, per network.

    When three runs of the full loop (2N forward passes each) fit in ``budget`` seconds, the
    full loop is timed; otherwise the loop over a seeded random subset of s ≥ 32 parameters is
    timed and scaled by N/s (every entry costs the same two forward passes).  Median of 3.
    ``fd_abs_error`` and ``fd_rel_error`` (relative to the largest backprop entry probed) compare
    the entries computed with backprop's, so the loop that is timed is a working one.  (He
    initialisation keeps the ReLU pre-activations of the deep networks O(1): with Xavier they
    shrink by √2 per layer, many sit within h of the kink at 0 and the differences fail.)
    """
    fd_s, probes, max_err, abs_err = [], [], [], []
    rng = np.random.default_rng(seed)
    for (net, X, Y), t_loss in zip(nets, loss_s, strict=True):
        N = net.n_params
        s = N if 2 * N * t_loss * 3 <= budget else max(32, int(budget / (3 * 2 * t_loss)))
        s = min(s, N)
        idx = np.arange(N) if s == N else np.sort(rng.choice(N, size=s, replace=False))
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            g = finite_difference_gradient(net, X, Y, idx, FD_STEP)
            samples.append((time.perf_counter() - t0) * N / s)
        fd_s.append(float(np.median(samples)))
        probes.append(int(s))
        net._loss_and_gradient_unchecked(X, Y)
        g_bp = net._grad[idx]
        abs_err.append(float(np.max(np.abs(g - g_bp))))
        max_err.append(abs_err[-1] / max(float(np.max(np.abs(g_bp))), 1e-300))
    return {"fd_s": fd_s, "fd_probes": probes, "fd_abs_error": abs_err, "fd_rel_error": max_err}


def _env() -> dict:
    import numba

    from fastbp import __version__

    return {
        "fastbp": __version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


# --------------------------------------------------------------------------- a. backprop
def backprop_cost(quick: bool = False, seed: int = 0, batch: int = 32) -> dict:
    """Claim a: the full gradient by backprop costs O(N); by central differences O(N·l).

    Two sweeps of ReLU networks (He initialisation) with squared loss, batch fixed at ``batch``
    rows: growing width at two hidden layers (32-w-w-1), and growing depth at width 64
    (64-64-…-64-1).  For each network: median seconds of the loss (forward pass), of the
    gradient (forward + backward), and of central differences over all N parameters (2N forward
    passes; timed over a random subset when the full loop would take long, see
    :func:`_fd_times`).  Reports the log-log slope of each against N (backprop ≈ 1, finite
    differences ≈ 2) and the ratio gradient/loss time (bounded).
    """
    sweeps = _cost_sweep(("loss", "grad", "fd"), quick, seed, batch, 0.15 if quick else 3.0)
    for rec in sweeps.values():
        rec["grad_over_loss"] = [g / f for g, f in zip(rec["grad_s"], rec["loss_s"], strict=True)]
    bp = {k: rec["slope"]["grad"] for k, rec in sweeps.items()}
    fd = {k: rec["slope"]["fd"] for k, rec in sweeps.items()}
    worst = max(max(rec["grad_over_loss"]) for rec in sweeps.values())
    holds = (
        all(LINEAR_SLOPE[0] <= s <= LINEAR_SLOPE[1] for s in bp.values())
        and all(s >= QUADRATIC_MIN_SLOPE for s in fd.values())
        and worst <= BOUNDED_RATIO
    )
    verdict = (
        f"backprop time ∝ N^{bp['width']:.2f} (width sweep) / N^{bp['depth']:.2f} (depth "
        f"sweep); finite differences ∝ N^{fd['width']:.2f} / N^{fd['depth']:.2f}; gradient/loss "
        f"time ≤ {worst:.1f}"
    )
    return {"claim": "a", "holds": holds, "verdict": verdict, "batch": batch, "sweeps": sweeps}


def _plot_cost(data: dict, path, ops: dict[str, str], ratio: tuple[str, str, str]) -> None:
    from fastbp.plot import new_figure, save

    fig, axes = new_figure(3)
    for ax, (name, rec) in zip(axes, data["sweeps"].items(), strict=False):
        for op, label in ops.items():
            ax.loglog(
                rec["N"], rec[f"{op}_s"], "o-", label=f"{label} (slope {rec['slope'][op]:.2f})"
            )
        N = np.asarray(rec["N"], dtype=float)
        for op, power in (("grad", 1), ("fd", 2)):
            if f"{op}_s" in rec:  # guides through the first point: ∝ N and ∝ N²
                guide = rec[f"{op}_s"][0] * (N / N[0]) ** power
                style, label = (":", "∝ N") if power == 1 else ("--", "∝ N²")
                ax.loglog(N, guide, style, color="grey", lw=1, label=label)
        ax.set_xlabel("parameters N")
        ax.set_ylabel(f"seconds (median, batch {data['batch']})")
        ax.set_title(f"{name} sweep" + (" (32-w-w-1)" if name == "width" else " (64-…-64-1)"))
        ax.legend(fontsize="small")
        axes[2].semilogx(rec["N"], rec[ratio[0]], "o-", label=f"{name} sweep")
    axes[2].axhline(BOUNDED_RATIO, color="grey", ls=":", label=f"bound {BOUNDED_RATIO:g}")
    axes[2].set_ylim(0, BOUNDED_RATIO * 1.2)
    axes[2].set_xlabel("parameters N")
    axes[2].set_ylabel(ratio[1])
    axes[2].set_title(ratio[2])
    axes[2].legend(fontsize="small")
    save(fig, path)


# --------------------------------------------------------------------------- b. hvp
def hvp_cost(quick: bool = False, seed: int = 0, batch: int = 32) -> dict:
    """Claim b: a Hessian-vector product by the R-operator (``net.hvp``) also costs O(N).

    The sweeps of :func:`backprop_cost`, timing the loss, the gradient and H v.  Reports the
    log-log slope of H v against N (≈ 1; accepted in :data:`HVP_SLOPE`) and the ratio
    hvp/gradient time (bounded).
    """
    sweeps = _cost_sweep(("loss", "grad", "hvp"), quick, seed, batch, 0.0)
    for rec in sweeps.values():
        rec["hvp_over_grad"] = [h / g for h, g in zip(rec["hvp_s"], rec["grad_s"], strict=True)]
    hv = {k: rec["slope"]["hvp"] for k, rec in sweeps.items()}
    worst = max(max(rec["hvp_over_grad"]) for rec in sweeps.values())
    holds = all(HVP_SLOPE[0] <= s <= HVP_SLOPE[1] for s in hv.values())
    holds = holds and worst <= BOUNDED_RATIO
    verdict = (
        f"H v time ∝ N^{hv['width']:.2f} (width sweep) / N^{hv['depth']:.2f} (depth sweep); "
        f"hvp/gradient time ≤ {worst:.1f}"
    )
    return {"claim": "b", "holds": holds, "verdict": verdict, "batch": batch, "sweeps": sweeps}


# --------------------------------------------------------------------------- c. zero init
def _symmetry_spread(net_or_params, widths: Sequence[int]) -> list[float]:
    """Per hidden layer k: the largest |W[k][j, :] − W[k][0, :]| or |b[k][j] − b[k][0]|, over j.

    0.0 means every hidden unit of the layer has exactly the same incoming weights and bias.
    """
    from fastbp.reference import unpack

    W, b = unpack(list(map(float, net_or_params)), widths)
    out = []
    for k in range(1, len(widths) - 1):
        Wk, bk = np.array(W[k]), np.array(b[k])
        out.append(float(max(np.max(np.abs(Wk - Wk[0])), np.max(np.abs(bk - bk[0])))))
    return out


def zero_init(quick: bool = False, seed: int = 0) -> dict:
    """Claim c: zero initialisation fails by symmetry; Xavier does not.

    Part 1, symmetry: a 2-16-16-1 sigmoid network fitted by per-example SGD (α = 0.5, 200
    epochs) to y = sin(2x₁) cos(1.5x₂) on 256 points, from ``init="zeros"`` and from
    ``"xavier_normal"``.  From zeros every hidden unit of a layer receives the same update at
    every step, so the units stay copies of each other (the network behaves as if it had one
    unit per layer) and the loss plateaus at or above that of a constant predictor.  The spread
    (the largest difference between the incoming weights of two units of a layer) is measured
    after training with the lecture's equations in plain Python (``fastbp.reference``), where
    the same IEEE operations run for every unit, so it is exactly 0; and after training with the
    compiled kernels, where it is 0 up to rounding: the kernels are compiled with reassociation
    allowed (vectorised sums), so depending on how LLVM vectorises a loop two units can be summed
    in different orders and differ by ≈ 1e-16 from the first steps; the symmetric state is
    unstable, so this grows to ≈ 1e-15, still many orders of magnitude below the weights (the
    claim allows 1e-9 of max |w|).  (fastbp also leaves out FMA contraction and approximate
    functions, which made lanes and scalar tails round differently.)

    Part 2, scale: the standard deviation of z[k] and a[k] per layer at initialisation, for a
    64-wide, 10-hidden-layer tanh and ReLU network on N(0, 1) inputs, from ``xavier_normal``
    (Var w = 2/(n_in + n_out) = 1/64) and from ``normal`` (Var w = 1).
    """
    import fastbp.reference as ref

    rng = np.random.default_rng(seed)
    n = 256
    X = rng.uniform(-2.0, 2.0, size=(n, 2))
    y = np.sin(2.0 * X[:, 0]) * np.cos(1.5 * X[:, 1])
    widths, lr, epochs = [2, 16, 16, 1], 0.5, 200
    spec = NetworkSpec(widths, "sigmoid", "squared", "float64")
    runs = {}
    for init in ("zeros", "xavier_normal"):
        net = Network(spec, init=init, seed=seed)
        hist = net.fit(X, y, epochs=epochs, lr=lr, seed=seed, progress=False)
        runs[init] = {
            "loss_curve": hist.loss,
            "final_loss": net.loss(X, y),
            "plateau_loss": float(np.mean(hist.loss[-10:])),
            "spread": _symmetry_spread(net.params, widths),
            "max_abs_weight": float(np.max(np.abs(net.params))),
        }
    # The same training from zeros with the lecture's equations in plain Python (slow: fewer
    # steps), where the spread must be exactly zero.
    ref_rows, ref_epochs = (32, 5) if quick else (64, 20)
    theta = [0.0] * spec.n_params
    Xl, Yl = X[:ref_rows].tolist(), y[:ref_rows, None].tolist()
    for _ in range(ref_epochs):
        theta = ref.sgd_epoch(theta, widths, ["sigmoid", "sigmoid"], "squared", Xl, Yl, lr)
    reference = {
        "rows": ref_rows,
        "epochs": ref_epochs,
        "spread": _symmetry_spread(theta, widths),
        "max_abs_weight": float(np.max(np.abs(theta))),
    }
    const_loss = float(0.5 * np.mean((y - y.mean()) ** 2))

    # Part 2: activation scale per layer at initialisation.
    Xd = rng.normal(size=(512, 64))
    Yd = rng.normal(size=(512, 1))
    scale = {}
    for act in ("tanh", "relu"):
        spec_d = NetworkSpec([64] + [64] * 10 + [1], act, "squared", "float64")
        for init in ("xavier_normal", "normal"):
            d = gradient_diagnostics(Network(spec_d, init=init, seed=seed), Xd, Yd)
            scale[f"{act}/{init}"] = {
                key: d[key][:-1]
                for key in ("z_std", "a_std", "saturated_fraction", "dead_fraction")
            }

    z, x = runs["zeros"], runs["xavier_normal"]
    tanh_naive_sat = scale["tanh/normal"]["saturated_fraction"][-1]
    tanh_xavier_sat = scale["tanh/xavier_normal"]["saturated_fraction"][-1]
    relu_growth = scale["relu/normal"]["z_std"][-1] / scale["relu/xavier_normal"]["z_std"][-1]
    holds = (
        max(reference["spread"]) == 0.0
        and reference["max_abs_weight"] > 0.0
        and max(z["spread"]) <= 1e-9 * z["max_abs_weight"]
        and z["plateau_loss"] >= 0.8 * const_loss
        and x["plateau_loss"] < 0.5 * z["plateau_loss"]
        and tanh_naive_sat > 0.5 > 0.05 > tanh_xavier_sat
        and relu_growth > 1e3
    )
    verdict = (
        f"from zeros the hidden units stay identical (spread {max(reference['spread']):g} with "
        f"the lecture's equations, {max(z['spread']):.1g} compiled) and the loss stays at "
        f"{z['plateau_loss']:.3f} (constant predictor {const_loss:.3f}) while Xavier reaches "
        f"{x['plateau_loss']:.3f}; at depth 10, N(0,1) saturates {tanh_naive_sat:.0%} of the tanh "
        f"activations (Xavier {tanh_xavier_sat:.0%}) and inflates ReLU std(z) {relu_growth:.1e}×"
    )
    return {
        "claim": "c",
        "holds": holds,
        "verdict": verdict,
        "symmetry": {
            "widths": widths,
            "activation": "sigmoid",
            "lr": lr,
            "epochs": epochs,
            "constant_predictor_loss": const_loss,
            "compiled": runs,
            "reference": reference,
        },
        "scale": {"widths": [64] + [64] * 10 + [1], "layers": list(range(1, 11)), **scale},
    }


def _plot_zero_init(data: dict, path) -> None:
    from fastbp.plot import new_figure, save

    fig, axes = new_figure(3)
    sym = data["symmetry"]
    for init, rec in sym["compiled"].items():
        axes[0].semilogy(range(1, len(rec["loss_curve"]) + 1), rec["loss_curve"], label=init)
    axes[0].axhline(sym["constant_predictor_loss"], color="grey", ls=":", label="constant")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training loss")
    axes[0].set_title(f"2-16-16-1 sigmoid, per-example SGD α={sym['lr']:g}")
    axes[0].legend(fontsize="small")
    layers = data["scale"]["layers"]
    for key, style in (("tanh", "-"), ("relu", "--")):
        for init in ("xavier_normal", "normal"):
            rec = data["scale"][f"{key}/{init}"]
            axes[1].semilogy(layers, rec["z_std"], style, marker="o", label=f"{key}, {init}")
            if key == "tanh":
                axes[2].plot(layers, rec["saturated_fraction"], marker="o", label=f"tanh, {init}")
    axes[1].set_xlabel("hidden layer k")
    axes[1].set_ylabel("std of z[k] at initialisation")
    axes[1].set_title("64-wide, 10 hidden layers, N(0, 1) inputs")
    axes[1].legend(fontsize="small")
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_xlabel("hidden layer k")
    axes[2].set_ylabel("fraction with σ'(z) < 1% of max")
    axes[2].set_title("saturated tanh activations at initialisation")
    axes[2].legend(fontsize="small")
    save(fig, path)


# --------------------------------------------------------------------------- d. vanishing
def vanishing(quick: bool = False, seed: int = 0) -> dict:
    """Claim d: gradients vanish through sigmoid chains (σ' ≤ ¼ at every layer); ReLU much less.

    For L = 2..20 hidden layers of width 32 (Xavier init, squared loss, 256 N(0, 1) inputs and
    targets), the per-layer gradient norms at initialisation for sigmoid and ReLU networks.  The
    decay factor per layer is (‖dJ/dz[1]‖ / ‖dJ/dz[L]‖)^(1/(L−1)) of the deepest network: the
    factor by which the backward signal shrinks at each layer.
    """
    depths = list(range(2, 21))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(256, 32))
    Y = rng.normal(size=(256, 1))
    per_act: dict = {}
    for act in ("sigmoid", "relu"):
        rec: dict = {"grad_W_norm": [], "grad_z_norm": [], "first_layer": []}
        for L in depths:
            spec = NetworkSpec([32] + [32] * L + [1], act, "squared", "float64")
            d = gradient_diagnostics(Network(spec, seed=seed), X, Y)
            rec["grad_W_norm"].append(d["grad_W_norm"])
            rec["grad_z_norm"].append(d["grad_z_norm"])
            rec["first_layer"].append(d["grad_W_norm"][0])
        deepest = rec["grad_z_norm"][-1][: depths[-1]]  # hidden layers 1..L
        rec["decay_per_layer"] = float((deepest[0] / deepest[-1]) ** (1.0 / (len(deepest) - 1)))
        Wn = rec["grad_W_norm"][-1][: depths[-1]]
        rec["decay_per_layer_W"] = float((Wn[0] / Wn[-1]) ** (1.0 / (len(Wn) - 1)))
        per_act[act] = rec
    at10 = depths.index(10)
    gap = per_act["relu"]["first_layer"][at10] / per_act["sigmoid"]["first_layer"][at10]
    rho_s, rho_r = per_act["sigmoid"]["decay_per_layer"], per_act["relu"]["decay_per_layer"]
    holds = gap > 100.0 and rho_s < 0.3 and rho_r > 2 * rho_s
    verdict = (
        f"at initialisation the backward signal shrinks ×{rho_s:.2f} per sigmoid layer "
        f"(σ' ≤ ¼) and ×{rho_r:.2f} per ReLU layer; at 10 hidden layers the first layer's "
        f"gradient is {gap:.1e}× smaller with sigmoid than with ReLU"
    )
    return {"claim": "d", "holds": holds, "verdict": verdict, "depths": depths, "width": 32,
            "first_layer_ratio_relu_over_sigmoid_at_10": gap, **per_act}  # fmt: skip


def _plot_vanishing(data: dict, path) -> None:
    from fastbp.plot import new_figure, save

    fig, axes = new_figure(3)
    L = data["depths"][-1]
    for act, color in (("sigmoid", "C3"), ("relu", "C0")):
        rec = data[act]
        k = list(range(1, L + 2))
        axes[0].semilogy(k, rec["grad_z_norm"][-1], "o-", color=color, label=f"{act}")
        axes[1].semilogy(k, rec["grad_W_norm"][-1], "o-", color=color, label=f"{act}")
        axes[2].semilogy(data["depths"], rec["first_layer"], "o-", color=color, label=f"{act}")
    top = data["sigmoid"]["grad_z_norm"][-1][-2]
    axes[0].semilogy(range(1, L + 1), [top * 0.25 ** (L - k) for k in range(1, L + 1)], ":",
                     color="grey", label="×¼ per layer")  # fmt: skip
    axes[0].set_title(f"‖dJ/dz[k]‖ (RMS over examples), {L} hidden layers")
    axes[1].set_title(f"‖dJ/dW[k]‖, {L} hidden layers")
    axes[2].set_title("first layer ‖dJ/dW[1]‖ against depth")
    for ax in axes[:2]:
        ax.set_xlabel("layer k")
    axes[2].set_xlabel("hidden layers L")
    for ax in axes:
        ax.legend(fontsize="small")
    save(fig, path)


# --------------------------------------------------------------------------- e. lemmas
def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"the lemma check covers sigmoid, tanh and relu, not {name!r}")


def _act_prime(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    return (z > 0).astype(float)


def _central_differences(f: Callable[[np.ndarray], float], v: np.ndarray) -> np.ndarray:
    """∂f/∂v by central differences, entry by entry, for an array v of any shape."""
    v = np.array(v, dtype=np.float64)
    g = np.empty_like(v)
    flat, gflat = v.reshape(-1), g.reshape(-1)
    for q in range(flat.size):
        old = flat[q]
        flat[q] = old + FD_STEP
        plus = f(v)
        flat[q] = old - FD_STEP
        minus = f(v)
        flat[q] = old
        gflat[q] = (plus - minus) / (2 * FD_STEP)
    return g


def two_layer_lemmas(activation: str, seed: int = 0, widths=(4, 5, 3)) -> list[dict]:
    """Check each lemma of the two-layer derivation for one example; one dict per lemma.

    The network n0-n1-n2 has hidden activation ``activation`` and squared loss
    J = ½‖z[2] − y‖² (identity output).  The compiled passes (``net.trace``) give z, a, dJ/dz,
    dJ/da and the gradient.  Each lemma's right-hand side is evaluated from those quantities,
    and compared with central differences of J as a function of the quantity on the left, all
    other inputs held fixed: J(z[2]), J(a[1]) = J(W[2] a[1] + b[2]), J(z[1]) = J(W[2] σ(z[1]) +
    b[2]), J(W[k]), J(b[k]) (small numpy forward functions; a check, not another backprop).
    ``fd_error`` = max |rhs − finite differences| / max(1, max |finite differences|);
    ``compiled_error`` = the same between the compiled value and the right-hand side.
    """
    n0, n1, n2 = widths
    spec = NetworkSpec([n0, n1, n2], [activation], "squared", "float64")
    net = Network(spec, seed=seed)
    rng = np.random.default_rng(seed)
    for k in (1, 2):  # nonzero biases; inputs keep |z| away from ReLU's kink at 0
        sign = rng.choice([-1.0, 1.0], size=widths[k])
        net.layer(k)[1][...] = rng.uniform(0.1, 0.5, size=widths[k]) * sign
    x = rng.normal(size=n0)
    y = rng.normal(size=n2)
    W1, b1 = (v.copy() for v in net.layer(1))
    W2, b2 = (v.copy() for v in net.layer(2))
    t = net.trace(x[None, :], y[None, :])
    z1, a1, z2 = t.z[1][0], t.a[1][0], t.z[2][0]
    dz2, da1, dz1 = t.dJ_dz[2][0], t.dJ_da[1][0], t.dJ_dz[1][0]
    gW1, gb1 = t.grad[: n1 * n0].reshape(n1, n0), t.grad[n1 * n0 : n1 * n0 + n1]
    o2 = n1 * n0 + n1
    gW2, gb2 = t.grad[o2 : o2 + n2 * n1].reshape(n2, n1), t.grad[o2 + n2 * n1 :]

    def J_of_z2(z2_):
        return 0.5 * float(np.sum((z2_ - y) ** 2))

    def J_of_a1(a1_):
        return J_of_z2(W2 @ a1_ + b2)

    def J_of_z1(z1_):
        return J_of_a1(_act(activation, z1_))

    rows = [
        ("output", "dJ/dz[2] = −(y − z[2])", -(y - z2), J_of_z2, z2, dz2),
        ("linear, weights", "dJ/dW[2] = dJ/dz[2] a[1]ᵀ", np.outer(dz2, a1),
         lambda W: J_of_z2(W @ a1 + b2), W2, gW2),
        ("linear, bias", "dJ/db[2] = dJ/dz[2]", dz2, lambda b: J_of_z2(W2 @ a1 + b), b2, gb2),
        ("linear, input", "dJ/da[1] = W[2]ᵀ dJ/dz[2]", W2.T @ dz2, J_of_a1, a1, da1),
        ("activation", "dJ/dz[1] = dJ/da[1] ⊙ σ'(z[1])", da1 * _act_prime(activation, z1),
         J_of_z1, z1, dz1),
        ("linear, weights", "dJ/dW[1] = dJ/dz[1] xᵀ", np.outer(dz1, x),
         lambda W: J_of_z1(W @ x + b1), W1, gW1),
        ("linear, bias", "dJ/db[1] = dJ/dz[1]", dz1, lambda b: J_of_z1(W1 @ x + b), b1, gb1),
    ]  # fmt: skip
    out = []
    for lemma, equation, rhs, f, at, compiled in rows:
        fd = _central_differences(f, at)
        scale = max(1.0, float(np.max(np.abs(fd))))
        out.append({
            "lemma": lemma,
            "equation": equation,
            "shape": list(np.shape(rhs)),
            "fd_error": float(np.max(np.abs(rhs - fd))) / scale,
            "compiled_error": float(np.max(np.abs(compiled - rhs))) / scale,
        })  # fmt: skip
    return out


def lemmas(quick: bool = False, seed: int = 0) -> dict:
    """Claim e: the lecture's two-layer lemmas hold, each checked against finite differences.

    Runs :func:`two_layer_lemmas` for a 4-5-3 network with sigmoid, tanh and ReLU hidden units.
    The claim holds when every ``fd_error`` ≤ LEMMA_FD_RTOL and every ``compiled_error`` ≤
    LEMMA_COMPILED_RTOL.
    """
    tables = {act: two_layer_lemmas(act, seed) for act in ("sigmoid", "tanh", "relu")}
    fd_worst = max(row["fd_error"] for rows in tables.values() for row in rows)
    bp_worst = max(row["compiled_error"] for rows in tables.values() for row in rows)
    holds = fd_worst <= LEMMA_FD_RTOL and bp_worst <= LEMMA_COMPILED_RTOL
    n_rows = sum(len(rows) for rows in tables.values())
    verdict = (
        f"all {n_rows} lemma checks (7 lemmas × sigmoid, tanh, relu) agree with central "
        f"differences to {fd_worst:.1e} (tolerance {LEMMA_FD_RTOL:g}) and with the compiled "
        f"passes to {bp_worst:.1e}"
    )
    return {"claim": "e", "holds": holds, "verdict": verdict, "widths": [4, 5, 3],
            "fd_step": FD_STEP, "tables": tables}  # fmt: skip


def lemma_table(data: dict, activation: str = "sigmoid") -> str:
    """The lemma check of :func:`lemmas` for one activation as a plain-text table."""
    lines = [
        f"two-layer lemmas, 4-5-3 network, {activation} hidden units, squared loss, one example",
        f"{'lemma':<16} {'equation':<34} {'vs finite diff.':>15} {'vs compiled':>12}",
    ]
    lines += [
        f"{row['lemma']:<16} {row['equation']:<34} {row['fd_error']:>15.1e} "
        f"{row['compiled_error']:>12.1e}"
        for row in data["tables"][activation]
    ]
    return "\n".join(lines)


def _plot_lemmas(data: dict, path) -> None:
    from fastbp.plot import new_figure, save

    fig, axes = new_figure(1, size=(9.0, 3.8))
    ax = axes[0]
    names = [row["equation"] for row in data["tables"]["sigmoid"]]
    pos = np.arange(len(names))
    for i, act in enumerate(data["tables"]):
        errs = [max(row["fd_error"], 1e-17) for row in data["tables"][act]]
        ax.bar(pos + (i - 1) * 0.27, errs, width=0.27, label=f"{act}: vs finite differences")
    ax.axhline(LEMMA_FD_RTOL, color="grey", ls=":", label=f"tolerance {LEMMA_FD_RTOL:g}")
    ax.set_yscale("log")
    ax.set_xticks(pos, names, rotation=20, ha="right", fontsize="small")
    ax.set_ylabel("relative error")
    ax.set_title("two-layer lemmas against central differences (h = 1e-6)")
    ax.legend(fontsize="small")
    save(fig, path)


# --------------------------------------------------------------------------- f. sgd
def sgd(quick: bool = False, seed: int = 0) -> dict:
    """Claim f: per-example SGD as written, θ ← θ − α ∇J_i(θ), on the diabetes data.

    A 10-16-1 tanh network (Xavier, ``seed``) on the 442 standardised rows (features and
    target), ``fit(batch_size=1, optimizer="sgd")`` for several rates α.  Checks:
    (1) one unshuffled compiled epoch equals the lecture's update in plain Python
    (``fastbp.reference.sgd_epoch``); (2) the small rates lower the training loss; (3) the
    largest rate (α = 0.15) diverges: the loss grows by orders of magnitude per epoch until it
    overflows, fit raises ``FitDivergedError``, and the restored parameters are finite and
    bit-identical to a fresh run stopped at the last good epoch (which, divergence being
    explosive, is already far from any useful solution: restart with a smaller rate).
    """
    import fastbp.reference as ref
    from fastbp.datasets import Standardizer, load_diabetes
    from fastbp.train import FitDivergedError

    data = load_diabetes()
    X = Standardizer().fit(data.X).transform(data.X)
    y = Standardizer().fit(data.y).transform(data.y)
    spec = NetworkSpec([10, 16, 1], "tanh", "squared", "float64")
    epochs = 30 if quick else 100
    rates = [0.001, 0.01, 0.1, 0.15]

    theta0 = Network(spec, seed=seed).params.tolist()
    rows = 100 if quick else X.shape[0]
    ref_net = Network(spec, seed=seed)
    ref_net.fit(X[:rows], y[:rows], epochs=1, lr=0.01, shuffle=False, progress=False)
    theta_ref = ref.sgd_epoch(theta0, spec.widths, spec.activations, "squared", X[:rows].tolist(),
                              y[:rows, None].tolist(), 0.01)  # fmt: skip
    as_written = float(np.max(np.abs(ref_net.params - np.array(theta_ref))))

    runs = {}
    for lr in rates:
        net = Network(spec, seed=seed)
        rec: dict = {"lr": lr}
        try:
            hist = net.fit(X, y, epochs=epochs, lr=lr, seed=seed, progress=False)
            rec.update(loss=hist.loss, diverged_epoch=None)
        except FitDivergedError as exc:
            good = exc.epoch - 1
            again = Network(spec, seed=seed)
            if good > 0:
                again.fit(X, y, epochs=good, lr=lr, seed=seed, progress=False)
            rec.update(
                loss=exc.history.loss,
                diverged_epoch=exc.epoch,
                restored_finite=bool(np.isfinite(net.params).all()),
                restored_equals_last_good_epoch=bool(np.array_equal(net.params, again.params)),
                restored_loss=net.loss(X, y),
                message=str(exc),
            )
        runs[str(lr)] = rec
    calm = [r for r in runs.values() if r["diverged_epoch"] is None]
    wild = runs[str(rates[-1])]
    holds = (
        as_written <= 1e-12
        and len(calm) == len(rates) - 1
        and all(r["loss"][-1] < r["loss"][0] for r in calm)
        and wild["diverged_epoch"] is not None
        and wild["restored_finite"]
        and wild["restored_equals_last_good_epoch"]
    )
    best = min(calm, key=lambda r: r["loss"][-1]) if calm else None
    verdict = (
        f"one compiled epoch matches the lecture's update to {as_written:.1e}; "
        + (f"α={best['lr']:g} lowers the loss {best['loss'][0]:.3f} → {best['loss'][-1]:.3f} "
           f"in {epochs} epochs; " if best else "")
        + (f"α={rates[-1]:g} diverges (the loss grows to {max(wild['loss'] or [math.nan]):.1e}, "
           f"then is non-finite in epoch {wild['diverged_epoch']}); fit stops and restores epoch "
           f"{wild['diverged_epoch'] - 1}'s parameters: finite {wild['restored_finite']}, "
           f"bit-identical to a fresh {wild['diverged_epoch'] - 1}-epoch run "
           f"{wild['restored_equals_last_good_epoch']}"
           if wild["diverged_epoch"] else f"α={rates[-1]:g} did not diverge")
    )  # fmt: skip
    return {"claim": "f", "holds": holds, "verdict": verdict, "widths": list(spec.widths),
            "activation": "tanh", "epochs": epochs, "as_written_max_abs_diff": as_written,
            "as_written_rows": rows, "runs": runs}  # fmt: skip


def _plot_sgd(data: dict, path) -> None:
    from fastbp.plot import new_figure, save

    fig, axes = new_figure(2, size=(5.0, 3.8))
    for r in data["runs"].values():
        epochs = list(range(1, len(r["loss"]) + 1))
        if r["diverged_epoch"] is None:
            axes[0].semilogy(epochs, r["loss"], label=f"α = {r['lr']:g}")
            continue
        # log10 on a linear axis: losses near 1e300 overflow a log axis's margins.
        ax = axes[1]
        ax.plot(epochs, np.log10(r["loss"]), "o-", color="C3", label=f"α = {r['lr']:g}")
        top = float(np.log10(max(r["loss"]))) if r["loss"] else 0.0
        ax.plot([r["diverged_epoch"]], [top], "x", ms=12, mew=3, color="C3",
                label=f"non-finite in epoch {r['diverged_epoch']}: stopped")  # fmt: skip
        if r["diverged_epoch"] > 1 and r["restored_loss"] is not None:
            good = r["diverged_epoch"] - 1
            ax.plot([good], [np.log10(r["restored_loss"])], "s", mfc="none", ms=10, color="k",
                    label=f"restored: epoch {good}'s parameters")  # fmt: skip
        ax.set_title(f"α = {r['lr']:g}: the loss explodes, then overflows")
        ax.set_xlabel("epoch")
        ax.set_ylabel("log₁₀ training loss")
        ax.legend(fontsize="small")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training loss (mean over the epoch's steps)")
    axes[0].set_title(f"per-example SGD, diabetes, {'-'.join(map(str, data['widths']))} tanh")
    axes[0].legend(fontsize="small")
    save(fig, path)


# --------------------------------------------------------------------------- registry and runner
@dataclass(frozen=True)
class Experiment:
    letter: str
    name: str
    title: str
    run: Callable[..., dict]
    plot: Callable[[dict, object], None]


def _plot_hvp(data: dict, path) -> None:
    ops = {"loss": "loss", "grad": "gradient", "hvp": "H v"}
    _plot_cost(data, path, ops, ("hvp_over_grad", "time(H v) / time(gradient)", "hvp/gradient"))


def _plot_backprop(data: dict, path) -> None:
    ops = {"loss": "loss", "grad": "backprop gradient", "fd": "finite differences"}
    _plot_cost(data, path, ops, ("grad_over_loss", "time(gradient) / time(loss)", "gradient/loss"))


#: The experiments in lecture order; keys are the names used for files and ``--only``.
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "a",
            "backprop_cost",
            "backprop is O(N), finite differences O(N·l)",
            backprop_cost,
            _plot_backprop,
        ),
        Experiment("b", "hvp_cost", "a Hessian-vector product is O(N)", hvp_cost, _plot_hvp),
        Experiment(
            "c",
            "zero_init",
            "zero init fails by symmetry, Xavier does not",
            zero_init,
            _plot_zero_init,
        ),
        Experiment(
            "d", "vanishing", "sigmoid chains vanish, ReLU much less", vanishing, _plot_vanishing
        ),
        Experiment("e", "lemmas", "the two-layer lemmas hold", lemmas, _plot_lemmas),
        Experiment("f", "sgd", "per-example SGD as written (diabetes)", sgd, _plot_sgd),
    )  # fmt: skip
}


def select(only: str | Sequence[str] | None) -> list[Experiment]:
    """Experiments named by letters or names (``"c,e"``, ``["zero_init", "e"]``); None: all."""
    if only is None:
        return list(EXPERIMENTS.values())
    items = only.split(",") if isinstance(only, str) else list(only)
    by_key = {e.letter: e for e in EXPERIMENTS.values()} | EXPERIMENTS
    chosen = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item not in by_key:
            allowed = ", ".join(f"{e.letter}/{e.name}" for e in EXPERIMENTS.values())
            raise ValueError(f"unknown experiment {item!r}; choose from {allowed}")
        if by_key[item] not in chosen:
            chosen.append(by_key[item])
    if not chosen:
        raise ValueError("no experiment selected")
    return sorted(chosen, key=lambda e: e.letter)


@dataclass
class Outcome:
    """One experiment's result: its data (as written to JSON), the files written, the time."""

    experiment: Experiment
    data: dict
    seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return bool(self.data["holds"])

    def line(self) -> str:
        e = self.experiment
        word = "HOLDS" if self.holds else "DOES NOT HOLD"
        return f"[{e.letter}] {e.title}: {word}. {self.data['verdict']} ({self.seconds:.1f} s)"


def _jsonable(value):
    """Plain-Python, strict-JSON form: numpy to lists and floats, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def run(
    only: str | Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    quick: bool = False,
    seed: int = 0,
    plot: bool = True,
    echo: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Run the selected experiments; with ``out``, write ``<letter>_<name>.json`` and ``.png``.

    ``echo`` (e.g. ``print``) receives each verdict line as soon as it is known, and the lemma
    table after experiment e.  With ``plot`` (the default) matplotlib is required, and checked
    before anything runs.
    """
    chosen = select(only)
    if out is not None and plot:
        from fastbp.plot import require_matplotlib

        require_matplotlib()
    folder = None if out is None else Path(out)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for e in chosen:
        t0 = time.perf_counter()
        data = e.run(quick=quick, seed=seed)
        seconds = time.perf_counter() - t0
        data = {"experiment": e.name, "title": e.title, **data, "quick": quick, "seed": seed,
                "seconds": seconds, "environment": _env()}  # fmt: skip
        outcome = Outcome(e, _jsonable(data), seconds)
        if folder is not None:
            path = folder / f"{e.letter}_{e.name}.json"
            path.write_text(json.dumps(outcome.data, indent=1, allow_nan=False) + "\n")
            outcome.files.append(path)
            if plot:
                png = folder / f"{e.letter}_{e.name}.png"
                e.plot(outcome.data, png)
                outcome.files.append(png)
        outcomes.append(outcome)
        if echo is not None:
            echo(outcome.line())
            if e.name == "lemmas":
                echo(lemma_table(outcome.data))
    return outcomes


def main(argv: Sequence[str] | None = None, only: str | None = None) -> int:
    """Command line of ``scripts/lecture/*.py``: ``--out DIR [--quick] [--seed S] [--only a,b]``.

    ``only`` fixes the selection (one script per experiment).  Exit status 0 when every
    selected claim held, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG and JSON files")
    parser.add_argument("--quick", action="store_true", help="smaller sweeps and fewer epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-plot", action="store_true", help="write only the JSON files")
    if only is None:
        parser.add_argument("--only", default=None, help="comma-separated letters or names")
    args = parser.parse_args(argv)
    selection = only if only is not None else args.only
    outcomes = run(selection, args.out, quick=args.quick, seed=args.seed,
                   plot=not args.no_plot, echo=print)  # fmt: skip
    return 0 if all(o.holds for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
