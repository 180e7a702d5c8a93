"""Cold start: a newcomer's first calls on an empty kernel cache, as whole fresh processes.

Each run is a new Python process with its own empty ``FASTBP_CACHE_DIR``; what is timed is the
call itself (the wall seconds from just before it to just after it), except ``train``, which is
the whole ``fastbp train --no-progress`` command.  Scenarios:

* ``sklearn``: ``fastbp.sklearn.MLPClassifier().fit`` on digits (X / 16), the first call;
* ``hvp``: ``net.hvp`` on 64 rows of an 8-32-32-1 ReLU network, the process's first fastbp call;
* ``train``: ``fastbp train`` (the Quick start);
* ``warm``: the same three after ``fastbp warmup`` in that cache (what a warmed machine sees).

``--tree PATH`` runs another checkout beside this one (its ``fastbp`` first on ``PYTHONPATH``),
interleaved run by run, so that both see the same machine load: the before/after table on the
performance page comes from ``--tree`` pointing at the commit before the change.  Prints one
line per run and the medians.

    python scripts/bench_cold_start.py --reps 3 [--tree ../old-checkout] [--scenarios hvp train]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CALLS = {
    "sklearn": (
        "import time, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from sklearn.datasets import load_digits\n"
        "X, y = load_digits(return_X_y=True)\n"
        "import fastbp.sklearn as fs\n"
        "t = time.perf_counter(); fs.MLPClassifier().fit(X / 16, y)\n"
        "print(time.perf_counter() - t)\n"
    ),
    "hvp": (
        "import time\n"
        "import numpy as np, fastbp as fb\n"
        "net = fb.Network(fb.NetworkSpec([8, 32, 32, 1], 'relu', 'squared'), seed=0)\n"
        "X = np.random.default_rng(0).normal(size=(64, 8)); v = np.ones(net.n_params)\n"
        "t = time.perf_counter(); net.hvp(X, X[:, 0], v)\n"
        "print(time.perf_counter() - t)\n"
    ),
}


def _env(tree: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["FASTBP_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _fastbp(tree: Path, args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    code = "import sys; from fastbp.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - t0


def run_once(tree: Path, scenario: str, warm: bool) -> float:
    """Seconds of one scenario in a fresh process on an empty (or freshly warmed) cache."""
    cache = Path(tempfile.mkdtemp(prefix="fastbp-cold-"))
    try:
        env = _env(tree, cache)
        if warm:
            _fastbp(tree, ["warmup", "--no-progress"], env)
        if scenario == "train":
            return _fastbp(tree, ["train", "--no-progress"], env)
        out = subprocess.run([sys.executable, "-c", CALLS[scenario]], env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        return float(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3, help="runs per scenario and tree (default 3)")
    p.add_argument("--scenarios", nargs="+", default=["sklearn", "hvp", "train"],
                   choices=["sklearn", "hvp", "train"])  # fmt: skip
    p.add_argument("--warm", action="store_true", help="run fastbp warmup in the cache first")
    p.add_argument("--tree", type=Path, default=None, help="another checkout to run beside")
    p.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = p.parse_args(argv)
    trees = {"this": ROOT}
    if args.tree is not None:
        trees["other"] = args.tree.resolve()
    times: dict[str, dict[str, list[float]]] = {s: {t: [] for t in trees} for s in args.scenarios}
    for rep in range(args.reps):
        for scenario in args.scenarios:
            for name, tree in trees.items():
                seconds = run_once(tree, scenario, args.warm)
                times[scenario][name].append(seconds)
                print(f"run {rep + 1} {scenario:8s} {name:6s} {seconds:7.2f} s", flush=True)
    medians = {s: {t: statistics.median(v) for t, v in d.items()} for s, d in times.items()}
    for scenario, d in medians.items():
        print(f"median {scenario:8s} " + "  ".join(f"{t} {v:.2f} s" for t, v in d.items()))
    if args.json:
        print(json.dumps({"medians": medians, "runs": times, "warm": args.warm}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
