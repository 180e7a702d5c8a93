"""The lecture's theorem, measured on random circuits.

For a differentiable circuit of N nodes with l inputs, the reverse sweep gives the whole gradient
in O(N), a constant times the cost of evaluating the circuit, whatever l is; central finite
differences need 2l evaluations, O(N·l); a Hessian-vector product by forward-over-reverse is
again O(N).  This script times fastbp.circuit on random circuits (every op, one point at a time):

* growing N at fixed l: time(gradient)/time(forward) and time(HVP)/time(gradient) stay bounded;
* growing l at fixed N: time(finite differences)/time(gradient) grows like l (finite differences
  as 2l separate evaluations, the textbook count; the same 2l points as one batch call are also
  reported: cheaper per point, but still growing with l).

It writes ``circuit_theorem.json`` (and ``circuit_theorem.png`` when matplotlib is importable)
under ``--out`` and prints a one-line verdict.  ``--quick`` uses smaller circuits.

    python scripts/lecture/circuit_theorem.py --out DIR [--quick] [--seed S] [--no-plot]

The exit status is 1 if the theorem was not shown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp import circuit as fc  # noqa: E402
from fastbp.circuit.gradcheck import finite_difference_gradient  # noqa: E402

#: A ratio that stays below this across a 100× (or more) range of N counts as bounded.
BOUNDED = 6.0


def median_time(fn, repeats: int = 7, min_seconds: float = 0.02) -> float:
    """Median over ``repeats`` of the mean CPU time of enough back-to-back calls to last
    min_seconds.  CPU time (``time.process_time``) rather than wall time: on a shared machine it
    leaves out the time this process spends descheduled, so ratios measure work, not load."""
    fn()
    t0 = time.process_time()
    fn()
    once = max(time.process_time() - t0, 1e-7)
    loops = max(1, int(min_seconds / once))
    samples = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(loops):
            fn()
        samples.append((time.process_time() - t0) / loops)
    return float(np.median(samples))


def sweep_n(sizes, n_inputs, repeats, seed):
    rows = []
    for N in sizes:
        c = fc.random_circuit(N, n_inputs, seed=seed + N)
        rng = np.random.default_rng(0)
        x, v = rng.uniform(-1, 1, n_inputs), rng.uniform(-1, 1, n_inputs)
        t_f = median_time(lambda c=c, x=x: c.forward(x), repeats)
        t_g = median_time(lambda c=c, x=x: c.gradient(x), repeats)
        t_h = median_time(lambda c=c, x=x, v=v: c.hvp(x, v), repeats)
        row = {
            "N": N,
            "l": n_inputs,
            "forward_s": t_f,
            "gradient_s": t_g,
            "hvp_s": t_h,
            "gradient_over_forward": t_g / t_f,
            "hvp_over_gradient": t_h / t_g,
            "ns_per_node_gradient": 1e9 * t_g / N,
        }
        rows.append(row)
        print(
            f"N={N:>9,}  forward {t_f * 1e3:9.4f} ms  gradient {t_g * 1e3:9.4f} ms  "
            f"hvp {t_h * 1e3:9.4f} ms  grad/fwd {t_g / t_f:5.2f}  hvp/grad {t_h / t_g:5.2f}"
        )
    return rows


def finite_differences(c, x, h=1e-6):
    """Central differences the textbook way: 2l separate evaluations of the circuit."""
    g = np.empty_like(x)
    for q in range(x.shape[0]):
        old = x[q]
        x[q] = old + h
        f_plus = c.forward(x)[0]
        x[q] = old - h
        f_minus = c.forward(x)[0]
        x[q] = old
        g[q] = (f_plus - f_minus) / (2 * h)
    return g


def sweep_l(n_nodes, input_counts, repeats, seed):
    rows = []
    for l in input_counts:
        c = fc.random_circuit(n_nodes, l, seed=seed + l)
        x = np.random.default_rng(0).uniform(-1, 1, l)
        w, idx = np.ones(1), np.arange(l)
        t_g = median_time(lambda c=c, x=x: c.gradient(x), repeats)
        t_fd = median_time(lambda c=c, x=x: finite_differences(c, x), repeats)
        t_fdb = median_time(
            lambda c=c, x=x, w=w, idx=idx: finite_difference_gradient(c, x, w, idx, 1e-6), repeats
        )
        rows.append(
            {
                "N": n_nodes,
                "l": l,
                "gradient_s": t_g,
                "finite_differences_s": t_fd,
                "finite_differences_batched_s": t_fdb,
                "fd_over_gradient": t_fd / t_g,
                "fd_batched_over_gradient": t_fdb / t_g,
            }
        )
        print(
            f"l={l:>5}  N={n_nodes:,}  gradient {t_g * 1e3:8.3f} ms  finite differences "
            f"{t_fd * 1e3:9.3f} ms ({t_fd / t_g:6.1f}x; as one batch of 2l points "
            f"{t_fdb * 1e3:8.3f} ms, {t_fdb / t_g:5.1f}x)"
        )
    return rows


def plot(result, path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    n_rows = result["growing_N"]
    Ns = [r["N"] for r in n_rows]
    for key, label in (("forward_s", "forward"), ("gradient_s", "gradient"), ("hvp_s", "HVP")):
        ax1.loglog(Ns, [r[key] for r in n_rows], "o-", label=label)
    ax1.set_xlabel("N (nodes)")
    ax1.set_ylabel("CPU seconds (one point)")
    ax1.set_title(f"Cost vs circuit size, l = {n_rows[0]['l']}")
    ax1.legend()
    l_rows = result["growing_l"]
    ls = [r["l"] for r in l_rows]
    ax2.loglog(ls, [r["gradient_s"] for r in l_rows], "o-", label="reverse sweep")
    ax2.loglog(ls, [r["finite_differences_s"] for r in l_rows], "s-", label="finite differences")
    ax2.loglog(
        ls, [r["finite_differences_batched_s"] for r in l_rows], "^--",
        label="finite differences, one batch",
    )  # fmt: skip
    ax2.set_xlabel("l (inputs)")
    ax2.set_ylabel("CPU seconds (one point)")
    ax2.set_title(f"Gradient cost vs inputs, N = {l_rows[0]['N']:,}")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="theorem_out", help="folder for the JSON and PNG")
    parser.add_argument("--quick", action="store_true", help="smaller circuits")
    parser.add_argument("--seed", type=int, default=0, help="offset of the circuits' seeds")
    parser.add_argument("--no-plot", action="store_true", help="write the JSON only")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.quick:
        sizes, n_fixed, inputs, repeats = [100, 1_000, 10_000, 100_000], 10_000, [1, 4, 16, 64], 7
    else:
        sizes = [100, 1_000, 10_000, 100_000, 1_000_000]
        n_fixed, inputs, repeats = 100_000, [1, 4, 16, 64, 256], 7
    # Compile (or load from cache) once, outside every timing.
    fc.random_circuit(10, 2).hvp(np.zeros(2), np.ones(2))
    n_rows = sweep_n(sizes, 16, repeats, args.seed)
    l_rows = sweep_l(n_fixed, inputs, repeats, args.seed)
    g_over_f = [r["gradient_over_forward"] for r in n_rows]
    h_over_g = [r["hvp_over_gradient"] for r in n_rows]
    fd = [r["fd_over_gradient"] for r in l_rows]
    slope = float(np.polyfit(np.log([r["l"] for r in l_rows]), np.log(fd), 1)[0])
    holds = max(g_over_f) < BOUNDED and max(h_over_g) < BOUNDED and slope > 0.7
    verdict = (
        f"{'THEOREM HOLDS' if holds else 'THEOREM NOT SHOWN'}: "
        f"over N = {sizes[0]:,}..{sizes[-1]:,} "
        f"time(gradient)/time(forward) stays in [{min(g_over_f):.2f}, {max(g_over_f):.2f}] and "
        f"time(HVP)/time(gradient) in [{min(h_over_g):.2f}, {max(h_over_g):.2f}]; finite "
        f"differences (2l evaluations) cost {fd[0]:.1f}x..{fd[-1]:.0f}x the gradient for "
        f"l = {inputs[0]}..{inputs[-1]} (grows like l^{slope:.2f})"
    )
    result = {
        "description": "fastbp.circuit on random circuits of every op, one point, float64; "
        "CPU seconds (process_time), medians of 7 repeats",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": __import__("numba").__version__,
            "cpu_count": os.cpu_count(),
            "load_average_at_end": list(os.getloadavg()),
        },
        "quick": args.quick,
        "seed": args.seed,
        "growing_N": n_rows,
        "growing_l": l_rows,
        "fd_growth_exponent": slope,
        "bounded_threshold": BOUNDED,
        "verdict": verdict,
    }
    json_path = os.path.join(args.out, "circuit_theorem.json")
    with open(json_path, "w") as fh:
        json.dump(result, fh, indent=2)
    png_path = os.path.join(args.out, "circuit_theorem.png")
    if args.no_plot:
        print(f"wrote {json_path} (--no-plot)")
    elif plot(result, png_path):
        print(f"wrote {json_path} and {png_path}")
    else:
        print(f"wrote {json_path} (matplotlib is not installed, so no PNG)")
    print(verdict)
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
