"""fastbp.circuit against JAX and PyTorch on the same random circuits.

Every library evaluates the same tape (``fastbp.circuit.random_circuit``: every op, no dead
code) in float64 on one core and returns the outputs and the gradient with respect to the inputs:

* fastbp: ``Circuit.value_and_gradient`` (one forward and one reverse sweep, compiled once for
  every circuit);
* JAX: the tape unrolled into a Python function f(x), then ``jit(vmap(value_and_grad(f)))`` for a
  batch or ``jit(value_and_grad(f))`` for one point; compile time is reported separately, and
  JAX runs in a child process (XLA's spinning worker threads would otherwise slow whatever is
  timed after it);
* PyTorch: the tape run eagerly on tensors of the batch, then ``backward()`` (autograd).

A library that is not importable is reported as "missing"; a run that would take too long is
reported as "skipped" with the reason.  Times are medians of ``--repeats`` (≥ 7) repeats; each
PyTorch is timed in pairs with fastbp (fastbp, torch, fastbp, torch, ...) and its ratio is the
median of the per-pair ratios, so that load from other processes does not tilt it; CPU time
(``process_time``) is reported beside wall time because on a shared machine it leaves out the
time a process spends descheduled.
Time to first gradient is measured in fresh processes: import, build from the tape, first
gradient (fastbp with its Numba cache warm, and cold with an empty cache so that the kernels
compile).

    PYTHONPATH=. python scripts/bench_circuits.py [--quick] [--out results.json]

Install the peers with ``pip install torch==2.13.0`` (that exact CPU build) and
``pip install jax jaxlib``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

# One core for every library (set before the peers are imported).
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from fastbp import circuit as fc  # noqa: E402
from fastbp.circuit import ops as O  # noqa: E402

#: Skip a peer when one call is estimated to take longer than this.
MAX_SECONDS_PER_CALL = 10.0
#: Skip JAX above this many nodes: XLA compile time grows faster than N on an unrolled tape.
JAX_MAX_NODES = 2_000


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call, after an untimed one.  On a shared
    machine the CPU time is the better measure of work done on one core: it leaves out time spent
    descheduled."""
    gc.collect()  # garbage left by the previous call (autograd graphs) is not charged to this one
    fn()  # ... and neither are the caches gc.collect just flushed: warm them with one more call
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def median_time(fn, repeats: int) -> tuple[float, float]:
    """Median wall and median CPU seconds over ``repeats`` calls, after one warm-up call."""
    fn()
    samples = np.array([timed(fn) for _ in range(repeats)])
    return float(np.median(samples[:, 0])), float(np.median(samples[:, 1]))


def paired_times(fast, peer, repeats: int) -> dict:
    """Time fastbp and a peer back to back, ``repeats`` times: medians of each and the median of
    the per-pair ratios peer/fastbp (wall and CPU), so that load from other processes on a
    shared machine tilts single pairs, not the ratio."""
    fast()
    peer()
    pairs = np.array([[*timed(fast), *timed(peer)] for _ in range(repeats)])
    return {
        "median_s": float(np.median(pairs[:, 2])),
        "cpu_median_s": float(np.median(pairs[:, 3])),
        "fastbp_median_s_in_pairs": float(np.median(pairs[:, 0])),
        "ratio_vs_fastbp": float(np.median(pairs[:, 2] / pairs[:, 0])),
        "cpu_ratio_vs_fastbp": float(np.median(pairs[:, 3] / np.maximum(pairs[:, 1], 1e-9))),
    }


# ----------------------------------------------------------------------------- peers


def jax_function(tape: dict):
    """The tape as a Python function of x (l,) built from jax.numpy ops, for tracing."""
    import jax
    import jax.numpy as jnp

    unary = {
        O.NEG: jnp.negative, O.SIN: jnp.sin, O.COS: jnp.cos, O.EXP: jnp.exp, O.LOG: jnp.log,
        O.SQRT: jnp.sqrt, O.TANH: jnp.tanh, O.SIGMOID: jax.nn.sigmoid, O.RELU: jax.nn.relu,
        O.SOFTPLUS: jax.nn.softplus,
    }  # fmt: skip
    ops, a0, a1, cs = tape["ops"], tape["arg0"], tape["arg1"], tape["consts"]
    inputs, out = tape["inputs"], tape["outputs"][0]

    def f(x):
        v = [None] * len(ops)
        for k, node in enumerate(inputs):
            v[node] = x[k]
        for i, op in enumerate(ops):
            if op == O.INPUT:
                continue
            if op == O.CONST:
                v[i] = jnp.asarray(cs[i])
            elif op == O.ADD:
                v[i] = v[a0[i]] + v[a1[i]]
            elif op == O.SUB:
                v[i] = v[a0[i]] - v[a1[i]]
            elif op == O.MUL:
                v[i] = v[a0[i]] * v[a1[i]]
            elif op == O.DIV:
                v[i] = v[a0[i]] / v[a1[i]]
            elif op == O.POWC:
                v[i] = v[a0[i]] ** cs[i]
            else:
                v[i] = unary[op](v[a0[i]])
        return v[out]

    return f


def jax_runner(tape: dict, X: np.ndarray, batch: bool):
    import jax

    jax.config.update("jax_enable_x64", True)
    vg = jax.value_and_grad(jax_function(tape))
    fn = jax.jit(jax.vmap(vg) if batch else vg)
    t0 = time.perf_counter()
    compiled = fn.lower(X if batch else X[0]).compile()
    compile_s = time.perf_counter() - t0

    def run():
        value, grad = compiled(X if batch else X[0])
        return np.asarray(jax.block_until_ready(grad))

    return run, compile_s, jax.__version__


def torch_runner(tape: dict, X: np.ndarray):
    import torch

    torch.set_num_threads(1)
    ops, a0, a1, cs = tape["ops"], tape["arg0"], tape["arg1"], tape["consts"]
    inputs, out = tape["inputs"], tape["outputs"][0]
    F = torch.nn.functional
    unary = {
        O.NEG: torch.neg, O.SIN: torch.sin, O.COS: torch.cos, O.EXP: torch.exp,
        O.LOG: torch.log, O.SQRT: torch.sqrt, O.TANH: torch.tanh, O.SIGMOID: torch.sigmoid,
        O.RELU: torch.relu, O.SOFTPLUS: F.softplus,
    }  # fmt: skip
    B = X.shape[0]

    def run():
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        v = [None] * len(ops)
        for k, node in enumerate(inputs):
            v[node] = x[:, k]
        for i, op in enumerate(ops):
            if op == O.INPUT:
                continue
            if op == O.CONST:
                v[i] = torch.full((B,), cs[i], dtype=torch.float64)
            elif op == O.ADD:
                v[i] = v[a0[i]] + v[a1[i]]
            elif op == O.SUB:
                v[i] = v[a0[i]] - v[a1[i]]
            elif op == O.MUL:
                v[i] = v[a0[i]] * v[a1[i]]
            elif op == O.DIV:
                v[i] = v[a0[i]] / v[a1[i]]
            elif op == O.POWC:
                v[i] = v[a0[i]] ** cs[i]
            else:
                v[i] = unary[op](v[a0[i]])
        v[out].sum().backward()  # rows are independent: x.grad row p = ∇f(x_p)
        return x.grad.numpy()

    return run, torch.__version__


def importable(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it (JAX starts thread pools)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # e.g. sys.modules[name] is None
        return False


def jax_in_subprocess(c, X: np.ndarray, batch: bool, repeats: int) -> dict:
    """Compile and time JAX in a child process.  XLA's worker threads keep spinning after a call
    and would slow (and bill CPU time to) whatever runs next in the same process, fastbp
    included; a child keeps them away from the other measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        c.save(os.path.join(tmp, "circuit.npz"))
        np.save(os.path.join(tmp, "X.npy"), X)
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--jax-worker", tmp,
             "--repeats", str(repeats)] + (["--batch"] if batch else []),
            capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        if proc.returncode != 0:
            return {"status": "failed", "stderr": proc.stderr[-2000:]}
        with open(os.path.join(tmp, "result.json")) as fh:
            result = json.load(fh)
        result["grad"] = np.atleast_2d(np.load(os.path.join(tmp, "grad.npy")))
        return result


def jax_worker(folder: str, batch: bool, repeats: int) -> int:
    c = fc.Circuit.load(os.path.join(folder, "circuit.npz"))
    X = np.load(os.path.join(folder, "X.npy"))
    tape = {k: v.tolist() for k, v in c.to_arrays().items()}
    run, compile_s, version = jax_runner(tape, X, batch)
    np.save(os.path.join(folder, "grad.npy"), run())
    t, cpu = median_time(run, repeats)
    result = {"status": "ok", "version": version, "compile_s": compile_s, "median_s": t,
              "cpu_median_s": cpu}  # fmt: skip
    with open(os.path.join(folder, "result.json"), "w") as fh:
        json.dump(result, fh)
    return 0


# ----------------------------------------------------------------------------- cases


def run_case(name, n_nodes, batch, n_inputs, repeats, have):
    c = fc.random_circuit(n_nodes, n_inputs, seed=n_nodes)
    tape = {k: v.tolist() for k, v in c.to_arrays().items()}
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (batch or 1, n_inputs))
    points = X.shape[0]
    x_arg = X if batch else X[0]
    fast = lambda: c.value_and_gradient(x_arg)[1]  # noqa: E731
    reference = np.atleast_2d(fast())
    t_fast, cpu_fast = median_time(fast, repeats)
    case = {
        "case": name,
        "N": n_nodes,
        "l": n_inputs,
        "points": points,
        "op_counts": c.op_counts(),
        "fastbp": {
            "median_s": t_fast,
            "cpu_median_s": cpu_fast,
            "nodes_per_s": n_nodes * points / t_fast,
            "nodes_per_cpu_s": n_nodes * points / cpu_fast,
        },
    }
    print(
        f"\n[{name}] N = {n_nodes:,} nodes, l = {n_inputs}, {points} point(s): forward + reverse\n"
        f"  fastbp : {t_fast * 1e3:10.3f} ms   {n_nodes * points / t_fast / 1e6:8.1f} M nodes/s "
        f"(CPU time {cpu_fast * 1e3:.3f} ms: {n_nodes * points / cpu_fast / 1e6:.1f} M nodes per "
        f"CPU-second)"
    )
    # PyTorch
    if not have["torch"]:
        case["torch"] = {"status": "missing"}
    else:
        run, version = torch_runner(tape, X)
        t0 = time.perf_counter()
        grad = np.atleast_2d(run())
        once = time.perf_counter() - t0
        if once * (repeats + 1) > MAX_SECONDS_PER_CALL * 2 and once > MAX_SECONDS_PER_CALL / 4:
            case["torch"] = {
                "status": f"skipped: one call took {once:.1f} s, too long for {repeats} repeats",
                "single_call_s": once,
                "ratio_vs_fastbp_single_call": once / t_fast,
            }
        else:
            case["torch"] = {
                "status": "ok",
                "version": version,
                **paired_times(fast, run, repeats),
                "max_abs_diff_vs_fastbp": float(np.max(np.abs(grad - reference))),
            }
    # JAX
    if not have["jax"]:
        case["jax"] = {"status": "missing"}
    elif n_nodes > JAX_MAX_NODES:
        case["jax"] = {
            "status": f"skipped: XLA compile time of the unrolled tape grows faster than N "
            f"(limit {JAX_MAX_NODES:,} nodes here)"
        }
    else:
        r = jax_in_subprocess(c, X, bool(batch), repeats)
        if r["status"] == "ok":
            r["ratio_vs_fastbp"] = r["median_s"] / t_fast
            r["cpu_ratio_vs_fastbp"] = r["cpu_median_s"] / cpu_fast
            r["fastbp_median_s_in_pairs"] = t_fast
            r["max_abs_diff_vs_fastbp"] = float(np.max(np.abs(r.pop("grad") - reference)))
        case["jax"] = r
    for peer in ("torch", "jax"):
        r = case[peer]
        if r["status"] == "ok":
            extra = (
                f"   (compile {r['compile_s']:.2f} s; timed in a child process beside fastbp's "
                f"solo run)"
                if "compile_s" in r
                else ""
            )
            print(
                f"  {peer:<6} : {r['median_s'] * 1e3:10.3f} ms   {r['ratio_vs_fastbp']:8.1f}x "
                f"fastbp's time, {r['cpu_ratio_vs_fastbp']:.1f}x its CPU time (fastbp "
                f"{r['fastbp_median_s_in_pairs'] * 1e3:.3f} ms in the same pairs){extra}; "
                f"max |grad diff| {r['max_abs_diff_vs_fastbp']:.1e}"
            )
        else:
            print(f"  {peer:<6} : {r['status']}")
    return case, c, X


FIRST_GRADIENT = r"""
import json, os, sys, time
t0 = time.perf_counter()
lib, path = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
import numpy as np
data = np.load(path, allow_pickle=False)
X = data["X"]
if lib == "fastbp":
    from fastbp import circuit as fc
    t1 = time.perf_counter()
    c = fc.Circuit.load(path.replace(".points.npz", ".circuit.npz"))
    g = c.gradient(X)
else:
    sys.path.insert(0, os.path.dirname(sys.argv[4]))
    import bench_circuits as bc
    from fastbp import circuit as fc
    c = fc.Circuit.load(path.replace(".points.npz", ".circuit.npz"))
    tape = {k: v.tolist() for k, v in c.to_arrays().items()}
    if lib == "jax":
        import jax
        t1 = time.perf_counter()
        run, _, _ = bc.jax_runner(tape, X, True)
    else:
        import torch
        t1 = time.perf_counter()
        run, _ = bc.torch_runner(tape, X)
    g = run()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_gradient_s": t2 - t1, "total_s": t2 - t0}))
"""


def time_to_first_gradient(c, X, have):
    """Fresh processes: import, build from the tape, first batch gradient."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "case")
        c.save(base + ".circuit.npz")
        np.savez(base + ".points.npz", X=X)
        runs = [("fastbp (warm Numba cache)", "fastbp", {}),
                ("fastbp (cold cache: compiles the kernels)", "fastbp",
                 {"NUMBA_CACHE_DIR": os.path.join(tmp, "numba_cache")})]  # fmt: skip
        runs += [(lib, lib, {}) for lib in ("jax", "torch")]
        for label, lib, env_extra in runs:
            if lib != "fastbp" and not have[lib]:
                results[label] = {"status": "missing"}
                print(f"  {label:<42}: missing")
                continue
            env = {**os.environ, **env_extra}
            proc = subprocess.run(
                [sys.executable, "-c", FIRST_GRADIENT, lib, base + ".points.npz", ROOT,
                 os.path.abspath(__file__)],
                capture_output=True, text=True, env=env, timeout=600,
            )  # fmt: skip
            if proc.returncode != 0:
                results[label] = {"status": "failed", "stderr": proc.stderr[-2000:]}
            else:
                results[label] = {
                    "status": "ok",
                    **json.loads(proc.stdout.strip().splitlines()[-1]),
                }
            r = results[label]
            if r["status"] == "ok":
                print(
                    f"  {label:<42}: import {r['import_s']:6.2f} s, build + first gradient "
                    f"{r['first_gradient_s']:7.2f} s"
                )
            else:
                print(f"  {label:<42}: {r['status']}")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller circuits")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (>= 7)")
    parser.add_argument("--out", help="write the results as JSON to this file")
    parser.add_argument("--jax-worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = max(7, args.repeats)
    if args.jax_worker:
        return jax_worker(args.jax_worker, args.batch, repeats)
    have = {name: importable(name) for name in ("jax", "torch")}
    load_at_start = list(os.getloadavg())
    fc.random_circuit(10, 2).value_and_gradient(np.zeros((2, 2)))  # compile / load the cache
    fc.random_circuit(10, 2).value_and_gradient(np.zeros(2))
    if args.quick:
        cases = [("batch", 300, 256), ("single", 300, None), ("single-large", 100_000, None)]
    else:
        cases = [("batch", 1_000, 1_024), ("single", 1_000, None),
                 ("single-large", 1_000_000, None)]  # fmt: skip
    print(
        f"fastbp.circuit vs peers; float64, one core; medians of {repeats} repeats. "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')!r} (elementwise ops only: BLAS "
        f"is not involved); load average {load_at_start[0]:.2f} on {os.cpu_count()} cores"
    )
    results = []
    first = None
    for name, n_nodes, batch in cases:
        case, c, X = run_case(name, n_nodes, batch, 16, repeats, have)
        results.append(case)
        if name == "batch":
            first = (c, X)
    print(f"\n[time to first gradient] batch case, N = {first[0].n_nodes:,}, B = {len(first[1])}")
    ttfg = time_to_first_gradient(*first, have)
    report = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "numpy": np.__version__,
            "numba": __import__("numba").__version__,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "load_average_at_start": load_at_start,
            "load_average_at_end": list(os.getloadavg()),
        },
        "repeats": repeats,
        "quick": args.quick,
        "cases": results,
        "time_to_first_gradient": ttfg,
    }
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=2)
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
