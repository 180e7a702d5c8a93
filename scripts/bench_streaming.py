"""Streaming with the estimators: ``partial_fit`` of fastbp.sklearn against scikit-learn's.

The workload of issue 25: ``MLPClassifier(hidden_layer_sizes=(64,), solver="adam",
random_state=0)`` on digits (standardised), fed in blocks of 300 rows.  Measured, for each
library, in processes pinned to one core with every thread count at 1 and OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE removed from the environment:

* ``steady``: one ``partial_fit`` call once the estimator is running (median of ``--calls``);
* ``pickle``: ``pickle.loads(pickle.dumps(est))`` then one ``partial_fit`` call (median);
* ``first_call``: the first ``partial_fit`` of a fresh process, after the imports and the data
  (fastbp's kernels come from its disk cache, which a warm-up process fills first); median over
  ``--fresh`` processes;
* ``import_and_first``: the same processes, from before ``import`` of the estimator's module to
  the end of the first call;
* ``first_call_2cores``, ``import_and_first_2cores``: the same in processes allowed on every
  core (fastbp loads its kernels in a background thread, :mod:`fastbp.preload`, which a second
  core lets overlap with the program's own work);

dask-ml's ``Incremental`` end to end is ``scripts/bench_dask_incremental.py``.

Each figure is reported as a median [min–max] and as scikit-learn's median over fastbp's (above 1:
fastbp is faster).  The libraries alternate (``--rounds``) so that load from other processes hits
both alike; the load average is printed with the results.

    python scripts/bench_streaming.py                  # 30 calls, 5 fresh processes, 2 rounds
    python scripts/bench_streaming.py --quick          # fewer calls and processes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

T_START = time.perf_counter()  # before any import of numpy, sklearn or fastbp (fresh processes)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

LIBRARIES = ("sklearn", "fastbp")
BLOCK = 300
HIDDEN = (64,)
FIGURES = (
    "steady",
    "pickle",
    "first_call",
    "import_and_first",
    "first_call_2cores",
    "import_and_first_2cores",
)


def _estimator_class(library: str):
    if library == "fastbp":
        from fastbp.sklearn import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    return MLPClassifier


def _digits():
    import numpy as np
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)
    return np.ascontiguousarray(X), y, np.unique(y)


def child_fresh(job: dict) -> dict:
    """One fresh process: import, load the data, time the first partial_fit."""
    t0 = time.perf_counter()
    cls = _estimator_class(job["library"])
    X, y, classes = _digits()
    est = cls(hidden_layer_sizes=HIDDEN, random_state=0)
    start = time.perf_counter()
    est.partial_fit(X[:BLOCK], y[:BLOCK], classes=classes)
    end = time.perf_counter()
    suffix = "_2cores" if len(job["cores"]) > 1 else ""
    return {"status": "ok", f"first_call{suffix}": [end - start],
            f"import_and_first{suffix}": [end - T_START], "setup": start - t0}  # fmt: skip


def child_steady(job: dict) -> dict:
    """Steady-state calls and pickle round trips in one process."""
    import pickle
    import warnings

    cls = _estimator_class(job["library"])
    X, y, classes = _digits()
    blocks = [(X[i : i + BLOCK], y[i : i + BLOCK]) for i in range(0, 5 * BLOCK, BLOCK)]
    est = cls(hidden_layer_sizes=HIDDEN, random_state=0)
    steady, pickled = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(*blocks[0], classes=classes)
        for k in range(10):  # warm-up
            est.partial_fit(*blocks[k % 5])
        for k in range(job["calls"]):
            xb, yb = blocks[k % 5]
            start = time.perf_counter()
            est.partial_fit(xb, yb)
            steady.append(time.perf_counter() - start)
        for k in range(max(5, job["calls"] // 3)):
            xb, yb = blocks[k % 5]
            start = time.perf_counter()
            other = pickle.loads(pickle.dumps(est))
            other.partial_fit(xb, yb)
            pickled.append(time.perf_counter() - start)
    accuracy = float(est.score(X[5 * BLOCK :], y[5 * BLOCK :]))
    return {"status": "ok", "steady": steady, "pickle": pickled, "accuracy": accuracy}


def run_child(job: dict) -> dict:
    from _peers import env as peer_env

    return peer_env.run_script_child(str(Path(__file__).resolve()), job, str(ROOT))


def _pool(into: dict, got: dict) -> None:
    if got.get("status") != "ok":
        into.setdefault("errors", []).append(got.get("reason", "?"))
        return
    for key, value in got.items():
        if isinstance(value, list):
            into.setdefault(key, []).extend(value)
        elif key == "accuracy":
            into[key] = value


def measure(calls: int, fresh: int, rounds: int, core: int) -> dict[str, dict]:
    """Every figure for both libraries, alternating; returns {library: {figure: [seconds]}}."""
    res: dict[str, dict] = {lib: {} for lib in LIBRARIES}
    for lib in LIBRARIES:  # fill fastbp's kernel cache (and warm the OS file cache) first
        run_child({"kind": "fresh", "library": lib, "cores": [core]})
    for _ in range(rounds):
        for lib in LIBRARIES:
            print(f"steady {lib}", file=sys.stderr, flush=True)
            _pool(res[lib], run_child({"kind": "steady", "library": lib, "calls": calls,
                                       "cores": [core]}))  # fmt: skip
            for _ in range(fresh):
                _pool(res[lib], run_child({"kind": "fresh", "library": lib, "cores": [core]}))
            for _ in range(fresh):  # both cores: fastbp's background loading can overlap
                _pool(res[lib], run_child({"kind": "fresh", "library": lib,
                                           "cores": sorted(os.sched_getaffinity(0))}))  # fmt: skip
    return res


def _cell(seconds: list[float], unit: float = 1e3, suffix: str = "ms") -> str:
    med = statistics.median(seconds)
    return (f"{med * unit:.3g} {suffix} [{min(seconds) * unit:.3g}–{max(seconds) * unit:.3g}]"
            if seconds else "–")  # fmt: skip


def markdown(res: dict[str, dict], load: tuple[float, float], core: int) -> str:
    names = {
        "steady": "one `partial_fit` call, steady state",
        "pickle": "pickle round trip, then one call",
        "first_call": "first call in a fresh process (kernels cached), one core",
        "import_and_first": "fresh process: import, data, first call, one core",
        "first_call_2cores": "first call in a fresh process, all cores",
        "import_and_first_2cores": "fresh process: import, data, first call, all cores",
    }
    lines = [
        f"`partial_fit` on digits in blocks of {BLOCK} rows, hidden {HIDDEN}, adam; each library "
        f"in processes pinned to CPU {core} with one thread; median [min–max]; ratio = "
        f"scikit-learn / fastbp. Load average {load[0]:.2f} at the start, {load[1]:.2f} at the "
        "end.",
        "",
        "| | fastbp | scikit-learn | ratio |",
        "|---|---:|---:|---:|",
    ]
    sk, fb = res["sklearn"], res["fastbp"]
    for fig in FIGURES:
        if fb.get(fig) and sk.get(fig):
            ratio = statistics.median(sk[fig]) / statistics.median(fb[fig])
            lines.append(f"| {names[fig]} | {_cell(fb[fig])} | {_cell(sk[fig])} | "
                         f"**{ratio:.2f}×** |")  # fmt: skip
    lines.extend(f"\n{lib} error: {err}" for lib in LIBRARIES for err in res[lib].get("errors", []))
    if "accuracy" in sk and "accuracy" in fb:
        lines.append(f"\nHeld-out accuracy after the steady calls: fastbp {fb['accuracy']:.3f}, "
                     f"scikit-learn {sk['accuracy']:.3f}.")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--core", type=int, default=1, help="the CPU each child is pinned to")
    p.add_argument("--calls", type=int, default=30, help="steady-state calls per process")
    p.add_argument("--fresh", type=int, default=5, help="fresh processes per library and round")
    p.add_argument("--rounds", type=int, default=2, help="alternate the libraries this often")
    p.add_argument("--quick", action="store_true", help="10 calls, 2 fresh processes, 1 round")
    p.add_argument("--out", default="bench-streaming.json", help="JSON results")
    args = p.parse_args(argv)
    if args.child:
        from _peers import env as peer_env

        job = json.loads(args.child)
        peer_env.pin(job["cores"], 1)
        try:
            res = child_fresh(job) if job["kind"] == "fresh" else child_steady(job)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            res = {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}
        print(peer_env.MARKER + json.dumps(res), flush=True)
        return 0
    if args.quick:
        args.calls, args.fresh, args.rounds = 10, 2, 1
    load0 = os.getloadavg()[0]
    res = measure(args.calls, args.fresh, args.rounds, args.core)
    load = (load0, os.getloadavg()[0])
    Path(args.out).write_text(json.dumps({"results": res, "load": load}, indent=1))
    print(markdown(res, load, args.core))
    return 0


if __name__ == "__main__":
    sys.exit(main())
