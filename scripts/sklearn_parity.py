"""fastbp's scikit-learn estimators beside scikit-learn's own MLP, with the same settings.

For each dataset (digits, diabetes from :mod:`fastbp.datasets`) and each setting, the script fits
``fastbp.sklearn.MLPClassifier``/``MLPRegressor`` and ``sklearn.neural_network``'s estimator of
the same name, with identical parameters and ``random_state``.  It prints one Markdown table:
test score (accuracy or R²), epochs run (``n_iter_``), fit time (median of ``--repeats`` fits)
and the largest difference between the two fitted weight sets.

The data are split 80/20 (seeded, stratified for digits), and the features are standardised with
training statistics.  The diabetes target is standardised too, so one learning rate suits both
tasks; R² does not change under that scaling.  fastbp's kernels are compiled (or loaded from the
disk cache) before any timing starts.  BLAS runs single-threaded for both libraries
(``--blas-threads``, through threadpoolctl).  On a small, busy machine a multi-threaded OpenBLAS
spends most of its time waiting on these small matrix products; a 2-thread pool was up to 40×
slower on a shared 2-core machine.

With the sgd solvers both libraries take the same steps: the same initial weights, shuffles,
batches and updates, so "max |Δw|" is rounding error.  With adam it is not, because the libraries
place ε differently (see :mod:`fastbp.sklearn`).  Needs scikit-learn.  Run::

    python scripts/sklearn_parity.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from threadpoolctl import threadpool_limits

import fastbp
from fastbp.datasets import Standardizer, load_diabetes, load_digits, train_test_split
from fastbp.sklearn import MLPClassifier, MLPRegressor

#: (dataset, setting name, parameters given to both estimators).
SETTINGS = [
    ("digits", "adam, batch 200 (sklearn defaults), 64-64",
     dict(hidden_layer_sizes=(64, 64))),
    ("digits", "sgd + Nesterov μ=0.9, lr 0.01, batch 32, 64-64",
     dict(hidden_layer_sizes=(64, 64), solver="sgd", learning_rate_init=0.01, batch_size=32,
          max_iter=50)),
    ("digits", "per-example sgd, lr 0.01, 64-64, 20 epochs",
     dict(hidden_layer_sizes=(64, 64), solver="sgd", momentum=0.0, learning_rate_init=0.01,
          batch_size=1, max_iter=20)),
    ("diabetes", "adam, lr 0.01, 16 tanh, early stopping",
     dict(hidden_layer_sizes=(16,), activation="tanh", learning_rate_init=0.01,
          early_stopping=True, max_iter=500)),
    ("diabetes", "sgd + momentum μ=0.9, lr 0.01, batch 16, 16 tanh, α=0.01",
     dict(hidden_layer_sizes=(16,), activation="tanh", solver="sgd", nesterovs_momentum=False,
          learning_rate_init=0.01, batch_size=16, alpha=0.01, max_iter=200)),
]  # fmt: skip


def load(name: str):
    data = load_digits() if name == "digits" else load_diabetes()
    classification = data.task == "classification"
    X_tr, X_te, y_tr, y_te = train_test_split(data.X, data.y, 0.2, seed=0, stratify=classification)
    xs = Standardizer().fit(X_tr)
    X_tr, X_te = xs.transform(X_tr), xs.transform(X_te)
    if not classification:
        ys = Standardizer().fit(y_tr)
        y_tr, y_te = ys.transform(y_tr), ys.transform(y_te)
    return classification, X_tr, X_te, y_tr, y_te


def fit_timed(cls, params: dict, X, y, repeats: int):
    times, est = [], None
    for _ in range(repeats):
        est = cls(**params)
        t0 = time.perf_counter()
        est.fit(X, y)
        times.append(time.perf_counter() - t0)
    return est, float(np.median(times))


def max_weight_diff(a, b) -> float:
    pairs = zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True)
    return max(float(np.abs(x - y).max()) for x, y in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits per estimator (median time)")
    parser.add_argument("--quick", action="store_true", help="a quarter of the epochs")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (both libraries)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    fastbp.warmup(("float64",))  # also loads the BLAS that Numba calls, so the limit reaches it
    threadpool_limits(limits=args.blas_threads)

    print("| dataset | setting | estimator | test score | n_iter_ | fit time (s) | "
          "sklearn time / fastbp time | max \\|Δw\\| |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for dataset, setting, params in SETTINGS:
        classification, X_tr, X_te, y_tr, y_te = load(dataset)
        params = dict(params, random_state=0)
        if args.quick:
            params["max_iter"] = max(1, params.get("max_iter", 200) // 4)
        ours_cls, ref_cls = (
            (MLPClassifier, SkMLPClassifier) if classification else (MLPRegressor, SkMLPRegressor)
        )
        ours, t_ours = fit_timed(ours_cls, params, X_tr, y_tr, args.repeats)
        ref, t_ref = fit_timed(ref_cls, params, X_tr, y_tr, args.repeats)
        diff = max_weight_diff(ours, ref)
        metric = "accuracy" if classification else "R²"
        for name, est, t in (("fastbp", ours, t_ours), ("scikit-learn", ref, t_ref)):
            ratio = f"{t_ref / t_ours:.1f}×" if name == "fastbp" else ""
            delta = f"{diff:.1e}" if name == "fastbp" else ""
            print(f"| {dataset} | {setting} | {name} | {est.score(X_te, y_te):.4f} ({metric}) | "
                  f"{est.n_iter_} | {t:.3f} | {ratio} | {delta} |")  # fmt: skip


if __name__ == "__main__":
    main()
