"""DP-SGD's cost: a minibatch epoch with clipping (and noise) against a plain one, and Opacus.

Issue 28's target: a minibatch DP-SGD epoch on W2 (64-256-256-1 ReLU, squared loss) costs at most
1.5× a plain minibatch epoch.  Measured in one process, one BLAS thread, the variants interleaved
round by round so that load from other processes hits all alike.  A round is one fit of
``--epochs`` epochs per variant, and its figure the fit's median ``History.seconds`` (an epoch
of a long run: DP-SGD draws the next call's noise in a helper thread while the kernel runs,
which a fit's very first call cannot overlap); each figure is the median over ``--rounds`` with
its min–max, and the ratio of medians to the plain epoch.

* ``plain``: ``Network.fit(epochs=1, batch_size=B, optimizer="sgd")``;
* ``dp_sigma0``: the same with ``max_grad_norm=1`` (clipping only);
* ``dp``: with ``noise_multiplier=1`` too (n_params normals drawn per batch);
* ``opacus``: Opacus 1.6 ``make_private`` around ``torch.optim.SGD`` over the same float64
  network, batches of B from a non-shuffling DataLoader (its default hook-based per-sample
  gradients; with ``--quick`` it is left out).

    python scripts/bench_privacy.py                  # 4096 rows, B = 128, float64, 7 rounds
    python scripts/bench_privacy.py --dtype float32 --batch-size 256 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402

import fastbp as fb  # noqa: E402

W2 = [64, 256, 256, 1]


def fastbp_epoch(net: fb.Network, X, Y, batch_size: int, epochs: int, **dp) -> float:
    history = net.fit(X, Y, epochs=epochs, batch_size=batch_size, lr=1e-3, progress=False, **dp)
    return statistics.median(history.seconds)


def opacus_epoch_factory(net: fb.Network, X, Y, batch_size: int):
    import warnings

    import opacus
    import torch

    from fastbp.interop import to_torch

    torch.set_num_threads(1)
    model = to_torch(net, logits=True).train()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)),
        batch_size=batch_size,
        shuffle=False,
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, optimizer, loader = opacus.PrivacyEngine().make_private(
            module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=1.0,
            max_grad_norm=1.0, poisson_sampling=False,
        )  # fmt: skip

    def epoch() -> float:
        t0 = time.perf_counter()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = 0.5 * ((model(xb.requires_grad_()) - yb) ** 2).sum(dim=1).mean()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - t0  # one epoch a round: it is 50-80x slower

    return epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fastbp fit")
    parser.add_argument("--quick", action="store_true", help="3 rounds, no Opacus")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    X = rng.normal(size=(args.rows, W2[0])).astype(dtype)
    Y = rng.normal(size=(args.rows, 1)).astype(dtype)
    spec = fb.NetworkSpec(W2, ["relu", "relu"], "squared", args.dtype)
    variants = {
        "plain": {},
        "dp_sigma0": {"max_grad_norm": 1.0},
        "dp": {"max_grad_norm": 1.0, "noise_multiplier": 1.0},
    }
    nets = {name: fb.Network(spec, seed=0) for name in variants}
    runs = {
        name: (
            lambda n=name: fastbp_epoch(nets[n], X, Y, args.batch_size, args.epochs, **variants[n])
        )
        for name in variants
    }
    if not args.quick and args.dtype == "float64":
        runs["opacus"] = opacus_epoch_factory(fb.Network(spec, seed=0), X, Y, args.batch_size)
    for run in runs.values():  # warm-up: compiling, loading, first-touch
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
    base = statistics.median(times["plain"])
    results = {}
    print(f"W2 {W2}, {args.rows} rows, batch {args.batch_size}, {args.dtype}, {rounds} rounds "
          f"of {args.epochs} epochs, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    for name, ts in times.items():
        med = statistics.median(ts)
        results[name] = {"median_s": med, "min_s": min(ts), "max_s": max(ts), "ratio": med / base}
        print(f"  {name:10s} {med * 1e3:8.1f} ms [{min(ts) * 1e3:.1f}-{max(ts) * 1e3:.1f}]  "
              f"{med / base:5.2f}x plain")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
