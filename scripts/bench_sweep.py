"""Wall time of a 32-configuration sweep on digits: serial against joblib and Dask.

The grid is 4 architectures × 2 learning rates × 2 batch sizes × 2 optimizers, 50 epochs each, on
the digits split of :func:`fastbp.sweep.prepare_data`.  Each backend runs the same grid:

* ``serial``: in this process;
* ``joblib``: ``n_jobs`` loky processes.  "cold" includes starting the pool, "warm" reuses it;
* ``dask``: a ``LocalCluster(n_workers=n_jobs, threads_per_worker=1)``.  "cold" is
  ``run(backend="dask")`` starting and closing its own cluster.  "warm" passes a running
  cluster's ``Client``, the usual case on a shared cluster.

For every backend it prints the wall time and the speed-up over serial.  "Σ fit" adds up the
fit times measured inside the tasks.  When it is well above the serial one, the workers did not
get a whole core each, because other processes were using the CPUs.  "overhead per task" is
``(workers · wall − Σ fit) / n_tasks``: the worker time each task takes besides its fit.  That
covers scheduling, data transfer, scoring, process start and warm-up, and idle workers.  The
CPU time the fits themselves need is not in it, so it stays meaningful on a shared machine.
It also checks that every table is bit-identical to the serial one (``seconds`` excepted).
Kernels are warmed up first in this process (and in the workers, by ``run``).  The machine's load
average is printed, because timings on a shared machine move with it.  Run::

    python scripts/bench_sweep.py [--n-jobs 2] [--epochs 20] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fastbp
from fastbp import sweep

GRID = {
    "hidden": [[64], [128], [64, 64], [128, 64]],
    "lr": [0.003, 0.01],
    "batch_size": [1, 8],
    "optimizer": ["sgd", "momentum"],
}


def same_tables(a: sweep.SweepResult, b: sweep.SweepResult) -> bool:
    for x, y in zip(a.rows, b.rows, strict=True):
        if not np.array_equal(x["params"], y["params"]):
            return False
        strip = ("params", *sweep.TIMING_FIELDS)
        if {k: v for k, v in x.items() if k not in strip} != {
            k: v for k, v in y.items() if k not in strip
        }:
            return False
    return True


def timed(fn) -> tuple[float, sweep.SweepResult]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs each")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    grid = dict(GRID, epochs=args.epochs)
    data = sweep.prepare_data("digits")
    n_tasks = len(sweep.expand_grid(grid))
    fastbp.warmup()
    load_before = os.getloadavg()
    print(f"{n_tasks} configurations on digits ({len(data.y_train)} training rows), "
          f"{args.epochs} epochs each; n_jobs = {args.n_jobs}; {os.cpu_count()} CPUs; "
          f"load average before: {load_before[0]:.2f}")  # fmt: skip

    def best(fn):
        runs = [timed(fn) for _ in range(args.repeats)]
        return min(runs, key=lambda r: r[0])

    def run(backend, **kw):
        return lambda: sweep.run(grid, data, backend=backend, n_jobs=args.n_jobs,
                                 progress=False, **kw)  # fmt: skip

    results = {}
    results["serial"] = best(run("serial"))
    results["joblib (cold pool)"] = timed(run("joblib"))
    results["joblib (warm pool)"] = best(run("joblib"))
    results["dask (own LocalCluster, cold)"] = best(run("dask"))
    with LocalCluster(n_workers=args.n_jobs, threads_per_worker=1, processes=True,
                      dashboard_address=":0", env=dict(sweep.SINGLE_THREAD_ENV)) as cluster, \
            Client(cluster) as client:  # fmt: skip
        client.run(fastbp.warmup)
        results["dask (running cluster)"] = best(run("dask", scheduler=client))
    load_after = os.getloadavg()

    serial_s, serial = results["serial"]
    task_s = np.array([r["seconds"] for r in serial.rows])
    print(f"serial: fit time per configuration {task_s.mean():.3f} s mean "
          f"({task_s.min():.3f}–{task_s.max():.3f} s)\n")  # fmt: skip
    print("| backend | wall (s) | speed-up vs serial | overhead per task (ms) | Σ fit (s) "
          "| identical |")  # fmt: skip
    print("|---|---:|---:|---:|---:|:---:|")
    for name, (wall, result) in results.items():
        fit_sum = sum(r["seconds"] for r in result.rows)
        workers = 1 if name == "serial" else args.n_jobs
        overhead = (workers * wall - fit_sum) / n_tasks * 1e3
        if name == "serial":
            print(f"| {name} | {wall:.2f} | 1.00× | {overhead:.0f} | {fit_sum:.2f} | – |")
            continue
        same = "yes" if same_tables(result, serial) else "NO"
        print(f"| {name} | {wall:.2f} | {serial_s / wall:.2f}× | {overhead:.0f} | {fit_sum:.2f} "
              f"| {same} |")  # fmt: skip
    print(f"\nload average after: {load_after[0]:.2f} (1 min), {load_after[1]:.2f} (5 min)")


if __name__ == "__main__":
    main()
