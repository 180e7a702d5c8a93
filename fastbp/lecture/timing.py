"""The timing harness of the cost claims (a, b): interleaved medians, log-log slopes, sweeps.

Timings use the explicit-loop kernels (the lowered network's BLAS threshold set out of reach):
their cost is a fixed number of multiply-adds per parameter and example, which is what the O(N)
statement counts.  BLAS is O(N) too, but its speed per flop grows with the matrix size and its
threads contend on a shared machine, which would blur a fitted slope.  Each time is the median
of several rounds that visit every network in turn (so a burst of load hits all sizes alike),
each round timing, after one untimed call, enough back-to-back calls to last several
milliseconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from fastbp.gradcheck import STEP, finite_difference_gradient
from fastbp.hessian import product_unchecked
from fastbp.network import Network
from fastbp.spec import NetworkSpec
from fastbp.validate import as_features, as_targets

#: Step of every central difference of the lecture: :data:`fastbp.gradcheck.STEP` (float64:
#: O(h²) truncation ≈ 1e-12, rounding ≈ 1e-10).
FD_STEP: float = STEP

#: The operations :func:`cost_sweep` can time.
OPERATIONS = ("loss", "grad", "hvp", "fd")

#: A network, its validated batch (X, Y).
TimingCase = tuple[Network, np.ndarray, np.ndarray]


def _calibrate(fn: Callable[[], object], min_seconds: float) -> int:
    """Calls per timing sample so that one sample lasts about ``min_seconds`` (after a warm-up)."""
    fn()
    once = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        once = min(once, time.perf_counter() - t0)
    return max(1, math.ceil(min_seconds / max(once, 1e-7)))


def _sample(fn: Callable[[], object], loops: int) -> float:
    """Seconds per call of ``loops`` back-to-back calls, after one untimed call."""
    fn()  # untimed: bring this network's buffers back into cache after the other cases ran
    t0 = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - t0) / loops


def interleaved_medians(
    cases: Sequence[dict[str, Callable[[], object]]], rounds: int, min_seconds: float
) -> list[dict[str, float]]:
    """Median seconds per call of every operation of every case.

    Each of ``rounds`` rounds times every (case, operation) once, with enough back-to-back calls
    to last ``min_seconds`` after one untimed call (so that a network too big for one timed call
    is not timed cold); the result is the median over rounds.  Visiting every case in every
    round spreads a burst of load over all of them alike.

    Parameters
    ----------
    cases : sequence of dict of str to callable
        ``cases[c][op]`` is a callable taking no argument.
    rounds : int
        Timing rounds; the median is taken over them.
    min_seconds : float
        The least duration of one timed sample.

    Returns
    -------
    list of dict of str to float
        ``result[c][op]``: median seconds per call of ``cases[c][op]``.
    """
    loops = [{op: _calibrate(fn, min_seconds) for op, fn in case.items()} for case in cases]
    samples: list[dict[str, list[float]]] = [{op: [] for op in case} for case in cases]
    for _ in range(rounds):
        for c, case in enumerate(cases):
            for op, fn in case.items():
                samples[c][op].append(_sample(fn, loops[c][op]))
    return [{op: float(np.median(s)) for op, s in case.items()} for case in samples]


def loglog_slope(N: Sequence[float], t: Sequence[float]) -> float:
    """Least-squares slope of log t against log N: the exponent p of t ∝ N^p.

    Parameters
    ----------
    N : sequence of float
        Sizes (e.g. parameter counts), all positive.
    t : sequence of float
        Times (or any positive cost) at those sizes.

    Returns
    -------
    float
        The fitted exponent p.
    """
    logN = np.log(np.asarray(N, dtype=np.float64))
    logt = np.log(np.asarray(t, dtype=np.float64))
    return float(np.polyfit(logN, logt, 1)[0])


def timing_network(widths: Sequence[int], activation: str, batch: int, seed: int) -> TimingCase:
    """A float64 network on the explicit-loop kernels, with a random validated batch.

    He initialisation keeps the activations of deep ReLU networks O(1).

    Parameters
    ----------
    widths : sequence of int
        Layer widths n0, …, nr.
    activation : str
        The activation of every layer.
    batch : int
        Rows of the batch.
    seed : int
        Seeds the initialisation and the batch.

    Returns
    -------
    tuple of (Network, numpy.ndarray, numpy.ndarray)
        The network and its batch (X, Y), already validated for it.
    """
    spec = NetworkSpec(list(widths), activation, "squared", "float64")
    net = Network(spec, init="he_normal", seed=seed)
    net.lowered.blas_min_rows = 2**62  # explicit loops: see the module docstring
    rng = np.random.default_rng(seed)
    # In-memory arrays stay arrays (only memory maps become LazyRows).
    X = cast(np.ndarray, as_features(rng.normal(size=(batch, widths[0])), spec))
    Y = cast(np.ndarray, as_targets(rng.normal(size=(batch, widths[-1])), spec, batch))
    return net, X, Y


def sweep_sizes(quick: bool) -> dict[str, list[list[int]]]:
    """Architectures of the two sweeps: growing width at depth 2, growing depth at width 64.

    Parameters
    ----------
    quick : bool
        The smaller sweeps (4 widths, 6 depths) of the tests and ``--quick``.

    Returns
    -------
    dict of str to list of list of int
        ``"width"``: 32-w-w-1 networks; ``"depth"``: 64-64-…-64-1 networks.
    """
    widths = [64, 128, 256, 512] if quick else [32, 64, 128, 256, 512, 1024]
    depths = [2, 4, 8, 16, 32, 72] if quick else [2, 4, 8, 16, 32, 64, 128]
    return {
        "width": [[32, w, w, 1] for w in widths],
        "depth": [[64] + [64] * d + [1] for d in depths],
    }


def operations(
    net: Network, X: np.ndarray, Y: np.ndarray, v: np.ndarray
) -> dict[str, Callable[[], object]]:
    """The calls that :func:`cost_sweep` times on one network, inputs validated once.

    Parameters
    ----------
    net : Network
        The network.
    X, Y : numpy.ndarray
        A batch already validated for ``net`` (as :func:`timing_network` returns it).
    v : numpy.ndarray
        The float64 direction of the Hessian-vector product, ``net.n_params`` long.

    Returns
    -------
    dict of str to callable
        ``"loss"`` returns the mean loss (forward pass); ``"grad"`` the mean loss, after
        leaving the gradient in ``net.lowered.grad`` (forward and backward); ``"hvp"`` returns
        H v (R-operator; one output array reused by every call).  All three run the unchecked
        passes of ``net.lowered`` (:class:`fastbp.lowered.LoweredNetwork`), so no validation,
        parameter check or allocation is timed with them.
    """
    lowered = net.lowered
    out = np.empty(net.n_params)

    def loss() -> object:
        return lowered.loss(X, Y)

    def grad() -> object:
        return lowered.loss_and_gradient(X, Y)

    def hvp() -> object:
        product_unchecked(lowered, X, Y, v, False, out)
        return out

    return {"loss": loss, "grad": grad, "hvp": hvp}


def cost_sweep(
    ops: Sequence[str], quick: bool, seed: int, batch: int, fd_budget: float
) -> dict[str, dict[str, Any]]:
    """Time ``ops`` on the networks of both sweeps of :func:`sweep_sizes`.

    Parameters
    ----------
    ops : sequence of str
        Some of :data:`OPERATIONS`: ``"loss"`` (forward pass), ``"grad"`` (forward and
        backward), ``"hvp"`` (R-operator H v), ``"fd"`` (central differences over all N
        parameters; needs ``"loss"``, see :func:`fd_times`).
    quick : bool
        The smaller sweeps and fewer, shorter rounds.
    seed : int
        Seeds the networks, batches and directions.
    batch : int
        Rows of every batch.
    fd_budget : float
        Seconds allowed for three full finite-difference loops before a subset is timed.

    Returns
    -------
    dict of str to dict
        Per sweep (``"width"``, ``"depth"``): ``widths`` (the architectures), ``N`` (parameter
        counts), ``<op>_s`` (median seconds per call), the ``fd_*`` entries of :func:`fd_times`
        when ``"fd"`` is timed, and ``slope`` (``op`` to the log-log slope of ``<op>_s``).

    Raises
    ------
    ValueError
        For an unknown operation, or ``"fd"`` without ``"loss"``.
    """
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown:
        raise ValueError(f"unknown operation(s) {unknown}; choose from {list(OPERATIONS)}")
    if "fd" in ops and "loss" not in ops:
        raise ValueError('timing "fd" needs "loss" (it sizes the finite-difference subset)')
    timed = [op for op in ("loss", "grad", "hvp") if op in ops]
    rounds, min_seconds = (7, 0.005) if quick else (9, 0.02)
    sweeps: dict[str, dict[str, Any]] = {}
    for sweep, archs in sweep_sizes(quick).items():
        nets = [timing_network(w, "relu", batch, seed) for w in archs]
        cases = []
        for net, X, Y in nets:
            v = np.random.default_rng(seed + 1).normal(size=net.n_params)
            funcs = operations(net, X, Y, v)
            cases.append({op: funcs[op] for op in timed})
        times = interleaved_medians(cases, rounds, min_seconds)
        rec: dict[str, Any] = {
            "widths": archs,
            "N": [net.n_params for net, _, _ in nets],
            **{f"{op}_s": [t[op] for t in times] for op in timed},
        }
        if "fd" in ops:
            rec.update(fd_times(nets, rec["loss_s"], fd_budget, seed))
        rec["slope"] = {
            key[:-2]: loglog_slope(rec["N"], rec[key]) for key in rec if key.endswith("_s")
        }
        sweeps[sweep] = rec
    return sweeps


def fd_times(
    nets: Sequence[TimingCase], loss_s: Sequence[float], budget: float, seed: int
) -> dict[str, list[Any]]:
    """Seconds for central differences over all N parameters, per network.

    When three runs of the full loop (2N forward passes each) fit in ``budget`` seconds, the
    full loop is timed; otherwise the loop over a seeded random subset of s ≥ 32 parameters is
    timed and scaled by N/s (every entry costs the same two forward passes).  Median of 3.  The
    entries computed are compared with backprop's, so the loop that is timed is a working one.
    (He initialisation keeps the ReLU pre-activations of the deep networks O(1): with Xavier
    they shrink by √2 per layer, many sit within h of the kink at 0 and the differences fail.)

    Parameters
    ----------
    nets : sequence of (Network, numpy.ndarray, numpy.ndarray)
        Networks with validated batches, as :func:`timing_network` makes them.
    loss_s : sequence of float
        Seconds of one loss evaluation of each network (sizes the subset).
    budget : float
        Seconds allowed for three full loops.
    seed : int
        Seeds the subsets.

    Returns
    -------
    dict of str to list
        ``fd_s`` (seconds for all N entries), ``fd_probes`` (entries actually timed),
        ``fd_abs_error`` (``max|finite difference − backprop|`` over the probes) and
        ``fd_rel_error`` (the same over the largest backprop entry probed).
    """
    fd_s: list[float] = []
    probes: list[int] = []
    rel_err: list[float] = []
    abs_err: list[float] = []
    rng = np.random.default_rng(seed)
    for (net, X, Y), t_loss in zip(nets, loss_s, strict=True):
        N = net.n_params
        s = N if 2 * N * t_loss * 3 <= budget else max(32, int(budget / (3 * 2 * t_loss)))
        s = min(s, N)
        idx = np.arange(N) if s == N else np.sort(rng.choice(N, size=s, replace=False))
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            g = finite_difference_gradient(net, X, Y, idx, FD_STEP)
            samples.append((time.perf_counter() - t0) * N / s)
        fd_s.append(float(np.median(samples)))
        probes.append(int(s))
        net.lowered.loss_and_gradient(X, Y)
        g_bp = net.lowered.grad[idx]
        abs_err.append(float(np.max(np.abs(g - g_bp))))
        rel_err.append(abs_err[-1] / max(float(np.max(np.abs(g_bp))), 1e-300))
    return {"fd_s": fd_s, "fd_probes": probes, "fd_abs_error": abs_err, "fd_rel_error": rel_err}
