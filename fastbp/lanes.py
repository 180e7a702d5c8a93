"""Per-example SGD for an ensemble of small networks, with the members in the SIMD lanes.

M networks of one spec train at once.  The thread-parallel alternative runs each member's
specialised kernel (:mod:`fastbp.specialise`) on its own thread; for small layers (4-16-1) each
example's work is a few dozen scalar multiply-adds, so one core does little more than scalar
arithmetic.  Here L members share one pass of a generated kernel instead: every scalar update of
one network becomes an L-wide vector operation, the lane loop innermost, so LLVM vectorises it.

Layout.  The (M, n_params) parameter matrix is transposed into blocks of L members,
``PT[b, q, l]`` = parameter q of member ``b L + l``: the L copies of one parameter sit side by
side.  Each step gathers every lane's example (its own row of its own order, of its own data
when X has one slab per member) into an (n0, L) buffer, then runs the per-example step of
:mod:`fastbp.specialise` (forward, dJ/dz[r] = a − y, backward fused with the update, old W for
dJ/da) with each scalar replaced by a lane loop.  The last block is padded: pad lanes hold zero
parameters and step size 0, read member M−1's rows and never change or count.  Blocks are
independent and are spread over threads by a ``prange`` driver; a block is computed the same
way whichever thread runs it, so results do not depend on the thread count.

Divergence.  Each lane keeps its own loss sum, checked for NaN/inf every
:data:`fastbp.specialise.CHECK_EVERY` examples as the solo kernel does.  A lane found non-finite
is flagged and its info frozen (loss sum and examples done at that check, as the solo kernel
reports when it stops); it goes on computing garbage, which never reaches another lane (no
operation mixes lanes), and the caller restores it.  A block stops when all its lanes have.

Generated source: one module per (depth, activations, loss, dtype), widths and the lane count
read at run time, written and loaded through :func:`fastbp.specialise._load` (same cache folder,
same key rules).  The lane loops have a run-time trip count on purpose: Numba leaves LLVM's SLP
vectoriser off, so only the loop vectoriser can pack lanes, and it fully unrolls (then leaves
scalar) a loop with a small constant count.  The first version, with L = 8 written in as a
constant, ran 2x slower than the solo kernel on W9 (float64; the assembly was scalar
``vfmadd...sd``).  With L read at run time each lane loop is vectorised behind run-time alias
checks, which it pays on every entry (Numba marks no array ``noalias``).  Hence lanes of at
most :data:`MAX_LANES` = 32: W9 float64 with M = 64 in one block of 64 ran 23.0 M net-steps/s
against 20.7 in two blocks of 32, float32 30.7 against 32.5, and two blocks give two threads
work.  Limitation: when the cache directory is not writable, specialise compiles in memory and
swaps only the serial decorator for an uncached one; the ``prange`` driver here would still ask
Numba to cache and fail, so :func:`supported` says False in that case.

Measurements (``recommended``)
------------------------------
Per-core throughput in net-steps/s (one member processing one example = one net-step), pinned
with ``taskset -c 1``, 20,000 rows, 5 timed repeats after warm-up, medians (spread = max/min − 1
over the repeats, on a machine shared with other work).  "solo" is a serial loop of
:func:`fastbp.specialise.sgd_example_epoch` over the M members; "lanes" is :func:`lanes_epoch`
with ``n_threads=1``, its transposes in and out included.

Measured 2026-12-06 on this 2-core AVX-512 machine (shared, so other work ran beside the
timings; the spreads below are the noise seen), Numba 0.68.1, no L2, ReLU, squared loss::

    workload                     dtype     solo M/s   lanes M/s   lanes/solo   spreads
    W9  4-16-1,      M = 64      float64     10.76      18.67        1.74x      6% / 5%
    W9  4-16-1,      M = 64      float32      8.56      32.36        3.78x      3% / 2%
    W8  8-32-32-1,   M = 16      float64      1.66       0.80        0.48x      1% / 3%
    W8  8-32-32-1,   M = 16      float32      2.02       1.66        0.82x      2% / 19%
    4-16-1,          M = 16      float64     10.90      15.16        1.39x      3% / 1%
    4-16-1,          M = 8       float64     10.82      12.28        1.13x      2% / 1%
    4-16-1,          M = 16      float32      8.51      18.68        2.19x     11% / 24%
    8-32-1,          M = 64      float64      4.01       7.30        1.82x      4% / 4%
    16-16-16-1,      M = 64      float64      2.70       3.25        1.21x     22% / 9%
    16-16-16-1,      M = 64      float32      3.17       5.67        1.79x     32% / 10%
    8-32-32-1,       M = 64      float64      1.58       1.60        1.01x      5% / 1%
    8-32-32-1,       M = 64      float32      2.11       2.37        1.13x      3% / 1%

Repeated runs of the same row differed by up to ~25 % in absolute throughput (other work on the
machine); the ratios, from interleaved repeats, moved less (W9 float64, M = 64: 1.68x and
1.74x in two runs of the final code).  float32 gains more: a vector holds twice the lanes,
while the solo kernel runs no faster in float32 than in float64 here.  W8's 32 × 32 layer is
where the solo kernel's own vectorisation over the units pays, and where the lanes kernel's
fixed cost per weight (one lane loop, with its alias checks) adds up: hence
:func:`recommended`.
"""

from __future__ import annotations

import re
import types

import numpy as np

from fastbp import _parallel
from fastbp._cache import cache_root
from fastbp._version import __version__
from fastbp.activations import GENERATED_HELPERS, LEAKY_SLOPE, RECORDS
from fastbp.lowering import lower
from fastbp.spec import NetworkSpec
from fastbp.specialise import (
    CHECK_EVERY,
    SPECIALISED_LOSSES,
    _activation,
    _derivative,
    _load,
    _output_lines,
    _write_once,
    enabled,
)

#: Lane counts are multiples of the AVX-512 width (8 float64, 16 float32) ...
LANE_UNIT: dict[str, int] = {"float64": 8, "float32": 16}
#: ... and at most this many members share a block (a long lane loop amortises the run-time
#: alias checks each loop entry pays; more blocks give threads work).
MAX_LANES: dict[str, int] = {"float64": 32, "float32": 32}

#: :func:`recommended`: lanes only when every layer width is at most this, ...
RECOMMEND_MAX_WIDTH = 32
#: ... and either the members have at most this many weights (Σ n_k n_{k−1}) ...
RECOMMEND_MAX_WEIGHTS = 600
#: ... and there are at least this many members.
RECOMMEND_MIN_MEMBERS = 16

_BY_FACTS: dict[tuple, types.ModuleType] = {}


def block_shape(spec: NetworkSpec, n_members: int) -> tuple[int, int]:
    """(blocks, lanes per block) for M members: the fewest blocks of at most :data:`MAX_LANES`,
    their lanes rounded up to a multiple of :data:`LANE_UNIT`.  Fixed by M and the dtype alone
    (never by the thread count), so a member always runs in the same lane of the same block.

    Parameters
    ----------
    spec : NetworkSpec
        The members' spec (its dtype).
    n_members : int
        M.

    Returns
    -------
    tuple of int
    """
    unit, most = LANE_UNIT[spec.dtype], MAX_LANES[spec.dtype]
    nb = max(1, -(-n_members // most))
    per = -(-n_members // nb)
    return nb, -(-per // unit) * unit


_WRITABLE: dict[str, bool] = {}


def _cache_writable() -> bool:
    """Whether generated modules can be written to the cache (once per cache folder)."""
    root = str(cache_root())
    if root not in _WRITABLE:
        probe = cache_root() / "generated" / "lanes-probe" / "probe.py"
        _WRITABLE[root] = _write_once(probe, "# probe\n")
    return _WRITABLE[root]


def supported(spec: NetworkSpec) -> bool:
    """Whether :func:`lanes_epoch` has a kernel for ``spec``.

    Parameters
    ----------
    spec : NetworkSpec
        The members' spec.

    Returns
    -------
    bool
        True for the specialised losses (squared, logistic, softmax cross-entropy), every
        activation and both dtypes; False when :func:`fastbp.specialise.enabled` is False or
        the kernel cache is not writable (see the module docstring).
    """
    if not isinstance(spec, NetworkSpec):
        return False
    return enabled() and spec.loss in SPECIALISED_LOSSES and _cache_writable()


def recommended(spec: NetworkSpec, n_members: int) -> bool:
    """Whether the lanes kernel beats one member per thread, per core, for this workload.

    The rule, from the measurements in the module docstring: lanes when :func:`supported`,
    every width (inputs, hidden, outputs) is at most :data:`RECOMMEND_MAX_WIDTH`, a member has
    at most :data:`RECOMMEND_MAX_WEIGHTS` weights (Σ n_k n_{k−1}) and M ≥
    :data:`RECOMMEND_MIN_MEMBERS`.  Bigger layers let the solo kernel vectorise its own dot
    products and updates over the units, while the lanes kernel pays a fixed cost per weight
    (one lane loop, with its alias checks); few members leave the lane loops short.

    Parameters
    ----------
    spec : NetworkSpec
        The members' spec.
    n_members : int
        M, the number of members.

    Returns
    -------
    bool
    """
    if not supported(spec) or max(spec.widths) > RECOMMEND_MAX_WIDTH:
        return False
    n_weights = sum(a * b for a, b in zip(spec.widths[:-1], spec.widths[1:], strict=True))
    return n_weights <= RECOMMEND_MAX_WEIGHTS and n_members >= RECOMMEND_MIN_MEMBERS


# ------------------------------------------------------------------------------ code generation
def _loop(lines: list[str]) -> list[str]:
    """Wrap statements in the lane loop ``for l in range(L):`` (for code outside the step)."""
    return ["for l in range(L):"] + ["    " + line for line in lines]


#: Per-lane values of the step that live across lane loops: one (L,) array each, ``s`` → ``s[l]``.
_PER_LANE = re.compile(r"\b(s|dd|step|row|zmax|esum|inv|lse)\b(?!\[)")
#: Their dtypes (``DT`` is the spec's).
_PER_LANE_TYPES = {"s": "DT", "dd": "DT", "step": "DT", "row": "np.int64", "zmax": "DT",
                   "esum": "np.float64", "inv": "np.float64", "lse": "np.float64"}  # fmt: skip


def _lane(lines: list[str]) -> list[str]:
    """Statements on lane ``l`` in the lane loop ``for l in range(L):``, L read at run time.

    Values that live across lane loops (:data:`_PER_LANE`) become (L,) arrays.  Why the lane
    count is a run-time value and not a constant: Numba leaves LLVM's SLP vectoriser off
    (``NUMBA_SLP_VECTORIZE=0``), so only the loop vectoriser can pack lanes; a loop with a small
    constant trip count is fully unrolled before it runs and then stays scalar (measured: 2×
    slower than the solo kernel on W9), whereas a run-time trip count is vectorised behind
    run-time alias checks (Numba marks no array as ``noalias``).
    """
    body = [_PER_LANE.sub(lambda m: f"{m.group(1)}[l]", line) for line in lines]
    return ["for l in range(L):"] + ["    " + line for line in body]


def _indent(lines: list[str], n: int = 1) -> list[str]:
    return ["    " * n + line for line in lines]


def _zero(k: int) -> list[str]:
    """dJ/da[k] = 0 (k ≥ 1 only; there is no dJ/da[0])."""
    if k < 1:
        return []
    return [f"for p in range(n{k}):"] + _indent(_lane([f"da{k}[p, l] = ZERO"]))


def _dot(k: int, prev: str) -> list[str]:
    """Open layer k's row loop and form s = b[k][j] + W[k][j, :] · prev[:, l] per lane.

    One lane loop per input p.  Unrolling p by 4 (four terms per lane loop, fewer loop entries)
    measured slower: W9 22.9 → 18.1 M net-steps/s in float64, 32.9 → 21.5 in float32.
    """
    return [f"for j in range(n{k}):"] + _indent(
        _lane([f"s = P[ob{k} + j, l]"])
        + [f"for p in range(n{k - 1}):", f"    q = ow{k} + j * n{k - 1} + p"]
        + _indent(_lane([f"s = s + P[q, l] * {prev}[p, l]"]))
    )


def _update(k: int, l2: bool) -> list[str]:
    """Inside layer k's row loop, with dd = dJ/dz[k][j] set: update row j and b[k][j].

    The old weight is read into dJ/da[k−1] += w dJ/dz[k][j] (k > 1) before it is overwritten.
    """
    prev = "xb" if k == 1 else f"a{k - 1}"
    new = "decay[l] * w" if l2 else "w"
    body = ["w = P[q, l]"]
    if k > 1:
        body.append(f"da{k - 1}[p, l] += w * dd")
    body.append(f"P[q, l] = {new} - step * {prev}[p, l]")
    return _indent(
        _lane(["step = alpha[l] * dd"])
        + [f"for p in range(n{k - 1}):", f"    q = ow{k} + j * n{k - 1} + p"]
        + _indent(_lane(body))
        + _lane([f"P[ob{k} + j, l] -= step"])
    )


def _row_output(loss: str, r: int) -> list[str]:
    """Squared and logistic: dJ/dz[r][j] and J_i per lane, from specialise's output record."""
    out = []
    for line in (line.strip() for line in _output_lines(loss, r)):
        assert line.startswith((f"d{r} = ", "total += ")), line
        out.append(line.replace("Y[i, j]", "yb[j, l]").replace("total +=", "total[l] +="))
    return _indent(_lane([f"s{r} = s"] + out + [f"dd = d{r}"]))


def _softmax_output(r: int) -> list[str]:
    """Softmax cross-entropy per lane: the solo kernel's loops, each with its lanes inside."""
    zr, ar, dzr = f"z{r}", f"a{r}", f"dz{r}"
    loss = f"total[l] += yb[j, l] * (lse - {zr}[j, l]) if yb[j, l] != 0.0 else 0.0"
    return (
        _dot(r, "xb" if r == 1 else f"a{r - 1}")
        + _indent(_lane([f"{zr}[j, l] = s"]))
        + _lane([f"zmax = {zr}[0, l]"])
        + [f"for j in range(1, n{r}):"]
        + _indent(_lane([f"zmax = max(zmax, {zr}[j, l])"]))
        + [f"for j in range(n{r}):"]
        + _indent(_lane([f"{ar}[j, l] = math.exp({zr}[j, l] - zmax)"]))
        + _lane(["esum = 0.0"])
        + [f"for j in range(n{r}):"]
        + _indent(_lane([f"esum = esum + {ar}[j, l]"]))
        + _lane(["inv = 1.0 / esum", "lse = zmax + math.log(esum)"])
        + [f"for j in range(n{r}):"]
        + _indent(_lane([f"{ar}[j, l] = {ar}[j, l] * inv"]))
        + [f"for j in range(n{r}):"]
        + _indent(_lane([f"{dzr}[j, l] = {ar}[j, l] - yb[j, l]"]))
        + [f"for j in range(n{r}):"]
        + _indent(_lane([loss]))
    )


def _step(spec: NetworkSpec, l2: bool) -> list[str]:
    """One example per lane: gather, forward, loss, backward fused with the update."""
    r, acts = spec.n_layers, spec.activations
    lines = _lane(["row = orders[mi[l], t]"])
    lines += ["for p in range(n0):"] + _indent(_lane(["xb[p, l] = X[xi[l], row, p]"]))
    lines += [f"for j in range(n{r}):"] + _indent(_lane(["yb[j, l] = Y[yi[l], row, j]"]))
    for k in range(1, r):
        lines += _dot(k, "xb" if k == 1 else f"a{k - 1}")
        body = ["v = s"]
        if RECORDS[acts[k - 1]].needs_z:
            body.append(f"z{k}[j, l] = v")
        body.append(f"a{k}[j, l] = {_activation(acts[k - 1], 'v')}")
        lines += _indent(_lane(body))
    lines += _zero(r - 1)
    if spec.loss_record.output == "softmax":
        lines += _softmax_output(r)
        lines += [f"for j in range(n{r}):"] + _indent(_lane([f"dd = dz{r}[j, l]"]))
    else:
        lines += _dot(r, "xb" if r == 1 else f"a{r - 1}") + _row_output(spec.loss, r)
    lines += _update(r, l2)
    for k in range(r - 1, 0, -1):
        lines += _zero(k - 1)
        d = _derivative(acts[k - 1], f"da{k}[j, l]", f"z{k}[j, l]", f"a{k}[j, l]")
        lines += [f"for j in range(n{k}):"] + _indent(_lane([f"dd = {d}"])) + _update(k, l2)
    return lines


def _buffers(spec: NetworkSpec) -> list[str]:
    r, acts = spec.n_layers, spec.activations
    lines = ["xb = np.zeros((n0, L), DT)", f"yb = np.zeros((n{r}, L), DT)"]
    for k in range(1, r):
        lines += [f"a{k} = np.zeros((n{k}, L), DT)", f"da{k} = np.zeros((n{k}, L), DT)"]
        if RECORDS[acts[k - 1]].needs_z:
            lines.append(f"z{k} = np.zeros((n{k}, L), DT)")
    if spec.loss_record.output == "softmax":
        lines += [f"{q}{r} = np.zeros((n{r}, L), DT)" for q in ("z", "a", "dz")]
    lines += [f"{name} = np.zeros(L, {t})" for name, t in _PER_LANE_TYPES.items()]
    return lines


def _block_function(spec: NetworkSpec, name: str, l2: bool) -> list[str]:
    r = spec.n_layers
    dt = f"np.{spec.dtype}"
    what = "λ > 0 in some lane" if l2 else "λ = 0 in every lane"
    head = [
        "@jit",
        f"def {name}(X, Y, orders, widths, mi, xi, yi, live, P, lr, l2, out):",
        f'    """Per-example SGD of L members in lanes: θ ← θ − α (∇J_i + λ W-mask ⊙ θ) ({what}).',
        "",
        "    P (n_params, L): parameter q of lane l at P[q, l], updated in place.  Lane l visits",
        "    rows orders[mi[l], :] of X[xi[l]], Y[yi[l]].  out[l] = [Σ J_i, examples done,",
        "    1 if the loss became NaN/inf] (lanes with live[l] = 0 are padding, left at 0).",
        '    """',
        f"    DT = {dt}",
        f"    ZERO = {dt}(0.0)",
        f"    ONE = {dt}(1.0)",
        f"    SLOPE = {dt}({LEAKY_SLOPE!r})",
    ]
    body = ["L = P.shape[1]"] + [f"n{k} = widths[{k}]" for k in range(r + 1)]
    body.append("pos = 0")
    for k in range(1, r + 1):
        body += [f"ow{k} = pos", f"ob{k} = pos + n{k} * n{k - 1}", f"pos = ob{k} + n{k}"]
    body += _buffers(spec)
    body += [
        "alpha = np.zeros(L, DT)",
        "decay = np.zeros(L, DT)",
        "total = np.zeros(L)",
        "alive = np.zeros(L, np.bool_)",
        "n_alive = 0",
    ]
    body += _loop(
        [
            "alpha[l] = DT(lr[l])",
            "decay[l] = DT(1.0 - lr[l] * l2[l])",
            "alive[l] = live[l] != 0",
            "n_alive += live[l] != 0",
        ]
    )
    body += [
        "n = orders.shape[1]",
        "if n_alive == 0:",
        "    return",
        "for t0 in range(0, n, CHECK_EVERY):",
        "    t1 = min(n, t0 + CHECK_EVERY)",
        "    for t in range(t0, t1):",
    ]
    body += _indent(_step(spec, l2), 2)
    body += _indent(
        _loop(
            [
                "if alive[l]:",
                "    out[l, 0] = total[l]",
                "    out[l, 1] = t1",
                "    if not math.isfinite(total[l]):",
                "        out[l, 2] = 1.0",
                "        alive[l] = False",
                "        n_alive -= 1",
            ]
        )
        + ["if n_alive == 0:", "    break"]
    )
    return head + _indent(body)


def generate_source(spec: NetworkSpec) -> str:
    """The Python source of the lanes kernels for ``spec`` (readable; it is what runs).

    Parameters
    ----------
    spec : NetworkSpec
        The members' spec; only its depth, activations, loss and dtype enter the source.

    Returns
    -------
    str
        A module defining ``block_epoch`` and ``block_epoch_l2`` (one block of L lanes, serial)
        and ``drive`` (``prange`` over blocks).
    """
    if spec.loss not in SPECIALISED_LOSSES:
        raise ValueError(f"loss={spec.loss!r} has no lanes kernel")
    head = [
        f'"""Per-example SGD of members in SIMD lanes, specialised to: {spec.n_layers}',
        f"layers, hidden activations [{', '.join(spec.activations) or 'none'}], loss {spec.loss},",
        f"dtype {spec.dtype}; widths read at run time.",
        "",
        f"Generated by fastbp {__version__} (fastbp.lanes); do not edit: the folder name is a",
        'hash of this text, the fastbp, Numba and Python versions and the jit options."""',
        "",
        "import math",
        "",
        "import numpy as np",
        "from numba import prange",
        "",
        "from fastbp._jit import jit_specialised as jit",
        "from fastbp._jit import jit_parallel",
        f"from fastbp.activations import {', '.join(GENERATED_HELPERS)}",
        "",
        f"CHECK_EVERY = {CHECK_EVERY}",
        "",
    ]
    lines = head + _block_function(spec, "block_epoch", l2=False)
    lines += ["", ""] + _block_function(spec, "block_epoch_l2", l2=True)
    lines += [
        "",
        "",
        "@jit_parallel",
        "def drive(X, Y, orders, widths, mi, xi, yi, live, P, lr, l2, use_l2, out):",
        '    """Every block b of lanes (P[b], out[b], ...), blocks spread over threads."""',
        "    for b in prange(P.shape[0]):",
        "        if use_l2[b]:",
        "            block_epoch_l2(X, Y, orders, widths, mi[b], xi[b], yi[b], live[b], P[b],",
        "                           lr[b], l2[b], out[b])",
        "        else:",
        "            block_epoch(X, Y, orders, widths, mi[b], xi[b], yi[b], live[b], P[b],",
        "                        lr[b], l2[b], out[b])",
    ]
    return "\n".join(lines) + "\n"


def kernel_module(spec: NetworkSpec) -> types.ModuleType:
    """The loaded module of lanes kernels for ``spec`` (generated and cached on first use).

    Parameters
    ----------
    spec : NetworkSpec
        The members' spec.

    Returns
    -------
    types.ModuleType
    """
    facts = (spec.n_layers, tuple(spec.activations), spec.loss, spec.dtype)
    module = _BY_FACTS.get(facts)
    if module is None:
        module = _BY_FACTS[facts] = _load(generate_source(spec))
    return module


def lanes_epoch(
    spec: NetworkSpec,
    X3: np.ndarray,
    Y3: np.ndarray,
    orders: np.ndarray,
    P: np.ndarray,
    lrs: np.ndarray,
    l2s: np.ndarray,
    info: np.ndarray,
    n_threads: int,
    *,
    lanes: int | None = None,
) -> None:
    """One per-example SGD epoch of M members of ``spec``, members in SIMD lanes.

    For each member m and t = 0..T−1, with i = orders[m, t]: forward on row i of its data,
    dJ/dz[r] = a − y, backward fused with θ ← θ − α_m (∇J_i(θ) + λ_m W-mask ⊙ θ) (old W for
    dJ/da), exactly the step of :func:`fastbp.specialise.sgd_example_epoch`.

    Parameters
    ----------
    spec : NetworkSpec
        The members' spec (:func:`supported` must be True).
    X3 : numpy.ndarray
        (1 or M, n, n0) features of the spec's dtype, C-contiguous; member m reads
        X3[min(m, X3.shape[0] − 1)].
    Y3 : numpy.ndarray
        (1 or M, n, nr) dense targets, likewise.
    orders : numpy.ndarray
        (M, T) int64: member m visits rows orders[m, 0..T−1] in that order.
    P : numpy.ndarray
        (M, n_params) C-contiguous parameters, one member per row in fastbp's flat layout;
        updated in place.
    lrs, l2s : numpy.ndarray
        float64 (M,): each member's step size α and L2 penalty λ.
    info : numpy.ndarray
        float64 (M, 3), accumulated per member: [Σ J_i, examples done, 1.0 if the loss became
        NaN/inf (checked every CHECK_EVERY examples; the member's counts stop there)].
    n_threads : int
        Threads the blocks of lanes are spread over; results do not depend on it.
    lanes : int, optional
        Members per block instead of :func:`block_shape`'s choice (for measurements).

    Returns
    -------
    None
    """
    dtype = spec.np_dtype
    M, n_params = P.shape
    n0, nr = spec.n_inputs, spec.n_outputs
    assert P.dtype == dtype and P.flags.c_contiguous
    assert X3.dtype == dtype and X3.flags.c_contiguous and X3.ndim == 3 and X3.shape[2] == n0
    assert Y3.dtype == dtype and Y3.flags.c_contiguous and Y3.ndim == 3 and Y3.shape[2] == nr
    assert X3.shape[0] in (1, M) and Y3.shape[0] in (1, M) and X3.shape[1] == Y3.shape[1]
    assert orders.dtype == np.int64 and orders.ndim == 2 and orders.shape[0] == M
    assert lrs.shape == (M,) and l2s.shape == (M,) and info.shape == (M, 3)
    assert n_params == lower(spec).n_params
    if M == 0 or orders.shape[1] == 0:
        return
    n = X3.shape[1]
    assert n > 0 and int(orders.min()) >= 0 and int(orders.max()) < n
    module = kernel_module(spec)
    nb, L = block_shape(spec, M) if lanes is None else (-(-M // lanes), int(lanes))
    Mp = nb * L
    members = np.arange(Mp, dtype=np.int64)
    real = members < M
    mi = np.where(real, members, M - 1)
    xi = np.where(real, np.minimum(members, X3.shape[0] - 1), 0)
    yi = np.where(real, np.minimum(members, Y3.shape[0] - 1), 0)
    PT = np.zeros((Mp, n_params), dtype=dtype)
    PT[:M] = P
    PT = np.ascontiguousarray(PT.reshape(nb, L, n_params).transpose(0, 2, 1))
    lr = np.zeros(Mp)
    l2 = np.zeros(Mp)
    lr[:M] = lrs
    l2[:M] = l2s
    use_l2 = (l2.reshape(nb, L) != 0.0).any(axis=1)
    out = np.zeros((nb, L, 3))
    widths = np.asarray(spec.widths, dtype=np.int64)
    args = (
        X3, Y3, orders, widths, mi.reshape(nb, L), xi.reshape(nb, L), yi.reshape(nb, L),
        real.astype(np.int64).reshape(nb, L), PT, lr.reshape(nb, L), l2.reshape(nb, L),
        use_l2, out,
    )  # fmt: skip
    with _parallel.launch(n_threads):
        module.drive(*args)
    P[...] = PT.transpose(0, 2, 1).reshape(Mp, n_params)[:M]
    res = out.reshape(Mp, 3)[:M]
    info[:, 0] += res[:, 0]
    info[:, 1] += res[:, 1]
    info[:, 2] = np.maximum(info[:, 2], res[:, 2])


__all__ = [
    "LANE_UNIT",
    "MAX_LANES",
    "block_shape",
    "generate_source",
    "kernel_module",
    "lanes_epoch",
    "recommended",
    "supported",
]
