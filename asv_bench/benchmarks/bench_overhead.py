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


DQN = [4, 64, 64, 2]


class SmallBatch:
    """Issue 25: a DQN-sized value net (4-64-64-2, ReLU, float32) on 32 rows (and one row);
    :class:`SmallBatchTorch` times PyTorch eager on the same network."""

    def setup(self) -> None:
        self.net, X, Y = batch_setup(DQN, 32, "float32")
        self.X, self.Y, self.x = X, Y, X[:1].copy()
        self.adam = self.net.copy()
        self.adam.partial_fit(X, Y, optimizer="adam", lr=1e-3, batch_size=32)
        warm(lambda: self.net.forward(self.X))
        warm(lambda: self.net.predict(self.X))
        warm(lambda: self.net.loss_and_gradient(self.X, self.Y))
        warm(lambda: self.net.forward(self.x))
        warm(lambda: self.adam.partial_fit(self.X, self.Y, batch_size=32))

    def time_forward32(self) -> None:
        self.net.forward(self.X)

    def time_predict32(self) -> None:
        self.net.predict(self.X)

    def time_loss_and_gradient32(self) -> None:
        self.net.loss_and_gradient(self.X, self.Y)

    def time_partial_fit_adam32(self) -> None:
        self.adam.partial_fit(self.X, self.Y, batch_size=32)  # continues the network's Adam

    def time_forward1(self) -> None:
        self.net.forward(self.x)


class SmallBatchTorch:
    """PyTorch eager at one thread on :class:`SmallBatch`'s network and rows: the ``no_grad``
    forward pass and one Adam step (zero_grad, forward, MSE, backward, step).  Skipped where
    torch is not installed."""

    def setup(self) -> None:
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        torch.set_num_threads(1)
        net, X, Y = batch_setup(DQN, 32, "float32")
        mods: list = []
        for k in range(1, 4):
            W, b = net.layer(k)
            lin = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            mods += [lin, torch.nn.ReLU()] if k < 3 else [lin]
        self.torch = torch
        self.model = torch.nn.Sequential(*mods)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.X, self.Y = torch.from_numpy(X), torch.from_numpy(Y)
        warm(self.time_forward32)
        warm(self.time_adam32)

    def time_forward32(self) -> None:
        with self.torch.no_grad():
            self.model(self.X)

    def time_adam32(self) -> None:
        self.opt.zero_grad()
        self.torch.nn.functional.mse_loss(self.model(self.X), self.Y).backward()
        self.opt.step()
