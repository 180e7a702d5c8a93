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


class DPEpoch:
    """W2 minibatch 128 (2,048 rows): a plain epoch, DP-SGD clipping alone, clipping and noise.

    The ratio of the DP rows to ``plain`` is issue 28's target (at most 1.5×); the peer and the
    per-epoch medians of long fits are in ``scripts/bench_privacy.py``.
    """

    params = (["plain", "clip", "clip_noise"], ["float32", "float64"])
    param_names = ["variant", "dtype"]
    timeout = 120
    DP = {"plain": {}, "clip": {"max_grad_norm": 1.0},
          "clip_noise": {"max_grad_norm": 1.0, "noise_multiplier": 1.0}}  # fmt: skip

    def setup(self, variant: str, dtype: str) -> None:
        self.w, self.net, self.X, self.Y = workload_setup("W2", dtype, n=2048)
        warm(lambda: self._epoch(variant, self.X[:256], self.Y[:256]), times=1)

    def _epoch(self, variant: str, X, Y) -> None:
        self.net.fit(X, Y, epochs=1, batch_size=128, optimizer="sgd", lr=1e-3, shuffle=False,
                     progress=False, **self.DP[variant])  # fmt: skip

    def time_epoch(self, variant: str, dtype: str) -> None:
        self._epoch(variant, self.X, self.Y)
