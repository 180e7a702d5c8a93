"""asv benchmarks for fastbp.circuit: forward + reverse sweeps over random circuits.

The circuit, the points and the kernel compilation (or cache load) all happen in ``setup``; each
benchmark times only the call.  Random circuits come from ``fastbp.circuit.random_circuit``
(every op, no dead code), seeded, so every run times the same tape.  The two ``ratio`` tracks are
the lecture's theorem: time(gradient)/time(forward) and time(HVP)/time(gradient) stay bounded
whatever N is.
"""

from __future__ import annotations

import time

import numpy as np

from fastbp import circuit as fc

from .common import SEED, median_ratio, warm

N_INPUTS = 16
BATCH = 256


class CircuitSweeps:
    """Forward + reverse sweep (``value_and_gradient``) for one point and for a batch."""

    params = [[1_000, 10_000]]
    param_names = ["n_nodes"]
    timeout = 120

    def setup(self, n_nodes: int) -> None:
        self.circuit = fc.random_circuit(n_nodes, N_INPUTS, seed=SEED)
        rng = np.random.default_rng(SEED)
        self.X = rng.uniform(-1.0, 1.0, (BATCH, N_INPUTS))
        self.x = self.X[0].copy()
        self.v = rng.uniform(-1.0, 1.0, N_INPUTS)
        c = self.circuit
        warm(lambda: c.value_and_gradient(self.X))  # compile (or load the Numba cache) here
        warm(lambda: c.value_and_gradient(self.x))
        warm(lambda: (c.forward(self.x), c.gradient(self.x), c.hvp(self.x, self.v)))

    def time_forward_reverse_batch(self, n_nodes: int) -> None:
        self.circuit.value_and_gradient(self.X)

    def time_forward_reverse_single(self, n_nodes: int) -> None:
        self.circuit.value_and_gradient(self.x)

    def track_nodes_per_second(self, n_nodes: int) -> float:
        """Nodes × points per second of the batch sweep (median of 7 calls)."""
        samples = []
        for _ in range(7):
            t0 = time.perf_counter()
            self.circuit.value_and_gradient(self.X)
            samples.append(time.perf_counter() - t0)
        return n_nodes * BATCH / float(np.median(samples))

    track_nodes_per_second.unit = "nodes/s"

    def track_gradient_over_forward(self, n_nodes: int) -> float:
        c, x = self.circuit, self.x
        return median_ratio(lambda: c.gradient(x), lambda: c.forward(x))

    track_gradient_over_forward.unit = "ratio"

    def track_hvp_over_gradient(self, n_nodes: int) -> float:
        c, x, v = self.circuit, self.x, self.v
        return median_ratio(lambda: c.hvp(x, v), lambda: c.gradient(x))

    track_hvp_over_gradient.unit = "ratio"
