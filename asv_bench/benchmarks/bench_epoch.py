"""Whole training epochs (W1, W2 per-example SGD; W3 minibatch 128) through Network.fit."""

from __future__ import annotations

import time

from .common import warm, workload_setup


class PerExampleEpoch:
    """W1 / W2: one epoch of the lecture's per-example SGD, no shuffling."""

    params = (["W1", "W2"], ["float32", "float64"])
    param_names = ["workload", "dtype"]
    timeout = 120

    def setup(self, workload: str, dtype: str) -> None:
        self.w, self.net, self.X, self.Y = workload_setup(workload, dtype)
        warm(lambda: self._epoch(self.X[:64], self.Y[:64]), times=1)

    def _epoch(self, X, Y) -> None:
        self.net.fit(X, Y, epochs=1, batch_size=1, optimizer="sgd", lr=self.w.lr,
                     shuffle=False, progress=False)  # fmt: skip

    def time_epoch(self, workload: str, dtype: str) -> None:
        self._epoch(self.X, self.Y)

    def peakmem_epoch(self, workload: str, dtype: str) -> None:
        self._epoch(self.X, self.Y)

    def track_steps_per_second(self, workload: str, dtype: str) -> float:
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            self._epoch(self.X, self.Y)
            best = max(best, len(self.X) / (time.perf_counter() - start))
        return best

    track_steps_per_second.unit = "steps/s"


class MinibatchEpoch:
    """W3: 784-512-512-10 softmax cross-entropy, minibatch 128 (2,048 of its 8,192 examples)."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    timeout = 120

    def setup(self, dtype: str) -> None:
        self.w, self.net, self.X, self.Y = workload_setup("W3", dtype, n=2048)
        warm(lambda: self._epoch(self.X[:256], self.Y[:256]), times=1)

    def _epoch(self, X, Y) -> None:
        self.net.fit(X, Y, epochs=1, batch_size=self.w.batch_size, optimizer="sgd",
                     lr=self.w.lr, shuffle=False, progress=False)  # fmt: skip

    def time_epoch(self, dtype: str) -> None:
        self._epoch(self.X, self.Y)

    def track_samples_per_second(self, dtype: str) -> float:
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            self._epoch(self.X, self.Y)
            best = max(best, len(self.X) / (time.perf_counter() - start))
        return best

    track_samples_per_second.unit = "samples/s"
