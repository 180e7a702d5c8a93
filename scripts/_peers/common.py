"""What every peer shares: the parameter layout, the correctness gate, timing and the job runners.

A *tool* is a ``tool_*`` module (or any object in tests) with

* ``Trainer(job, layers, X, Y)``: ``.epoch()`` runs one epoch of plain SGD over X, Y in order
  (batches of ``job["batch_size"]`` consecutive rows, learning rate ``job["lr"]``) through the
  code path that is timed; ``.params()`` returns ``[(W1, b1), ...]`` as numpy arrays with
  W[k] of shape (n_k, n_{k−1}), fastbp's orientation;
* ``GradOps(job, layers, X, Y, v)`` (optional): ``.forward()``, ``.loss_and_grad()`` and,
  where the tool has them, ``.hvp()`` and ``.gnvp()`` (H v and the Gauss-Newton G v; else
  ``hvp = None`` / ``gnvp = None``), all blocking until the result is ready; ``.grad_flat()``,
  ``.hvp_flat()`` and ``.gnvp_flat()`` give the results in fastbp's flat layout.

Parameters cross process boundaries in fastbp's flat layout ``[W1 row-major | b1 | W2 | ...]``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

#: Relative tolerance of the correctness gate: float64 results may differ from fastbp's only by
#: summation order; float32 ones by float32 rounding accumulated over a few hundred terms.
GATE_RTOL = {"float64": 1e-6, "float32": 1e-3}


# ---------------------------------------------------------------------- layout
def unflatten(flat: np.ndarray, widths: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split a flat fastbp parameter vector into [(W1, b1), ...] (copies)."""
    layers, pos = [], 0
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        W = flat[pos : pos + n_out * n_in].reshape(n_out, n_in).copy()
        pos += n_out * n_in
        b = flat[pos : pos + n_out].copy()
        pos += n_out
        layers.append((W, b))
    if pos != flat.shape[0]:
        raise ValueError(f"flat vector has {flat.shape[0]} entries, widths {widths} need {pos}")
    return layers


def flatten(layers) -> np.ndarray:
    """The inverse of :func:`unflatten`."""
    return np.concatenate([np.concatenate([np.ravel(W), np.ravel(b)]) for W, b in layers])


def torch_relu_mlp(layers):
    """A PyTorch ``nn.Sequential`` of Linear layers holding these (W, b) (in their dtype), with
    ReLU between them: the peer model of a fastbp ReLU network with the same parameters."""
    import torch
    from torch import nn

    mods: list = []
    for k, (W, b) in enumerate(layers):
        lin = nn.Linear(W.shape[1], W.shape[0]).to(torch.from_numpy(W).dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if k < len(layers) - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def torch_params(model) -> np.ndarray:
    """The parameters of :func:`torch_relu_mlp`'s model, flat in fastbp's layout."""
    from torch import nn

    mods = [m for m in model if isinstance(m, nn.Linear)]
    return flatten([(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in mods])


def one_hot(labels: np.ndarray, k: int, dtype) -> np.ndarray:
    out = np.zeros((labels.shape[0], k), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


# ---------------------------------------------------------------------- the gate
@dataclass
class Gate:
    """Outcome of a comparison with fastbp: ``err`` is max|got − ref| / max|ref|."""

    ok: bool
    err: float
    tol: float
    what: str

    def as_dict(self) -> dict:
        return {"gate_ok": self.ok, "gate_err": self.err, "gate_tol": self.tol,
                "gate_what": self.what}  # fmt: skip


def _relative(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return float("inf"), 1.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    if not np.isfinite(got).all():
        diff = float("inf")
    return diff, scale


def check_close(got: np.ndarray, ref: np.ndarray, dtype: str, what: str = "gradient") -> Gate:
    """Normwise check: max|got − ref| ≤ rtol · max|ref| (rtol from :data:`GATE_RTOL`)."""
    diff, scale = _relative(got, ref)
    rtol = GATE_RTOL[dtype]
    err = diff / scale if scale > 0 else diff
    return Gate(bool(diff <= rtol * scale), err, rtol, what)


def check_step(p0: np.ndarray, p1: np.ndarray, p1_ref: np.ndarray, lr: float, dtype: str) -> Gate:
    """Check the first SGD step: (p0 − p1)/lr, the gradient the tool applied, against fastbp's.

    Both p1 are rounded to ``dtype`` once, so each implied gradient carries up to
    eps · max|p0| / lr of rounding; twice that is allowed on top of rtol · max|gradient|.
    """
    p0 = np.asarray(p0, np.float64)
    if np.shape(p1) != p0.shape:
        return Gate(False, float("inf"), GATE_RTOL[dtype], "first SGD step (wrong size)")
    step = (p0 - np.asarray(p1, np.float64)) / lr
    step_ref = (p0 - np.asarray(p1_ref, np.float64)) / lr
    diff, scale = _relative(step, step_ref)
    rtol = GATE_RTOL[dtype]
    rounding = 2.0 * float(np.finfo(dtype).eps) * float(np.max(np.abs(p0))) / lr
    err = diff / scale if scale > 0 else diff
    return Gate(bool(diff <= rtol * scale + rounding), err, rtol, "first SGD step")


# ---------------------------------------------------------------------- timing
def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def interleaved(numerator, denominator, repeats: int, min_seconds: float,
                others: dict | None = None) -> dict:  # fmt: skip
    """Median of time(numerator) / time(denominator), the two timed back to back per repeat.

    Each repeat times enough calls of each to last ≥ ``min_seconds`` and takes the mean per call,
    so a load spike on a shared machine tilts one ratio rather than the median.  ``others``
    (name → function) are timed in the same repeats, after the two: ``t_<name>`` holds the
    summary of their time per call, ``<name>_ratio`` that of time(other) / time(denominator).
    """

    def calls_for(func) -> int:
        start = time.perf_counter()
        func()
        return max(1, int(min_seconds / max(time.perf_counter() - start, 1e-7)))

    def per_call(func, inner: int) -> float:
        start = time.perf_counter()
        for _ in range(inner):
            func()
        return (time.perf_counter() - start) / inner

    funcs = [numerator, denominator, *(others or {}).values()]
    inner = [calls_for(func) for func in funcs]
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeats):
        for func, n, t in zip(funcs, inner, times, strict=True):
            t.append(per_call(func, n))
    t_num, t_den = times[0], times[1]
    ratios = [a / b for a, b in zip(t_num, t_den, strict=True)]
    out = {"ratio": summary(ratios), "ratios": ratios, "t_num": summary(t_num),
           "t_den": summary(t_den)}  # fmt: skip
    for name, t in zip(others or {}, times[2:], strict=True):
        out[f"t_{name}"] = summary(t)
        out[f"{name}_ratio"] = summary([a / b for a, b in zip(t, t_den, strict=True)])
    return out


def blas_info() -> list[dict]:
    """The BLAS/OpenMP libraries loaded in this process, as threadpoolctl reports them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "prefix")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info()]


# ---------------------------------------------------------------------- jobs
def run_train(job: dict, tool) -> dict:
    """W1–W3: gate on the first SGD step, one warm-up epoch, then ``repeats`` timed epochs."""
    ref = np.load(job["ref"])
    X, Y, p0 = ref["X"], ref["Y"], ref["p0"]
    widths, bs, lr, dtype = job["widths"], job["batch_size"], job["lr"], job["dtype"]
    layers0 = unflatten(p0, widths)
    res = {"n": int(X.shape[0])}

    start = time.perf_counter()
    first = tool.Trainer(job, layers0, X[:bs], Y[:bs])
    built = time.perf_counter()
    first.epoch()
    res["build_s"] = built - start
    res["first_step_s"] = time.perf_counter() - built
    gate = check_step(p0, flatten(first.params()), ref["p1"], lr, dtype)
    res.update(gate.as_dict())
    if not gate.ok:
        res["status"] = "WRONG"
        return res

    trainer = tool.Trainer(job, layers0, X, Y)
    start = time.perf_counter()
    trainer.epoch()
    res["warmup_epoch_s"] = time.perf_counter() - start
    # Information only: after a whole epoch, float32 rounding differences may have grown.
    res["epoch_err"] = check_close(flatten(trainer.params()), ref["p_epoch"], dtype).err

    seconds = []
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        trainer.epoch()
        seconds.append(time.perf_counter() - start)
    n = X.shape[0]
    rates = [n / s for s in seconds]
    res.update(status="ok", seconds=seconds, rates=rates, rate=summary(rates),
               seconds_per_step=statistics.median(seconds) / (n // bs))  # fmt: skip
    return res


def run_grad(job: dict, tool) -> list[dict]:
    """W4 (gradient / forward) or W5 (H v and G v / gradient) at each batch in ``job["batches"]``.

    W5 gates the gradient, then H v, then G v (where the tool has it) against fastbp's, stopping
    at the first that fails (``gate_*`` describes that one, else H v's; ``gates`` every one), and
    times H v, G v and the gradient interleaved in the same repeats; ``median_s`` holds the
    median seconds per call of each.
    """
    ref = np.load(job["ref"])
    X, Y, p0, v = ref["X"], ref["Y"], ref["p0"], ref["v"]
    layers0 = unflatten(p0, job["widths"])
    w5 = job["workload"] == "W5"
    out = []
    for b in job["batches"]:
        res = {"batch": b}
        out.append(res)
        start = time.perf_counter()
        ops = tool.GradOps(job, layers0, X[:b], Y[:b], v)
        if w5 and getattr(ops, "hvp", None) is None:
            res.update(status="n/a", reason="no Hessian-vector product in this tool")
            continue
        has_gnvp = w5 and getattr(ops, "gnvp", None) is not None
        ops.loss_and_grad()
        res["first_grad_s"] = time.perf_counter() - start
        # (name, the call that computes it or None, its result in fastbp's layout, what)
        checks = [("grad", None, ops.grad_flat, "gradient")]
        if w5:
            checks.append(("hvp", ops.hvp, ops.hvp_flat, "Hessian-vector"))
        if has_gnvp:
            checks.append(("gnvp", ops.gnvp, ops.gnvp_flat, "Gauss-Newton-vector"))
        res["gates"] = {}
        for name, call, result, what in checks:
            if call is not None:
                start = time.perf_counter()
                call()
                res[f"first_{name}_s"] = time.perf_counter() - start
            gate = check_close(result(), ref[f"{name}{b}"], job["dtype"], what)
            res["gates"][name] = gate.err
            if not gate.ok:
                break
            if name == ("hvp" if w5 else "grad"):
                shown = gate  # the numerator's own gate, unless a later one fails
        res.update((gate if not gate.ok else shown).as_dict())
        if not gate.ok:
            res["status"] = "WRONG"
            continue
        if job["workload"] == "W4":
            timing = interleaved(ops.loss_and_grad, ops.forward, job["repeats"],
                                 job["min_seconds"])  # fmt: skip
            res.update(numerator="loss_and_gradient", denominator="forward")
        else:
            others = {"gnvp": ops.gnvp} if has_gnvp else None
            timing = interleaved(ops.hvp, ops.loss_and_grad, job["repeats"], job["min_seconds"],
                                 others)  # fmt: skip
            res.update(numerator="hvp", denominator="loss_and_gradient")
            res["median_s"] = {"hvp": timing["t_num"]["median"],
                               "gnvp": timing["t_gnvp"]["median"] if has_gnvp else None,
                               "loss_and_gradient": timing["t_den"]["median"]}  # fmt: skip
            if not has_gnvp:
                res["gnvp"] = "n/a: no Gauss-Newton-vector product in this tool"
        res.update(status="ok", **timing)
    return out


def run_peak(job: dict) -> dict:
    """The one-core (or ``threads``-core) matmul peak: n × n ``np.dot`` in float64 and float32."""
    n, res = job["size"], {}
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        A = rng.standard_normal((n, n)).astype(dtype)
        B = rng.standard_normal((n, n)).astype(dtype)
        C = np.empty((n, n), dtype=dtype)
        np.dot(A, B, out=C)
        rates = []
        for _ in range(job["repeats"]):
            start = time.perf_counter()
            np.dot(A, B, out=C)
            rates.append(2.0 * n**3 / (time.perf_counter() - start) / 1e9)
        res[dtype] = {"best": max(rates), "median": statistics.median(rates)}
    res["status"] = "ok"
    return res
