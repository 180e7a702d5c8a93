"""The benchmark workloads W1–W3 and W8–W9, defined once and shared by asv_bench/ and scripts/.

Data: x ~ N(0, 1) per feature and y = sin(x0 + x1 + x2) + 0.1·N(0, 1); for W3, ten targets
y_j = sin(x0 + x1 + x2 + 0.1 j) + noise and the class is argmax_j y_j.  Fixed seed, He-normal
initialisation for every tool.

W8 and W9 (issue 26) are ensembles: M members of one small network trained side by side by
per-example SGD on the same rows, member i with He-normal initialisation of seed ``seed + i``,
its own learning rate (a log-spaced grid) and its own shuffling seed ``seed + i``.  Their metric
is net-steps/s: members × rows per second of an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class EnsembleWorkload:
    """An ensemble workload: ``n_members`` copies of one network, each with its own seed and rate.

    Member i is ``member.network(dtype, seed=seed + i)`` (He-normal), trained by per-example SGD
    with learning rate ``learning_rates()[i]`` and shuffling seed ``seed + i``, on the member
    workload's data (shared by every member).

    Parameters
    ----------
    name : str
        ``"W8"``, ``"W9"``.
    member : Workload
        The network, data recipe and data size of one member (its ``lr`` is not used).
    n_members : int
        Members M.
    lr_range : tuple of float
        (smallest, largest) learning rate; the members' rates are log-spaced between them.
    dtypes : tuple of str
        The dtypes the workload is defined for.
    description : str
        One line for tables.
    """

    name: str
    member: Workload
    n_members: int
    lr_range: tuple[float, float]
    dtypes: tuple[str, ...]
    description: str
    metric: str = field(default="net-steps/s", init=False)

    @property
    def widths(self) -> tuple[int, ...]:
        """The member network's layer widths."""
        return self.member.widths

    @property
    def n_examples(self) -> int:
        """Rows per epoch (every member sees each once)."""
        return self.member.n_examples

    def spec(self, dtype: str = "float64") -> NetworkSpec:
        """The member network's spec (see :meth:`Workload.spec`)."""
        return self.member.spec(dtype)

    def learning_rates(self) -> np.ndarray:
        """The members' learning rates, log-spaced over ``lr_range`` (float64, shape (M,)).

        Returns
        -------
        numpy.ndarray
        """
        lo, hi = self.lr_range
        return np.geomspace(lo, hi, self.n_members)

    def networks(self, dtype: str = "float64", seed: int = 0) -> list[Network]:
        """The M member networks, member i with He-normal weights of seed ``seed + i``.

        Parameters
        ----------
        dtype : str
            ``"float32"`` or ``"float64"``.
        seed : int
            Seed of member 0.

        Returns
        -------
        list of Network
        """
        return [self.member.network(dtype, seed=seed + i) for i in range(self.n_members)]

    def data(
        self, dtype: str = "float64", seed: int = 0, n: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The shared data of every member (:meth:`Workload.data` of the member workload).

        Parameters
        ----------
        dtype : str
            The dtype of X and Y.
        seed : int
            Seed of the data.
        n : int, optional
            Number of rows (default: ``n_examples``).

        Returns
        -------
        X : numpy.ndarray
            (n, widths[0]) features.
        Y : numpy.ndarray
            (n, 1) targets.
        """
        return self.member.data(dtype, seed=seed, n=n)


W8 = EnsembleWorkload(
    "W8",
    W1,
    16,
    (1e-3, 1e-2),
    ("float64", "float32"),
    "16 members of W1 (8-32-32-1 ReLU, squared), own init and rate, per-example SGD, 20,000 rows",
)
W9 = EnsembleWorkload(
    "W9",
    Workload(
        "W9-member",
        (4, 16, 1),
        "relu",
        "squared",
        1,
        20_000,
        1e-3,
        "4-16-1 ReLU, squared loss, per-example SGD, 20,000 examples",
    ),
    64,
    (1e-3, 1e-2),
    ("float64",),
    "64 members of 4-16-1 ReLU, squared, own init and rate, per-example SGD, 20,000 rows",
)

#: The ensemble workloads by name (not in :data:`WORKLOADS`: their tools and metric differ).
ENSEMBLE_WORKLOADS = {w.name: w for w in (W8, W9)}
