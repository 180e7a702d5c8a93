"""fastbp against plain numpy, PyTorch, JAX and scikit-learn on the workloads W1–W6 (and W7–W9).

Workloads (W1–W3 from :mod:`fastbp.workloads`; W4–W6 defined here):

* W1–W3: one epoch of plain SGD in data order (steps/s, or samples/s for W3), float64 and
  float32.  ``--activations tanh,gelu,...`` reruns each of them with each hidden activation
  (the same on every tool; default: the workload's own) and adds a table with a row per
  activation: every tool's median and fastbp's speed-up over each peer.  The numpy, handloop
  and scikit-learn peers implement ReLU only and are reported n/a for the others.
* W4: time(loss and gradient) / time(forward) on the W2 network at batch 1 and 128.
* W5: time(Hessian-vector product) / time(loss and gradient), same network and batches
  (fastbp ``net.hvp``; JAX ``jvp`` of ``grad``; ``torch.func`` ``jvp`` of ``grad``), and the
  Gauss-Newton product G v = Jᵀ H_loss J v (fastbp ``net.gnvp``; JAX and ``torch.func``: ``jvp``
  of the forward, then its ``vjp``), timed interleaved with H v and the gradient; a second table
  puts H v and G v µs per call and fastbp's speed-up over each peer side by side, in float64
  and float32 at batch 1 and 128 (medians from the tools' separate child processes).
* W6: cold start, a fresh process from spawn until the first W1 training step is done; for
  fastbp with the on-disk caches warm, cold (``NUMBA_CACHE_DIR`` and ``FASTBP_CACHE_DIR`` empty
  directories), and "new spec": fastbp's own kernels cached but the spec-specialised kernel
  generated and compiled in that process (an empty ``FASTBP_CACHE_DIR``).

Run only when named: W7 (one-row calls, scripts/_peers/w7.py) and W8, W9 (ensembles of issue
26: ``fastbp.Ensemble`` against JAX ``vmap``, ``torch.func``, a thread pool and a loop over
``Network.fit``; scripts/_peers/ensemble.py, the implementation ``scripts/bench_ensemble.py``
runs).  W8/W9 children are pinned to every CPU this process may use, whatever ``--threads``,
since the ensemble tools are parallel; their peers follow ``--peers`` (fastbp: the loop, the
pool and both Ensemble rows; torch: ``torch-func``; torch-compile: ``torch-func-compile``; jax:
both ``vmap`` variants).

The hand-written ``@njit`` loop (``handloop``, scripts/_peers/tool_handloop.py) is a yardstick,
not a peer: per-example SGD written for exactly W1/W2's network, with no generality and no
divergence checks.  It runs in W1 and W2 only.  W6 has two yardsticks: ``numba-import``, a
process that only imports numba, and ``numba-cached``, one that imports numba and calls one
cached ``@njit`` function (the floor for any library on Numba's on-disk cache).  W6 children
run with Python's bytecode cache on, in a temporary ``PYTHONPYCACHEPREFIX`` that the first,
untimed run of each fills, as an installed package has its ``.pyc`` files (a checkout run with
``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile fastbp's sources in every process).

Formulations.  ``jax-jit``/``jax-scan``: a jitted SGD step per batch, or the epoch in one
``lax.scan``, weights kept as Vₖ = Wₖᵀ (the fastest found, see tool_jax.py).  ``torch``: eager
``nn.Sequential`` + ``optim.SGD``.  ``torch-compile``: a functional ``torch.func.grad`` SGD step
through ``torch.compile(fullgraph=True)`` (inductor), called per batch (see tool_torch.py).

Method.  Each tool × workload × dtype runs in its own subprocess, one at a time, pinned to one
core (``os.sched_setaffinity``) with every thread count set to 1 before numpy/torch/jax load
(``--threads 2``: both cores, 2 threads).  OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which slow a
current numpy, are removed from the children's environment and the BLAS kernel threadpoolctl
reports is recorded.  Every tool starts from fastbp's He-normal initial parameters on the same
data.  Before anything is timed it must pass the correctness gate: its first SGD step (W1–W3),
gradient (W4) or H v and G v (W5) must match fastbp's to rtol 1e-6 in float64, 1e-3 in float32
(normwise, max|Δ| ≤ rtol·max|ref|); a tool that does not is reported WRONG and not timed.
Then one warm-up epoch, and the median [min–max] of 7 timed epochs (3 with ``--quick``; with
``--rounds R`` the sweep over the peers is repeated R times and the epochs pooled, so that load
from other processes is spread over every tool); the first step (compilation included) is
reported separately.  GFLOP/s count 6 flops per parameter per example and are shown as a
fraction of the one-core matmul peak measured in the same run (1024×1024 ``np.dot`` in its own
pinned subprocess, before and after the training workloads; the better of the two).  Ratios
"fastbp / tool" are speed ratios from the same run: above 1 means fastbp is faster.

Run::

    python scripts/bench_peers.py                       # everything (15–20 minutes)
    python scripts/bench_peers.py --quick               # n/10 and 3 repeats: a few minutes
    python scripts/bench_peers.py --workloads W1,W3 --peers fastbp,torch --dtypes float32
    python scripts/bench_peers.py --rounds 3 --repeats 3   # on a busy machine: pool 3 sweeps
    python scripts/bench_peers.py --workloads W5 --peers fastbp,jax-jit,torch   # H v, G v only
    python scripts/bench_peers.py --workloads W1 --peers fastbp,jax-scan --rounds 3 \
        --activations relu,tanh,sigmoid,softplus,gelu,silu,elu,selu,mish   # by activation

It writes JSON lines to ``--out`` (one per tool × workload × dtype, and × activation for W1–W3,
each with its ``activation``; plus the matmul peak) and prints a Markdown report on stdout;
progress goes to stderr.  Peers that are not installed are reported as "missing"; this script
imports none of them itself.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fastbp.activations import ACTIVATIONS

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _peers import env as peer_env  # noqa: E402
from _peers import report  # noqa: E402
from _peers.common import summary  # noqa: E402
from _peers.env import MARKER  # noqa: E402
from _peers.report import duration as _duration  # noqa: E402
from _peers.report import status as _status  # noqa: E402
from _peers.report import times as _times  # noqa: E402

CHILD = HERE / "_peers" / "child.py"
ALL_WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6")
#: Run only when named: W7, one-row calls from a Python loop (scripts/_peers/w7.py); W8, W9,
#: ensembles (scripts/_peers/ensemble.py, shared with scripts/bench_ensemble.py).
EXTRA_WORKLOADS = ("W7", "W8", "W9")
ENSEMBLE_WORKLOADS = ("W8", "W9")
#: bench_peers' peer → the ensemble tools (scripts/_peers/ensemble.py) it stands for in W8/W9.
ENSEMBLE_TOOLS = {
    "fastbp": ("loop", "pool", "ensemble-1", "ensemble-all"),
    "torch": ("torch-func",),
    "torch-compile": ("torch-func-compile",),
    "jax-jit": ("jax-vmap-gather", "jax-vmap-index"),
    "jax-scan": ("jax-vmap-gather", "jax-vmap-index"),
}
DTYPES = ("float64", "float32")
GRAD_BATCHES = (1, 128)


@dataclass(frozen=True)
class Tool:
    label: str
    module: str  # scripts/_peers/tool_<module>.py
    library: str  # import name checked for "missing"
    variant: str | None = None


TOOLS = {
    "fastbp": Tool("fastbp", "fastbp", "fastbp", "fit"),
    "fastbp-kernel": Tool("fastbp (kernel)", "fastbp", "fastbp", "kernel"),
    "numpy": Tool("numpy", "numpy", "numpy"),
    "torch": Tool("torch", "torch", "torch"),
    "torch-compile": Tool("torch compile", "torch", "torch", "compile"),
    "jax-jit": Tool("jax jit/step", "jax", "jax", "jit"),
    "jax-scan": Tool("jax lax.scan", "jax", "jax", "scan"),
    "sklearn": Tool("scikit-learn", "sklearn", "sklearn"),
    "handloop": Tool("hand @njit loop (yardstick)", "handloop", "numba"),
    "numba-import": Tool("import numba only (yardstick)", "numbaimport", "numba"),
    "numba-cached": Tool("numba + one cached function (yardstick)", "numbacached", "numba"),
}
#: "all" leaves out fastbp-kernel: ``fit``'s Python overhead measured within noise of the bare
#: epoch kernel (one call per epoch), so that row is opt-in (``--peers all,fastbp-kernel``).
ALIASES = {"jax": ("jax-jit", "jax-scan"), "all": tuple(t for t in TOOLS if t != "fastbp-kernel")}

#: Which tools take part in W4–W6, and why the others do not.
SUPPORTED = {
    "W4": {"fastbp", "numpy", "torch", "jax-jit"},
    "W5": {"fastbp", "torch", "jax-jit"},
    "W6": {"fastbp", "numpy", "torch", "jax-jit", "sklearn", "numba-import", "numba-cached"},
}
#: Training workloads a tool takes part in, where not all of W1–W3.
TRAIN_SUPPORTED = {"handloop": {"W1", "W2"}, "numba-import": set(), "numba-cached": set()}
#: Every hidden activation fastbp has (``--activations``); the JAX and torch peers have them all.
ACTIVATION_NAMES = tuple(ACTIVATIONS)
#: Hidden activations a tool implements, where not all of fastbp's (``--activations``).
ACTIVATION_SUPPORTED = {"numpy": {"relu"}, "handloop": {"relu"}, "sklearn": {"relu"}}
NOT_APPLICABLE = {
    "numba-import": "a W6 yardstick (a process that only imports numba)",
    "numba-cached": "a W6 yardstick (import numba, call one cached function)",
    "handloop": "a yardstick written for W1/W2's network (per-example SGD, ReLU, squared loss)",
    "fastbp-kernel": "a training-loop variant (W1–W3 only)",
    "jax-scan": "a training-loop variant (W1–W3 only)",
    "torch-compile": "a training-loop variant (W1–W3 only)",
    "numpy": "no Hessian-vector product without writing the R-operator by hand",
    "sklearn": "forward, gradient and H v are not public API",
}


# ---------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    run = __doc__[__doc__.index("Run::") :].split("\n\n")[1]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="examples:\n" + run,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help="n/10 and 3 repeats")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                   help="e.g. W1,W3; W5 alone: --workloads W5 (H v, G v)")  # fmt: skip
    p.add_argument("--peers", default="all", help=f"from {', '.join(TOOLS)}, jax, all")
    p.add_argument("--dtypes", default=",".join(DTYPES))
    p.add_argument("--activations", default=None,
                   help="W1–W3: rerun with each hidden activation, e.g. relu,tanh,gelu "
                   "(default: each workload's own)")  # fmt: skip
    p.add_argument("--threads", type=int, choices=(1, 2), default=1)
    p.add_argument("--core", type=int, default=None, help="CPU for --threads 1 (default: last)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (7; 3 with --quick)")
    p.add_argument(
        "--rounds", type=int, default=1, help="W1–W3: sweep the peers this many times and pool"
    )
    p.add_argument("--out", default="bench_peers.jsonl", help="JSON lines output file")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per subprocess")
    p.add_argument(
        "--keep-openblas-env",
        action="store_true",
        help="leave OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE set in the children",
    )
    p.add_argument("--n-scale", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--min-seconds", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--peak-size", type=int, default=1024, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    args.workloads = _names(p, args.workloads, ALL_WORKLOADS + EXTRA_WORKLOADS, "workload")
    args.dtypes = _names(p, args.dtypes, DTYPES, "dtype")
    if args.activations is not None:
        args.activations = _names(p, args.activations, ACTIVATION_NAMES, "activation")
    peers: list[str] = []
    for name in _names(p, args.peers, tuple(TOOLS) + tuple(ALIASES), "peer"):
        peers += [t for t in ALIASES.get(name, (name,)) if t not in peers]
    args.peers = ["fastbp"] + [t for t in peers if t != "fastbp"] if "fastbp" in peers else peers
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.n_scale = args.n_scale or (0.1 if args.quick else 1.0)
    args.min_seconds = args.min_seconds or (0.01 if args.quick else 0.05)
    if args.rounds < 1 or args.repeats < 1:
        p.error("--rounds and --repeats must be at least 1")
    allowed = sorted(os.sched_getaffinity(0))
    if args.threads > len(allowed):
        p.error(f"--threads {args.threads} needs as many CPUs; this process may use {allowed}")
    if args.threads == 1:
        core = allowed[-1] if args.core is None else args.core
        if core not in allowed:
            p.error(f"--core {core} is not one of the allowed CPUs {allowed}")
        args.cores = [core]
    else:
        args.cores = allowed[: args.threads]
    return args


def _names(p: argparse.ArgumentParser, text: str, allowed: tuple, what: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    for name in names:
        if name not in allowed:
            p.error(f"unknown {what} {name!r}; choose from {', '.join(allowed)}")
    return names


# ---------------------------------------------------------------------- references (fastbp)
def n_examples(workload, scale: float) -> int:
    """The scaled data size, a multiple of the batch size (so every batch is full)."""
    bs = workload.batch_size
    return max(bs, int(workload.n_examples * scale) // bs * bs)


def build_train_reference(workload, dtype: str, n: int, path: Path) -> None:
    """Data, fastbp's initial parameters, and its parameters after one step and one epoch."""
    net = workload.network(dtype)
    X, Y = workload.data(dtype, n=n)
    bs = workload.batch_size
    kw = dict(epochs=1, batch_size=bs, optimizer="sgd", lr=workload.lr, shuffle=False,
              progress=False)  # fmt: skip
    first, whole = net.copy(), net.copy()
    first.fit(X[:bs], Y[:bs], **kw)
    whole.fit(X, Y, **kw)
    np.savez(path, X=X, Y=Y, p0=net.params, p1=first.params, p_epoch=whole.params)


def build_grad_reference(dtype: str, path: Path) -> None:
    """W2 network and data, a direction v, and fastbp's gradient, H v and G v at each batch."""
    from fastbp.workloads import W2

    net = W2.network(dtype)
    X, Y = W2.data(dtype, n=max(GRAD_BATCHES))
    v = np.random.default_rng(1).normal(size=net.n_params).astype(dtype)
    arrays = {"X": X, "Y": Y, "p0": net.params.copy(), "v": v}
    for b in GRAD_BATCHES:
        arrays[f"grad{b}"] = net.loss_and_gradient(X[:b], Y[:b])[1]
        arrays[f"hvp{b}"] = net.hvp(X[:b], Y[:b], v)
        arrays[f"gnvp{b}"] = net.gnvp(X[:b], Y[:b], v)
    np.savez(path, **arrays)


# ---------------------------------------------------------------------- subprocesses
def run_child(job: dict, env: dict[str, str], timeout: float) -> tuple[object, float]:
    """(the child's result, wall-clock time just before it was spawned)."""
    spawned = time.time()
    try:
        proc = subprocess.run(
            [sys.executable, str(CHILD), json.dumps(job)], env=env, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reason": f"no result within {timeout:g} s"}, spawned
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :]), spawned
    tail = (proc.stderr or proc.stdout)[-2000:]
    return {"status": "error", "reason": f"exit code {proc.returncode}", "stderr": tail}, spawned


class Runner:
    """Holds the settings shared by every job and collects the result lines."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.env, self.unset = peer_env.child_env(
            dict(os.environ), args.threads, unset_openblas=not args.keep_openblas_env
        )
        self.results: list[dict] = []
        self.started = datetime.datetime.now().astimezone()
        self.load_at_start = os.getloadavg()[0]

    def base(self, workload: str, dtype: str | None, key: str) -> dict:
        tool = TOOLS.get(key)
        return {"workload": workload, "dtype": dtype, "tool": key,
                "label": tool.label if tool else key, "threads": self.args.threads,
                "cores": self.args.cores,
                "date": self.started.isoformat(timespec="seconds")}  # fmt: skip

    def job(self, kind: str, key: str, **fields) -> dict:
        tool = TOOLS[key]
        return {"kind": kind, "tool": key, "module": tool.module, "library": tool.library,
                "variant": tool.variant, "cores": self.args.cores,
                "threads": self.args.threads, **fields}  # fmt: skip

    def add(self, line: dict) -> None:
        self.results.append(line)
        what = f"{line['workload']} {line.get('dtype') or ''} {line['label']}"
        if line.get("activation_sweep"):
            what += f" ({line['activation']})"
        extra = ""
        if "batch" in line:
            what += f" batch {line['batch']}"
        if line.get("cache"):
            what += f" ({line['cache']} cache)"
        if line.get("status") == "ok" and "rate" in line:
            extra = f" {line['rate']['median']:.4g} {line.get('metric', '')}"
        elif line.get("status") == "ok" and "ratio" in line:
            extra = f" ratio {line['ratio']['median']:.3g}"
            if "t_gnvp" in line:
                extra += (f" (H v {_duration(line['t_num']['median'])}, G v "
                          f"{_duration(line['t_gnvp']['median'])} per call)")  # fmt: skip
        elif line.get("status") == "ok" and "seconds" in line:
            extra = f" {statistics.median(line['seconds']):.3g} s"
        elif line.get("reason"):
            extra = f" ({line['reason']})"
        print(f"  {what.strip()}: {line.get('status')}{extra}", file=sys.stderr, flush=True)

    def missing(self, key: str) -> bool:
        return importlib.util.find_spec(TOOLS[key].library) is None

    def run_job(self, job: dict, env: dict | None = None) -> tuple[object, float]:
        return run_child(job, env or self.env, self.args.timeout)


def not_installed(key: str) -> dict:
    return {"status": "missing", "reason": f"{TOOLS[key].library} is not installed"}


def run_peak(runner: Runner, peak: dict | None = None) -> dict:
    """Measure the matmul peak; called before and after the training workloads.

    The second call folds its measurement into ``peak``: the best GFLOP/s of the two, so a
    burst of load from other processes during one of them does not lower the yardstick.
    """
    job = {"kind": "peak", "size": runner.args.peak_size, "repeats": max(runner.args.repeats, 5),
           "cores": runner.args.cores, "threads": runner.args.threads}  # fmt: skip
    res, _ = runner.run_job(job)
    if peak is None:
        line = dict(runner.base("peak", None, "numpy.dot"), **res, size=runner.args.peak_size)
        line["measurements"] = 1
        runner.add(line)
        return line
    if res.get("status") == "ok" and peak.get("status") == "ok":
        for dtype in DTYPES:
            peak[f"{dtype}_runs"] = [peak[dtype], res[dtype]]
            peak[dtype] = max(peak[dtype], res[dtype], key=lambda m: m["best"])
        peak["measurements"] = 2
    return peak


def run_training(runner: Runner, workload, dtype: str) -> None:
    """W1–W3 for every peer; with ``--rounds R`` the sweep over the peers is repeated R times.

    Rounds spread each tool's timed epochs over the whole run, so a burst of load from other
    processes hits every tool alike instead of one; the epochs of all rounds are pooled.
    """
    args = runner.args
    n = n_examples(workload, args.n_scale)
    ref = runner.workdir / f"{workload.name}-{dtype}-{workload.activation}.npz"
    if not ref.exists():
        build_train_reference(workload, dtype, n, ref)
    lines = {}
    for key in args.peers:
        line = runner.base(workload.name, dtype, key)
        line.update(metric=workload.metric, batch_size=workload.batch_size, n=n,
                    flops_per_step=workload.flops_per_step(), activation=workload.activation,
                    activation_sweep=args.activations is not None)  # fmt: skip
        if workload.name not in TRAIN_SUPPORTED.get(key, {workload.name}):
            line.update(status="n/a", reason=NOT_APPLICABLE.get(key, ""))
        elif workload.activation not in ACTIVATION_SUPPORTED.get(key, {workload.activation}):
            line.update(status="n/a", reason=f"implements {', '.join(ACTIVATION_SUPPORTED[key])} "
                        "hidden layers only")  # fmt: skip
        elif runner.missing(key):
            line.update(not_installed(key))
        lines[key] = line
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(f"  round {round_ + 1}/{args.rounds}", file=sys.stderr, flush=True)
        for key, line in lines.items():
            if line.get("status") not in (None, "ok"):
                continue
            job = runner.job("train", key, workload=workload.name, dtype=dtype,
                             widths=list(workload.widths), activation=workload.activation,
                             loss=workload.loss, batch_size=workload.batch_size,
                             lr=workload.lr, ref=str(ref), repeats=args.repeats)  # fmt: skip
            res, _ = runner.run_job(job)
            if round_ == 0 or res.get("status") != "ok":
                line.update(res)
            else:
                line["seconds"] += res["seconds"]
                line["rates"] += res["rates"]
                line["rate"] = summary(line["rates"])
                line["seconds_per_step"] = statistics.median(line["seconds"]) / (
                    n // workload.batch_size
                )
            line["rounds"] = round_ + 1
    for line in lines.values():
        runner.add(line)


def run_gradients(runner: Runner, name: str, dtype: str) -> None:
    from fastbp.workloads import W2

    args = runner.args
    ref = runner.workdir / f"grad-{dtype}.npz"
    if not ref.exists():
        build_grad_reference(dtype, ref)
    for key in args.peers:
        base = runner.base(name, dtype, key)
        base["network"] = "-".join(map(str, W2.widths))
        if key not in SUPPORTED[name]:
            runner.add(dict(base, status="n/a", reason=NOT_APPLICABLE.get(key, "")))
            continue
        if runner.missing(key):
            runner.add(dict(base, **not_installed(key)))
            continue
        job = runner.job("grad", key, workload=name, dtype=dtype, widths=list(W2.widths),
                         activation=W2.activation, loss=W2.loss, ref=str(ref),
                         batches=list(GRAD_BATCHES), repeats=args.repeats,
                         min_seconds=args.min_seconds)  # fmt: skip
        res, _ = runner.run_job(job)
        for part in res if isinstance(res, list) else [res]:
            runner.add(dict(base, **part))


def run_cold_start(runner: Runner) -> None:
    from fastbp.workloads import W1

    args, dtype = runner.args, "float64"
    ref = runner.workdir / f"W1-{dtype}-cold.npz"
    build_train_reference(W1, dtype, 1, ref)
    pyc_prefix = runner.workdir / "pycache"
    variants = []
    for key in args.peers:
        if key == "fastbp":
            variants += [(key, "warm"), (key, "cold"), (key, "new spec")]
        else:
            variants.append((key, None))
    for key, cache in variants:
        line = dict(
            runner.base("W6", dtype, key),
            cache=cache,
            description="fresh process: import, build the W1 network, one SGD step",
        )
        if key not in SUPPORTED["W6"]:
            runner.add(dict(line, status="n/a", reason=NOT_APPLICABLE.get(key, "")))
            continue
        if runner.missing(key):
            runner.add(dict(line, **not_installed(key)))
            continue
        job = runner.job("cold", key, workload="W6", dtype=dtype, widths=list(W1.widths),
                         activation=W1.activation, loss=W1.loss, batch_size=1, lr=W1.lr,
                         ref=str(ref))  # fmt: skip
        runs, failure = [], None
        # Bytecode on, in a prefix the first (untimed) run fills: what an installed package has.
        pyc_env = {k: v for k, v in runner.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        pyc_env["PYTHONPYCACHEPREFIX"] = str(pyc_prefix)
        # "new spec": fastbp's own kernels cached (NUMBA_CACHE_DIR, warmed by the first run),
        # the spec-specialised kernel generated and compiled afresh (an empty FASTBP_CACHE_DIR).
        shared_numba = (
            tempfile.mkdtemp(prefix="fastbp-numba-shared-") if cache == "new spec" else None
        )
        for i in range(args.repeats + 1):  # the first run only warms the OS file cache
            env, cache_dir = pyc_env, None
            if cache == "cold":
                cache_dir = tempfile.mkdtemp(prefix="fastbp-numba-cache-")
                env = dict(pyc_env, NUMBA_CACHE_DIR=cache_dir, FASTBP_CACHE_DIR=cache_dir)
            elif cache == "new spec":
                cache_dir = tempfile.mkdtemp(prefix="fastbp-generated-")
                env = dict(pyc_env, NUMBA_CACHE_DIR=shared_numba, FASTBP_CACHE_DIR=cache_dir)
            try:
                res, spawned = runner.run_job(job, env)
            finally:
                if cache_dir:
                    shutil.rmtree(cache_dir, ignore_errors=True)
            if res.get("status") != "ok":
                failure = res
                break
            if i > 0:
                runs.append({"seconds": res["wall_done"] - spawned,
                             "interpreter_s": res["wall_start"] - spawned,
                             "import_s": res["import_s"], "step_s": res["step_s"],
                             "versions": res.get("versions")})  # fmt: skip
        if shared_numba:
            shutil.rmtree(shared_numba, ignore_errors=True)
        if failure is not None:
            runner.add(dict(line, **failure))
            continue
        line.update(status="ok", seconds=[r["seconds"] for r in runs],
                    versions=runs[0]["versions"])  # fmt: skip
        for k in ("interpreter_s", "import_s", "step_s"):
            line[k] = statistics.median(r[k] for r in runs)
        runner.add(line)


# ---------------------------------------------------------------------- ratios and report
def add_ratios(results: list[dict]) -> None:
    """Fill ``fastbp_over_tool`` (speed ratio, > 1: fastbp faster) and the GFLOP/s columns."""
    peak = next((r for r in results if r["workload"] == "peak" and r.get("status") == "ok"), None)
    by_key = {}
    for r in results:
        if r.get("status") == "ok" and r["tool"] == "fastbp":
            key = (r["workload"], r.get("dtype"), r.get("batch"), r.get("cache"))
            by_key[key + (r.get("activation"),)] = r
    for r in results:
        if r.get("status") != "ok" or r["workload"] == "peak":
            continue
        if "rate" in r:
            ref = by_key.get((r["workload"], r["dtype"], None, None, r.get("activation")))
            if ref:
                r["fastbp_over_tool"] = ref["rate"]["median"] / r["rate"]["median"]
            steps = r["rate"]["median"] / r["batch_size"]
            r["gflops"] = r["flops_per_step"] * steps / 1e9
            if peak:
                r["peak_gflops"] = peak[r["dtype"]]["best"]
                r["peak_fraction"] = r["gflops"] / r["peak_gflops"]
        elif "ratio" in r:
            ref = by_key.get((r["workload"], r["dtype"], r["batch"], None, None))
            if ref:
                r["fastbp_over_tool"] = r["t_num"]["median"] / ref["t_num"]["median"]
                if "t_gnvp" in r and "t_gnvp" in ref:  # W5's G v, timed beside H v
                    r["fastbp_over_tool_gnvp"] = r["t_gnvp"]["median"] / ref["t_gnvp"]["median"]
        elif r["workload"] == "W6":
            ref = by_key.get(("W6", r["dtype"], None, "warm", None))
            if ref:
                r["fastbp_over_tool"] = statistics.median(r["seconds"]) / statistics.median(
                    ref["seconds"]
                )


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def header(runner: Runner, results: list[dict]) -> list[str]:
    args = runner.args
    cpu = "unknown CPU"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dists = ("numpy", "numba", "fastbp", "torch", "jax", "jaxlib", "scikit-learn", "scipy")
    versions = [f"Python {platform.python_version()}"] + [f"{d} {_version(d)}" for d in dists]
    load = os.getloadavg()
    lines = [
        f"# fastbp peer benchmark, {runner.started:%Y-%m-%d %H:%M %Z}",
        "",
        f"- CPU: {cpu}, {os.cpu_count()} logical CPUs; each tool in its own process pinned to "
        f"CPU {','.join(map(str, args.cores))} with {args.threads} thread(s)",
        f"- Versions: {', '.join(versions)}",
        f"- Load average (1 min): {runner.load_at_start:.2f} at the start, {load[0]:.2f} at the "
        "end; on a shared machine the numbers are noisy",
        f"- Data: {args.n_scale:g} × the workload's n; {args.repeats} timed repeats after a "
        "warm-up"
        + (f", in each of {args.rounds} rounds" if args.rounds > 1 else "")
        + (" (--quick)" if args.quick else ""),
    ]
    if runner.unset:
        lines.append(f"- Removed from the children's environment: {runner.unset}")
    else:
        lines.append("- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: not set in the children")
    peak = next((r for r in results if r["workload"] == "peak"), None)
    if peak and peak.get("status") == "ok":
        blas = [f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, "
                f"{b.get('num_threads')} thread(s))" for b in peak.get("blas", [])
                if b.get("user_api") == "blas"]  # fmt: skip
        lines += [
            f"- numpy BLAS (threadpoolctl): {'; '.join(blas) or 'not reported'}",
            f"- Matmul peak ({peak['size']}×{peak['size']} np.dot, best of "
            f"{max(args.repeats, 5)} before and after W1–W3): "
            f"float64 {peak['float64']['best']:.1f} GFLOP/s, "
            f"float32 {peak['float32']['best']:.1f} GFLOP/s",
        ]
    return lines


def markdown(runner: Runner, results: list[dict]) -> str:
    lines = header(runner, results)
    train = [r for r in results if r["workload"] in ("W1", "W2", "W3")]
    grad = [r for r in results if r["workload"] in ("W4", "W5") and r.get("kind") != "cross_tool"]
    cold = [r for r in results if r["workload"] == "W6"]
    skipped = [r for r in results if r.get("status") in ("n/a", "missing")]
    if train:
        lines += report.train_markdown(train)
        lines += report.activation_markdown(train)
    if grad:
        lines += report.grad_markdown(grad)
    lines += report.w5_markdown([r for r in results if r.get("kind") == "cross_tool"])
    if cold:
        lines += [
            "",
            "## Cold start (W6): spawn → import → build the W1 network → first SGD step done",
            "",
            "fastbp / tool: the tool's median over fastbp's with a warm Numba cache. Every "
            "child ran with Python's bytecode cache on (a temporary PYTHONPYCACHEPREFIX that an "
            "untimed first run filled), as an installed package has its .pyc files.",
            "",
            "| tool | Numba cache | total (median) | min – max | interpreter | import | "
            "build + first step | fastbp / tool |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in cold:
            if r.get("status") in ("n/a", "missing"):
                continue
            if r.get("status") != "ok":
                lines.append(f"| {r['label']} | {r.get('cache') or ''} | {_status(r)} "
                             "| | | | | |")  # fmt: skip
                continue
            s = r["seconds"]
            lines.append(
                f"| {r['label']} | {r.get('cache') or '—'} | {statistics.median(s):.3g} s | "
                f"{min(s):.3g} – {max(s):.3g} s | {_duration(r['interpreter_s'])} | "
                f"{_duration(r['import_s'])} | {_duration(r['step_s'])} | "
                f"{_times(r.get('fastbp_over_tool'))} |"
            )
    problems = [r for r in results if r.get("status") not in ("ok", "n/a", "missing")]
    if skipped or problems:
        lines += ["", "## Not run", ""]
        seen = set()
        for r in skipped + problems:
            item = (r["workload"], r["label"], r.get("status"), r.get("reason", ""))
            if item not in seen:
                seen.add(item)
                lines.append(f"- {r['workload']} {r['label']}: {r.get('status')} "
                             f"{r.get('reason', '')}".rstrip())  # fmt: skip
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- W8, W9
def run_ensembles(args: argparse.Namespace, names: list[str]) -> tuple[list[dict], list[dict]]:
    """W8/W9 through scripts/_peers/ensemble.py: (results, ratios), every allowed CPU."""
    from _peers import ensemble

    tools = list(dict.fromkeys(t for p in args.peers for t in ENSEMBLE_TOOLS.get(p, ())))
    for name in names:
        print(f"{name} (ensembles)", file=sys.stderr, flush=True)
    results = ensemble.run(names, args.dtypes, tools, sorted(os.sched_getaffinity(0)),
                           args.repeats, args.n_scale, args.timeout,
                           log=lambda line: print(line, file=sys.stderr, flush=True))  # fmt: skip
    return results, ensemble.ratios(results)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from fastbp.workloads import WORKLOADS

    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        runner = Runner(args, Path(tmp))
        print(f"bench_peers: {', '.join(args.workloads)} × {', '.join(args.peers)} × "
              f"{', '.join(args.dtypes)}; CPUs {args.cores}", file=sys.stderr)  # fmt: skip
        training = [w for w in args.workloads if w in WORKLOADS]
        peak = run_peak(runner) if training else None
        for name in args.workloads:
            if name in EXTRA_WORKLOADS:
                continue  # their own blocks below
            for dtype in args.dtypes if name != "W6" else ["float64"]:
                if name in WORKLOADS:
                    for act in args.activations or [WORKLOADS[name].activation]:
                        print(f"{name} {dtype} {act}", file=sys.stderr, flush=True)
                        run_training(runner, replace(WORKLOADS[name], activation=act), dtype)
                    continue
                print(f"{name} {dtype}", file=sys.stderr, flush=True)
                if name in ("W4", "W5"):
                    run_gradients(runner, name, dtype)
                else:
                    run_cold_start(runner)
            if peak is not None and name == training[-1]:
                run_peak(runner, peak)
        add_ratios(runner.results)
        runner.results += report.w5_rows(runner.results)
        text = markdown(runner, runner.results)
        if "W7" in args.workloads:  # one-row calls (issue 16); see scripts/bench_overhead.py
            from _peers import w7

            names = {"fastbp": "fastbp", "numpy": "numpy", "torch": "torch", "jax-jit": "jax"}
            tools = [names[t] for t in args.peers if t in names]
            print("W7 float64", file=sys.stderr, flush=True)
            w7_results = w7.run(tools, args.cores, calls=300 if args.quick else 2000,
                                repeats=args.repeats, rounds=args.rounds)  # fmt: skip
            runner.results += [dict(r, workload="W7", dtype="float64") for r in w7_results]
            text += ("\n## One-row calls from a Python loop (W7; W1 network, float64)\n\n"
                     "Median µs per call; (×): the tool's time over fastbp's.\n\n"
                     + w7.markdown(w7_results))  # fmt: skip
        ensembles = [w for w in args.workloads if w in ENSEMBLE_WORKLOADS]
        if ensembles:  # issue 26; the same code as scripts/bench_ensemble.py
            from _peers import ensemble

            results, ratio_rows = run_ensembles(args, ensembles)
            runner.results += results + [dict(e, kind="ratio") for e in ratio_rows]
            text += ("\n## Ensembles side by side (W8, W9; million net-steps/s)\n\n"
                     f"Every tool pinned to CPUs {sorted(os.sched_getaffinity(0))}.\n\n"
                     + ensemble.markdown(results, ratio_rows))  # fmt: skip
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w") as f:
            for r in runner.results:
                f.write(json.dumps(r) + "\n")
        print(text)
        print(f"JSON lines: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
