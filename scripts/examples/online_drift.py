"""Online regression of a drifting target with ``Network.partial_fit``, one row at a time.

A stream of rows x_t ~ N(0, I_4) arrives one at a time with target

    y_t = sin(w(t) · x_t) + 0.05 ε_t,    w(t) = cos(2π t / P) w_a + sin(2π t / P) w_b,

so the function to learn rotates slowly (period P rows).  Each row is first predicted
(``net.forward``, the prequential "test-then-train" loss ½(ŷ − y)²) and then learned from
(``net.partial_fit``, one SGD-with-momentum step whose velocity lives on the network between
calls).  A network frozen after the first P/4 rows is scored on the same stream for comparison:
its loss climbs as the target drifts away, while the online one tracks it.

The script prints the running losses and the time per row, and plots the running (exponentially
weighted) loss of both networks against t to ``--out`` (PNG, needs matplotlib).

    python scripts/examples/online_drift.py --out drift.png
    python scripts/examples/online_drift.py --quick --out drift.png      # a few seconds
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

import fastbp as fb


def stream(n: int, period: int, seed: int):
    """(X, Y) of the drifting problem: X (n, 4), Y (n, 1)."""
    rng = np.random.default_rng(seed)
    w_a, w_b = rng.normal(size=4), rng.normal(size=4)
    w_a, w_b = w_a / np.linalg.norm(w_a), w_b / np.linalg.norm(w_b)
    t = np.arange(n)
    phase = 2 * math.pi * t / period
    W = np.cos(phase)[:, None] * w_a + np.sin(phase)[:, None] * w_b
    X = rng.normal(size=(n, 4))
    Y = np.sin(np.sum(W * X, axis=1)) + 0.05 * rng.normal(size=n)
    return X, Y.reshape(n, 1)


def running(values: np.ndarray, halflife: float) -> np.ndarray:
    """Exponentially weighted running mean of ``values`` with the given half-life (rows)."""
    alpha = 1 - 0.5 ** (1 / halflife)
    out = np.empty_like(values)
    acc = values[: max(1, int(halflife))].mean()
    for i, v in enumerate(values):
        acc = (1 - alpha) * acc + alpha * v
        out[i] = acc
    return out


def run(n: int, period: int, seed: int = 0, lr: float = 0.01) -> dict:
    """Stream n rows through an online network and a frozen one; returns the per-row losses."""
    X, Y = stream(n, period, seed)
    spec = fb.NetworkSpec([4, 32, 32, 1], ["tanh", "tanh"], "squared")
    online = fb.Network(spec, seed=seed)
    frozen = None
    loss_online = np.empty(n)
    loss_frozen = np.full(n, np.nan)
    freeze_at = period // 4
    start = time.perf_counter()
    for t in range(n):
        x, y = X[t : t + 1], Y[t : t + 1]
        loss_online[t] = 0.5 * float((online.forward(x)[0, 0] - y[0, 0]) ** 2)  # test ...
        online.partial_fit(x, y, optimizer="momentum", momentum=0.9, lr=lr)  # ... then train
        if frozen is not None:
            loss_frozen[t] = 0.5 * float((frozen.forward(x)[0, 0] - y[0, 0]) ** 2)
        elif t + 1 == freeze_at:
            frozen = online.copy()
    seconds = time.perf_counter() - start
    return {"t": np.arange(n), "online": loss_online, "frozen": loss_frozen,
            "seconds": seconds, "freeze_at": freeze_at, "period": period}  # fmt: skip


def plot(result: dict, path: Path, halflife: float) -> None:
    from fastbp.plot import new_figure, save

    fig, (ax,) = new_figure(size=(7.0, 3.6))
    t = result["t"]
    ax.plot(t, running(result["online"], halflife), label="online (partial_fit every row)")
    mask = ~np.isnan(result["frozen"])
    ax.plot(t[mask], running(result["frozen"][mask], halflife),
            label=f"frozen after {result['freeze_at']} rows")  # fmt: skip
    ax.set_xlabel("row t")
    ax.set_ylabel(f"running loss ½(ŷ − y)² (half-life {halflife:g} rows)")
    ax.set_yscale("log")
    ax.set_title(f"drifting target, period {result['period']} rows")
    ax.legend()
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=60_000, help="length of the stream")
    p.add_argument("--period", type=int, default=20_000, help="rows per turn of the target")
    p.add_argument("--quick", action="store_true", help="6,000 rows, period 2,000")
    p.add_argument("--out", type=Path, default=None, help="PNG of the running loss")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.period = 6_000, 2_000
    if args.rows < 4 or args.period < 4:
        p.error("--rows and --period must be at least 4")
    result = run(args.rows, args.period, args.seed)
    last = slice(-args.period // 4, None)
    online, frozen = result["online"][last].mean(), np.nanmean(result["frozen"][last])
    per_row = 1e6 * result["seconds"] / args.rows
    print(f"{args.rows} rows in {result['seconds']:.2f} s ({per_row:.1f} µs per row: "
          "forward + partial_fit, and the frozen network's forward)")  # fmt: skip
    print(f"mean loss over the last {args.period // 4} rows: online {online:.4f}, "
          f"frozen {frozen:.4f}")  # fmt: skip
    if args.out is not None:
        plot(result, args.out, halflife=max(args.period / 40, 1.0))
        print(f"plot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
