"""The benchmark workloads W1–W6, defined once and shared by asv_bench/ and scripts/bench_peers.py.

Data: x ~ N(0, 1) per feature and y = sin(x0 + x1 + x2) + 0.1·N(0, 1); for W3, ten targets
y_j = sin(x0 + x1 + x2 + 0.1 j) + noise and the class is argmax_j y_j.  Fixed seed, He-normal
initialisation for every tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fastbp.network import Network
    from fastbp.spec import NetworkSpec


@dataclass(frozen=True)
class Workload:
    """One benchmark workload: a network, an optimiser setting and a data size.

    Parameters
    ----------
    name : str
        ``"W1"``, ``"W2"``, ...
    widths : tuple of int
        Layer widths n0, ..., nL.
    activation : str
        The hidden activation (every hidden layer).
    loss : str
        The loss.
    batch_size : int
        Examples per SGD step (1: per-example SGD).
    n_examples : int
        Examples per epoch.
    lr : float
        Learning rate.
    description : str
        One line for tables.
    """

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
        """``"steps/s"`` for per-example SGD, ``"samples/s"`` for minibatches."""
        return "steps/s" if self.batch_size == 1 else "samples/s"

    def spec(self, dtype: str = "float64") -> NetworkSpec:
        """The workload's network spec.

        Parameters
        ----------
        dtype : str
            ``"float32"`` or ``"float64"``.

        Returns
        -------
        NetworkSpec
            Widths, the hidden activation on every hidden layer, and the loss.
        """
        from fastbp.spec import NetworkSpec

        return NetworkSpec(
            self.widths, [self.activation] * (len(self.widths) - 2), self.loss, dtype
        )

    def network(self, dtype: str = "float64", seed: int = 0) -> Network:
        """A fastbp network with He-normal weights and zero biases.

        Parameters
        ----------
        dtype : str
            ``"float32"`` or ``"float64"``.
        seed : int
            Seed of the initialisation.

        Returns
        -------
        Network
            A fresh network of :meth:`spec`.
        """
        from fastbp.network import Network

        return Network(self.spec(dtype), init="he_normal", seed=seed)

    def data(
        self, dtype: str = "float64", seed: int = 0, n: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The workload's synthetic data (see the module docstring).

        Parameters
        ----------
        dtype : str
            The dtype of X (and of Y for regression).
        seed : int
            Seed of the data.
        n : int, optional
            Number of examples (default: ``n_examples``).

        Returns
        -------
        X : numpy.ndarray
            (n, widths[0]) features.
        Y : numpy.ndarray
            (n, 1) targets for regression, (n,) int64 labels for W3.
        """
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
        """6 flops per parameter per example (forward 2, backward 4), the usual MLP count.

        Returns
        -------
        int
            Flops of one SGD step (``batch_size`` examples).
        """
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
