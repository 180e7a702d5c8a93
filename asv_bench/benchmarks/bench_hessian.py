"""Hessian- and Gauss-Newton-vector products beside the gradient they are measured against.

The lecture's corollary: once a gradient costs O(N), so does H v.  ``track_hvp_over_gradient``
records the constant, time(hvp) / time(loss_and_gradient), on the W2 network 64-256-256-1 ReLU
with squared loss.  Data is built and every kernel compiled in ``setup``; only the calls are timed.
"""

from __future__ import annotations

import numpy as np

import fastbp as fb
from fastbp.hessian import gnvp, hvp

from .common import median_ratio

WIDTHS = [64, 256, 256, 1]


class Hessian:
    params = ([1, 128], ["float32", "float64"])
    param_names = ["batch", "dtype"]

    def setup(self, batch: int, dtype: str) -> None:
        rng = np.random.default_rng(0)
        spec = fb.NetworkSpec(WIDTHS, ["relu", "relu"], "squared", dtype)
        self.net = fb.Network(spec, seed=0)
        self.X = rng.normal(size=(batch, WIDTHS[0])).astype(dtype)
        self.Y = rng.normal(size=(batch, WIDTHS[-1])).astype(dtype)
        self.v = rng.normal(size=spec.n_params).astype(dtype)
        # Compile (or load from cache) and grow the workspaces before anything is timed.
        self.net.loss_and_gradient(self.X, self.Y)
        hvp(self.net, self.X, self.Y, self.v)
        gnvp(self.net, self.X, self.Y, self.v)

    def time_hvp(self, batch: int, dtype: str) -> None:
        hvp(self.net, self.X, self.Y, self.v)

    def time_gnvp(self, batch: int, dtype: str) -> None:
        gnvp(self.net, self.X, self.Y, self.v)

    def time_gradient(self, batch: int, dtype: str) -> None:
        self.net.loss_and_gradient(self.X, self.Y)

    def track_hvp_over_gradient(self, batch: int, dtype: str) -> float:
        return median_ratio(
            lambda: hvp(self.net, self.X, self.Y, self.v),
            lambda: self.net.loss_and_gradient(self.X, self.Y),
        )

    track_hvp_over_gradient.unit = "ratio"
