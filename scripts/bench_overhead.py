"""W7 (one-row calls from a Python loop) against numpy, JAX and PyTorch, and two-thread scaling.

See :mod:`_peers.w7` for what is timed and how.  Each tool runs in its own process pinned to one
core (``--cores``, default CPU 1) with every thread count at 1 and OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE removed from its environment; the concurrency job runs fastbp alone on two cores
(``--thread-cores``, default 0,1) with BLAS at one thread.

Run::

    python scripts/bench_overhead.py                      # W7 for all tools, then the threads job
    python scripts/bench_overhead.py --quick              # fewer calls and repeats
    python scripts/bench_overhead.py --tools fastbp,jax --rounds 3 --no-threads

It prints a Markdown report (median µs per call; in brackets the tool's time over fastbp's, so
above 1 means fastbp is faster) and writes JSON to ``--out``.  Tools that are not installed are
reported as missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _peers import small_batch, w7  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tools", default=",".join(w7.TOOLS), help="comma-separated, e.g. fastbp,jax")
    p.add_argument("--cores", default="1", help="CPU(s) each W7 process is pinned to")
    p.add_argument("--thread-cores", default="0,1", help="the two CPUs of the threads job")
    p.add_argument("--calls", type=int, default=2000, help="calls per timed block")
    p.add_argument("--repeats", type=int, default=15, help="timed blocks per op")
    p.add_argument("--rounds", type=int, default=1, help="sweep the tools this many times")
    p.add_argument("--quick", action="store_true", help="300 calls × 5 blocks; threads: 8 calls")
    p.add_argument("--no-threads", action="store_true", help="skip the two-thread job")
    p.add_argument("--no-w7", action="store_true", help="skip W7's peer comparison")
    p.add_argument(
        "--no-small", action="store_true",
        help="skip the small-batch job (4-64-64-2 float32, 32 rows, fastbp against PyTorch)",
    )  # fmt: skip
    p.add_argument(
        "--ablation", action="store_true",
        help="also time the one-row path step by step (what each change buys)",
    )  # fmt: skip
    p.add_argument("--out", default="bench-overhead.json", help="JSON results")
    args = p.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(args.tools) - set(w7.TOOLS)
    if unknown:
        p.error(f"unknown tools {sorted(unknown)}; allowed: {', '.join(w7.TOOLS)}")
    args.cores = [int(c) for c in args.cores.split(",")]
    args.thread_cores = [int(c) for c in args.thread_cores.split(",")]
    if len(args.thread_cores) != 2:
        p.error("--thread-cores needs two CPUs")
    if args.quick:
        args.calls, args.repeats = min(args.calls, 300), min(args.repeats, 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict = {"load_at_start": os.getloadavg()[0]}
    lines = ["# fastbp overhead benchmark (W7 and concurrent inference)", ""]
    if not args.no_w7:
        print(f"W7: {', '.join(args.tools)} on CPU {args.cores}", file=sys.stderr, flush=True)
        results = w7.run(args.tools, args.cores, args.calls, args.repeats, args.rounds)
        report["w7"] = results
        lines += [
            f"W7 on the W1 network (8-32-32-1, ReLU, float64): median µs per call over "
            f"{args.repeats * args.rounds} blocks of {args.calls} calls; (×) is the tool's time "
            "over fastbp's.",
            "",
            w7.markdown(results),
        ]
        for r in results:
            if r.get("status") != "ok":
                lines.append(f"- {r['label']}: {r.get('status')} {r.get('reason', '')}")
    if not args.no_small:
        print(f"small batches: fastbp and PyTorch on CPU {args.cores}", file=sys.stderr,
              flush=True)  # fmt: skip
        res = w7.run_small_batches(args.cores, args.calls, args.repeats)
        report["small"] = res
        lines += ["", "Small batches on a DQN-sized value net (4-64-64-2, ReLU, float32): median "
                  f"µs per call over {args.repeats} blocks of {args.calls} calls, both tools in "
                  "one pinned process, blocks interleaved (PyTorch at one thread).", "",
                  small_batch.markdown(res)]  # fmt: skip
    if args.ablation:
        print(f"ablation: fastbp on CPU {args.cores}", file=sys.stderr, flush=True)
        res = w7.run_ablations(args.cores, args.calls, args.repeats)
        report["ablation"] = res
        lines += ["", "What each change of the one-row path buys (W1, float64; median µs per call, "
                  "variants interleaved in one pinned process):", ""]  # fmt: skip
        if res.get("status") == "ok":
            lines += ["| variant | µs per call |", "|---|---:|"]
            lines += [f"| {k} | {v:.3g} |" for k, v in res["median_us"].items()]
        else:
            lines.append(f"ablation: {res.get('status')} {res.get('reason', '')}")
    if not args.no_threads:
        print(f"threads: fastbp on CPUs {args.thread_cores}", file=sys.stderr, flush=True)
        calls = 8 if args.quick else 40
        res = w7.run_concurrency(args.thread_cores, calls=calls, repeats=3 if args.quick else 7)
        report["threads"] = res
        lines.append("")
        if res.get("status") == "ok":
            s = sorted(res["speedups"])
            lines.append(
                f"Concurrent inference: {calls} × `net.predict` of 4,096 rows into 64-256-256-10 "
                f"(float64, BLAS at one thread) from one thread vs split over two threads on one "
                f"network, CPUs {args.thread_cores}: speed-up {res['speedup']:.2f}× (median of "
                f"{len(s)}; min {s[0]:.2f}, max {s[-1]:.2f}); CPU seconds per wall second during "
                f"the two-thread runs: {res['cpu_per_wall_two_threads']:.2f} (2 = both threads "
                "busy throughout)."
            )
        else:
            lines.append(f"Concurrent inference: {res.get('status')} {res.get('reason', '')}")
    report["load_at_end"] = os.getloadavg()[0]
    lines += ["", f"Load average (1 min): {report['load_at_start']:.2f} at the start, "
              f"{report['load_at_end']:.2f} at the end."]  # fmt: skip
    Path(args.out).write_text(json.dumps(report, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
