"""Shared, seeded setup for every benchmark module (append, never change: results depend on it).

The workloads themselves (W1–W3) live in :mod:`fastbp.workloads`, shared with
``scripts/bench_peers.py``.  Kernels are compiled in ``setup`` (through :func:`warm`) so that
compile time is never timed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from fastbp.workloads import WORKLOADS

SEED = 0


def workload_setup(name: str, dtype: str, n: int | None = None):
    """(workload, network, X, Y) for workload ``name`` with a fresh He-normal network."""
    w = WORKLOADS[name]
    net = w.network(dtype, seed=SEED)
    X, Y = w.data(dtype, seed=SEED, n=n)
    return w, net, X, Y


def batch_setup(widths: list[int], batch: int, dtype: str, act: str = "relu"):
    """(network, X, Y) for a squared-loss network and a random batch."""
    import fastbp as fb

    rng = np.random.default_rng(SEED)
    spec = fb.NetworkSpec(widths, [act] * (len(widths) - 2), "squared", dtype)
    net = fb.Network(spec, init="he_normal", seed=SEED)
    X = rng.normal(size=(batch, widths[0])).astype(dtype)
    Y = rng.normal(size=(batch, widths[-1])).astype(dtype)
    return net, X, Y


def warm(func: Callable[[], object], times: int = 2) -> None:
    """Call ``func`` so that its kernels are compiled (or loaded from the cache) before timing."""
    for _ in range(times):
        func()


def median_ratio(
    numerator: Callable[[], object],
    denominator: Callable[[], object],
    repeats: int = 7,
    min_seconds: float = 0.02,
) -> float:
    """Median over ``repeats`` of time(numerator) / time(denominator), timed back to back.

    Each repeat times both calls in turn (the mean over enough calls to last ≥ min_seconds), so
    a load spike on a shared machine tilts one ratio, not the median.
    """

    def calls_per_repeat(func) -> int:
        func()
        start = time.perf_counter()
        func()
        return max(1, int(min_seconds / max(time.perf_counter() - start, 1e-7)))

    def mean_seconds(func, inner: int) -> float:
        start = time.perf_counter()
        for _ in range(inner):
            func()
        return (time.perf_counter() - start) / inner

    n_num, n_den = calls_per_repeat(numerator), calls_per_repeat(denominator)
    ratios = [
        mean_seconds(numerator, n_num) / mean_seconds(denominator, n_den) for _ in range(repeats)
    ]
    return statistics.median(ratios)


def loss_args(plan) -> tuple:
    """The loss arguments of a kernel after ``acts``: ``(out_kind, loss_param)``, or
    ``(out_kind,)`` on a commit from before the loss records (``Plan.loss_param``), so that the
    benchmarks calling kernels directly also run on older commits (``scripts/asv_ab.py``, asv's
    runs over history use this benchmark code on every commit)."""
    if hasattr(plan, "loss_param"):
        return plan.out_kind, plan.loss_param
    return (plan.out_kind,)
