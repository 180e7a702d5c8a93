"""Kernels specialised to a spec: generated Python source, compiled by Numba, cached on disk.

The generic epoch kernel (:func:`fastbp.epochs.sgd_example_epoch`) reads the layer count,
activation codes and loss code from arrays at run time: every example rebuilds array views per
layer and dispatches on the activation and the loss inside the loop.  For per-example SGD on small
networks that bookkeeping costs as much as the arithmetic.  This module writes, for one spec, the
per-example SGD epoch as straight-line Python with

* baked in: the number of layers (the layer loop is unrolled), each layer's activation and its
  derivative, the loss and its output transform, and the dtype (constants and the step size are
  of the spec's dtype, so float32 networks compute in float32);
* left at run time: the widths.  Loops over units keep run-time trip counts: the issue's first
  try with the widths written in as constants ran slower (LLVM unrolled the short loops in ways
  that lost), and run-time widths let one compiled kernel serve every network with the same
  activations, loss, depth and dtype (a width sweep compiles once).

Every layer's weight, bias and workspace view is made once per call, in Python
(:func:`layer_arrays`), and passed as its own argument, not rebuilt per example.  The
forward pass computes z and a in one loop per layer for piecewise-linear activations; the others
get a loop of their own over the layer's units after the products (their σ has no branch, so
LLVM can vectorise it), and those whose σ' needs z compute σ and σ' there together
(:attr:`fastbp.activations.Activation.pair`) and keep σ'(z[k]) in place of z[k].  The backward
pass is fused with the update row by row (read the old row of W[k], accumulate dJ/da[k−1], write
the new row) and forms dJ/dz[k][j] = dJ/da[k][j] σ'(z[k][j]) as it reaches row j, from a[k] or
the stored σ'(z[k]), so it evaluates no transcendental function.
Rows whose dJ/dz is exactly 0 are skipped when λ = 0 (their update and their contribution to
dJ/da[k−1] are exactly 0).  The loss Σ J_i is accumulated from the output's dJ/dz (squared loss:
½ d²) and checked for NaN/inf once per block of :data:`CHECK_EVERY` examples: divergence stops
the kernel at the end of that block, and the training driver restores the parameters of the
last good epoch, as it does for the generic kernel.

The generated module is written to ``cache_root() / "generated" / <key> / <name>.py``, where the
key hashes the source itself, the fastbp, Numba and Python versions and
:data:`fastbp._jit.SPECIALISED_OPTIONS` (the safe fast-math set plus ``contract``, see there);
Numba's on-disk cache keeps its compiled code in ``__pycache__`` beside it.  The file is created
atomically (written to a temporary file in the same folder, then hard-linked into place, which
fails if another process got there first), so two processes generating the same kernel at once
cannot corrupt it or each other's result.  If the cache directory is not writable the source is
compiled in memory instead.  ``FASTBP_SPECIALISE=0`` turns specialisation off (the generic
kernels run); with ``NUMBA_DISABLE_JIT=1`` the generated module runs as plain Python.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
import types
from pathlib import Path

import numpy as np

from fastbp._cache import cache_root
from fastbp._jit import SPECIALISED_OPTIONS
from fastbp._version import __version__
from fastbp.activations import EXPRESSIONS, GENERATED_HELPERS, LEAKY_SLOPE, RECORDS
from fastbp.losses import SPECIALISED
from fastbp.lowering import Plan, Workspace
from fastbp.spec import NetworkSpec

#: Environment variable: ``0`` turns spec-specialised kernels off (generic kernels run instead).
SPECIALISE_ENV = "FASTBP_SPECIALISE"

#: The generated epoch checks the running loss for NaN/inf once per this many examples.
CHECK_EVERY = 64

_LOCK = threading.Lock()
_LOADED: dict[str, types.ModuleType] = {}


#: Losses the generator writes output code for (the records' ``specialised`` flag); any other
#: (``poisson``, the robust losses) trains with the generic kernel,
#: :func:`fastbp.epochs.sgd_example_epoch`, which never computes a − y for them.
SPECIALISED_LOSSES = SPECIALISED


def specialises(spec: NetworkSpec) -> bool:
    """Whether ``spec``'s per-example SGD epoch runs a generated kernel (:func:`enabled` and a
    loss in :data:`SPECIALISED_LOSSES`).

    Returns
    -------
    bool
    """
    return enabled() and spec.loss in SPECIALISED_LOSSES


def dropout_layers(spec: NetworkSpec) -> tuple[int, ...]:
    """The hidden layers k (1-based) with a dropout rate > 0: the generated source's only
    dependence on the rates (their values are read at run time).

    Returns
    -------
    tuple of int
    """
    return tuple(k for k in range(1, spec.n_layers) if spec.dropout[k - 1] > 0)


def enabled() -> bool:
    """Whether spec-specialised kernels are used (``FASTBP_SPECIALISE`` is not ``0``).

    Returns
    -------
    bool
        False when the environment variable ``FASTBP_SPECIALISE`` is ``0``, ``false`` or ``no``.
    """
    return os.environ.get(SPECIALISE_ENV, "1").strip().lower() not in ("0", "false", "no")


# ------------------------------------------------------------------------------ code generation
def _activation(name: str, z: str) -> str:
    """Expression for σ(z) of hidden activation ``name`` (z is a local of the array's dtype).

    The rule is the activation registry's (:data:`fastbp.activations.EXPRESSIONS`).  The scalar
    helpers compute in float64; ``DT(...)`` casts back so float32 stays float32.
    """
    return EXPRESSIONS[name][0].format(z=z)


def _derivative(name: str, g: str, z: str, a: str) -> str:
    """Expression for g · σ'(z) given z and a = σ(z).

    The rule is the activation registry's (:data:`fastbp.activations.EXPRESSIONS`).  ReLU and
    leaky ReLU test a > 0, which holds exactly when z > 0; z[k] is stored only for the
    activations whose record says ``needs_z``.
    """
    return EXPRESSIONS[name][1].format(g=g, z=z, a=a)


def _activation_lines(k: int, name: str) -> list[str]:
    """After layer k's products (inside its row loop, s{k} = z[k][j]): a[k] = σ(z[k]).

    Piecewise-linear activations apply σ in the row loop.  The others get a loop of their own
    over the layer's units (their σ has no branches to keep LLVM from vectorising it); those
    whose σ' needs z compute σ and σ' together there (:attr:`Activation.pair`) and keep σ'(z[k])
    in z{k} for the backward pass, so that it evaluates no transcendental function again.
    """
    rec = RECORDS[name]
    if not rec.curved:
        return [f"    a{k}[j] = {_activation(name, f's{k}')}"]
    if rec.pair is None:
        return [
            f"    a{k}[j] = s{k}",
            f"for j in range(n{k}):",
            f"    a{k}[j] = {_activation(name, f'a{k}[j]')}",
        ]
    return [
        f"    z{k}[j] = s{k}",
        f"for j in range(n{k}):",
        f"    a{k}[j], z{k}[j] = {rec.pair}(z{k}[j])",
    ]


def _output_lines(loss: str, r: int) -> list[str]:
    """dJ/dz[r] = prediction − target and the loss J_i of example i, after the output's z.

    Squared and logistic losses work row by row: these lines go inside the output layer's row
    loop, where s{r} = z[r][j], and set d{r} = dJ/dz[r][j] (neither z[r] nor a[r] is stored).
    Softmax needs every z[r][j] first: its lines run after the output layer's loop and fill
    dz{r}.
    """
    if loss == "squared":
        return [
            f"    d{r} = s{r} - Y[i, j]",
            f"    total += 0.5 * d{r} * d{r}",
        ]
    if loss == "logistic":
        return [
            f"    d{r} = DT(sigmoid(s{r})) - Y[i, j]",
            f"    total += softplus(s{r}) - Y[i, j] * s{r}",
        ]
    if loss != "softmax_cross_entropy":
        raise ValueError(f"no generated output code for loss {loss!r}")
    # Softmax cross-entropy, J_i = Σ_j y_j (logsumexp(z) − z_j), in the stable form.
    zr, ar, dr = f"z{r}", f"a{r}", f"dz{r}"
    return [
        f"zmax = {zr}[0]",
        f"for j in range(1, n{r}):",
        f"    zmax = max(zmax, {zr}[j])",
        f"for j in range(n{r}):",
        f"    {ar}[j] = math.exp({zr}[j] - zmax)",
        "esum = 0.0",
        f"for j in range(n{r}):",
        f"    esum += {ar}[j]",
        "inv = 1.0 / esum",
        "lse = zmax + math.log(esum)",
        # exp, its sum, probabilities, dJ/dz = p − y and the loss, each in its own loop: no loop
        # both stores and reduces, and no product is fused with the subtraction, so every path LLVM
        # may take (vector or scalar, chosen by run-time alias checks on the addresses) rounds
        # alike and results do not depend on where the arrays happen to lie in memory.
        f"for j in range(n{r}):",
        f"    {ar}[j] = {ar}[j] * inv",
        f"for j in range(n{r}):",
        f"    {dr}[j] = {ar}[j] - Y[i, j]",
        f"for j in range(n{r}):",
        "    if Y[i, j] != 0.0:",
        f"        total += Y[i, j] * (lse - {zr}[j])",
    ]


def _update_row_lines(k: int, prev: str, l2: bool, with_da: bool) -> list[str]:
    """Lines updating row j of W[k] (step = α dJ/dz[k][j] already set), accumulating dJ/da[k−1]."""
    if l2:
        body = ["    w{k} = W{k}[j, p]", "    W{k}[j, p] = decay * w{k} - step{k} * {prev}[p]"]
    else:
        body = ["    w{k} = W{k}[j, p]", "    W{k}[j, p] = w{k} - step{k} * {prev}[p]"]
    if with_da:
        body.insert(1, "    da{km1}[p] += w{k} * d{k}")
    return [f"for p in range(n{k - 1}):"] + [
        line.format(k=k, km1=k - 1, prev=prev) for line in body
    ]


def _dot_lines(k: int, prev: str) -> list[str]:
    """Open the row loop of layer k and compute s{k} = z[k][j] = b[k][j] + W[k][j, :] · prev."""
    return [
        f"for j in range(n{k}):",
        f"    s{k} = b{k}[j]",
        f"    for p in range(n{k - 1}):",
        f"        s{k} += W{k}[j, p] * {prev}[p]",
    ]


def _prev(k: int, drop: tuple[int, ...]) -> str:
    """What layer k reads: x, the dropped ad{k−1} of a layer with dropout, or a{k−1}."""
    return "x" if k == 1 else f"ad{k - 1}" if k - 1 in drop else f"a{k - 1}"


def _dropout_lines(k: int) -> list[str]:
    """After layer k's activation: keep scales m[k][j] (0 or 1/(1 − p_k)) and ã = a m, a pair of
    units per hash as :func:`fastbp.dropout_kernels.draw_masks` (counter o{k} + q, row 0)."""
    unit = [  # unit {u} from the half {h} of bits
        "    m{k}[{u}] = ZERO if {h} < thr{k} else keep{k}",
        "    ad{k}[{u}] = a{k}[{u}] * m{k}[{u}]",
    ]
    hi, lo = "(bits >> HALF_SHIFT)", "(bits & LOW_HALF)"
    lines = [f"for q in range(n{k} >> 1):", f"    bits = pair_bits(stream, o{k} + q)"]
    lines += [line.format(k=k, u="2 * q", h=hi) for line in unit]
    lines += [line.format(k=k, u="2 * q + 1", h=lo) for line in unit]
    lines += [f"if n{k} & 1:", f"    bits = pair_bits(stream, o{k} + (n{k} >> 1))"]
    return lines + [line.format(k=k, u=f"n{k} - 1", h=hi) for line in unit]


def _update_lines(k: int, l2: bool, drop: tuple[int, ...] = ()) -> list[str]:
    """Inside layer k's row loop, with d{k} = dJ/dz[k][j] set: update row j and b[k][j]."""
    prev = _prev(k, drop)
    row = [f"step{k} = alpha * d{k}"] + _update_row_lines(k, prev, l2, with_da=k > 1)
    row.append(f"b{k}[j] -= step{k}")
    if l2:
        return ["    " + line for line in row]
    # dJ/dz = 0 (a dead ReLU unit): the row's update, its bias step and its dJ/da contribution
    # are all exactly 0, so the row is skipped.
    return [f"    if d{k} != ZERO:"] + ["        " + line for line in row]


def _zero_da(k: int) -> list[str]:
    return [f"for p in range(n{k}):", f"    da{k}[p] = ZERO"] if k >= 1 else []


def _epoch_body(spec: NetworkSpec, l2: bool, drop: tuple[int, ...] = ()) -> list[str]:
    """The per-example loop body (indented under ``for t in range(...)``); ``drop``: the hidden
    layers with dropout (each example is one optimizer step, its masks those of that step)."""
    r = spec.n_layers
    acts = spec.activations
    lines = ["i = order[t]", "x = X[i]"]
    if drop:  # the step count in a local (written back at the end): no store per example
        lines += ["tstep += 1", "stream = step_stream(key, tstep)"]
    # Forward through the hidden layers: z[k] = W[k] a[k−1] + b[k], a[k] = σ(z[k]), one loop.
    for k in range(1, r):
        lines += _dot_lines(k, _prev(k, drop))
        lines += _activation_lines(k, acts[k - 1])
        lines += _dropout_lines(k) if k in drop else []
    prev = _prev(r, drop)
    lines += _zero_da(r - 1)
    if spec.loss == "softmax_cross_entropy":
        lines += _dot_lines(r, prev) + [f"    z{r}[j] = s{r}"]
        lines += _output_lines(spec.loss, r)
        lines += [f"for j in range(n{r}):", f"    d{r} = dz{r}[j]"] + _update_lines(r, l2, drop)
    else:
        # Output row j: forward, dJ/dz[r][j], loss, then the row's update at once (row j of
        # W[r] is not read again for this example).
        lines += _dot_lines(r, prev) + _output_lines(spec.loss, r) + _update_lines(r, l2, drop)
    # Backward fused with the update, layers r−1 down to 1: dJ/dz[k][j] = dJ/da[k][j] σ'(z[k][j])
    # is formed as row j is reached.
    for k in range(r - 1, 0, -1):
        lines += _zero_da(k - 1)
        g = f"(da{k}[j] * m{k}[j])" if k in drop else f"da{k}[j]"  # dJ/da[k] ⊙ m/(1 − p)
        if RECORDS[acts[k - 1]].pair is not None:  # z{k} holds σ'(z[k]) (_activation_lines)
            dk = f"{g} * z{k}[j]"
        else:
            dk = _derivative(acts[k - 1], g, f"z{k}[j]", f"a{k}[j]")
        lines += [f"for j in range(n{k}):", f"    d{k} = {dk}"] + _update_lines(k, l2, drop)
    return lines


def _arrays(spec: NetworkSpec) -> list[tuple[str, int]]:
    """The per-layer arrays the generated loop reads, as (quantity, layer k) in argument order.

    W[k] and b[k] for every layer; a[k] and dJ/da[k] for hidden layers; z[k] only where the
    code needs it (a derivative whose record says ``needs_z``, the softmax output); a[r] and
    dJ/dz[r] only for softmax, whose output is formed over the whole row first.  Each array is an
    argument of the compiled call, so leaving out the unused ones keeps ``partial_fit``'s one-row
    step cheap.
    """
    r, acts = spec.n_layers, spec.activations
    out: list[tuple[str, int]] = []
    for k in range(1, r + 1):
        out += [("W", k), ("b", k)]
        if k < r:
            out += [("z", k)] if RECORDS[acts[k - 1]].needs_z else []
            out += [("a", k), ("da", k)]
    if spec.loss == "softmax_cross_entropy":
        out += [("z", r), ("a", r), ("dz", r)]
    return out


def _array_names(spec: NetworkSpec) -> list[str]:
    """The generated loop's array arguments, by name (``W1``, ``b1``, ``a1``, ``da1``, ...)."""
    return [f"{q}{k}" for q, k in _arrays(spec)]


def _epoch_function(
    spec: NetworkSpec, name: str, l2: bool, drop: tuple[int, ...] = ()
) -> list[str]:
    """The per-example loop, on one array per layer quantity (widths from the arrays' shapes).

    Each view is its own argument, as in the hand-written loop the issue describes; Python makes
    the views (:func:`layer_arrays`).  An earlier version made them in a compiled entry point
    that called this loop: Numba links a callee's IR into its caller and optimises the whole
    module again, so that entry point doubled a new spec's compile time (1.6 s against 0.85 s
    for W1) for no speed at run time.
    """
    r = spec.n_layers
    dt = f"np.{spec.dtype}"
    what = "λ > 0" if l2 else "λ = 0; rows with dJ/dz = 0 are skipped"
    extra = "".join(f", m{k}, ad{k}" for k in drop) + (", key, step, rates" if drop else "")
    lines = [
        "@jit",
        f"def {name}(X, Y, order, {', '.join(_array_names(spec))}, lr, l2, info{extra}):",
        f'    """Per-example SGD over ``order``: θ ← θ − α (∇J_i(θ) + λ W-mask ⊙ θ) ({what}).',
        "",
        "    Writes W, b in place (and the workspaces z, a, da); info[0] += Σ J_i, info[1] +=",
        "    examples done, info[2] = 1 if the loss became NaN/inf (checked every CHECK_EVERY",
        "    examples; the kernel then stops).",
        '    """',
        f"    ZERO = {dt}(0.0)",
        f"    ONE = {dt}(1.0)",
        f"    SLOPE = {dt}({LEAKY_SLOPE!r})",
        f"    DT = {dt}",
        f"    alpha = {dt}(lr)",  # a new name: rebinding lr would make Numba unify the types
        f"    decay = {dt}(1.0 - lr * l2)",
        "    n0 = X.shape[1]",
    ]
    lines += [f"    n{k} = W{k}.shape[0]" for k in range(1, r + 1)]
    lines += ["    tstep = step[0]"] if drop else []
    for k in drop:  # rate, keep scale and the counter offset o{k} = n1 + ... + n{k−1}
        lines += [f"    keep{k} = {dt}(1.0 / (1.0 - rates[{k - 1}]))",
                  f"    thr{k} = threshold(rates[{k - 1}])",
                  f"    o{k} = {' + '.join(['0'] + [f'n{q}' for q in range(1, k)])}"]  # fmt: skip
    lines += [
        "    total = 0.0",
        "    done = 0",
        "    n = order.shape[0]",
        "    for t0 in range(0, n, CHECK_EVERY):",
        "        t1 = min(n, t0 + CHECK_EVERY)",
        "        for t in range(t0, t1):",
    ]
    lines += ["            " + line for line in _epoch_body(spec, l2, drop)]
    lines += [
        "        done = t1",
        "        if not math.isfinite(total):",
        "            info[2] = 1.0",
        "            break",
        "    info[0] += total",
        "    info[1] += done",
    ]
    return lines + (["    step[0] = tstep"] if drop else [])


def _ensemble_driver(spec: NetworkSpec, name: str, kernel: str) -> list[str]:
    """A parallel driver that runs ``kernel`` for every active member of an ensemble.

    The members' parameters are the rows of ``P`` (M, n_params); the driver makes each
    member's layer views (:func:`layer_arrays`, in compiled code) and calls the very kernel a
    single network's fit calls, in slot t's workspace (see :mod:`fastbp.ensemble_kernels` for
    the slots, the shared or per-member data and ``active``).
    """
    views = []
    for q, k in _arrays(spec):
        if q == "W":
            views.append(
                f"W{k} = row[w_off[{k - 1}] : w_off[{k - 1}] + widths[{k}] * widths[{k - 1}]]"
                f".reshape((widths[{k}], widths[{k - 1}]))"
            )
        elif q == "b":
            views.append(f"b{k} = row[b_off[{k - 1}] : b_off[{k - 1}] + widths[{k}]]")
        else:
            buf = "Z" if q == "z" else "A" if q == "a" else "D"
            views.append(f"{q}{k} = {buf}[u_off[{k - 1}] : u_off[{k}]]")
    call = (
        f"{kernel}(X3[min(i, X3.shape[0] - 1)], Y3[min(i, Y3.shape[0] - 1)], orders[i, lo:hi], "
        f"{', '.join(_array_names(spec))}, float(lrs[i]), float(l2s[i]), inf)"
    )
    lines = [
        "@jit_parallel",
        f"def {name}(X3, Y3, orders, lo, hi, P, widths, w_off, b_off, u_off, ZS, AS, DS, lrs, l2s,",
        "        info, active, PW, IW):",
        f'    """``{kernel}`` for every active member (rows of P), members spread over the',
        "    threads: slot t runs a contiguous block of members in workspace t (ZS[t], AS[t],",
        '    DS[t]), each on a private copy of its row (PW[t], IW[t])."""',
        "    M = P.shape[0]",
        "    T = AS.shape[0]",
        "    for t in prange(T):",
        "        for i in range(t * M // T, (t + 1) * M // T):",
        "            if active[i] != 0:",
        "                row, inf = private_params(t, i, P, info, PW, IW)",
        "                Z = ZS[t]",
        "                A = AS[t]",
        "                D = DS[t]",
    ]
    lines += ["                " + v for v in views]
    lines += [
        "                " + call,
        "                P[i] = row",
        "                info[i] = inf",
    ]
    return lines


def layer_arrays(
    spec: NetworkSpec, plan: Plan, params: np.ndarray, ws: Workspace
) -> tuple[np.ndarray, ...]:
    """The arrays a generated kernel takes after ``(X, Y, order)``, in its argument order.

    Views, in the order of the generated signature: W[k] as an (n_k, n_{k−1}) view of
    ``params`` and b[k] for every layer; a[k] and dJ/da[k] (and z[k] where σ' needs it) of hidden
    layers as views of the first row of the workspace; z[r], a[r] and dJ/dz[r] for softmax.  The
    kernel writes ``params`` in place through them.

    Parameters
    ----------
    spec : NetworkSpec
        The network's spec (its activations and loss decide which arrays the kernel takes).
    plan : fastbp.lowering.Plan
        The lowered spec (widths and offset tables).
    params : numpy.ndarray
        The flat parameter buffer.
    ws : fastbp.lowering.Workspace
        Workspace with room for at least one row.

    Returns
    -------
    tuple of numpy.ndarray
    """
    widths = [int(w) for w in plan.widths]
    w_off, b_off, u_off = plan.w_off, plan.b_off, plan.u_off
    out: list[np.ndarray] = []
    for q, k in _arrays(spec):
        if q == "W":
            w0 = int(w_off[k - 1])
            out.append(
                params[w0 : w0 + widths[k] * widths[k - 1]].reshape(widths[k], widths[k - 1])
            )
        elif q == "b":
            out.append(params[int(b_off[k - 1]) : int(b_off[k - 1]) + widths[k]])
        else:  # z, a from Z, A; dJ/da and dJ/dz[r] share the dA buffer
            buf = ws.Z if q == "z" else ws.A if q == "a" else ws.dA
            out.append(buf[int(u_off[k - 1]) : int(u_off[k])])
    return tuple(out)


def generate_source(spec: NetworkSpec) -> str:
    """The Python source of the kernels specialised to ``spec`` (readable; it is what runs).

    Parameters
    ----------
    spec : NetworkSpec
        The network's spec.  Only its depth, activations, loss and dtype enter the source; the
        widths are read at run time.

    Returns
    -------
    str
        A module defining the ``@jit`` kernels ``sgd_epoch`` (λ = 0) and ``sgd_epoch_l2``
        (λ > 0), both ``(X, Y, order, *layer_arrays(spec, plan, params, ws), lr, l2, info)``: one
        argument per layer quantity (:func:`layer_arrays`); and their ensemble drivers
        ``ensemble_sgd_epoch`` and ``ensemble_sgd_epoch_l2`` (parallel over members, see
        :mod:`fastbp.ensemble_kernels`).  A spec with dropout adds ``sgd_epoch_dropout`` and
        ``sgd_epoch_dropout_l2``, which take ``m{k}, ad{k}`` (mask scales and dropped
        activations) of each layer k of :func:`dropout_layers`, then ``key, step, rates``.
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
    if spec.loss not in SPECIALISED_LOSSES:
        raise ValueError(
            f"loss={spec.loss!r} has no specialised kernel (only {sorted(SPECIALISED_LOSSES)}); "
            f"its per-example SGD runs the generic fastbp.epochs.sgd_example_epoch"
        )
    layers = ", ".join(spec.activations) or "none"
    head = [
        f'"""Per-example SGD epoch specialised to: {spec.n_layers} layers, hidden activations',
        f"[{layers}], loss {spec.loss}, dtype {spec.dtype}; widths read at run time.",
        "",
        f"Generated by fastbp {__version__} (fastbp.specialise); do not edit: the folder name is",
        'a hash of this text, the fastbp, Numba and Python versions and the jit options."""',
        "",
        "import math",
        "",
        "import numpy as np",
        "",
        "from numba import prange",
        "",
        "from fastbp._jit import jit_parallel_specialised as jit_parallel",
        "from fastbp.ensemble_kernels import private_params",
        "from fastbp._jit import jit_specialised as jit",
        f"from fastbp.activations import {', '.join(GENERATED_HELPERS)}",
        "",
        f"CHECK_EVERY = {CHECK_EVERY}",
        "",
    ]
    drop = dropout_layers(spec)
    if drop:
        head.insert(-3, "from fastbp.dropout_kernels import HALF_SHIFT, LOW_HALF, pair_bits, "
                        "step_stream, threshold")  # fmt: skip
    lines = head + _epoch_function(spec, "sgd_epoch", l2=False)
    lines += ["", ""] + _epoch_function(spec, "sgd_epoch_l2", l2=True)
    lines += ["", ""] + _ensemble_driver(spec, "ensemble_sgd_epoch", "sgd_epoch")
    lines += ["", ""] + _ensemble_driver(spec, "ensemble_sgd_epoch_l2", "sgd_epoch_l2")
    if drop:  # per-example SGD with dropout (fastbp.dropout.DropoutRun); no ensemble driver
        lines += ["", ""] + _epoch_function(spec, "sgd_epoch_dropout", False, drop)
        lines += ["", ""] + _epoch_function(spec, "sgd_epoch_dropout_l2", True, drop)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ cache and load
def source_key(source: str) -> str:
    """Hash of the source, the fastbp and Numba versions, the jit options and the source of the
    compiled helpers it calls (:func:`fastbp._cache.kernel_sources_digest`): a folder name."""
    import numba

    from fastbp._cache import kernel_sources_digest

    opts = repr(sorted((k, sorted(v) if isinstance(v, (set, frozenset)) else v)
                       for k, v in SPECIALISED_OPTIONS.items()))  # fmt: skip
    text = "\n".join(
        [source, __version__, numba.__version__, sys.version, opts, kernel_sources_digest()]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _write_once(path: Path, source: str) -> bool:
    """Create ``path`` holding ``source`` atomically; returns False if the folder is not writable.

    The text goes to a temporary file in the same folder, which is then hard-linked to ``path``:
    the link fails if another process created ``path`` first, and either way ``path`` is only
    ever seen complete.  An existing file with other contents (edited by hand) is replaced.
    """
    try:
        if path.exists() and path.read_text(encoding="utf-8") == source:
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(source)
            try:
                os.link(tmp, path)
            except FileExistsError:
                if path.read_text(encoding="utf-8") != source:
                    os.replace(tmp, path)
                    tmp = None
            except OSError:  # no hard links on this file system
                os.replace(tmp, path)
                tmp = None
        finally:
            if tmp is not None:
                os.unlink(tmp)
    except OSError:
        return False
    return True


#: Loaded modules by the facts their source depends on (depth, activations, loss, dtype).
_BY_FACTS: dict[tuple, types.ModuleType] = {}


def _load(source: str) -> types.ModuleType:
    key = source_key(source)
    with _LOCK:
        module = _LOADED.get(key)
        if module is not None:
            return module
        name = f"fastbp_generated_{key}"
        path = cache_root() / "generated" / key / f"{name}.py"
        if _write_once(path, source):
            loader_spec = importlib.util.spec_from_file_location(name, path)
            assert loader_spec is not None and loader_spec.loader is not None  # a .py path
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            try:
                loader_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        else:  # read-only cache directory: compile in memory, nothing cached on disk
            module = types.ModuleType(name)
            module.__file__ = f"<{name}>"
            # Numba can only cache functions that have a source file.
            text = source.replace("import jit_specialised as jit\n",
                                  "import jit_specialised_uncached as jit\n")  # fmt: skip
            text = text.replace(
                "import jit_parallel_specialised as jit_parallel\n",
                "import jit_parallel_specialised_uncached as jit_parallel\n",
            )
            exec(compile(text, module.__file__, "exec"), module.__dict__)  # noqa: S102
        _LOADED[key] = module
        return module


def kernel_module(spec: NetworkSpec) -> types.ModuleType:
    """The compiled module of kernels specialised to ``spec`` (generated and cached on first use).

    Parameters
    ----------
    spec : NetworkSpec
        The network's spec.

    Returns
    -------
    types.ModuleType
        The loaded generated module (see :func:`generate_source`); its kernels compile on first
        call, or load from Numba's on-disk cache.
    """
    facts = (spec.n_layers, tuple(spec.activations), spec.loss, spec.dtype, dropout_layers(spec))
    module = _BY_FACTS.get(facts)
    if module is None:  # generating and hashing the source costs tens of µs: once per process
        module = _BY_FACTS[facts] = _load(generate_source(spec))
    return module


def sgd_example_epoch(spec, X, Y, order, params, plan, ws, lr, l2, info) -> None:
    """Per-example SGD over ``order`` with the kernel specialised to ``spec``.

    The same contract as :func:`fastbp.epochs.sgd_example_epoch` (params updated in place, info
    accumulated) except that divergence is detected per block of :data:`CHECK_EVERY` examples.

    Parameters
    ----------
    spec : NetworkSpec
        The network's spec.
    X, Y : numpy.ndarray
        Features (n, n0) and dense targets (n, nr) of the spec's dtype, C-contiguous.
    order : numpy.ndarray
        int64 indices of the examples, in the order they are visited.
    params : numpy.ndarray
        The flat parameter buffer, updated in place.
    plan : fastbp.lowering.Plan
        The lowered spec (widths and offset tables).
    ws : fastbp.lowering.Workspace
        Workspace with room for at least one row.
    lr, l2 : float
        Step size α and L2 penalty λ.
    info : numpy.ndarray
        float64[3], accumulated as in :mod:`fastbp.epochs`.

    Returns
    -------
    None
    """
    module = kernel_module(spec)
    kernel = module.sgd_epoch_l2 if l2 != 0.0 else module.sgd_epoch
    kernel(X, Y, order, *layer_arrays(spec, plan, params, ws), float(lr), float(l2), info)


def sgd_example_epoch_dispatch(spec, X, Y, order, params, plan, ws, lr, l2, info) -> None:
    """Run the specialised kernel if :func:`enabled`, else :func:`fastbp.epochs.sgd_example_epoch`.

    Returns
    -------
    None
    """
    if specialises(spec):
        sgd_example_epoch(spec, X, Y, order, params, plan, ws, lr, l2, info)
        return
    from fastbp import epochs as ek

    p = plan
    ek.sgd_example_epoch(X, Y, order, params, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off,
    p.b_off,
                         p.u_off, ws.Z, ws.A, ws.dZ, ws.dA, lr, l2, info)  # fmt: skip


__all__ = [
    "CHECK_EVERY",
    "SPECIALISE_ENV",
    "dropout_layers",
    "enabled",
    "generate_source",
    "kernel_module",
    "layer_arrays",
    "sgd_example_epoch",
    "sgd_example_epoch_dispatch",
    "source_key",
]
