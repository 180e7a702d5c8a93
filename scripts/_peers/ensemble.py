"""W8, W9: ensembles trained side by side (issue 26), one implementation for both scripts.

Used by ``scripts/bench_ensemble.py`` and by ``scripts/bench_peers.py --workloads W8,W9``.  The
workloads are :data:`fastbp.workloads.ENSEMBLE_WORKLOADS`: M members of one small network,
member i with He-normal weights of seed ``seed + i``, its own learning rate (log-spaced) and
its own shuffling seed ``seed + i``, per-example SGD over the same rows.  The metric is
net-steps/s, members × rows / seconds of one epoch.

Tools (each in its own process, pinned to the cores given, every thread count set to their
number before numpy, torch or JAX loads; :func:`_peers.env.pin`):

* ``jax-vmap-gather`` / ``jax-vmap-index``: ``jax.vmap`` over the members of ``jax.grad`` of
  one row's loss, the update θᵢ ← θᵢ − αᵢ ∇ inside one ``lax.scan`` over the epoch, the whole
  epoch one ``jax.jit`` with the parameters donated (``donate_argnums``), weights kept (in, out)
  and each layer ``a @ V + b`` (the layout tool_jax.py found fastest).  The members' row orders
  enter as an (M, n) index array: ``gather`` takes ``X[orders.T]``, an (n, M, n0) batch, before
  the scan and scans over it; ``index`` scans over ``orders.T`` and gathers the M rows of each
  step inside it.  Both run; the ratios use the faster.
* ``torch-func`` / ``torch-func-compile``: ``torch.func.stack_module_state`` of the members'
  ``nn.Sequential`` models, ``vmap(grad(functional_call))`` for the M per-row gradients of one
  step, the update as one ``torch._foreach_addcmul_`` with the (M, 1, ...) rates, the steps in
  a Python loop over a pre-gathered (n, M, n0) batch; ``-compile`` wraps the whole functional
  step in ``torch.compile`` (inductor).  ``torch.set_num_threads`` = the core count.
* ``loop``: fastbp ``Network.fit`` of member after member.
* ``pool``: a ``concurrent.futures.ThreadPoolExecutor`` (max_workers = the core count) mapping
  ``Network.fit`` over the members (the "thread pool" yardstick).
* ``ensemble-1`` / ``ensemble-all``: ``fastbp.Ensemble.fit`` with ``n_jobs=1`` and with
  ``n_jobs`` = the core count.

Tried and left as they are (smoke runs on a shared two-core machine, so indicative only): JAX
with ``lax.scan(unroll=4)`` ran W8 float64 at 0.88× and ``unroll=16`` at 0.13× of ``unroll=1``
(:data:`UNROLL`; a job's ``"unroll"`` overrides it); JAX on one thread ran at about half its
two-thread rate, so the JAX tools get every core like the others.  ``torch.compile`` of the
functional step ran W8 6–15× faster than eager (one call per step still pays the dispatch of
the compiled graph, ~0.1 ms), while on W9's smaller network eager was as fast or faster
(0.03–0.08 against 0.02–0.06 M net-steps/s); both rows run and the ratio uses the faster.

Every tool starts from the same parameters (fastbp's member networks) and must first pass the
gate: one shuffled epoch of every member over the first 32 rows, with the members' own orders
(``numpy.random.default_rng(seed + i).permutation``, what ``Network.fit`` draws), must give the
parameters fastbp's loop gives, to rtol 1e-6 in float64 and 1e-3 in float32 (normwise,
:func:`_peers.common.check_close`).  Then one warm-up epoch and ``repeats`` timed epochs on all
rows; each timed epoch draws fresh orders for every member (the peers inside the timing, as
fastbp draws its own inside ``fit``).  A tool whose package is missing (or ``fastbp.Ensemble``,
before it exists) is reported ``missing``, never dropped.

Child: ``python scripts/_peers/ensemble.py --child '<job as JSON>'`` prints one ``@@RESULT``
line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path[0] = str(HERE.parent)  # import the package _peers, not this folder's modules

from _peers import env as peer_env  # noqa: E402

ROOT = HERE.parent.parent
SEED = 0
GATE_ROWS = 32
#: ``lax.scan``'s ``unroll`` for the JAX tools (steps per loop iteration; see :class:`_JaxVmap`).
UNROLL = 1

#: Tool key → (package whose absence makes it "missing", label).
TOOLS = {
    "jax-vmap-gather": ("jax", "JAX vmap + lax.scan, gathered (n, M, n0) batch"),
    "jax-vmap-index": ("jax", "JAX vmap + lax.scan, rows indexed per step"),
    "torch-func": ("torch", "torch.func vmap(grad), eager step loop"),
    "torch-func-compile": ("torch", "torch.func vmap(grad), torch.compile'd step"),
    "loop": ("fastbp", "fastbp Network.fit, member after member"),
    "pool": ("fastbp", "ThreadPoolExecutor over Network.fit"),
    "ensemble-1": ("fastbp", "fastbp Ensemble.fit, n_jobs=1"),
    "ensemble-all": ("fastbp", "fastbp Ensemble.fit, n_jobs=all"),
}
JAX_TOOLS = ("jax-vmap-gather", "jax-vmap-index")
TORCH_TOOLS = ("torch-func", "torch-func-compile")

#: (ratio key, numerator tool, denominator tools (the fastest of them), label).
RATIOS = (
    ("ensemble_over_jax", "ensemble-all", JAX_TOOLS, "Ensemble(all) / JAX vmap"),
    ("ensemble_over_torch", "ensemble-all", TORCH_TOOLS, "Ensemble(all) / torch.func"),
    ("ensemble_over_pool", "ensemble-all", ("pool",), "Ensemble(all) / thread pool"),
    ("ensemble_over_loop", "ensemble-all", ("loop",), "Ensemble(all) / loop"),
    ("scaling", "ensemble-all", ("ensemble-1",), "Ensemble(all) / Ensemble(1)"),
    ("ensemble1_over_loop", "ensemble-1", ("loop",), "Ensemble(1) / loop"),
)

#: Issue 26's targets: (workload, dtype or None for every dtype, ratio key) → minimum.
TARGETS = {
    ("W8", "float64", "ensemble_over_jax"): 2.0,
    ("W8", "float32", "ensemble_over_jax"): 1.6,
    ("W9", None, "ensemble_over_jax"): 2.5,
    ("W8", None, "ensemble_over_pool"): 1.0,
    ("W9", None, "ensemble_over_pool"): 1.5,
    ("W8", None, "scaling"): 1.8,
    ("W9", None, "scaling"): 1.8,
    ("W8", None, "ensemble1_over_loop"): 1.0,
    ("W9", None, "ensemble1_over_loop"): 1.0,
}


def target(workload: str, dtype: str, key: str) -> float | None:
    """Issue 26's minimum for this ratio, or None where it sets none."""
    return TARGETS.get((workload, dtype, key), TARGETS.get((workload, None, key)))


# ---------------------------------------------------------------------- child: shared
def _orders(rngs, n: int):
    """One epoch's row order for every member, (M, n) int64, as ``Network.fit`` draws it."""
    import numpy as np

    return np.stack([rng.permutation(np.arange(n, dtype=np.int64)) for rng in rngs])


def _rngs(m: int, seed: int) -> list:
    import numpy as np

    return [np.random.default_rng(seed + i) for i in range(m)]


class _FastbpMembers:
    """``loop`` and ``pool``: one fastbp Network per member, trained by ``Network.fit``."""

    def __init__(self, job, P0, X, Y, lrs, seed: int) -> None:
        import fastbp as fb
        from fastbp.workloads import ENSEMBLE_WORKLOADS

        spec = ENSEMBLE_WORKLOADS[job["workload"]].spec(job["dtype"])
        self.nets = []
        for p in P0:
            net = fb.Network(spec, init="zeros")
            net.params = p
            self.nets.append(net)
        self.X, self.Y, self.lrs, self.seed = X, Y, [float(a) for a in lrs], seed
        self.pool = None
        if job["tool"] == "pool":
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=len(job["cores"]))

    def _fit(self, i: int) -> None:
        self.nets[i].fit(self.X, self.Y, epochs=1, batch_size=1, optimizer="sgd",
                         lr=self.lrs[i], shuffle=True, seed=self.seed + i,
                         progress=False)  # fmt: skip

    def epoch(self) -> None:
        if self.pool is None:
            for i in range(len(self.nets)):
                self._fit(i)
        else:
            list(self.pool.map(self._fit, range(len(self.nets))))

    def params(self):
        import numpy as np

        return np.stack([net.params for net in self.nets])


class _FastbpEnsemble:
    """``ensemble-1`` / ``ensemble-all``: ``fastbp.Ensemble.fit``."""

    def __init__(self, job, P0, X, Y, lrs, seed: int) -> None:
        import numpy as np

        import fastbp as fb
        from fastbp.workloads import ENSEMBLE_WORKLOADS

        if not hasattr(fb, "Ensemble"):
            raise _Missing("fastbp.Ensemble is not available in this fastbp")
        spec = ENSEMBLE_WORKLOADS[job["workload"]].spec(job["dtype"])
        self.ens = fb.Ensemble(spec, P0.shape[0], init="he_normal", seed=seed)
        self.ens.params[...] = P0
        if not np.array_equal(self.ens.params, P0):  # a copy was returned: set it whole
            self.ens.params = P0
        self.X, self.Y, self.lrs, self.seed = X, Y, np.asarray(lrs, np.float64), seed
        self.n_jobs = 1 if job["tool"] == "ensemble-1" else len(job["cores"])

    def epoch(self) -> None:
        self.ens.fit(self.X, self.Y, epochs=1, batch_size=1, optimizer="sgd", lr=self.lrs,
                     shuffle=True, seed=self.seed, n_jobs=self.n_jobs,
                     progress=False)  # fmt: skip

    def params(self):
        import numpy as np

        return np.array(self.ens.params)


class _Missing(Exception):
    """The tool's package (or fastbp.Ensemble) is not there."""


# ---------------------------------------------------------------------- child: JAX
class _JaxVmap:
    """``jax-vmap-gather`` / ``jax-vmap-index`` (see the module docstring)."""

    def __init__(self, job, P0, X, Y, lrs, seed: int) -> None:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import numpy as np
        from jax import lax

        from _peers.common import unflatten

        widths, dtype = job["widths"], job["dtype"]
        members = [unflatten(p, widths) for p in P0]
        # Per layer: V = Wᵀ stacked over the members, (M, in, out), and b, (M, out).
        self.p = tuple(
            (jnp.asarray(np.stack([np.ascontiguousarray(m[k][0].T) for m in members])),
             jnp.asarray(np.stack([m[k][1] for m in members])))
            for k in range(len(widths) - 1)
        )  # fmt: skip
        self.widths, self.m, self.n = widths, P0.shape[0], X.shape[0]
        self.X, self.Y = jnp.asarray(X), jnp.asarray(Y)
        self.lr = jnp.asarray(np.asarray(lrs, dtype=dtype))
        self.rngs = _rngs(self.m, seed)

        def loss(p, x, y):  # one member, one row: x (n0,), y (n_out,); ½‖a − y‖²
            for V, b in p[:-1]:
                x = jax.nn.relu(x @ V + b)
            V, b = p[-1]
            return 0.5 * jnp.sum((x @ V + b - y) ** 2)

        grads = jax.vmap(jax.grad(loss))

        def step(p, x, y, lr):  # x (M, n0), y (M, n_out), lr (M,)
            g = grads(p, x, y)
            return jax.tree.map(lambda q, d: q - lr.reshape((-1,) + (1,) * (q.ndim - 1)) * d,
                                p, g)  # fmt: skip

        unroll = int(job.get("unroll", UNROLL))
        if job["tool"] == "jax-vmap-gather":

            def run(p, X, Y, order_t, lr):  # order_t (n, M)
                xs, ys = X[order_t], Y[order_t]  # (n, M, n0), (n, M, n_out)
                body = lambda q, xy: (step(q, xy[0], xy[1], lr), None)  # noqa: E731
                return lax.scan(body, p, (xs, ys), unroll=unroll)[0]
        else:

            def run(p, X, Y, order_t, lr):
                body = lambda q, i: (step(q, X[i], Y[i], lr), None)  # noqa: E731
                return lax.scan(body, p, order_t, unroll=unroll)[0]

        self.run = jax.jit(run, donate_argnums=0)
        self._block = jax.block_until_ready
        self._asarray = jnp.asarray

    def epoch(self) -> None:
        import numpy as np

        order_t = self._asarray(np.ascontiguousarray(_orders(self.rngs, self.n).T))
        self.p = self._block(self.run(self.p, self.X, self.Y, order_t, self.lr))

    def params(self):
        import numpy as np

        from _peers.common import flatten

        host = [(np.asarray(V), np.asarray(b)) for V, b in self.p]
        return np.stack([flatten([(V[i].T, b[i]) for V, b in host]) for i in range(self.m)])


# ---------------------------------------------------------------------- child: torch.func
class _TorchFunc:
    """``torch-func`` / ``torch-func-compile`` (see the module docstring)."""

    def __init__(self, job, P0, X, Y, lrs, seed: int) -> None:
        import copy

        import numpy as np
        import torch
        from torch.func import functional_call, grad, stack_module_state, vmap

        from _peers.common import torch_relu_mlp, unflatten

        torch.set_num_threads(len(job["cores"]))
        models = [torch_relu_mlp(unflatten(p, job["widths"])) for p in P0]
        params, _ = stack_module_state(models)
        self.keys = list(params)
        self.ps = [params[k].detach().clone() for k in self.keys]
        base = copy.deepcopy(models[0]).to("meta")
        self.m, self.n = P0.shape[0], X.shape[0]
        lr = torch.from_numpy(np.asarray(lrs, dtype=job["dtype"]))
        self.lrs = [lr.view((-1,) + (1,) * (p.dim() - 1)) for p in self.ps]
        self.X, self.Y = torch.from_numpy(X), torch.from_numpy(Y)
        self.rngs = _rngs(self.m, seed)
        keys = self.keys

        def loss(p, x, y):  # one member, one row; ½‖a − y‖²
            out = functional_call(base, p, (x.unsqueeze(0),))
            return 0.5 * ((out - y.unsqueeze(0)) ** 2).sum()

        grads = vmap(grad(loss))
        self.compiled = job["tool"] == "torch-func-compile"
        if self.compiled:

            def step(ps, lrs, x, y):
                g = grads(dict(zip(keys, ps, strict=True)), x, y)
                return [p - a * g[k] for p, a, k in zip(ps, lrs, keys, strict=True)]

            self.step = torch.compile(step)
        else:

            def step(ps, lrs, x, y):
                g = grads(dict(zip(keys, ps, strict=True)), x, y)
                torch._foreach_addcmul_(ps, lrs, [g[k] for k in keys], value=-1.0)
                return ps

            self.step = step
        self._torch = torch

    def epoch(self) -> None:
        import numpy as np

        torch = self._torch
        order_t = torch.from_numpy(np.ascontiguousarray(_orders(self.rngs, self.n).T))
        xs, ys = self.X[order_t], self.Y[order_t]  # (n, M, n0), (n, M, n_out)
        ps, lrs, step = self.ps, self.lrs, self.step
        for t in range(self.n):
            ps = step(ps, lrs, xs[t], ys[t])
        self.ps = ps

    def params(self):
        import numpy as np

        from _peers.common import flatten

        host = [p.detach().numpy() for p in self.ps]  # [W1, b1, W2, b2, ...], (M, ...)
        return np.stack([flatten([(host[2 * k][i], host[2 * k + 1][i])
                                  for k in range(len(host) // 2)])
                         for i in range(self.m)])  # fmt: skip


BUILDERS = {
    "jax-vmap-gather": _JaxVmap,
    "jax-vmap-index": _JaxVmap,
    "torch-func": _TorchFunc,
    "torch-func-compile": _TorchFunc,
    "loop": _FastbpMembers,
    "pool": _FastbpMembers,
    "ensemble-1": _FastbpEnsemble,
    "ensemble-all": _FastbpEnsemble,
}


def _versions(tool: str) -> dict:
    """Versions of the packages this child has loaded (those it has not are left out)."""
    names = ("numpy", "numba", "fastbp", TOOLS[tool][0])
    return {d: getattr(sys.modules[d], "__version__", "?") for d in names if d in sys.modules}


def run_job(job: dict) -> dict:
    """Child side: gate, warm-up epoch, then ``repeats`` timed epochs of one tool."""
    import numpy as np

    from _peers.common import check_close, summary

    ref = np.load(job["ref"])
    X, Y, P0, P_gate, lrs = ref["X"], ref["Y"], ref["P0"], ref["P_gate"], ref["lrs"]
    g, m, n = int(ref["gate_rows"]), P0.shape[0], X.shape[0]
    cls = BUILDERS[job["tool"]]
    res: dict = {"n": n, "members": m}
    start = time.perf_counter()
    try:
        gate_run = cls(job, P0, X[:g], Y[:g], lrs, SEED)
    except (_Missing, ImportError) as exc:
        return {"status": "missing", "reason": str(exc)}
    gate_run.epoch()
    res["gate_s"] = time.perf_counter() - start  # compilation included
    gate = check_close(gate_run.params(), P_gate, job["dtype"], "one shuffled epoch, 32 rows")
    res.update(gate.as_dict())
    if not gate.ok:
        res["status"] = "WRONG"
        return res
    trainer = cls(job, P0, X, Y, lrs, SEED)
    start = time.perf_counter()
    trainer.epoch()
    res["warmup_epoch_s"] = time.perf_counter() - start
    if not np.isfinite(trainer.params()).all():
        return dict(res, status="error", reason="non-finite parameters after the warm-up epoch")
    seconds = []
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        trainer.epoch()
        seconds.append(time.perf_counter() - start)
    rates = [m * n / s for s in seconds]
    res.update(status="ok", seconds=seconds, rates=rates, versions=_versions(job["tool"]),
               rate=dict(summary(rates), best=max(rates)))  # fmt: skip
    return res


def child_main(argv: list[str]) -> None:
    job = json.loads(argv[argv.index("--child") + 1])
    peer_env.pin(job["cores"], len(job["cores"]))
    try:
        res = run_job(job)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        import traceback

        res = {"status": "error", "reason": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()[-3000:]}  # fmt: skip
    print(peer_env.MARKER + json.dumps(res, default=float), flush=True)


# ---------------------------------------------------------------------- parent
def build_reference(workload, dtype: str, n: int, path: Path) -> None:
    """Data, the members' initial parameters and rates, and fastbp's loop after the gate epoch."""
    import numpy as np

    nets = workload.networks(dtype, seed=SEED)
    X, Y = workload.data(dtype, n=n)
    lrs = workload.learning_rates()
    g = min(GATE_ROWS, n)
    P0 = np.stack([net.params.copy() for net in nets])
    for i, net in enumerate(nets):
        net.fit(X[:g], Y[:g], epochs=1, batch_size=1, optimizer="sgd", lr=float(lrs[i]),
                shuffle=True, seed=SEED + i, progress=False)  # fmt: skip
    P_gate = np.stack([net.params for net in nets])
    np.savez(path, X=X, Y=Y, P0=P0, P_gate=P_gate, lrs=lrs, gate_rows=g)


def _package_missing(tool: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(TOOLS[tool][0]) is None


def run(
    workloads,
    dtypes,
    tools=tuple(TOOLS),
    cores=None,
    repeats: int = 3,
    scale: float = 1.0,
    timeout: float = 1800.0,
    log=None,
) -> list[dict]:
    """Every tool × workload × dtype, one pinned child process each, one after another.

    Parameters
    ----------
    workloads : iterable of str
        Names in :data:`fastbp.workloads.ENSEMBLE_WORKLOADS`.
    dtypes : iterable of str
        Dtypes to run; a workload runs those of them it defines (W9: float64 only).
    tools : iterable of str
        Keys of :data:`TOOLS`.
    cores : list of int, optional
        The CPUs every child may use, and its thread count (default: all this process may use).
    repeats : int
        Timed epochs after the warm-up.
    scale : float
        Fraction of the workload's rows (smoke runs).
    timeout : float
        Seconds per child.
    log : callable, optional
        Called with one progress line per result.

    Returns
    -------
    list of dict
        One result per tool × workload × dtype: ``status`` (ok, missing, WRONG, error,
        timeout), ``rate`` {median, min, max, best} in net-steps/s, ``seconds``, the gate.
    """
    import tempfile

    from fastbp.workloads import ENSEMBLE_WORKLOADS

    cores = sorted(os.sched_getaffinity(0)) if cores is None else list(cores)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-ensemble-") as tmp:
        for name in workloads:
            w = ENSEMBLE_WORKLOADS[name]
            for dtype in dtypes:
                if dtype not in w.dtypes:
                    continue
                n = max(GATE_ROWS, int(round(w.n_examples * scale)))
                ref = Path(tmp) / f"{name}-{dtype}.npz"
                build_reference(w, dtype, n, ref)
                for tool in tools:
                    base = {"workload": name, "dtype": dtype, "tool": tool,
                            "label": TOOLS[tool][1], "cores": cores, "n": n,
                            "members": w.n_members, "metric": w.metric}  # fmt: skip
                    if _package_missing(tool):
                        res = {"status": "missing", "reason": f"{TOOLS[tool][0]} is not installed"}
                    else:
                        job = {"workload": name, "dtype": dtype, "tool": tool, "cores": cores,
                               "widths": list(w.widths), "ref": str(ref),
                               "repeats": repeats}  # fmt: skip
                        res = peer_env.run_script_child(str(HERE / "ensemble.py"), job,
                                                        str(ROOT), timeout,
                                                        threads=len(cores))  # fmt: skip
                    line = dict(base, **res)
                    results.append(line)
                    if log is not None:
                        rate = line.get("rate")
                        what = (f"{rate['median'] / 1e6:.3g} M {w.metric} (median)" if rate
                                else line.get("reason", ""))  # fmt: skip
                        log(f"  {name} {dtype} {tool}: {line['status']} {what}")
    return results


def _fastest(results: list[dict], tools) -> dict | None:
    ok = [r for r in results if r["tool"] in tools and r.get("status") == "ok"]
    return max(ok, key=lambda r: r["rate"]["median"]) if ok else None


def ratios(results: list[dict]) -> list[dict]:
    """Issue 26's speed ratios per workload × dtype, from the medians and from the bests.

    A ratio whose tools did not both run is kept, with ``value`` None and the reason.

    Returns
    -------
    list of dict
        ``workload``, ``dtype``, ``ratio`` (key), ``label``, ``median``, ``best``, ``versus``
        (the denominator tool used), ``target``, ``meets`` (median ≥ target), ``reason``.
    """
    out = []
    pairs = list(dict.fromkeys((r["workload"], r["dtype"]) for r in results))
    for workload, dtype in pairs:
        rows = [r for r in results if r["workload"] == workload and r["dtype"] == dtype]
        for key, num_tool, den_tools, label in RATIOS:
            num = _fastest(rows, (num_tool,))
            den = _fastest(rows, den_tools)
            entry = {"workload": workload, "dtype": dtype, "ratio": key, "label": label,
                     "median": None, "best": None, "versus": den["tool"] if den else None,
                     "target": target(workload, dtype, key), "meets": None}  # fmt: skip
            if num is None or den is None:
                absent = [t for t in (num_tool, *den_tools) if _fastest(rows, (t,)) is None]
                status = {r["tool"]: r.get("status", "not run") for r in rows}
                entry["reason"] = "no result from " + ", ".join(
                    f"{t} ({status.get(t, 'not run')})" for t in absent
                )
            else:
                entry["median"] = num["rate"]["median"] / den["rate"]["median"]
                entry["best"] = num["rate"]["best"] / den["rate"]["best"]
                if entry["target"] is not None:
                    entry["meets"] = entry["median"] >= entry["target"]
            out.append(entry)
    return out


def spread(r: dict) -> float:
    """(max − min) / median of a tool's timed rates: the noise of its repeats."""
    rate = r["rate"]
    return (rate["max"] - rate["min"]) / rate["median"]


def markdown(results: list[dict], ratio_rows: list[dict]) -> str:
    """The rate table (M net-steps/s, median and best) and the ratio table with targets."""
    lines = ["| workload | dtype | tool | median | best | spread | gate |",
             "|---|---|---|---:|---:|---:|---|"]  # fmt: skip
    for r in results:
        label = r.get("label") or TOOLS[r["tool"]][1]
        head = f"| {r['workload']} | {r['dtype']} | {label} (`{r['tool']}`)"
        if r.get("status") != "ok":
            why = r.get("reason", "")
            lines.append(f"{head} | {r.get('status')} | | | {why[:80]} |")
            continue
        gate = f"ok {r['gate_err']:.1e}" if "gate_err" in r else ""
        lines.append(f"{head} | {r['rate']['median'] / 1e6:.3g} | {r['rate']['best'] / 1e6:.3g} "
                     f"| {100 * spread(r):.0f} % | {gate} |")  # fmt: skip
    lines += ["", "| workload | dtype | ratio | median | best | versus | target |",
              "|---|---|---|---:|---:|---|---|"]  # fmt: skip
    for e in ratio_rows:
        if e["median"] is None:
            cells = f"— | — | {e.get('reason', '')}"
        else:
            cells = f"{e['median']:.3g}× | {e['best']:.3g}× | `{e['versus']}`"
        if e["target"] is None:
            goal = ""
        else:
            verdict = {True: "met", False: "**not met**", None: "not measured"}[e["meets"]]
            goal = f"≥ {e['target']:g}×: {verdict}"
        lines.append(f"| {e['workload']} | {e['dtype']} | {e['label']} | {cells} | {goal} |")
    return "\n".join(lines) + "\n"


def summary_rows(results: list[dict]) -> dict:
    """Medians of the rates per tool, for quick reading: {workload/dtype/tool: M net-steps/s}."""
    return {f"{r['workload']}/{r['dtype']}/{r['tool']}": r["rate"]["median"] / 1e6
            for r in results if r.get("status") == "ok"}  # fmt: skip


def median_spread(results: list[dict]) -> float | None:
    """The median over the tools of :func:`spread` (None when nothing ran)."""
    values = [spread(r) for r in results if r.get("status") == "ok"]
    return statistics.median(values) if values else None


if __name__ == "__main__":
    child_main(sys.argv)
