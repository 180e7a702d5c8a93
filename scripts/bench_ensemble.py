"""Ensembles trained side by side (issue 26): fastbp.Ensemble against JAX, torch.func and threads.

Workloads (:data:`fastbp.workloads.ENSEMBLE_WORKLOADS`):

* W8: 16 members of W1 (8-32-32-1 ReLU, squared loss), member i with He-normal weights of
  seed i, its own learning rate (log-spaced 1e-3..1e-2) and shuffling seed i, per-example SGD
  over the same 20,000 rows; float64 and float32.
* W9: 64 members of 4-16-1 ReLU, squared loss, the same otherwise; float64.

Metric: million net-steps/s (members × rows / seconds of one epoch), the best and the median of
``--repeats`` epochs after a warm-up epoch.  Tools, their formulations and the correctness gate
are described in scripts/_peers/ensemble.py (the one implementation, shared with
``scripts/bench_peers.py --workloads W8,W9``): JAX ``vmap`` inside one ``lax.scan`` epoch (two
ways to feed the rows; the ratios use the faster), ``torch.func`` ``vmap(grad)`` eager and
through ``torch.compile``, fastbp's ``Network.fit`` member after member, a thread pool over
``Network.fit``, and ``fastbp.Ensemble.fit`` with ``n_jobs=1`` and ``n_jobs`` = the cores.

Each tool runs in its own process, one after another, pinned to ``--cores`` CPUs (default:
every CPU this process may use; ``--cpus`` names them), with every thread count (BLAS, OpenMP,
Numba, XLA, torch) set to their number.  Ratios are speed ratios from the same run (above 1:
the first tool is faster), from the medians and from the bests; issue 26's targets are marked
met or not.  The spread (max − min) / median of each tool's repeats and the load average before
and after are printed: on a shared machine, read the ratios with them.

Run::

    python scripts/bench_ensemble.py                               # W8 (both dtypes), W9
    python scripts/bench_ensemble.py --scale 0.01 --repeats 1     # smoke run, a minute
    python scripts/bench_ensemble.py --workloads W8 --dtypes float32 --cores 2 --json w8.json

A tool whose package is not installed, or ``fastbp.Ensemble`` before it exists, is reported
``missing`` and its ratios are kept with the reason.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _peers import ensemble  # noqa: E402

WORKLOADS = ("W8", "W9")
DTYPES = ("float64", "float32")


def _names(p: argparse.ArgumentParser, text: str, allowed, what: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    for name in names:
        if name not in allowed:
            p.error(f"unknown {what} {name!r}; choose from {', '.join(allowed)}")
    return names


def parse_cores(p: argparse.ArgumentParser, count: int | None, cpus: str | None) -> list[int]:
    """The CPUs of every child: ``--cpus`` as listed, else the first ``--cores`` allowed ones."""
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is not None:
        cores = sorted({int(c) for c in cpus.split(",") if c.strip()})
        if not cores or not set(cores) <= set(allowed):
            p.error(f"--cpus {cpus}: choose from the allowed CPUs {allowed}")
        return cores
    if count is None:
        return allowed
    if not 1 <= count <= len(allowed):
        p.error(f"--cores {count}: this process may use {len(allowed)} CPUs {allowed}")
    return allowed[:count]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="W8, W9 or both")
    p.add_argument("--dtypes", default=",".join(DTYPES), help="W9 runs float64 only")
    p.add_argument("--tools", default="all", help=f"from {', '.join(ensemble.TOOLS)}, or all")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs after the warm-up")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the rows (smoke runs)")
    p.add_argument("--cores", type=int, default=None, help="cores per tool (default: all)")
    p.add_argument("--cpus", default=None, help="which CPUs, e.g. 0,1 (overrides --cores)")
    p.add_argument("--json", default=None, help="write the results and ratios here")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per child process")
    args = p.parse_args(argv)
    args.workloads = _names(p, args.workloads, WORKLOADS, "workload")
    args.dtypes = _names(p, args.dtypes, DTYPES, "dtype")
    tools = ",".join(ensemble.TOOLS) if args.tools == "all" else args.tools
    args.tools = _names(p, tools, tuple(ensemble.TOOLS), "tool")
    if args.repeats < 1 or not 0 < args.scale <= 1:
        p.error("--repeats must be ≥ 1 and --scale in (0, 1]")
    args.cores = parse_cores(p, args.cores, args.cpus)
    return args


def header(args: argparse.Namespace, started, load: tuple[float, float], results) -> list[str]:
    """The report's first lines: machine, versions, settings, load and noise."""
    cpu = "unknown CPU"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict = {}
    for r in results:
        versions.update(r.get("versions") or {})
    noise = ensemble.median_spread(results)
    noise_text = "—" if noise is None else f"{100 * noise:.0f} %"
    return [
        f"# fastbp ensemble benchmark (W8, W9), {started:%Y-%m-%d %H:%M %Z}",
        "",
        f"- CPU: {cpu}, {os.cpu_count()} logical CPUs; every tool in its own process pinned to "
        f"{len(args.cores)} core(s) (CPU {','.join(map(str, args.cores))}), "
        f"{len(args.cores)} thread(s); Ensemble(all) and the pool use {len(args.cores)}",
        f"- Versions: Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        f"- Rows: {args.scale:g} × 20,000; {args.repeats} timed epochs after a warm-up; rates "
        "in million net-steps/s (members × rows / s)",
        f"- Load average (1 min): {load[0]:.2f} at the start, {load[1]:.2f} at the end; median "
        f"spread of the repeats (max − min) / median: {noise_text}. On a shared machine the "
        "numbers are noisy.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now().astimezone()
    load0 = os.getloadavg()[0]
    print(f"bench_ensemble: {', '.join(args.workloads)} × {', '.join(args.dtypes)} × "
          f"{len(args.tools)} tools; CPUs {args.cores}", file=sys.stderr)  # fmt: skip

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = ensemble.run(args.workloads, args.dtypes, args.tools, args.cores, args.repeats,
                           args.scale, args.timeout, log=log)  # fmt: skip
    ratio_rows = ensemble.ratios(results)
    load = (load0, os.getloadavg()[0])
    report = (
        "\n".join(header(args, started, load, results))
        + "\n"
        + ensemble.markdown(results, ratio_rows)
    )
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"date": started.isoformat(timespec="seconds"), "cores": args.cores,
                "n_cores": len(args.cores), "scale": args.scale, "repeats": args.repeats,
                "load": list(load), "median_spread": ensemble.median_spread(results),
                "tools": args.tools}  # fmt: skip
        out.write_text(json.dumps({"meta": meta, "results": results, "ratios": ratio_rows},
                                  indent=1, default=float))  # fmt: skip
        log(f"JSON: {out}")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
