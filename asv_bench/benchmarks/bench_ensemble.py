"""Ensembles trained side by side (issue 26): ``fastbp.Ensemble.fit`` on W8 and W9.

W8 (16 members of W1) and W9 (64 members of 4-16-1, float64 only) from
:data:`fastbp.workloads.ENSEMBLE_WORKLOADS`: member i with He-normal weights of seed i, its own
learning rate and shuffling seed, one epoch of per-example SGD on 2,000 of the 20,000 rows (so
that ``asv run --quick`` stays within seconds), with ``n_jobs=1`` and with every core.  The
peers (JAX, torch.func, a thread pool) are ``scripts/bench_ensemble.py``'s.  Skipped where
``fastbp.Ensemble`` does not exist.
"""

from __future__ import annotations

import time

from .common import SEED, warm

N_ROWS = 2_000


class EnsembleEpoch:
    """One epoch of ``Ensemble.fit`` (per-example SGD, shuffled), every member at its own rate."""

    params = (["W8", "W9"], ["float64", "float32"], ["1", "all"])
    param_names = ["workload", "dtype", "n_jobs"]
    timeout = 120

    def setup(self, workload: str, dtype: str, n_jobs: str) -> None:
        import fastbp
        from fastbp.workloads import ENSEMBLE_WORKLOADS

        if not hasattr(fastbp, "Ensemble"):
            raise NotImplementedError("fastbp.Ensemble is not available")
        w = ENSEMBLE_WORKLOADS[workload]
        if dtype not in w.dtypes:
            raise NotImplementedError(f"{workload} is defined for {', '.join(w.dtypes)} only")
        self.members = w.n_members
        self.ens = fastbp.Ensemble(w.spec(dtype), w.n_members, init="he_normal", seed=SEED)
        self.X, self.Y = w.data(dtype, seed=SEED, n=N_ROWS)
        self.lrs = w.learning_rates()
        self.n_jobs = None if n_jobs == "all" else int(n_jobs)
        warm(lambda: self._epoch(self.X[:64], self.Y[:64]), times=1)

    def _epoch(self, X, Y) -> None:
        self.ens.fit(X, Y, epochs=1, batch_size=1, optimizer="sgd", lr=self.lrs, shuffle=True,
                     seed=SEED, n_jobs=self.n_jobs, progress=False)  # fmt: skip

    def time_epoch(self, workload: str, dtype: str, n_jobs: str) -> None:
        self._epoch(self.X, self.Y)

    def track_net_steps_per_second(self, workload: str, dtype: str, n_jobs: str) -> float:
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            self._epoch(self.X, self.Y)
            best = max(best, self.members * len(self.X) / (time.perf_counter() - start))
        return best

    track_net_steps_per_second.unit = "net-steps/s"  # type: ignore[attr-defined]
