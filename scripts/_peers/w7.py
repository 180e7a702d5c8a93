"""W7: one-row calls from a Python loop, and the two-thread scaling of concurrent inference.

W7 times, on the W1 network (8-32-32-1, ReLU, squared loss, float64), what a user who calls a
model row by row pays per call, median µs:

* ``forward``: the prediction for one row;
* ``loss_grad``: the loss and gradient of one row;
* ``sgd``: one SGD step on one row (fastbp: ``net.partial_fit``);
* ``adam32``: one Adam step on a batch of 32 rows (fastbp: ``partial_fit(..., optimizer="adam",
  batch_size=32)``).

Peers, each written the strongest way we know: **numpy**, the 3-matmul loop (and backprop and
the updates written out with ``@``); **JAX**, ``jax.jit`` of the forward pass, of
``value_and_grad``, and of the whole SGD/Adam step with its buffers donated
(``donate_argnums``), inputs put on the device beforehand, ``block_until_ready`` on every
result; **PyTorch eager**, ``nn.Sequential`` under ``inference_mode`` for the forward pass and
``optim.SGD``/``optim.Adam`` for the steps, inputs already tensors.  fastbp and numpy get numpy
rows (views of one array, sliced beforehand).  Every tool starts from fastbp's He-normal
parameters and must reproduce fastbp's forward output, gradient, SGD step and Adam step (rtol
1e-6, :data:`_peers.common.GATE_RTOL`) before it is timed.

Timing: each op is called 200 times to warm up, then ``repeats`` blocks of ``calls`` calls, the
rows cycling through 256 prepared ones; per-call time = block time / calls, median and min–max
over the blocks.  The Python loop and the call of a small closure (the same for every tool) are
included: that is what a user's loop pays.

The concurrency job (``kind="threads"``) times ``net.predict`` on 4,096 rows into
64-256-256-10 (float64, BLAS at one thread): ``calls`` calls from one thread, then the same
calls split over two threads on one network; speed-up = one-thread time / two-thread time.

Each job runs in its own process: ``python scripts/_peers/w7.py '<job as JSON>'``, pinned to its
cores with every thread count set before numpy loads (:mod:`_peers.env`); it prints one
``@@RESULT <json>`` line.  :func:`run` is the parent side, used by ``scripts/bench_overhead.py``
and ``scripts/bench_peers.py --workloads W7``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path[0] = str(HERE.parent)  # import the package _peers, not this folder's modules

from _peers import env as peer_env  # noqa: E402

OPS = ("forward", "loss_grad", "sgd", "adam32")
OP_LABELS = {
    "forward": "forward of one row",
    "loss_grad": "loss and gradient of one row",
    "sgd": "one SGD step on one row",
    "adam32": "one Adam step on a batch of 32",
}
TOOLS = ("fastbp", "numpy", "jax", "torch")
TOOL_LABELS = {"fastbp": "fastbp", "numpy": "numpy 3-matmul loop", "jax": "JAX jax.jit",
               "torch": "PyTorch eager"}  # fmt: skip
WIDTHS = (8, 32, 32, 1)
N_ROWS = 256
LR = 1e-4
ADAM = (0.9, 0.999, 1e-8)


# ---------------------------------------------------------------------- child: data
def _data(dtype: str = "float64"):
    import numpy as np

    from fastbp.workloads import W1

    net = W1.network(dtype)
    X, Y = W1.data(dtype, n=N_ROWS)
    return net.params.copy(), np.ascontiguousarray(X), np.ascontiguousarray(Y)


def _timed(fn, calls: int, repeats: int) -> dict:
    for k in range(200):
        fn(k)
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for k in range(calls):
            fn(k)
        per_call.append((time.perf_counter() - start) / calls * 1e6)
    return {"median_us": statistics.median(per_call), "min_us": min(per_call),
            "max_us": max(per_call), "us": per_call}  # fmt: skip


# ---------------------------------------------------------------------- child: tools
def _fastbp(p0, X, Y):
    import numpy as np

    import fastbp as fb

    spec = fb.NetworkSpec(list(WIDTHS), ["relu", "relu"], "squared", "float64")

    def fresh() -> fb.Network:
        net = fb.Network(spec, init="zeros")
        net.params = p0
        return net

    rows = [X[i : i + 1] for i in range(N_ROWS)]
    ys = [Y[i : i + 1] for i in range(N_ROWS)]
    blocks = [(X[i : i + 32], Y[i : i + 32]) for i in range(0, N_ROWS, 32)]
    gate = {"forward": fresh().forward(rows[0]).ravel(),
            "loss_grad": fresh().loss_and_gradient(rows[0], ys[0])[1]}  # fmt: skip
    net = fresh()
    net.partial_fit(rows[0], ys[0], lr=LR)
    gate["sgd"] = net.params.copy()
    net = fresh()
    net.partial_fit(*blocks[0], optimizer="adam", lr=LR, batch_size=32)
    gate["adam32"] = net.params.copy()

    fwd, lg, sgd, adam = fresh(), fresh(), fresh(), fresh()
    ops = {
        "forward": lambda k: fwd.forward(rows[k % N_ROWS]),
        "loss_grad": lambda k: lg.loss_and_gradient(rows[k % N_ROWS], ys[k % N_ROWS]),
        "sgd": lambda k: sgd.partial_fit(rows[k % N_ROWS], ys[k % N_ROWS], lr=LR),
        "adam32": lambda k: adam.partial_fit(
            *blocks[k % 8], optimizer="adam", lr=LR, batch_size=32
        ),  # fmt: skip
    }
    return ops, {k: np.asarray(v, np.float64) for k, v in gate.items()}


def _layers(p0):
    from _peers.common import unflatten

    return unflatten(p0, list(WIDTHS))


def _numpy(p0, X, Y):
    import numpy as np

    from _peers.common import flatten

    def make():
        return [(W.copy(), b.copy()) for W, b in _layers(p0)]

    def forward(P, x):
        (W1, b1), (W2, b2), (W3, b3) = P
        h = np.maximum(x @ W1.T + b1, 0.0)
        h = np.maximum(h @ W2.T + b2, 0.0)
        return h @ W3.T + b3

    def loss_grad(P, x, y):
        (W1, b1), (W2, b2), (W3, b3) = P
        m = x.shape[0]
        z1 = x @ W1.T + b1
        a1 = np.maximum(z1, 0.0)
        z2 = a1 @ W2.T + b2
        a2 = np.maximum(z2, 0.0)
        d3 = (a2 @ W3.T + b3) - y
        J = 0.5 * float(np.sum(d3 * d3)) / m
        d2 = (d3 @ W3) * (z2 > 0)
        d1 = (d2 @ W2) * (z1 > 0)
        grads = [(d1.T @ x / m, d1.sum(0) / m), (d2.T @ a1 / m, d2.sum(0) / m),
                 (d3.T @ a2 / m, d3.sum(0) / m)]  # fmt: skip
        return J, grads

    def sgd(P, x, y):
        _, grads = loss_grad(P, x, y)
        for (W, b), (gW, gb) in zip(P, grads, strict=True):
            W -= LR * gW
            b -= LR * gb

    class Adam:
        def __init__(self, P):
            self.P, self.t = P, 0
            self.m = [np.zeros_like(a) for pair in P for a in pair]
            self.v = [np.zeros_like(a) for pair in P for a in pair]

        def step(self, x, y):
            b1, b2, eps = ADAM
            _, grads = loss_grad(self.P, x, y)
            self.t += 1
            c1, c2 = 1.0 / (1.0 - b1**self.t), 1.0 / (1.0 - b2**self.t)
            params = [a for pair in self.P for a in pair]
            flat_grads = [g for pair in grads for g in pair]
            for p, g, m, v in zip(params, flat_grads, self.m, self.v, strict=True):
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                p -= LR * (m * c1) / (np.sqrt(v * c2) + eps)

    rows = [X[i : i + 1] for i in range(N_ROWS)]
    ys = [Y[i : i + 1] for i in range(N_ROWS)]
    blocks = [(X[i : i + 32], Y[i : i + 32]) for i in range(0, N_ROWS, 32)]
    P = make()
    gate = {"forward": forward(P, rows[0]).ravel(),
            "loss_grad": flatten(loss_grad(P, rows[0], ys[0])[1])}  # fmt: skip
    P = make()
    sgd(P, rows[0], ys[0])
    gate["sgd"] = flatten(P)
    opt = Adam(make())
    opt.step(*blocks[0])
    gate["adam32"] = flatten(opt.P)

    Pf, Pl, Ps, opt = make(), make(), make(), Adam(make())
    ops = {
        "forward": lambda k: forward(Pf, rows[k % N_ROWS]),
        "loss_grad": lambda k: loss_grad(Pl, rows[k % N_ROWS], ys[k % N_ROWS]),
        "sgd": lambda k: sgd(Ps, rows[k % N_ROWS], ys[k % N_ROWS]),
        "adam32": lambda k: opt.step(*blocks[k % 8]),
    }
    return ops, gate


def _jax(p0, X, Y):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from _peers.common import flatten

    def forward(P, x):
        for W, b in P[:-1]:
            x = jax.nn.relu(x @ W.T + b)
        W, b = P[-1]
        return x @ W.T + b

    def loss(P, x, y):
        d = forward(P, x) - y
        return 0.5 * jnp.sum(d * d) / x.shape[0]

    def sgd_step(P, x, y):
        g = jax.grad(loss)(P, x, y)
        return jax.tree.map(lambda p, d: p - LR * d, P, g)

    def adam_step(P, m, v, t, x, y):
        b1, b2, eps = ADAM
        g = jax.grad(loss)(P, x, y)
        t = t + 1
        m = jax.tree.map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
        v = jax.tree.map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
        c1, c2 = 1.0 / (1.0 - b1**t), 1.0 / (1.0 - b2**t)
        P = jax.tree.map(lambda p, m_, v_: p - LR * (m_ * c1) / (jnp.sqrt(v_ * c2) + eps), P, m, v)
        return P, m, v, t

    fwd = jax.jit(forward)
    vg = jax.jit(jax.value_and_grad(loss))
    sgd = jax.jit(sgd_step, donate_argnums=0)
    adam = jax.jit(adam_step, donate_argnums=(0, 1, 2, 3))

    def make():
        return tuple((jnp.array(W), jnp.array(b)) for W, b in _layers(p0))

    def zeros():
        return jax.tree.map(jnp.zeros_like, make())

    def host(P):
        return flatten([(np.asarray(W), np.asarray(b)) for W, b in P])

    rows = [jax.device_put(X[i : i + 1]) for i in range(N_ROWS)]
    ys = [jax.device_put(Y[i : i + 1]) for i in range(N_ROWS)]
    blocks = [(jax.device_put(X[i : i + 32]), jax.device_put(Y[i : i + 32]))
              for i in range(0, N_ROWS, 32)]  # fmt: skip
    P = make()
    gate = {"forward": np.asarray(fwd(P, rows[0])).ravel(),
            "loss_grad": host(vg(P, rows[0], ys[0])[1]),
            "sgd": host(sgd(make(), rows[0], ys[0]))}  # fmt: skip
    gate["adam32"] = host(adam(make(), zeros(), zeros(), jnp.asarray(0.0), *blocks[0])[0])

    state = {"sgd": make(), "adam": (make(), zeros(), zeros(), jnp.asarray(0.0))}
    Pf = make()

    def run_sgd(k):
        state["sgd"] = sgd(state["sgd"], rows[k % N_ROWS], ys[k % N_ROWS])
        jax.block_until_ready(state["sgd"])

    def run_adam(k):
        state["adam"] = adam(*state["adam"], *blocks[k % 8])
        jax.block_until_ready(state["adam"])

    ops = {
        "forward": lambda k: fwd(Pf, rows[k % N_ROWS]).block_until_ready(),
        "loss_grad": lambda k: jax.block_until_ready(vg(Pf, rows[k % N_ROWS], ys[k % N_ROWS])),
        "sgd": run_sgd,
        "adam32": run_adam,
    }
    return ops, gate


def _torch(p0, X, Y, threads: int = 1):
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    from _peers.common import flatten, torch_params, torch_relu_mlp

    def make():
        return torch_relu_mlp(_layers(p0))

    host = torch_params

    def loss(model, x, y):
        d = model(x) - y
        return 0.5 * (d * d).sum() / x.shape[0]

    def grads(model) -> np.ndarray:
        mods = [m for m in model if isinstance(m, nn.Linear)]
        return flatten([(m.weight.grad.numpy(), m.bias.grad.numpy()) for m in mods])

    rows = [torch.from_numpy(X[i : i + 1].copy()) for i in range(N_ROWS)]
    ys = [torch.from_numpy(Y[i : i + 1].copy()) for i in range(N_ROWS)]
    blocks = [(torch.from_numpy(X[i : i + 32].copy()), torch.from_numpy(Y[i : i + 32].copy()))
              for i in range(0, N_ROWS, 32)]  # fmt: skip

    def step(model, opt, x, y):
        opt.zero_grad()
        loss(model, x, y).backward()
        opt.step()

    m = make()
    with torch.inference_mode():
        gate = {"forward": m(rows[0]).numpy().ravel()}
    J = loss(m, rows[0], ys[0])
    J.backward()
    gate["loss_grad"] = grads(m)
    m = make()
    step(m, torch.optim.SGD(m.parameters(), lr=LR), rows[0], ys[0])
    gate["sgd"] = host(m)
    m = make()
    b1, b2, eps = ADAM
    step(m, torch.optim.Adam(m.parameters(), lr=LR, betas=(b1, b2), eps=eps), *blocks[0])
    gate["adam32"] = host(m)

    mf, ml, ms, ma = make(), make(), make(), make()
    opt_s = torch.optim.SGD(ms.parameters(), lr=LR)
    opt_a = torch.optim.Adam(ma.parameters(), lr=LR, betas=(b1, b2), eps=eps)

    def forward(k):
        with torch.inference_mode():
            return mf(rows[k % N_ROWS])

    def loss_grad(k):
        ml.zero_grad()
        J = loss(ml, rows[k % N_ROWS], ys[k % N_ROWS])
        J.backward()
        return J.item()

    ops = {
        "forward": forward,
        "loss_grad": loss_grad,
        "sgd": lambda k: step(ms, opt_s, rows[k % N_ROWS], ys[k % N_ROWS]),
        "adam32": lambda k: step(ma, opt_a, *blocks[k % 8]),
    }
    return ops, gate


def _versions(tool: str) -> dict:
    import numpy as np

    out = {"numpy": np.__version__}
    if tool == "jax":
        import jax

        out["jax"] = jax.__version__
    elif tool == "torch":
        import torch

        out["torch"] = torch.__version__
    elif tool == "fastbp":
        import numba

        import fastbp

        out.update(fastbp=fastbp.__version__, numba=numba.__version__)
    return out


def run_tool(job: dict) -> dict:
    """Child side of W7: build the tool's ops, gate values, then time every op."""
    p0, X, Y = _data()
    builders = {"fastbp": _fastbp, "numpy": _numpy, "jax": _jax, "torch": _torch}
    ops, gate = builders[job["tool"]](p0, X, Y)
    timings = {op: _timed(ops[op], job["calls"], job["repeats"]) for op in OPS}
    return {"status": "ok", "timings": timings, "versions": _versions(job["tool"]),
            "gate": {k: [float(x) for x in v] for k, v in gate.items()}}  # fmt: skip


def run_threads(job: dict) -> dict:
    """Child side of the concurrency job: one thread vs two threads on one network."""
    import threading

    import numpy as np

    import fastbp as fb

    spec = fb.NetworkSpec([64, 256, 256, 10], ["relu", "relu"], "softmax_cross_entropy")
    net = fb.Network(spec, init="he_normal", seed=0)
    X = np.random.default_rng(0).normal(size=(4096, 64))
    calls = job["calls"]
    expected = net.predict(X)

    def work(n: int, out: list) -> None:
        out.extend(net.predict(X) for _ in range(n))

    one, two, cpu_two = [], [], []
    for _ in range(job["repeats"]):
        results: list = []
        start = time.perf_counter()
        work(calls, results)
        one.append(time.perf_counter() - start)
        outs: list[list] = [[], []]
        threads = [threading.Thread(target=work, args=(calls // 2, outs[i])) for i in range(2)]
        start, cpu = time.perf_counter(), time.process_time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        two.append(time.perf_counter() - start)
        # CPU seconds per wall second of the two-thread run: 2 when both threads ran at once the
        # whole time (the GIL released), 1 when they took turns (or other load held a core).
        cpu_two.append((time.process_time() - cpu) / two[-1])
        if not all(np.array_equal(o, expected) for o in results + outs[0] + outs[1]):
            return {"status": "WRONG", "reason": "a threaded predict differs from the serial one"}
    speedups = [a / b for a, b in zip(one, two, strict=True)]
    return {"status": "ok", "one_thread_s": one, "two_threads_s": two, "speedups": speedups,
            "speedup": statistics.median(speedups), "calls": calls,
            "cpu_per_wall_two_threads": statistics.median(cpu_two),
            "versions": _versions("fastbp")}  # fmt: skip


def child_main() -> None:
    job = json.loads(sys.argv[1])
    peer_env.pin(job["cores"], job["threads"])
    try:
        from _peers.small_batch import run_small

        kinds = {"threads": run_threads, "ablation": run_ablation, "w7": run_tool,
                 "small": run_small}  # fmt: skip
        res = kinds[job["kind"]](job)
        try:
            from threadpoolctl import threadpool_info

            res["blas"] = [{k: lib.get(k) for k in ("internal_api", "version", "num_threads")}
                           for lib in threadpool_info()]  # fmt: skip
        except ImportError:
            pass
    except ImportError as exc:
        res = {"status": "missing", "reason": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        import traceback

        res = {"status": "error", "reason": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()[-3000:]}  # fmt: skip
    print(peer_env.MARKER + json.dumps(res), flush=True)


# ---------------------------------------------------------------------- parent
def spawn(job: dict, timeout: float = 900) -> dict:
    """Run one job in its own pinned process (OpenBLAS overrides unset, thread counts set)."""
    env, removed = peer_env.child_env(dict(os.environ), job["threads"])
    # The children import this checkout's fastbp, whatever is installed.
    root = str(HERE.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), json.dumps(job)],
                              env=env, capture_output=True, text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reason": f"no result within {timeout:g} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(peer_env.MARKER):
            res = json.loads(line[len(peer_env.MARKER) :])
            res["openblas_env_removed"] = removed
            return res
    return {"status": "error", "reason": f"exit code {proc.returncode}",
            "stderr": (proc.stderr or proc.stdout)[-2000:]}  # fmt: skip


def run(tools, cores=(1,), calls: int = 2000, repeats: int = 15, rounds: int = 1) -> list[dict]:
    """W7 for each tool (one pinned process per tool and round), gated against fastbp.

    With ``rounds`` > 1 the tools take turns and their blocks are pooled, so that load from other
    processes falls on every tool alike.  Returns one result dict per tool (fastbp first), with
    ``ratio[op]`` = tool time / fastbp time (above 1: fastbp is faster).
    """
    import numpy as np

    from _peers.common import check_close

    order = ["fastbp"] + [t for t in tools if t != "fastbp"]
    pooled: dict[str, dict] = {}
    for _ in range(rounds):
        for tool in order:
            job = {"kind": "w7", "tool": tool, "cores": list(cores), "threads": 1,
                   "calls": calls, "repeats": repeats}  # fmt: skip
            res = spawn(job)
            prev = pooled.get(tool)
            if prev is None or prev.get("status") != "ok" or res.get("status") != "ok":
                pooled[tool] = res if prev is None or prev.get("status") == "ok" else prev
                continue
            for op in OPS:
                prev["timings"][op]["us"] += res["timings"][op]["us"]
    results = []
    base = pooled.get("fastbp", {})
    for tool in order:
        res = dict(pooled[tool], tool=tool, label=TOOL_LABELS[tool])
        if res.get("status") == "ok":
            for op in OPS:
                us = res["timings"][op]["us"]
                res["timings"][op].update(median_us=statistics.median(us), min_us=min(us),
                                          max_us=max(us))  # fmt: skip
            if tool != "fastbp" and base.get("status") == "ok":
                gates = {op: check_close(np.array(res["gate"][op]), np.array(base["gate"][op]),
                                         "float64", op) for op in OPS}  # fmt: skip
                res["gate_ok"] = {op: g.ok for op, g in gates.items()}
                res["gate_err"] = {op: g.err for op, g in gates.items()}
        results.append(res)
    if base.get("status") == "ok":
        for res in results:
            if res.get("status") == "ok":
                res["ratio"] = {op: res["timings"][op]["median_us"]
                                / base["timings"][op]["median_us"] for op in OPS}  # fmt: skip
    return results


def run_concurrency(cores=(0, 1), calls: int = 40, repeats: int = 7) -> dict:
    """The two-thread scaling job (fastbp only), pinned to two cores, BLAS at one thread."""
    job = {"kind": "threads", "cores": list(cores), "threads": 1, "calls": calls,
           "repeats": repeats}  # fmt: skip
    return spawn(job)


def run_small_batches(cores=(1,), calls: int = 2000, repeats: int = 15) -> dict:
    """The small-batch job (:mod:`_peers.small_batch`): fastbp and PyTorch in one pinned process."""
    job = {"kind": "small", "cores": list(cores), "threads": 1, "calls": calls,
           "repeats": repeats}  # fmt: skip
    return spawn(job)


def run_ablations(cores=(1,), calls: int = 2000, repeats: int = 15) -> dict:
    """What each change of the one-row path buys (fastbp only, one pinned process)."""
    job = {"kind": "ablation", "cores": list(cores), "threads": 1, "calls": calls,
           "repeats": repeats}  # fmt: skip
    return spawn(job)


def markdown(results: list[dict]) -> str:
    """The W7 table: median µs per call [min–max], and tool / fastbp under each peer."""
    lines = ["| call | " + " | ".join(r["label"] for r in results) + " |",
             "|---|" + "---:|" * len(results)]  # fmt: skip
    for op in OPS:
        cells = []
        for r in results:
            if r.get("status") != "ok":
                cells.append(r.get("status", "?"))
                continue
            t = r["timings"][op]
            cell = f"{t['median_us']:.3g} µs"
            if r["tool"] != "fastbp" and "ratio" in r:
                cell += f" ({r['ratio'][op]:.3g}×)"
            if r.get("gate_ok") and not r["gate_ok"][op]:
                cell = f"**WRONG** ({r['gate_err'][op]:.1e})"
            cells.append(cell)
        lines.append(f"| {OP_LABELS[op]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- what each change buys
def run_ablation(job: dict) -> dict:
    """Child side of ``--ablation``: the one-row forward and SGD step of W1, rebuilt step by step
    from the checked path to the fast path, all in this one pinned process (blocks interleaved).

    forward: (a) the checked path (``as_features``: np.require, NaN check; the parameters'
    finiteness scanned; the chunk loop; ``forward_example`` with ten arguments through Numba's
    dispatcher; a copy of the output); (b) the cheap type/shape/contiguity check instead of
    ``as_features``; (c) finiteness of x and z checked inside the compiled call instead of
    scanning the parameters, and the plan packed into one array (``forward_row``, six
    arguments), still through the dispatcher; (d) the compiled entry point called directly
    (``DirectCall``) and the per-thread workspace: today's ``net.forward``.
    SGD step: (a) ``fit(X, Y, epochs=1, batch_size=1, shuffle=False)`` on the row, the way to
    take one step before ``partial_fit``; (b) ``partial_fit``'s checked path (``_run_epochs``);
    (c) the lean path (``FastPaths.partial_fit``) with the SGD kernel reached through
    ``specialise.sgd_example_epoch_dispatch`` as before issue 15's direct entry; (d) the same
    with the direct entry (``FastPaths.sgd_epoch``); (e) today's ``net.partial_fit``.
    """
    import types

    import numpy as np

    import fastbp as fb
    from fastbp import kernels, online, row_kernels
    from fastbp.lowered import quiet_if_no_jit
    from fastbp.specialise import sgd_example_epoch_dispatch
    from fastbp.train import partial_fit as checked_partial_fit

    class Dispatched(online.FastPaths):
        """FastPaths with the SGD kernel through specialise's dispatcher (the path before)."""

        def __init__(self, lowered) -> None:
            super().__init__(lowered)
            spec, plan, ws, params = self.spec, self.plan, self.ws, self.params

            def run(X, Y, order, *arrays_lr_l2_info):
                lr, l2, info = arrays_lr_l2_info[-3:]
                with quiet_if_no_jit():
                    sgd_example_epoch_dispatch(spec, X, Y, order, params, plan, ws, lr, l2, info)

            self.run = types.SimpleNamespace(call=run, entry=None)  # a direct entry, no entry point

        def sgd_epoch(self, l2):
            return self.run

    from fastbp.validate import as_features

    p0, X, Y = _data()
    spec = fb.NetworkSpec(list(WIDTHS), ["relu", "relu"], "squared", "float64")
    net = fb.Network(spec, init="zeros")
    net.params = p0
    p, ws = net.plan, net.lowered.ws
    fast = online.FastPaths(net.lowered)  # the same shape checks and packed plan as net's
    rows = [X[i : i + 1] for i in range(N_ROWS)]
    ys = [Y[i : i + 1] for i in range(N_ROWS)]

    def checked(x):
        x = as_features(x, spec)
        with net.lowered.shared():
            net.lowered.check_params()
            return net.lowered.forward(x, ws)

    def cheap_check(x):
        if not fast.is_row(x):
            raise AssertionError
        with net.lowered.shared():
            net.lowered.check_params()
            out = np.empty((1, 1))
            kernels.forward_example(x[0], net.params, p.widths, p.acts, p.out_kind, p.w_off,
                                    p.b_off, p.u_off, ws.Z, ws.A)  # fmt: skip
            out[0, 0] = ws.A[p.u_off[-1] - 1]
            return out

    def packed(x):
        if not fast.is_row(x):
            raise AssertionError
        net.lowered.guard.enter_read()
        try:
            out = np.empty((1, 1))
            if row_kernels.forward_row(x, net.params, fast.ipack, ws.Z, ws.A, out):
                raise AssertionError
            return out
        finally:
            net.lowered.guard.readers.pop()

    ref = [checked(r) for r in rows[:8]]
    for f in (cheap_check, packed, net.forward):
        assert all(np.allclose(f(r), o, rtol=1e-12) for r, o in zip(rows[:8], ref, strict=True))
    fit_net, slow_net, lean_net = net.copy(), net.copy(), net.copy()
    disp_net, direct_net = net.copy(), net.copy()
    for n in (slow_net, lean_net, disp_net, direct_net):
        n.partial_fit(rows[0], ys[0], lr=LR)
    disp, direct = Dispatched(disp_net.lowered), online.FastPaths(direct_net.lowered)
    assert disp.partial_fit(rows[1], ys[1], "sgd", LR, 0.9, 0.0, 1) is not None
    assert direct.partial_fit(rows[1], ys[1], "sgd", LR, 0.9, 0.0, 1) is not None
    assert np.array_equal(disp_net.params, direct_net.params)  # the same kernel, to the bit
    variants = {
        "forward (a) checked path": lambda k: checked(rows[k % N_ROWS]),
        "forward (b) + cheap type/shape check": lambda k: cheap_check(rows[k % N_ROWS]),
        "forward (c) + checks in the kernel, packed plan": lambda k: packed(rows[k % N_ROWS]),
        "forward (d) + direct entry point = net.forward": lambda k: net.forward(rows[k % N_ROWS]),
        "SGD step (a) fit(epochs=1) on the row": lambda k: fit_net.fit(
            rows[k % N_ROWS], ys[k % N_ROWS], epochs=1, lr=LR, shuffle=False, progress=False
        ),
        "SGD step (b) partial_fit, checked path": lambda k: checked_partial_fit(
            slow_net, rows[k % N_ROWS], ys[k % N_ROWS], lr=LR
        ),
        "SGD step (c) lean path, kernel via specialise's dispatcher": lambda k: disp.partial_fit(
            rows[k % N_ROWS], ys[k % N_ROWS], "sgd", LR, 0.9, 0.0, 1
        ),
        "SGD step (d) lean path, direct kernel entry": lambda k: direct.partial_fit(
            rows[k % N_ROWS], ys[k % N_ROWS], "sgd", LR, 0.9, 0.0, 1
        ),
        "SGD step (e) net.partial_fit (today's)": lambda k: lean_net.partial_fit(
            rows[k % N_ROWS], ys[k % N_ROWS], lr=LR
        ),
    }
    per = {name: [] for name in variants}
    for fn in variants.values():
        for k in range(200):
            fn(k)
    for _ in range(job["repeats"]):
        for name, fn in variants.items():  # interleaved: load hits every variant alike
            start = time.perf_counter()
            for k in range(job["calls"]):
                fn(k)
            per[name].append((time.perf_counter() - start) / job["calls"] * 1e6)
    return {"status": "ok", "us": per,
            "median_us": {k: statistics.median(v) for k, v in per.items()}}  # fmt: skip


if __name__ == "__main__":
    child_main()
