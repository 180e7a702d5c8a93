"""W7: one-row calls from a Python loop (fastbp beside the numpy 3-matmul loop), and two-thread
scaling of concurrent inference.  The JAX and PyTorch peers are in scripts/bench_overhead.py."""

from __future__ import annotations

import threading

import numpy as np

from .common import SEED, batch_setup, median_ratio, warm

W1 = [8, 32, 32, 1]


def _numpy_forward(net):
    layers = [net.layer(k) for k in range(1, net.spec.n_layers + 1)]
    Wt = [np.ascontiguousarray(W.T) for W, _ in layers]
    b = [bk.copy() for _, bk in layers]

    def forward(x):
        h = np.maximum(x @ Wt[0] + b[0], 0.0)
        h = np.maximum(h @ Wt[1] + b[1], 0.0)
        return h @ Wt[2] + b[2]

    return forward


class OneRow:
    """Per-call cost of the one-row fast paths on W1 (8-32-32-1, ReLU)."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]

    def setup(self, dtype: str) -> None:
        self.net, X, Y = batch_setup(W1, 32, dtype)
        self.x, self.y, self.X32, self.Y32 = X[:1], Y[:1], X, Y
        self.sgd, self.adam = self.net.copy(), self.net.copy()
        self.numpy_forward = _numpy_forward(self.net)
        warm(lambda: self.net.forward(self.x))
        warm(lambda: self.net.loss_and_gradient(self.x, self.y))
        warm(lambda: self.sgd.partial_fit(self.x, self.y, lr=1e-4))
        warm(lambda: self.adam.partial_fit(self.X32, self.Y32, optimizer="adam", lr=1e-4,
                                           batch_size=32))  # fmt: skip

    def time_forward(self, dtype: str) -> None:
        self.net.forward(self.x)

    def time_numpy_forward(self, dtype: str) -> None:
        self.numpy_forward(self.x)

    def time_loss_and_gradient(self, dtype: str) -> None:
        self.net.loss_and_gradient(self.x, self.y)

    def time_partial_fit_sgd(self, dtype: str) -> None:
        self.sgd.partial_fit(self.x, self.y, lr=1e-4)

    def time_partial_fit_adam_batch32(self, dtype: str) -> None:
        self.adam.partial_fit(self.X32, self.Y32, optimizer="adam", lr=1e-4, batch_size=32)

    def track_numpy_forward_over_fastbp(self, dtype: str) -> float:
        """Target of issue 16: ≥ 3 (one-row forward 3× faster than the numpy 3-matmul loop)."""
        return median_ratio(lambda: self.numpy_forward(self.x), lambda: self.net.forward(self.x))

    track_numpy_forward_over_fastbp.unit = "ratio"


class TwoThreads:
    """net.predict on 4,096 rows into 64-256-256-10 from one thread vs two threads (issue 16's
    target: ≥ 1.6× with BLAS at one thread; run asv with OPENBLAS_NUM_THREADS=1)."""

    timeout = 300

    def setup(self) -> None:
        import fastbp as fb

        spec = fb.NetworkSpec([64, 256, 256, 10], ["relu", "relu"], "softmax_cross_entropy")
        self.net = fb.Network(spec, init="he_normal", seed=SEED)
        self.X = np.random.default_rng(SEED).normal(size=(4096, 64))
        warm(lambda: self.net.predict(self.X))

    def _serial(self, calls: int = 8) -> None:
        for _ in range(calls):
            self.net.predict(self.X)

    def _threaded(self, calls: int = 8) -> None:
        threads = [threading.Thread(target=self._serial, args=(calls // 2,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def time_one_thread(self) -> None:
        self._serial()

    def time_two_threads(self) -> None:
        self._threaded()

    def track_two_thread_speedup(self) -> float:
        return median_ratio(self._serial, self._threaded, repeats=5)

    track_two_thread_speedup.unit = "ratio"
