"""Public calls a user makes after ``fastbp warmup``; prints what compiled (run by test_warmup.py).

Written from the user's side, not from warmup's list: other widths, other activations (the
generic kernels take them as data), both dtypes, one row and batches, read-only inputs, every
optimizer, H v and G v, the estimators and circuits.  Per-example SGD uses the kinds of network
warmup specialises by default (ReLU; see ``fastbp.warmup.default_specs``).  Prints one JSON
line: the compiled kernels' names and the seconds spent compiling and loading.
"""

from __future__ import annotations

import json
import warnings

import numpy as np

import fastbp as fb
from fastbp.compiling import CompileWatch


def battery() -> None:
    rng = np.random.default_rng(1)
    for dtype in ("float32", "float64"):
        for widths, act, loss in (
            ([6, 9, 2], "tanh", "squared"),
            ([6, 11, 7, 3], "sigmoid", "softmax_cross_entropy"),
            ([6, 8, 2], "softplus", "logistic"),
        ):
            net = fb.Network(fb.NetworkSpec(widths, act, loss, dtype), seed=3)
            X = rng.normal(size=(300, 6)).astype(dtype)
            if loss == "squared":
                Y = rng.normal(size=(300, widths[-1])).astype(dtype)
            elif loss == "logistic":
                Y = rng.integers(0, 2, size=(300, widths[-1])).astype(dtype)
            else:
                Y = np.eye(widths[-1], dtype=dtype)[rng.integers(0, widths[-1], 300)]
            X_ro = X.copy()
            X_ro.flags.writeable = False
            for A, B in ((X, Y), (X[:20], Y[:20]), (X[:1], Y[:1]), (X_ro, Y)):
                net.forward(A)
                net.predict(A)
                net.loss(A, B)
                net.loss_and_gradient(A, B)
                net.gradient(A, B)
                net.score(A, B)
            g = net.gradient(X, Y)
            net.hvp(X, Y, g)
            net.gnvp(X[:20], Y[:20], g)
            net.hvp(X[:1], Y[:1], g)
            net.trace(X[:3], Y[:3])
            for opt in ("sgd", "momentum", "nesterov", "adam"):
                net.fit(X, Y, epochs=2, batch_size=32, optimizer=opt, lr=1e-3, progress=False)
                net.fit(X, Y, epochs=1, batch_size=4, optimizer=opt, lr=1e-3, progress=False)
                net.partial_fit(X[:32], Y[:32], optimizer=opt, lr=1e-3, batch_size=32)
                if opt != "sgd":  # one row with SGD is per-example SGD: specialised, below
                    net.partial_fit(X[:1], Y[:1], optimizer=opt, lr=1e-3)
            net.fit(X, Y, epochs=1, batch_size=16, l2=1e-4, lr=1e-3, progress=False,
                    validation_fraction=0.2, sample_weight=np.ones(300))  # fmt: skip
        for widths, loss in (([6, 13, 9, 4], "softmax_cross_entropy"), ([6, 10, 1], "squared")):
            net = fb.Network(fb.NetworkSpec(widths, "relu", loss, dtype), seed=0)
            X = rng.normal(size=(100, 6)).astype(dtype)
            Y = np.eye(widths[-1], dtype=dtype)[rng.integers(0, widths[-1], 100)]
            net.fit(X, Y, epochs=2, batch_size=1, lr=1e-3, progress=False)
            net.fit(X, Y, epochs=1, batch_size=1, lr=1e-3, l2=1e-4, progress=False)
            for _ in range(2):
                net.partial_fit(X[:1], Y[:1], lr=1e-3)
        from sklearn.datasets import load_iris

        from fastbp.sklearn import MLPClassifier, MLPRegressor

        Xi, yi = load_iris(return_X_y=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for solver in ("adam", "sgd", "lbfgs"):
                clf = MLPClassifier((7,), solver=solver, max_iter=5, dtype=dtype, random_state=0)
                clf.fit(Xi, yi).predict(Xi)
                reg = MLPRegressor((7,), solver=solver, max_iter=5, dtype=dtype, random_state=0)
                reg.fit(Xi, Xi[:, 0]).predict(Xi)
            clf = MLPClassifier((7,), dtype=dtype, random_state=0)
            for _ in range(3):
                clf.partial_fit(Xi, yi, classes=np.arange(3))
    from fastbp import circuit as fc

    c = fc.record(lambda a, b, d: fc.tanh(a * b) + fc.log(d * d + 1.0), n_inputs=3)
    x = np.array([0.3, -1.0, 2.0])
    c.value_and_gradient(x)
    c.hvp(x, x)


if __name__ == "__main__":
    with CompileWatch() as watch:
        battery()
    print(
        json.dumps(
            {
                "compiled": watch.compiled,
                "compile_seconds": watch.compile_seconds,
                "load_seconds": watch.load_seconds,
            }
        )
    )
