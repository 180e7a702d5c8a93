"""Per-example quantities against BackPACK, and the Hessian's spectrum against PyHessian.

Issue 28's targets, on W2 (64-256-256-1 ReLU, squared loss) at batch 128, float64, one thread:

* each of ``per_example_gradients``, ``per_example_norms``, ``gradient_variance`` and
  ``gauss_newton_diagonal`` at least 2x faster than BackPACK 1.7.1 computing that quantity alone
  (``BatchGrad``, ``BatchL2Grad``, ``Variance``, ``DiagGGNExact``, each in its own backward pass
  over ``MSELoss``), and the norms, the variance and the diagonal each at most 1.5x fastbp's own
  ``loss_and_gradient`` on the batch;
* the top eigenvalue and the Hutchinson trace faster than PyHessian 0.1 (same network, data and
  loss).  The trace is timed per probe (PyHessian's ``trace(maxIter=P, tol=0)`` against
  ``hutchinson_trace(samples=P)``: P Hessian-vector products each).  The top eigenvalue twice:
  at each tool's defaults (``top_eigenvalue``; PyHessian: power iteration, at most 100 steps to
  a relative change of 1e-3; fastbp: Lanczos to a residual of 1e-6 of ‖H‖, far more accurate),
  and at matched accuracy (``top_eig_1e-6``: each tool's cheapest setting of this family whose
  eigenvalue lies within 1e-6 of the exact one on W2: PyHessian ``tol=1e-6`` (error about
  2e-6, the closest it gets), fastbp ``tol=1e-3`` (about 6e-9)); the relative errors against a
  Lanczos run to 1e-13 are printed.

The libraries alternate round by round (``--rounds``); each figure is a median [min-max] and the
ratio of the peer's median to fastbp's (above 1: fastbp is faster).  Torch runs with one thread,
fastbp's BLAS with one thread.

    python scripts/bench_second_order.py             # 7 rounds
    python scripts/bench_second_order.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402

import fastbp as fb  # noqa: E402
from fastbp import per_example, spectra  # noqa: E402
from fastbp.curvature import hutchinson_trace  # noqa: E402

W2 = [64, 256, 256, 1]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def backpack_runs(net: fb.Network, X: np.ndarray, Y: np.ndarray) -> dict:
    import backpack
    import torch
    from backpack import extensions

    from fastbp.interop import to_torch

    torch.set_num_threads(1)
    model = backpack.extend(to_torch(net, logits=True))
    lossfunc = backpack.extend(torch.nn.MSELoss(reduction="mean"))
    Xt, Yt = torch.tensor(X), torch.tensor(Y)

    def run(ext=None):
        def go():
            model.zero_grad()
            loss = lossfunc(model(Xt.requires_grad_()), Yt)
            if ext is None:
                loss.backward()
            else:
                with backpack.backpack(ext()):
                    loss.backward()

        return go

    return {
        "backward": run(),
        "gradients": run(extensions.BatchGrad),
        "norms": run(extensions.BatchL2Grad),
        "variance": run(extensions.Variance),
        "ggn_diagonal": run(extensions.DiagGGNExact),
    }


def pyhessian_runs(net: fb.Network, X: np.ndarray, Y: np.ndarray, probes: int) -> tuple:
    import torch
    from pyhessian import hessian

    from fastbp.interop import to_torch

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    # PyHessian differentiates with backward(create_graph=True); torch warns about it each time.
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph")
    h = hessian(to_torch(net), torch.nn.MSELoss(), data=(torch.tensor(X), torch.tensor(Y)),
                cuda=False)  # fmt: skip
    steps = {}

    def top(**settings):
        def run():
            values, _ = h.eigenvalues(top_n=1, **settings)
            steps[settings.get("tol", 1e-3)] = values[0] / 2  # MSELoss: 2 × fastbp's loss

        return run

    return {
        "top_eigenvalue": top(),
        "top_eig_1e-6": top(tol=1e-6, maxIter=1000),
        "trace": lambda: h.trace(maxIter=probes, tol=0.0),
    }, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--probes", type=int, default=20, help="Hutchinson probes")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    spec = fb.NetworkSpec(W2, ["relu", "relu"], "squared")
    net = fb.Network(spec, seed=0)
    X = rng.normal(size=(args.batch, W2[0]))
    Y = net.predict(X).reshape(-1, 1) + 0.1 * rng.normal(size=(args.batch, 1))
    ours = {
        "backward": lambda: net.loss_and_gradient(X, Y),
        "gradients": lambda: per_example.per_example_gradients(net, X, Y),
        "norms": lambda: per_example.per_example_norms(net, X, Y),
        "variance": lambda: per_example.gradient_variance(net, X, Y),
        "ggn_diagonal": lambda: per_example.gauss_newton_diagonal(net, X, Y),
        "top_eigenvalue": lambda: spectra.eigenvalues(net, X, Y, k=1),
        "top_eig_1e-6": lambda: spectra.eigenvalues(net, X, Y, k=1, tol=1e-3),
        "trace": lambda: hutchinson_trace(net, X, Y, samples=args.probes),
    }
    peers = backpack_runs(net, X, Y)
    ph, ph_values = pyhessian_runs(net, X, Y, args.probes)
    peers.update(ph)
    runs = {("fastbp", k): v for k, v in ours.items()} | {("peer", k): v for k, v in peers.items()}
    for fn in runs.values():  # warm-up: compiling, first touch
        fn()
    times: dict = {key: [] for key in runs}
    for _ in range(args.rounds):
        for key, fn in runs.items():
            times[key].append(timed(fn))
    base = statistics.median(times[("fastbp", "backward")])
    eig = spectra.eigenvalues(net, X, Y, k=1)
    matched = spectra.eigenvalues(net, X, Y, k=1, tol=1e-3)
    exact = spectra.eigenvalues(net, X, Y, k=1, tol=1e-13, iters=300).values[0]

    def err(value: float) -> str:
        return f"{abs(value - exact) / abs(exact):.1e}"

    print(f"W2 {W2}, batch {args.batch}, float64, {args.rounds} rounds, {args.probes} probes, "
          f"load average {os.getloadavg()[0]:.2f}; top eigenvalue {exact:.6g}, relative error "
          f"(products): fastbp default {err(eig.values[0])} ({eig.steps}), tol=1e-3 "
          f"{err(matched.values[0])} ({matched.steps}); PyHessian default "
          f"{err(ph_values[1e-3])}, tol=1e-6 {err(ph_values[1e-6])}")  # fmt: skip
    print(f"{'quantity':15s} {'fastbp ms':>22s} {'peer ms':>24s} {'peer/fastbp':>12s} "
          f"{'fastbp/own grad':>16s}")  # fmt: skip
    for name in ours:
        a, b = times[("fastbp", name)], times[("peer", name)]
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{name:15s} {ma * 1e3:8.2f} [{min(a) * 1e3:.2f}-{max(a) * 1e3:.2f}] "
              f"{mb * 1e3:9.2f} [{min(b) * 1e3:.2f}-{max(b) * 1e3:.2f}] {mb / ma:11.2f}x "
              f"{ma / base:15.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
