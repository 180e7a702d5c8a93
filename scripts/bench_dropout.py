"""Dropout's cost on W1 (8-32-32-1 ReLU, squared loss, per-example SGD, 20,000 rows).

Issue 27's target: dropout adds at most 30 % to a W1 epoch.  Measured in one process, one BLAS
thread, the variants interleaved round by round so that load from other processes hits all
alike.  A round is one fit of ``--epochs`` epochs per variant, and its figure the fit's median
``History.seconds``; each figure below is the median over ``--rounds`` with its min–max, the
ratio of medians to ``plain``, and the median (min–max) of the ratios within a round, which
drifting load from other processes disturbs least.

* ``plain``: ``Network.fit(batch_size=1, optimizer="sgd")`` without dropout (the specialised
  per-example kernel, :mod:`fastbp.specialise`);
* ``toolbox``: the same with ``warmup=1`` (no effect on the steps): the generic minibatch kernel
  with batches of one row that dropout also runs, without dropout, to separate the cost of
  leaving the specialised kernel from the cost of the masks;
* ``dropout``: ``NetworkSpec(..., dropout=p)`` on both hidden layers
  (:func:`fastbp.dropout_kernels.minibatch_epoch_dropout`, batches of one row);
* ``dropout_b32`` and ``plain_b32``: minibatches of 32 with and without dropout (BLAS path).

    python scripts/bench_dropout.py                  # 5 epochs, 7 rounds, p = 0.1, float64
    python scripts/bench_dropout.py --rounds 3 --dtype float32
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"

import fastbp as fb  # noqa: E402
from fastbp.workloads import W1  # noqa: E402


def epoch_seconds(net: fb.Network, X, Y, epochs: int, batch_size: int, **kw) -> float:
    history = net.fit(X, Y, epochs=epochs, batch_size=batch_size, lr=W1.lr, progress=False, **kw)
    return statistics.median(history.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--p", type=float, default=0.1, help="dropout rate of both hidden layers")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    args = parser.parse_args()
    X, Y = W1.data(args.dtype)
    plain_spec = W1.spec(args.dtype)
    drop_spec = fb.NetworkSpec(plain_spec.widths, plain_spec.activations, plain_spec.loss,
                               args.dtype, dropout=args.p)  # fmt: skip
    variants = {
        "plain": (plain_spec, 1, {}),
        "toolbox": (plain_spec, 1, {"warmup": 1}),
        "dropout": (drop_spec, 1, {}),
        "plain_b32": (plain_spec, 32, {}),
        "dropout_b32": (drop_spec, 32, {}),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for spec, bs, kw in variants.values():  # compile (or load) every kernel first
        epoch_seconds(fb.Network(spec, init="he_normal", seed=0), X[:64], Y[:64], 1, bs, **kw)
    for _ in range(args.rounds):
        for name, (spec, bs, kw) in variants.items():
            net = fb.Network(spec, init="he_normal", seed=0)
            times[name].append(epoch_seconds(net, X, Y, args.epochs, bs, **kw))
    base = {1: statistics.median(times["plain"]), 32: statistics.median(times["plain_b32"])}
    report = {}
    base_name = {1: "plain", 32: "plain_b32"}
    for name, (_, bs, _) in variants.items():
        med = statistics.median(times[name])
        rounds = [t / b for t, b in zip(times[name], times[base_name[bs]], strict=True)]
        report[name] = {
            "round_ratio_median": statistics.median(rounds),
            "round_ratio_min": min(rounds),
            "round_ratio_max": max(rounds),
            "median_s": med,
            "min_s": min(times[name]),
            "max_s": max(times[name]),
            "us_per_row": 1e6 * med / X.shape[0],
            "ratio_to_plain": med / base[bs],
        }
        lo, hi = 1e3 * min(times[name]), 1e3 * max(times[name])
        print(f"{name:12s} {1e3 * med:8.2f} ms/epoch  (min {lo:7.2f}, max {hi:7.2f})  "
              f"{report[name]['us_per_row']:6.3f} us/row  x{med / base[bs]:.2f} of plain (same "
              f"batch size); per round x{statistics.median(rounds):.2f} "
              f"({min(rounds):.2f}-{max(rounds):.2f})")  # fmt: skip
    print(json.dumps({"workload": "W1", "p": args.p, "dtype": args.dtype, **report}))


if __name__ == "__main__":
    main()
