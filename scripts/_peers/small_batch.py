"""Small batches from a Python loop: a DQN-sized value network, fastbp against PyTorch eager.

The network is 4-64-64-2, ReLU, squared loss, float32 (the size of a DQN value net on a
4-dimensional state with 2 actions).  Timed per call, median µs, on 32 rows (and 1 row for
the forward pass):

* ``forward32``: fastbp ``net.forward``; PyTorch ``nn.Sequential`` under ``torch.no_grad()``
  and under ``torch.inference_mode()`` (both: the strongest eager formulation is not the same on
  every version);
* ``predict32``: fastbp ``net.predict`` (PyTorch: the same forward pass, no_grad);
* ``adam32``: one Adam step on the 32 rows; fastbp ``partial_fit(..., optimizer="adam",
  batch_size=32)``; PyTorch ``zero_grad()``, forward, ``mse_loss`` scaled to fastbp's
  ½·Σ(a − y)²/m, ``backward()``, ``step()`` of ``torch.optim.Adam``;
* ``forward1``: the forward pass of one row.

PyTorch runs with ``torch.set_num_threads(1)`` and inputs already tensors; fastbp gets numpy
arrays of its dtype.  Both start from the same He-normal parameters, and PyTorch must reproduce
fastbp's forward output and Adam step (rtol 1e-4, float32) before it is timed.  The tools run in
one pinned process (``python scripts/_peers/w7.py '{"kind": "small", ...}'``), their blocks
interleaved, so load from other processes falls on both alike; per-call time = block time /
calls, median over ``repeats`` blocks.
"""

from __future__ import annotations

import statistics
import time

WIDTHS = (4, 64, 64, 2)
ROWS = 32
LR = 1e-3
ADAM = (0.9, 0.999, 1e-8)
OPS = ("forward32", "predict32", "adam32", "forward1")
OP_LABELS = {
    "forward32": "forward of 32 rows",
    "predict32": "predict of 32 rows",
    "adam32": "one Adam step on 32 rows",
    "forward1": "forward of one row",
}


def _fastbp(X, Y):
    import fastbp as fb

    spec = fb.NetworkSpec(list(WIDTHS), ["relu", "relu"], "squared", "float32")
    net = fb.Network(spec, init="he_normal", seed=0)
    p0 = net.params.copy()
    trained = net.copy()
    trained.partial_fit(X, Y, optimizer="adam", lr=LR, batch_size=ROWS)
    gate = {"forward32": net.forward(X).ravel(), "adam32": trained.params.copy()}
    x1 = X[:1].copy()
    adam = net.copy()
    adam.partial_fit(X, Y, optimizer="adam", lr=LR, batch_size=ROWS)  # sets the state up
    ops = {
        "fastbp forward32": lambda: net.forward(X),
        "fastbp predict32": lambda: net.predict(X),
        "fastbp adam32": lambda: adam.partial_fit(X, Y, batch_size=ROWS),  # continues Adam
        "fastbp forward1": lambda: net.forward(x1),
    }
    return p0, ops, gate


def _torch(p0, X, Y):
    import torch
    from torch import nn

    torch.set_num_threads(1)
    from _peers.common import torch_params, torch_relu_mlp, unflatten

    layers = unflatten(p0, list(WIDTHS))

    def make():
        return torch_relu_mlp(layers)

    x, y, x1 = torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(X[:1].copy())
    half_mse = 0.5 * WIDTHS[-1]  # mse_loss averages over m·nr; fastbp's J is ½ Σ_j (a − y)² / m

    def step(model, opt):
        opt.zero_grad()
        loss = half_mse * nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()

    fwd = make()
    with torch.no_grad():
        gate = {"forward32": fwd(x).numpy().ravel()}
    m = make()
    step(m, torch.optim.Adam(m.parameters(), lr=LR, betas=ADAM[:2], eps=ADAM[2]))
    gate["adam32"] = torch_params(m)
    trained = make()
    opt = torch.optim.Adam(trained.parameters(), lr=LR, betas=ADAM[:2], eps=ADAM[2])

    def no_grad(inp):
        with torch.no_grad():
            return fwd(inp)

    def inference(inp):
        with torch.inference_mode():
            return fwd(inp)

    ops = {
        "torch no_grad forward32": lambda: no_grad(x),
        "torch inference_mode forward32": lambda: inference(x),
        "torch adam32": lambda: step(trained, opt),
        "torch no_grad forward1": lambda: no_grad(x1),
        "torch inference_mode forward1": lambda: inference(x1),
    }
    return ops, gate, torch.__version__


def run_small(job: dict) -> dict:
    """Child side: build both tools, gate PyTorch against fastbp, time interleaved blocks."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, WIDTHS[0])).astype(np.float32)
    Y = rng.normal(size=(ROWS, WIDTHS[-1])).astype(np.float32)
    p0, ops, gate = _fastbp(X, Y)
    versions = {"numpy": np.__version__}
    try:
        torch_ops, torch_gate, versions["torch"] = _torch(p0, X, Y)
    except ImportError as exc:
        torch_ops, torch_gate = {}, {}
        versions["torch"] = f"missing ({exc})"
    gate_err = {}
    for op, want in gate.items():
        if op in torch_gate:
            got = torch_gate[op]
            err = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-3)))
            gate_err[op] = err
            if err > 1e-4:
                return {"status": "WRONG", "reason": f"PyTorch {op} differs (rel. err {err:.1e})"}
    ops.update(torch_ops)
    calls, repeats = job["calls"], job["repeats"]
    for fn in ops.values():
        for _ in range(200):
            fn()
    per: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(repeats):
        for name, fn in ops.items():  # interleaved: load hits every op alike
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            per[name].append((time.perf_counter() - start) / calls * 1e6)
    median = {k: statistics.median(v) for k, v in per.items()}
    ratios = {}
    for name, us in median.items():
        if name.startswith("torch"):
            ratios[name] = us / median[f"fastbp {name.split()[-1]}"]
    return {"status": "ok", "us": per, "median_us": median, "ratio": ratios,
            "gate_err": gate_err, "versions": versions}  # fmt: skip


def markdown(res: dict) -> str:
    """The small-batch table: median µs per call, and PyTorch / fastbp (above 1: fastbp faster)."""
    if res.get("status") != "ok":
        return f"small batches: {res.get('status')} {res.get('reason', '')}\n"
    med = res["median_us"]
    lines = ["| call | fastbp | PyTorch eager | PyTorch / fastbp |", "|---|---:|---:|---:|"]
    peers = {
        "forward32": ["torch no_grad forward32", "torch inference_mode forward32"],
        "predict32": ["torch no_grad forward32"],
        "adam32": ["torch adam32"],
        "forward1": ["torch no_grad forward1", "torch inference_mode forward1"],
    }
    for op in OPS:
        mine = med[f"fastbp {op}"]
        for peer in peers[op]:
            if peer not in med:
                continue
            how = peer.split()[1] if "forward" in peer else "zero_grad/forward/backward/step"
            r = med[peer] / mine
            lines.append(f"| {OP_LABELS[op]} | {mine:.3g} µs | {med[peer]:.3g} µs ({how}) "
                         f"| {r:.3g}× |")  # fmt: skip
    return "\n".join(lines) + "\n"
