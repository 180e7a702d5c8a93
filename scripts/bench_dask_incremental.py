"""dask-ml's ``Incremental`` end to end: fastbp's MLPClassifier against scikit-learn's.

Digits (``sklearn.datasets.load_digits``), split 80/20 (stratified, ``random_state=0``) and
standardised on the training part, as a Dask array in chunks of 300 rows.  On a
``distributed.LocalCluster(n_workers=2, threads_per_worker=1)``, ``Incremental`` wraps
``MLPClassifier(hidden_layer_sizes=(64,), solver="adam", random_state=0)`` of each library and
makes 5 passes (``partial_fit`` on every chunk, in order, ``shuffle_blocks=False``); then it
scores the test part.

Three timings per library, each the wall time of the 5 passes plus the score, never the start
of the cluster:

- **fresh**: a new LocalCluster, so each worker process imports scikit-learn, dask-ml and the
  library, and (for fastbp) loads its compiled kernels from the cache, during the timed fit;
- **imported**: another new LocalCluster whose workers have first imported the same modules for
  both libraries (``fastbp.sklearn``, ``sklearn.neural_network``, ``dask_ml.wrappers``), so the
  difference between the libraries is their first calls' cost (fastbp's kernel loading);
- **warm**: a second fit on that cluster, after the workers have done it once.

Runs alternate between the libraries; the script prints the medians [min–max] over ``--repeats``
runs and scikit-learn's median over fastbp's (above 1: fastbp is faster).

    python scripts/bench_dask_incremental.py               # 5 runs per library
    python scripts/bench_dask_incremental.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # inherited by the worker processes

CHUNK = 300
PASSES = 5
KINDS = ("fresh", "imported", "warm")


def data():
    """Standardised digits: (X_train, y_train, X_test, y_test) as NumPy arrays."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), y_tr, scaler.transform(X_te), y_te


def estimator(library: str):
    """The estimator of ``library`` ("fastbp" or "sklearn") with the benchmark's settings."""
    if library == "fastbp":
        from fastbp.sklearn import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=(64,), solver="adam", random_state=0)


def fit_and_score(library: str, arrays) -> tuple[float, float]:
    """Seconds for 5 Incremental passes and the test score, on the current Dask client."""
    import dask.array as da
    import numpy as np
    from dask_ml.wrappers import Incremental

    X_tr, y_tr, X_te, y_te = arrays
    Xd = da.from_array(X_tr, chunks=(CHUNK, X_tr.shape[1]))
    yd = da.from_array(y_tr, chunks=CHUNK)
    Xt = da.from_array(X_te, chunks=(CHUNK, X_te.shape[1]))
    yt = da.from_array(y_te, chunks=CHUNK)
    start = time.perf_counter()
    inc = Incremental(estimator(library), scoring="accuracy", shuffle_blocks=False)
    for _ in range(PASSES):
        inc.partial_fit(Xd, yd, classes=np.arange(10))
    score = float(inc.score(Xt, yt))
    return time.perf_counter() - start, score


def _imports() -> None:
    """The modules both libraries' fits import, loaded on a worker (no kernel is called)."""
    import dask_ml.wrappers  # noqa: F401
    import sklearn.neural_network  # noqa: F401

    import fastbp.sklearn  # noqa: F401


def one_run(library: str, arrays) -> dict:
    """The three timings of one library, on two new 2-worker LocalClusters."""
    from distributed import Client, LocalCluster

    out = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster):
            out["fresh"], out["score"] = fit_and_score(library, arrays)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster) as client:
            client.run(_imports)
            out["imported"], _ = fit_and_score(library, arrays)
            out["warm"], _ = fit_and_score(library, arrays)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per library")
    args = parser.parse_args(argv)

    import dask
    import dask_ml
    import distributed
    import sklearn

    import fastbp

    arrays = data()
    print(
        f"digits {len(arrays[0])} train / {len(arrays[2])} test rows, chunks of {CHUNK}, "
        f"{PASSES} passes, MLPClassifier((64,), adam); LocalCluster(2 workers × 1 thread); "
        f"fastbp {fastbp.__version__}, scikit-learn {sklearn.__version__}, dask-ml "
        f"{dask_ml.__version__}, dask {dask.__version__}, distributed {distributed.__version__}; "
        f"FASTBP_CACHE_DIR={os.environ.get('FASTBP_CACHE_DIR', '(default)')}"
    )
    results: dict[str, list[dict]] = {"fastbp": [], "sklearn": []}
    for i in range(args.repeats):
        for library in results:  # alternate, so drifting machine load hits both
            r = one_run(library, arrays)
            results[library].append(r)
            print(
                f"run {i} {library:7s}: fresh {r['fresh']:.2f} s, imported "
                f"{r['imported']:.2f} s, warm {r['warm']:.2f} s, test accuracy {r['score']:.3f}"
            )
    medians: dict[str, dict[str, float]] = {}
    for library, rs in results.items():
        medians[library] = {}
        for kind in KINDS:
            values = [r[kind] for r in rs]
            medians[library][kind] = statistics.median(values)
            print(
                f"{library:7s} {kind:8s}: median {medians[library][kind]:.2f} s "
                f"[{min(values):.2f}–{max(values):.2f}] over {len(values)} runs"
            )
    for kind in KINDS:
        ratio = medians["sklearn"][kind] / medians["fastbp"][kind]
        print(f"{kind:8s}: scikit-learn / fastbp = {ratio:.2f} (above 1: fastbp faster)")


if __name__ == "__main__":
    main()
