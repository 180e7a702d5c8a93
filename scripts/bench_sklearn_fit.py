"""Fit time of ``fastbp.sklearn.MLPClassifier`` against scikit-learn's, at scikit-learn's defaults.

Datasets: iris, wine, breast cancer and digits from ``sklearn.datasets``, split 75/25
(stratified, ``random_state=0``) and standardised on the training part.  Estimators:
``MLPClassifier(hidden_layer_sizes=(64,), solver=S, random_state=0)`` with everything else at
scikit-learn's defaults (batch_size="auto" = min(200, n), max_iter=200, tol=1e-4,
n_iter_no_change=10), for S in adam and sgd; the same parameters for both libraries.

Each (library, dataset, solver) runs in its own process pinned to one core (``--core``), with
every thread count at 1 and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from its environment.
It fits once to warm up (fastbp compiles or loads its kernels; both import everything), then
``--repeats`` times; the fit time is the median.  Reported: median [min–max] seconds, epochs run
(n_iter_), test accuracy, and scikit-learn's median over fastbp's (above 1: fastbp is faster).

    python scripts/bench_sklearn_fit.py                 # 4 datasets × 2 solvers, 7 repeats
    python scripts/bench_sklearn_fit.py --quick         # 3 repeats
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

DATASETS = ("iris", "wine", "breast_cancer", "digits")
SOLVERS = ("adam", "sgd")
LIBRARIES = ("sklearn", "fastbp")


def child(job: dict) -> dict:
    import time
    import warnings

    from sklearn import datasets
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if job["library"] == "fastbp":
        from fastbp.sklearn import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    X, y = getattr(datasets, f"load_{job['dataset']}")(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for rep in range(job["repeats"] + 1):
            est = MLPClassifier(hidden_layer_sizes=(64,), solver=job["solver"], random_state=0)
            start = time.perf_counter()
            est.fit(X_train, y_train)
            if rep:  # the first fit warms up
                seconds.append(time.perf_counter() - start)
    accuracy = float(est.score(X_test, y_test))
    return {"status": "ok", "seconds": seconds, "n_iter": int(est.n_iter_), "accuracy": accuracy,
            "n_train": int(X_train.shape[0])}  # fmt: skip


def run_child(job: dict) -> dict:
    from _peers import env as peer_env

    return peer_env.run_script_child(str(Path(__file__).resolve()), job, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--core", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument(
        "--rounds", type=int, default=1,
        help="alternate the two libraries this many times and pool the fits (noisy machines)",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="3 repeats")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--solvers", default=",".join(SOLVERS))
    p.add_argument("--out", default="bench-sklearn-fit.json")
    args = p.parse_args(argv)
    if args.child:
        from _peers import env as peer_env

        job = json.loads(args.child)
        peer_env.pin(job["cores"], 1)
        try:
            res = child(job)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            res = {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}
        print(peer_env.MARKER + json.dumps(res), flush=True)
        return 0
    repeats = 3 if args.quick else args.repeats
    rows, results = [], []
    load0 = os.getloadavg()[0]
    for dataset in args.datasets.split(","):
        for solver in args.solvers.split(","):
            res: dict[str, dict] = {}
            for _ in range(args.rounds):  # alternate, so load from others hits both alike
                for library in LIBRARIES:
                    print(f"{dataset} {solver} {library}", file=sys.stderr, flush=True)
                    job = {"library": library, "dataset": dataset, "solver": solver,
                           "repeats": repeats, "cores": [args.core]}  # fmt: skip
                    got = run_child(job)
                    results.append(dict(job, **got))
                    if library in res and res[library].get("status") == "ok" == got.get("status"):
                        res[library]["seconds"] += got["seconds"]
                    elif res.get(library, {}).get("status") != "error":
                        res[library] = got
            sk, fb = res["sklearn"], res["fastbp"]
            if sk.get("status") != "ok" or fb.get("status") != "ok":
                rows.append(f"| {dataset} | {solver} | error | | | | | |")
                continue
            t_sk, t_fb = statistics.median(sk["seconds"]), statistics.median(fb["seconds"])
            rows.append(
                f"| {dataset} ({sk['n_train']} rows) | {solver} | {1e3 * t_sk:.3g} ms "
                f"[{1e3 * min(sk['seconds']):.3g}–{1e3 * max(sk['seconds']):.3g}] | "
                f"{1e3 * t_fb:.3g} ms [{1e3 * min(fb['seconds']):.3g}–"
                f"{1e3 * max(fb['seconds']):.3g}] | **{t_sk / t_fb:.2g}×** | "
                f"{sk['n_iter']} / {fb['n_iter']} | {sk['accuracy']:.3f} / {fb['accuracy']:.3f} |"
            )
    lines = [
        f"Fit time at scikit-learn's defaults, hidden_layer_sizes=(64,); median of "
        f"{repeats * args.rounds} fits ({args.rounds} alternating rounds of {repeats} after a "
        f"warm-up), each library in its own process pinned to CPU {args.core}; load "
        f"average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.",
        "",
        "| dataset | solver | scikit-learn | fastbp.sklearn | speed-up | epochs (sk / fb) | "
        "test accuracy (sk / fb) |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
    ]
    Path(args.out).write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
