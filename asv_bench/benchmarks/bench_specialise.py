"""Spec-specialised per-example SGD kernels (fastbp.specialise) beside the generic epoch kernel.

Both kernels are called directly on arrays prepared in setup (no ``fit`` overhead), on W1's
8-32-32-1 network with ReLU or tanh hidden layers and squared or softmax cross-entropy loss.
``track_speedup`` is time(generic) / time(specialised), medians of interleaved calls.
"""

from __future__ import annotations

import numpy as np

import fastbp as fb
from fastbp import epochs as ek
from fastbp import specialise
from fastbp.lowering import Workspace

from .common import SEED, loss_args, median_ratio, warm


def _setup(act: str, loss: str, dtype: str, n: int = 4000):
    nr = 4 if loss == "softmax_cross_entropy" else 1
    spec = fb.NetworkSpec([8, 32, 32, nr], act, loss, dtype)
    net = fb.Network(spec, init="he_normal", seed=SEED)
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(n, 8)).astype(dtype)
    if nr > 1:
        Y = np.eye(nr, dtype=dtype)[rng.integers(0, nr, size=n)]
    else:
        Y = np.sin(X[:, :3].sum(axis=1, keepdims=True)).astype(dtype)
    return spec, net, X, Y


class SpecialisedEpoch:
    """One per-example SGD epoch (4,000 examples), generic or specialised kernel."""

    params = (["generic", "specialised"], ["relu", "tanh"],
              ["squared", "softmax_cross_entropy"], ["float32", "float64"])  # fmt: skip
    param_names = ["kernel", "activation", "loss", "dtype"]
    timeout = 180

    def setup(self, kernel: str, act: str, loss: str, dtype: str) -> None:
        self.spec, self.net, self.X, self.Y = _setup(act, loss, dtype)
        p = self.net.plan
        self.ws = Workspace(p.n_units, 1, dtype)
        self.order = np.arange(self.X.shape[0], dtype=np.int64)
        self.info = np.zeros(3)
        self.run = self._specialised if kernel == "specialised" else self._generic
        warm(self.run, times=1)

    def _specialised(self) -> None:
        specialise.sgd_example_epoch(self.spec, self.X, self.Y, self.order, self.net.params,
                                     self.net.plan, self.ws, 1e-4, 0.0, self.info)  # fmt: skip

    def _generic(self) -> None:
        p, ws = self.net.plan, self.ws
        ek.sgd_example_epoch(self.X, self.Y, self.order, self.net.params, p.widths, p.acts,
                             *loss_args(p), p.w_off, p.b_off, p.u_off, ws.Z, ws.A, ws.dZ, ws.dA,
                             1e-4, 0.0, self.info)  # fmt: skip

    def time_epoch(self, kernel: str, act: str, loss: str, dtype: str) -> None:
        self.run()


class SpecialisedSpeedup:
    """time(generic epoch) / time(specialised epoch), same network and data."""

    params = (["relu", "tanh"], ["float32", "float64"])
    param_names = ["activation", "dtype"]
    timeout = 180

    def setup(self, act: str, dtype: str) -> None:
        self.g = SpecialisedEpoch()
        self.g.setup("generic", act, "squared", dtype)
        self.s = SpecialisedEpoch()
        self.s.setup("specialised", act, "squared", dtype)

    def track_speedup(self, act: str, dtype: str) -> float:
        return median_ratio(self.g.run, self.s.run)

    track_speedup.unit = "ratio"


class GenerateSource:
    """Generating a spec's kernel source (pure Python, done once per spec and process)."""

    def setup(self) -> None:
        self.spec = fb.NetworkSpec([8, 32, 32, 32, 1], ["relu", "tanh", "softplus"], "logistic")

    def time_generate_source(self) -> None:
        specialise.generate_source(self.spec)
