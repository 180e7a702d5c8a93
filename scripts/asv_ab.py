"""Every asv ``time_*`` benchmark on two commits, alternating processes: a regression check.

``asv continuous`` builds an environment per commit.  This script runs the same benchmark
classes (``asv_bench/benchmarks``, taken from the working tree, so both sides run the same
benchmark code) against a base commit, checked out into a temporary git worktree, and against
the working tree, without asv and without installing anything: each side is a child process
that puts its checkout first on ``sys.path``.  The sides alternate ``--rounds`` times, pinned to
one core (``--core``) with one BLAS thread, so that drift on a shared machine hits both alike.
For each benchmark a child runs ``setup`` once, calls the method until a block lasts about
20 ms, and keeps the best of 7 blocks; the report gives head / base for the minimum and the
median over rounds (below 1: the working tree is faster).

Run::

    python scripts/asv_ab.py --base 289ec02                 # everything, 3 rounds
    python scripts/asv_ab.py --base main --filter Epoch --rounds 5

``bench_peers`` (separate processes of its own), ``bench_lecture`` (track_ only) and
``bench_coldstart`` (whole processes) are left out.  Benchmarks that take ``setup_cache`` are
skipped; both sides use the kernel cache in ``FASTBP_CACHE_DIR`` (keyed on the kernels' source,
so the two commits never share compiled code).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "asv_bench" / "benchmarks"
SKIP = {"bench_peers.py", "bench_lecture.py", "bench_coldstart.py"}


def _combos(params) -> list[tuple]:
    """asv's parameter grid: ``params`` is a list of lists (a product) or one list."""
    if params is None:
        return [()]
    if isinstance(params, (list, tuple)) and params and isinstance(params[0], (list, tuple)):
        return list(itertools.product(*params))
    return [(p,) for p in params]


def run_child(tree: str, filt: str) -> dict[str, float]:
    """Time every matching benchmark against the fastbp in ``tree``: {name: best block (s)}."""
    sys.path.insert(0, tree)
    sys.path.insert(0, str(BENCH.parent))
    out: dict[str, float] = {}
    for path in sorted(BENCH.glob("bench_*.py")):
        if path.name in SKIP:
            continue
        spec = importlib.util.spec_from_file_location(f"benchmarks.{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        for cname, cls in inspect.getmembers(module, inspect.isclass):
            methods = [m for m in dir(cls) if m.startswith("time_")]
            if cls.__module__ != module.__name__ or not methods or hasattr(cls, "setup_cache"):
                continue
            for combo in _combos(getattr(cls, "params", None)):
                obj = cls()
                try:
                    if hasattr(obj, "setup"):
                        obj.setup(*combo)
                except NotImplementedError:  # asv's way of skipping a combination
                    continue
                for m in methods:
                    key = f"{path.stem}.{cname}.{m}{list(combo)}"
                    if filt and filt not in key:
                        continue
                    func = getattr(obj, m)
                    func(*combo)
                    start = time.perf_counter()
                    func(*combo)
                    inner = max(1, int(0.02 / max(time.perf_counter() - start, 1e-7)))
                    blocks = []
                    for _ in range(7):
                        start = time.perf_counter()
                        for _ in range(inner):
                            func(*combo)
                        blocks.append((time.perf_counter() - start) / inner)
                    out[key] = min(blocks)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", help="the commit to compare against (any git rev); required")
    p.add_argument("--rounds", type=int, default=3, help="alternations of the two sides (3)")
    p.add_argument("--filter", default="", help="only benchmarks whose name contains this")
    p.add_argument("--core", type=int, default=os.cpu_count() - 1 if os.cpu_count() else 0,
                   help="CPU to pin the children to (default: the last)")  # fmt: skip
    p.add_argument("--out", type=Path, help="also write the raw timings as JSON here")
    p.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one side in this process
    return p.parse_args(argv)


def _side(tree: str, args: argparse.Namespace) -> dict[str, float]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--child", tree, "--filter", args.filter]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(args.core), *cmd]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"asv_ab: the run on {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(base: list[dict], head: list[dict]) -> str:
    """Markdown table, sorted by head / base of the per-side minimum."""
    keys = sorted(set.intersection(*(set(r) for r in base + head)))
    rows = []
    for k in keys:
        b, h = [r[k] for r in base], [r[k] for r in head]
        rows.append(
            (min(h) / min(b), statistics.median(h) / statistics.median(b), k, min(b), min(h))
        )
    rows.sort()
    lines = [
        "| head / base (min) | (median) | benchmark | base | head |",
        "|---:|---:|---|---:|---:|",
    ]
    for r_min, r_med, k, b, h in rows:
        lines.append(
            f"| {r_min:.3f} | {r_med:.3f} | `{k}` | {b * 1e6:,.2f} µs | {h * 1e6:,.2f} µs |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args.child, args.filter)))
        return 0
    if not args.base:
        raise SystemExit("asv_ab: --base REV is required (the commit to compare against)")
    with tempfile.TemporaryDirectory(prefix="fastbp-asv-ab-") as tmp:
        base_tree = str(Path(tmp) / "base")
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", base_tree, args.base], check=True,
                       capture_output=True)  # fmt: skip
        try:
            base, head = [], []
            for i in range(args.rounds):
                base.append(_side(base_tree, args))
                head.append(_side(str(ROOT), args))
                print(f"round {i + 1}/{args.rounds}: {len(head[-1])} benchmarks", file=sys.stderr)
        finally:
            subprocess.run([*git, "remove", "--force", base_tree], check=False,
                           capture_output=True)  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({"base": base, "head": head}, indent=1))
    print(f"# asv A/B: working tree against {args.base}, {args.rounds} rounds, CPU {args.core}\n")
    print(report(base, head))
    return 0


if __name__ == "__main__":
    sys.exit(main())
