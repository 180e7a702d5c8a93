"""A yardstick, not a peer: per-example SGD written by hand with ``@njit`` for exactly W1/W2's net.

Two ReLU hidden layers and a squared loss on a linear output (any widths: the loop bounds are
run-time values), as the issue describes it: W stored (out, in) row-major; the forward pass one
dot product per output row; the backward pass fused with the update per row (read the old row,
accumulate dJ/da[k−1], write the new row); rows whose dJ/dz is exactly 0 skipped;
``fastmath=True`` (every LLVM fast-math flag, ``nnan``/``ninf`` and ``contract`` included); no
loss, no divergence check, no bookkeeping.  The step size and zero are passed in the network's
dtype, so float32 runs compute in float32.  It shows what this machine does when the loop is
written for one network; fastbp has to stay general (any depth, activation, loss) and safe
(NaN/inf detection), which the yardstick is not.
"""

from __future__ import annotations

import numba
import numpy as np

LIBRARY = "numba"


def setup(threads: int) -> None:
    """Nothing to set: the loop is serial."""


def versions() -> dict:
    return {"numba": numba.__version__}


@numba.njit(fastmath=True, cache=True)
def epoch(X, Y, W1, b1, W2, b2, W3, b3, lr, zero, a1, a2, da1, da2):  # pragma: no cover
    n0, n1, n2, n3 = X.shape[1], W1.shape[0], W2.shape[0], W3.shape[0]
    for i in range(X.shape[0]):
        x = X[i]
        for j in range(n1):
            s = b1[j]
            for p in range(n0):
                s += W1[j, p] * x[p]
            a1[j] = s if s > zero else zero
        for j in range(n2):
            s = b2[j]
            for p in range(n1):
                s += W2[j, p] * a1[p]
            a2[j] = s if s > zero else zero
        for p in range(n2):
            da2[p] = zero
        for j in range(n3):  # output row: forward, dJ/dz = a − y, backward and update
            s = b3[j]
            for p in range(n2):
                s += W3[j, p] * a2[p]
            g = s - Y[i, j]
            step = lr * g
            for p in range(n2):
                w = W3[j, p]
                da2[p] += w * g
                W3[j, p] = w - step * a2[p]
            b3[j] -= step
        for p in range(n1):
            da1[p] = zero
        for j in range(n2):
            g = da2[j] if a2[j] > zero else zero
            if g != zero:
                step = lr * g
                for p in range(n1):
                    w = W2[j, p]
                    da1[p] += w * g
                    W2[j, p] = w - step * a1[p]
                b2[j] -= step
        for j in range(n1):
            g = da1[j] if a1[j] > zero else zero
            if g != zero:
                step = lr * g
                for p in range(n0):
                    W1[j, p] -= step * x[p]
                b1[j] -= step


class Trainer:
    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray) -> None:
        widths = job["widths"]
        if (job["activation"] != "relu" or job["loss"] != "squared" or len(widths) != 4
                or job["batch_size"] != 1):  # fmt: skip
            raise NotImplementedError("the hand loop is written for W1/W2's network only")
        dtype = X.dtype.type
        self.W = [np.array(W, order="C") for W, _ in layers]
        self.b = [np.array(b) for _, b in layers]
        self.X = np.ascontiguousarray(X)
        self.Y = np.ascontiguousarray(Y, dtype=X.dtype).reshape(X.shape[0], -1)
        self.lr, self.zero = dtype(job["lr"]), dtype(0)
        self.a = [np.zeros(n, X.dtype) for n in widths[1:3]]
        self.da = [np.zeros(n, X.dtype) for n in widths[1:3]]

    def epoch(self) -> None:
        W, b = self.W, self.b
        epoch(self.X, self.Y, W[0], b[0], W[1], b[1], W[2], b[2], self.lr, self.zero,
              self.a[0], self.a[1], self.da[0], self.da[1])  # fmt: skip

    def params(self):
        return list(zip(self.W, self.b, strict=True))
