"""Sparse input: fastbp.sklearn's two sparse paths against scikit-learn on the same CSR matrix.

A text-like matrix (default 20,000 × 5,000 at 1 % density, float32, seeded) and binary labels.
Each setting fits ``MLPClassifier(hidden_layer_sizes=(64,), solver="adam", max_iter=EPOCHS)`` and
is timed REPEATS times, interleaved; the script prints medians and the ratios against
scikit-learn on the same CSR matrix (its peer, which multiplies the sparse matrix directly).
fastbp runs with ``fastbp.sklearn.SPARSE_TRAINING = "csr"`` (the CSR first-layer kernel, the
default) and ``"densify"`` (chunks of rows densified for the dense kernel), and on the densified
matrix.

    python scripts/bench_sparse.py [--rows 20000] [--cols 5000] [--density 0.01] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

import fastbp.sklearn as fbsk
from fastbp.sklearn import MLPClassifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--cols", type=int, default=5_000)
    ap.add_argument("--density", type=float, default=0.01)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = sp.random(args.rows, args.cols, density=args.density, format="csr", dtype=np.float32,
                  random_state=rng)  # fmt: skip
    y = (X @ rng.normal(size=args.cols) > 0).astype(int)
    params = dict(hidden_layer_sizes=(64,), solver="adam", max_iter=args.epochs, random_state=0)

    def fastbp_sparse(mode: str):
        def run():
            fbsk.SPARSE_TRAINING = mode
            try:
                return MLPClassifier(**params).fit(X, y)
            finally:
                fbsk.SPARSE_TRAINING = "csr"

        return run

    settings = {
        "scikit-learn, CSR": lambda: SkMLPClassifier(**params).fit(X, y),
        "fastbp, CSR first-layer kernel": fastbp_sparse("csr"),
        "fastbp, CSR densified per chunk": fastbp_sparse("densify"),
        "fastbp, dense array": lambda: MLPClassifier(**params).fit(dense, y),
    }
    dense = X.toarray()
    times = {name: [] for name in settings}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for mode in ("csr", "densify"):  # compile / load the kernels before timing
            fbsk.SPARSE_TRAINING = mode
            MLPClassifier(**dict(params, max_iter=1)).fit(X[:500], y[:500])
        fbsk.SPARSE_TRAINING = "csr"
        MLPClassifier(**dict(params, max_iter=1)).fit(dense[:500], y[:500])
        for _ in range(args.repeats):
            for name, run in settings.items():  # interleaved, so drifting load hits all alike
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
    peer = statistics.median(times["scikit-learn, CSR"])
    print(f"{args.rows} x {args.cols} CSR, density {args.density}, float32, {args.epochs} epochs, "
          f"median of {args.repeats}")  # fmt: skip
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:34s} {med:8.2f} s   speed-up vs scikit-learn {peer / med:5.2f}x")


if __name__ == "__main__":
    main()
