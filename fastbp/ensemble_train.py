"""Training an ensemble: the epoch loop around the drivers of :mod:`fastbp.ensemble_kernels`.

One compiled call per chunk of an epoch (one chunk unless the epoch is very long) trains every
active member; Python does per-epoch bookkeeping only: drawing each member's order, the
validation pass (one compiled call for all members), early stopping and the histories.

Member i reproduces a single network's :func:`fastbp.train.fit` with ``seed + i``: the same
validation split and shuffles from ``np.random.default_rng(seed + i)``, the same kernel on its
row of the parameters, the same settling of faults.  Divergence is per member: a member whose
loss or parameters stop being finite gets the parameters and optimizer state of the end of its
last good epoch back, is flagged (``History.diverged``) and stops; the others go on.  Ctrl-C
restores every member to the end of the last completed epoch.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import TYPE_CHECKING

import numba
import numpy as np

from fastbp import _parallel, pcg64
from fastbp import ensemble_kernels as ekk
from fastbp.compiling import COMPILING_MESSAGE, CompileWatch
from fastbp.ensemble_args import (
    BOOTSTRAP_KEY,
    FitArgs,
    as_member_data,
    bootstrap_indices,
    check_fit,
    member_bootstrap_indices,
    per_member,
)
from fastbp.ensemble_pass import Buffers, MemberState, member_outputs, run_pass, uses_lanes
from fastbp.history import FitDivergedError, History
from fastbp.interrupt import ctrl_c_deferred
from fastbp.progress import Progress
from fastbp.train import CHUNK_EXAMPLES, DEFAULT_LR, partial_fit_settings, score, toolbox
from fastbp.validate import (
    positive_int,
)

if TYPE_CHECKING:
    from fastbp.ensemble import Ensemble


class MemberDivergedWarning(RuntimeWarning):
    """Some members of an ensemble diverged; they were restored and stopped, the rest trained."""


def fit(
    ens: Ensemble,
    X,
    Y,
    *,
    member_seeds: np.ndarray | None = None,
    report: bool = True,
    exact: bool = False,
    **kwargs,
) -> list[History]:
    """Train every member in place; see :meth:`fastbp.Ensemble.fit`.

    Parameters
    ----------
    ens : Ensemble
        The ensemble.
    X, Y : array_like
        The data, as for :meth:`fastbp.Ensemble.fit`.
    member_seeds : numpy.ndarray, optional
        Internal (shards, sweeps): each member's fit seed, (M,) integers ≥ 0, in place of
        ``seed + i``; member i's shuffles, validation split and bootstrap resample then come
        from ``member_seeds[i]``.
    report : bool
        Warn or raise on divergence (:func:`report_divergence`); False leaves it to the
        caller, who may hold only a part of the members.
    exact : bool
        Keep every member bit for bit its solo fit: no SIMD-lane kernel (sweeps set it, so
        that their table is the per-configuration one).
    **kwargs
        The keyword arguments of :meth:`fastbp.Ensemble.fit` but ``client``, checked by
        :func:`check_fit`.

    Returns
    -------
    list of History
        One per member (also ``ens.histories``).
    """
    a = check_fit(ens, X, Y, **kwargs)
    if exact:
        a = dataclasses.replace(a, lanes=False)
    M = len(ens)
    if member_seeds is None:
        seeds = None if a.seed is None else a.seed + np.arange(M, dtype=np.int64)
    else:
        seeds = np.asarray(member_seeds)
        if seeds.shape != (M,) or seeds.dtype.kind not in "iu" or (seeds < 0).any():
            raise ValueError(f"member_seeds must be ({M},) integers >= 0, got {member_seeds!r}")
    histories = fit_checked(ens, a, seeds)
    if report:
        report_divergence(histories)
    return histories


def fit_checked(ens: Ensemble, a: FitArgs, seeds: np.ndarray | None) -> list[History]:
    """Train every member in place on arguments :func:`check_fit` checked; divergence is not
    reported (see :func:`report_divergence`).

    Parameters
    ----------
    ens : Ensemble
        The ensemble (held alone while it trains).
    a : FitArgs
        The checked arguments.
    seeds : numpy.ndarray or None
        (M,) each member's fit seed (its shuffles, validation split and bootstrap resample),
        or None for unseeded shuffles.

    Returns
    -------
    list of History
        One per member.
    """
    spec, M = ens.spec, len(ens)
    X3, Y3, batch_size, n_val = a.X3, a.Y3, a.batch_size, a.n_val
    n = X3.shape[1]
    n_train = n - n_val
    if a.bootstrap and seeds is None:
        raise ValueError("bootstrap=True needs an integer seed (the resamples are drawn from it)")

    # Each member's rows: its bootstrap resample (or all rows), split as its own fit splits them.
    base = member_bootstrap_indices(n, seeds) if a.bootstrap and seeds is not None else None
    rngs = [
        np.random.default_rng(None if seeds is None else int(seeds[i]))
        if a.shuffle or n_val > 0
        else None
        for i in range(M)
    ]
    train_rows = np.empty((M, n_train), np.int64)
    val_rows = np.empty((M, n_val), np.int64)
    for i in range(M):
        positions = np.arange(n, dtype=np.int64)
        if n_val:
            perm = rngs[i].permutation(n)  # type: ignore[union-attr]
            val_pos, positions = np.sort(perm[:n_val]), np.sort(perm[n_val:]).astype(np.int64)
            val_rows[i] = val_pos if base is None else base[i][val_pos]
        train_rows[i] = positions if base is None else base[i][positions]

    dtype, p = spec.np_dtype, ens.plan
    chunk = max(batch_size, (CHUNK_EXAMPLES // batch_size) * batch_size)
    buf = Buffers(spec, p.n_units, p.n_params, a.n_threads, batch_size)
    with ens.writing("fit"), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ens.check_params()
        state = ens.state
        if not (
            a.warm_start and state is not None and state.fits(a.settings.name, M, p.n_params, dtype)
        ):
            state = MemberState.fresh(a.settings, a.mus, M, p.n_params, dtype)
        else:
            state = MemberState(a.settings, a.mus, state.S1, state.S2, state.steps)
        ens.state = state
        histories = [History() for _ in range(M)]
        ens.histories = histories
        with ctrl_c_deferred() as ctrl_c:
            _epochs(
                ens,
                X3,
                Y3,
                train_rows,
                val_rows,
                a.epochs,
                batch_size,
                state,
                a.lr0,
                a.l2s,
                a.schedule,
                a.shuffle,
                a.early_stopping,
                a.patience,
                a.min_delta,
                rngs,
                a.progress,
                histories,
                buf,
                a.n_threads,
                chunk,
                ctrl_c,
                a.lanes,
                a.tools,
            )
        for i, h in enumerate(histories):
            if ctrl_c.is_set():
                h.interrupted = True
            if h.lr:
                ens.last_lrs[i] = h.lr[-1]
    return histories


def report_divergence(histories: list[History]) -> None:
    """Warn (MemberDivergedWarning) when some members diverged; raise FitDivergedError when
    all did.  :func:`fit` calls it unless ``report=False``.

    Parameters
    ----------
    histories : list of History
        Every member's history, in order.
    """
    failed = [i for i, h in enumerate(histories) if h.diverged]
    if not failed:
        return
    M = len(histories)
    text = (
        f"{len(failed)} of {M} members diverged (members {failed[:20]}"
        f"{' ...' if len(failed) > 20 else ''}): the loss or the parameters became NaN/inf; "
        f"each was restored to the end of its last good epoch and stopped (History.diverged)."
        f" Try smaller learning rates for them."
    )
    if len(failed) == M:
        raise FitDivergedError(
            f"every member diverged. {text}", epoch=len(histories[0]) + 1, history=histories[0]
        )
    warnings.warn(text, MemberDivergedWarning, stacklevel=3)


def draw_orders(states, rngs, train_rows, orders, active, n_threads: int) -> None:
    """Each active member's order of its training rows for the next epoch, in ``orders[i]``.

    Exactly ``rngs[i].permutation(train_rows[i])``, the draw of a single network's fit: with
    ``states`` (the generators' packed PCG64 states, :func:`fastbp.pcg64.pack_state`) in one
    parallel compiled call (:func:`fastbp.ensemble_kernels.shuffle_orders`, which advances
    ``states``); without them (no JIT, or rows too many for it) with NumPy, member by member.
    ``rngs=None`` (no shuffling) copies the rows as they are.
    """
    members = np.flatnonzero(active)
    if rngs is None:
        orders[members] = train_rows[members]
    elif states is not None:
        with _parallel.launch(n_threads):
            ekk.shuffle_orders(orders, train_rows, states, active)
    else:
        for i in members:
            orders[i] = rngs[i].permutation(train_rows[i])


def _epochs(
    ens,
    X3,
    Y3,
    train_rows,
    val_rows,
    epochs,
    batch_size,
    state,
    lr0,
    l2s,
    schedule,
    shuffle,
    early_stopping,
    patience,
    min_delta,
    rngs,
    progress,
    histories,
    buf,
    n_threads,
    chunk,
    ctrl_c,
    lanes=False,
    tools=None,
) -> None:
    spec, P, M = ens.spec, ens.params, len(ens)
    n_train, n_val = train_rows.shape[1], val_rows.shape[1]
    active = np.ones(M, np.int64)
    failed = np.zeros(M, np.int64)
    info = np.zeros((M, 3), np.float64)
    lrs = np.zeros(M, np.float64)
    good = [P.copy(), state.S1.copy(), state.S2.copy(), state.steps.copy()]
    best_val = np.full(M, math.inf)
    bad_epochs = np.zeros(M, np.int64)
    best_params: dict[int, np.ndarray] = {}
    orders = np.empty((M, n_train), np.int64)
    states = None  # the members' generators as PCG64 words, drawn from in compiled code
    interpreted = numba.config.DISABLE_JIT  # type: ignore[attr-defined]
    if shuffle and not interpreted and n_train < pcg64.MAX_LENGTH:
        states = np.stack([pcg64.pack_state(rngs[i]) for i in range(M)])
    bar = Progress(epochs, progress, unit="epoch", desc=f"ensemble fit ({M} members)")
    watch = CompileWatch(on_compile=lambda: bar.note(COMPILING_MESSAGE))
    watch.__enter__()
    shown = 0.0
    interrupted = False
    try:
        for e in range(epochs):
            if ctrl_c.is_set():
                raise KeyboardInterrupt
            for i in np.flatnonzero(active):
                try:
                    rate = float(schedule.rate(float(lr0[i]), e, epochs))
                except OverflowError:
                    rate = math.inf
                if not (math.isfinite(rate) and rate >= 0):
                    active[i] = 0
                    histories[i].diverged = True
                    continue
                lrs[i] = rate
            draw_orders(states, rngs if shuffle else None, train_rows, orders, active, n_threads)
            if not active.any():
                break
            info[:] = 0
            t0 = time.perf_counter()
            for lo in range(0, n_train, chunk):
                hi = min(n_train, lo + chunk)
                run_pass(
                    ens,
                    X3,
                    Y3,
                    orders,
                    lo,
                    hi,
                    batch_size,
                    state,
                    lrs,
                    l2s,
                    info,
                    active,
                    buf,
                    n_threads,
                    lanes,
                    tools,
                )
                if ekk.settle(P, state.S1, state.S2, state.steps, *good, info, active, failed):
                    for i in np.flatnonzero(failed):
                        histories[i].diverged = True
                    failed[:] = 0
                if ctrl_c.is_set():
                    raise KeyboardInterrupt
            seconds = time.perf_counter() - t0 - (watch.seconds - shown)
            live = np.flatnonzero(active)
            if n_val:
                out, losses = member_outputs(ens, X3, Y3, val_rows, active, n_threads, True)
            ekk.snapshot(P, state.S1, state.S2, state.steps, *good, active)
            for i in live:
                h = histories[i]
                val_loss = val_score = math.nan
                if n_val:
                    val_loss = float(losses[i] / n_val)
                    Yi = Y3[min(i, Y3.shape[0] - 1)]
                    val_score = score(spec.loss, out[i], Yi[val_rows[i]])
                h.epoch.append(e + 1)
                h.loss.append(float(info[i, 0] / max(info[i, 1], 1)))
                h.val_loss.append(val_loss)
                h.val_score.append(float(val_score))
                h.lr.append(float(lrs[i]))
                h.seconds.append(seconds)
                h.examples_per_s.append(n_train / max(seconds, 1e-12))
                h.compile_seconds += watch.seconds - shown
                if early_stopping:
                    if val_loss < best_val[i] - min_delta:
                        best_val[i], bad_epochs[i], h.best_epoch = val_loss, 0, e + 1
                        best_params[int(i)] = P[i].copy()
                    else:
                        bad_epochs[i] += 1
                        if bad_epochs[i] >= patience:
                            h.stopped_early = True
                            active[i] = 0
            bar.exclude(watch.seconds - shown)
            shown = watch.seconds
            done = [histories[i].loss[-1] for i in live]
            bar.update(
                {"loss": float(np.mean(done)) if done else math.nan, "active": float(active.sum())}
            )
            if not active.any():
                break
        if ctrl_c.is_set():
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        P[...] = good[0]
        state.S1[...], state.S2[...], state.steps[...] = good[1], good[2], good[3]
        interrupted = True
    finally:
        watch.__exit__(None, None, None)
        bar.close()
    if early_stopping and not interrupted:
        for i, best in best_params.items():
            P[i] = best


# ------------------------------------------------------------------ partial_fit
def partial_fit(
    ens: Ensemble, X, Y, *, optimizer, lr, momentum, l2, batch_size, n_jobs,
    weight_decay=None, clip_norm=None, warmup=0,
) -> np.ndarray:  # fmt: skip
    """One pass of every member over the rows, in order; see :meth:`fastbp.Ensemble.partial_fit`."""
    spec, M, p = ens.spec, len(ens), ens.plan
    X3, Y3 = as_member_data(spec, M, X, Y)
    n = X3.shape[1]
    l2s = per_member(l2, "l2", M, allow_zero=True)
    batch_size = min(positive_int(batch_size, "batch_size"), n)
    n_threads = max(1, min(_parallel.resolve_n_jobs(n_jobs), M))
    dtype = spec.np_dtype
    with ens.writing("partial_fit"), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ens.check_params()
        current = ens.state
        # Network.partial_fit's rules for the optimizer and weight_decay (None keeps λ_wd while
        # the name stays); momentum and lr are per member here (mus, lrs below).
        settings, _ = partial_fit_settings(
            None if current is None else current.settings, last_lr=None, optimizer=optimizer,
            lr=None, momentum=None, weight_decay=weight_decay,
        )  # fmt: skip
        tools = toolbox(settings, clip_norm, warmup, dp=False)
        if momentum is None:
            uses_mu = current is not None and current.settings.name in ("momentum", "nesterov")
            mus = current.mus.copy() if uses_mu and current is not None else np.full(M, 0.9)
        else:
            mus = per_member(momentum, "momentum", M, allow_zero=True, below_one=True)
        if lr is None:
            lrs = np.where(np.isnan(ens.last_lrs), DEFAULT_LR, ens.last_lrs)
        else:
            lrs = per_member(lr, "lr", M, allow_zero=False)
        same = (
            current is not None
            and current.fits(settings.name, M, p.n_params, dtype)
            and current.settings.settings() | {"momentum": 0, "weight_decay": 0}
            == settings.settings() | {"momentum": 0, "weight_decay": 0}
            and (settings.name not in ("momentum", "nesterov") or np.array_equal(current.mus, mus))
        )
        if same:
            assert current is not None
            state = MemberState(settings, mus, current.S1, current.S2, current.steps)
        else:
            state = MemberState.fresh(settings, mus, M, p.n_params, dtype)
        before = [ens.params.copy(), state.S1.copy(), state.S2.copy(), state.steps.copy()]
        orders = np.tile(np.arange(n, dtype=np.int64), (M, 1))
        info = np.zeros((M, 3), np.float64)
        active = np.ones(M, np.int64)
        failed = np.zeros(M, np.int64)
        buf = Buffers(spec, p.n_units, p.n_params, n_threads, batch_size)
        lanes = (batch_size == 1 and state.settings.name == "sgd" and tools is None
                 and uses_lanes(spec, M))  # fmt: skip
        run_pass(ens, X3, Y3, orders, 0, n, batch_size, state, lrs, l2s, info, active, buf,
                 n_threads, lanes, tools)  # fmt: skip
        ekk.settle(ens.params, state.S1, state.S2, state.steps, *before, info, active, failed)
        ens.state = state
        ens.last_lrs[:] = lrs
    losses = info[:, 0] / np.maximum(info[:, 1], 1)
    bad = np.flatnonzero(failed)
    if bad.size:
        losses[bad] = np.nan
        if bad.size == M:
            raise FitDivergedError(
                "partial_fit diverged for every member: the loss or the parameters became "
                "NaN/inf. Each member's parameters and optimizer state of before the call were "
                "restored; try smaller learning rates.",
                epoch=1,
                history=History(),
            )
        warnings.warn(
            f"partial_fit: {bad.size} of {M} members diverged (members {bad[:20].tolist()}); "
            f"their parameters and optimizer state of before the call were restored (their "
            f"loss is NaN in the result)",
            MemberDivergedWarning,
            stacklevel=3,
        )
    return losses


__all__ = [
    "BOOTSTRAP_KEY",
    "Buffers",
    "FitArgs",
    "MemberDivergedWarning",
    "MemberState",
    "as_member_data",
    "bootstrap_indices",
    "check_fit",
    "fit",
    "fit_checked",
    "member_bootstrap_indices",
    "member_outputs",
    "partial_fit",
    "per_member",
    "report_divergence",
    "run_pass",
]
