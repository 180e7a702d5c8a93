"""Ahead-of-time compilation of every kernel, for both dtypes.

Kernels are compiled on first use and cached on disk, in the per-user cache directory of
:mod:`fastbp._cache`, so only the very first run on a machine pays the compile cost.
:func:`warmup` pays it up front, e.g. in a Docker build step or
before timing.
"""

from __future__ import annotations

import time

import numpy as np


def warmup(dtypes: tuple[str, ...] = ("float32", "float64")) -> dict[str, float]:
    """Compile (or load from the disk cache) every fastbp kernel; returns seconds per dtype."""
    from fastbp.network import Network
    from fastbp.spec import NetworkSpec

    seconds = {}
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        t0 = time.perf_counter()
        net = Network(NetworkSpec([3, 4, 2], ["relu"], "squared", dtype), seed=0)
        X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
        for blas_min_rows in (1, 10**9):
            net.lowered.blas_min_rows = blas_min_rows
            net.loss_and_gradient(X, Y)
            net.trace(X[:2], Y[:2])
            net.fit(X, Y, epochs=1, batch_size=4, optimizer="adam", progress=False)
        net.fit(X, Y, epochs=1, batch_size=1, optimizer="sgd", progress=False)
        net.forward(X)
        # The one-row fast paths and partial_fit's lean path (row_kernels.py).
        x, y = X[:1].astype(dtype), Y[:1].astype(dtype)
        net.forward(x)
        net.loss_and_gradient(x, y)
        for optimizer in ("sgd", "adam"):
            for _ in range(2):  # the first call sets up the state; the second is the lean path
                net.partial_fit(x, y, optimizer=optimizer, lr=1e-3)
        seconds[dtype] = time.perf_counter() - t0
    return seconds
