"""Plain numpy: forward, backward and update written with ``np.dot`` and in-place ufuncs.

What a careful user writes without a framework: buffers allocated once per batch size, every
product and elementwise step with ``out=``, one Python-level step per batch (per example for
W1/W2).  ReLU hidden layers; squared loss (identity output) or softmax cross-entropy.
"""

from __future__ import annotations

import numpy as np

from _peers.common import flatten, one_hot

LIBRARY = "numpy"


def setup(threads: int) -> None:
    """Nothing to set: OpenBLAS takes its thread count from the environment."""


def versions() -> dict:
    return {"numpy": np.__version__}


def targets(job: dict, Y: np.ndarray, dtype) -> np.ndarray:
    if job["loss"] == "softmax_cross_entropy":
        return one_hot(Y, job["widths"][-1], dtype)
    return np.ascontiguousarray(Y, dtype=dtype).reshape(Y.shape[0], -1)


class MLP:
    """Parameters, per-layer buffers for batches of ``m`` rows, and the three passes."""

    def __init__(self, job: dict, layers, m: int) -> None:
        if job["activation"] != "relu":
            raise NotImplementedError("the numpy peer implements ReLU hidden layers only")
        self.softmax = job["loss"] == "softmax_cross_entropy"
        self.W = [np.array(W, order="C") for W, _ in layers]
        self.b = [np.array(b) for _, b in layers]
        dtype = self.W[0].dtype
        widths = job["widths"]
        self.m = m
        self.z = [np.empty((m, n), dtype) for n in widths[1:]]
        self.a = [np.empty((m, n), dtype) for n in widths[1:-1]]
        self.dz = [np.empty((m, n), dtype) for n in widths[1:]]
        self.da = [np.empty((m, n), dtype) for n in widths[1:-1]]
        self.mask = [np.empty((m, n), bool) for n in widths[1:-1]]
        self.dW = [np.empty_like(W) for W in self.W]
        self.db = [np.empty_like(b) for b in self.b]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """z[k] = a[k−1] W[k]ᵀ + b[k], a[k] = relu(z[k]); returns the output a[r] (a view)."""
        r = len(self.W)
        a_prev = x
        for k in range(r):
            np.dot(a_prev, self.W[k].T, out=self.z[k])
            self.z[k] += self.b[k]
            if k < r - 1:
                np.maximum(self.z[k], 0, out=self.a[k])
                a_prev = self.a[k]
        out = self.z[-1]
        if self.softmax:
            out = out - out.max(axis=1, keepdims=True)
            np.exp(out, out=out)
            out /= out.sum(axis=1, keepdims=True)
        return out

    def backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dJ/dW, dJ/db of the batch mean; dJ/dz[r] = (a[r] − y) / m for both losses.

        Runs the forward pass first and returns its output a[r].
        """
        r, m = len(self.W), x.shape[0]
        out = self.forward(x)
        np.subtract(out, y, out=self.dz[-1])
        if m > 1:
            self.dz[-1] /= m
        for k in range(r - 1, -1, -1):
            a_prev = x if k == 0 else self.a[k - 1]
            np.dot(self.dz[k].T, a_prev, out=self.dW[k])
            np.sum(self.dz[k], axis=0, out=self.db[k])
            if k > 0:
                np.dot(self.dz[k], self.W[k], out=self.da[k - 1])
                np.greater(self.z[k - 1], 0, out=self.mask[k - 1])
                np.multiply(self.da[k - 1], self.mask[k - 1], out=self.dz[k - 1])
        return out

    def update(self, lr: float) -> None:
        for W, b, dW, db in zip(self.W, self.b, self.dW, self.db, strict=True):
            dW *= lr
            W -= dW
            db *= lr
            b -= db


class Trainer:
    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray) -> None:
        self.bs, self.lr = job["batch_size"], job["lr"]
        self.mlp = MLP(job, layers, self.bs)
        self.X, self.Y = X, targets(job, Y, X.dtype)
        if X.shape[0] % self.bs:
            raise ValueError("the numpy peer needs n to be a multiple of the batch size")

    def epoch(self) -> None:
        mlp, X, Y, lr, bs = self.mlp, self.X, self.Y, self.lr, self.bs
        for lo in range(0, X.shape[0], bs):
            mlp.backward(X[lo : lo + bs], Y[lo : lo + bs])
            mlp.update(lr)

    def params(self):
        return [(W.copy(), b.copy()) for W, b in zip(self.mlp.W, self.mlp.b, strict=True)]


class GradOps:
    hvp = None

    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> None:
        self.mlp = MLP(job, layers, X.shape[0])
        self.X, self.Y = X, targets(job, Y, X.dtype)

    def forward(self) -> None:
        self.mlp.forward(self.X)

    def loss_and_grad(self) -> None:
        out = self.mlp.backward(self.X, self.Y)
        if self.mlp.softmax:
            self.J = -np.sum(self.Y * np.log(out)) / self.X.shape[0]
        else:
            self.J = 0.5 * np.sum((out - self.Y) ** 2) / self.X.shape[0]

    def grad_flat(self) -> np.ndarray:
        return flatten(list(zip(self.mlp.dW, self.mlp.db, strict=True)))
