"""The benchmark workloads W1–W6, defined once and shared by asv_bench/ and scripts/bench_peers.py.

Data: x ~ N(0, 1) per feature and y = sin(x0 + x1 + x2) + 0.1·N(0, 1); for W3, ten targets
y_j = sin(x0 + x1 + x2 + 0.1 j) + noise and the class is argmax_j y_j.  Fixed seed, He-normal
initialisation for every tool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    """One benchmark workload: a network, an optimiser setting and a data size."""

    name: str
    widths: tuple[int, ...]
    activation: str
    loss: str
    batch_size: int
    n_examples: int
    lr: float
    description: str

    @property
    def metric(self) -> str:
        return "steps/s" if self.batch_size == 1 else "samples/s"

    def spec(self, dtype: str = "float64"):
        from fastbp.spec import NetworkSpec

        return NetworkSpec(
            self.widths, [self.activation] * (len(self.widths) - 2), self.loss, dtype
        )

    def network(self, dtype: str = "float64", seed: int = 0):
        """A fastbp network with He-normal weights and zero biases."""
        from fastbp.network import Network

        return Network(self.spec(dtype), init="he_normal", seed=seed)

    def data(self, dtype: str = "float64", seed: int = 0, n: int | None = None):
        """(X, Y): Y is (n, 1) for regression and int64 labels (n,) for W3."""
        n = self.n_examples if n is None else n
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, self.widths[0]))
        s = X[:, 0] + X[:, 1] + X[:, 2]
        if self.loss == "softmax_cross_entropy":
            k = self.widths[-1]
            scores = np.sin(s[:, None] + 0.1 * np.arange(k)) + 0.1 * rng.normal(size=(n, k))
            return X.astype(dtype), scores.argmax(axis=1).astype(np.int64)
        y = np.sin(s) + 0.1 * rng.normal(size=n)
        return X.astype(dtype), y.reshape(-1, 1).astype(dtype)

    def flops_per_step(self) -> int:
        """6 flops per parameter per example (forward 2, backward 4), the usual MLP count."""
        n_params = sum(
            self.widths[k] * (self.widths[k - 1] + 1) for k in range(1, len(self.widths))
        )
        return 6 * n_params * self.batch_size


W1 = Workload(
    "W1",
    (8, 32, 32, 1),
    "relu",
    "squared",
    1,
    20_000,
    1e-3,
    "8-32-32-1 ReLU, squared loss, per-example SGD, 20,000 examples",
)
W2 = Workload(
    "W2",
    (64, 256, 256, 1),
    "relu",
    "squared",
    1,
    5_000,
    1e-3,
    "64-256-256-1 ReLU, squared loss, per-example SGD, 5,000 examples",
)
W3 = Workload(
    "W3",
    (784, 512, 512, 10),
    "relu",
    "softmax_cross_entropy",
    128,
    8_192,
    1e-3,
    "784-512-512-10 ReLU, softmax cross-entropy, minibatch 128, 8,192 examples",
)

WORKLOADS = {w.name: w for w in (W1, W2, W3)}
