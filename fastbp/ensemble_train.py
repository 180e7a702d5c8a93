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

import math
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fastbp import _parallel
from fastbp import ensemble_kernels as ekk
from fastbp import epochs as ek
from fastbp.compiling import COMPILING_MESSAGE, CompileWatch
from fastbp.history import FitDivergedError, History
from fastbp.interrupt import ctrl_c_deferred
from fastbp.lowered import BLAS_MIN_ROWS, CHUNK_ROWS
from fastbp.optim import Optimizer, Schedule
from fastbp.progress import Progress
from fastbp.rows import LazyRows
from fastbp.specialise import kernel_module, specialises
from fastbp.train import CHUNK_EXAMPLES, DEFAULT_LR, _check_bool, score
from fastbp.validate import (
    as_features,
    as_targets,
    check_allocation,
    check_seed,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:
    from fastbp.ensemble import Ensemble
    from fastbp.spec import NetworkSpec

#: The bootstrap resample of member i is ``np.random.default_rng([BOOTSTRAP_KEY, seed + i])
#: .integers(0, n, n)``: a stream of its own, apart from the member's shuffles.
BOOTSTRAP_KEY = 0xB007


class MemberDivergedWarning(RuntimeWarning):
    """Some members of an ensemble diverged; they were restored and stopped, the rest trained."""


def bootstrap_indices(n: int, n_members: int, seed: int) -> np.ndarray:
    """Each member's bootstrap resample of ``n`` rows: row indices drawn with replacement.

    Parameters
    ----------
    n : int
        The number of rows.
    n_members : int
        M.
    seed : int
        The fit's seed: member i draws from ``np.random.default_rng([BOOTSTRAP_KEY, seed + i])``.

    Returns
    -------
    numpy.ndarray
        (M, n) int64; ``Network(spec, seed=seed + i).fit(X[idx[i]], Y[idx[i]], seed=seed + i)``
        trains member i's resample alone.
    """
    out = np.empty((n_members, n), dtype=np.int64)
    for i in range(n_members):
        out[i] = np.random.default_rng([BOOTSTRAP_KEY, seed + i]).integers(0, n, size=n)
    return out


# ------------------------------------------------------------------ checking the input
def as_member_data(spec: NetworkSpec, M: int, X, Y) -> tuple[np.ndarray, np.ndarray]:
    """X and Y as (1, n, ·) arrays shared by all members, or (M, n, ·) per member; never copied
    when they are already C-contiguous arrays of the spec's dtype.

    Shared: X of shape (n, n0) and Y in any form :func:`fastbp.validate.as_targets` takes.
    Per member: X of shape (M, n, n0) and Y of shape (M, n) or (M, n, nr).
    """
    Xa = X if isinstance(X, np.ndarray) else None
    if Xa is not None and Xa.ndim == 3:
        if Xa.shape[0] != M:
            raise ValueError(
                f"X has shape {Xa.shape}: per-member data needs one block per member, "
                f"shape ({M}, n, {spec.n_inputs})"
            )
        m, n = Xa.shape[0], Xa.shape[1]
        X2 = as_features(Xa.reshape(m * n, Xa.shape[2]) if n else Xa[0], spec, lazy=False)
        Ya = np.asarray(Y) if not isinstance(Y, np.ndarray) else Y
        if Ya.ndim not in (2, 3) or Ya.shape[:2] != (M, n):
            raise ValueError(
                f"with per-member X of shape {Xa.shape}, Y must have shape ({M}, {n}) or "
                f"({M}, {n}, {spec.n_outputs}), got {Ya.shape}"
            )
        Y2 = as_targets(Ya.reshape((M * n,) + Ya.shape[2:]), spec, M * n, lazy=False)
        return X2.reshape(M, n, spec.n_inputs), Y2.reshape(M, n, spec.n_outputs)
    X2 = as_features(X, spec, lazy=False)
    if isinstance(X2, LazyRows):  # pragma: no cover - lazy=False returns arrays
        raise TypeError("Ensemble.fit needs the rows in memory")
    Y2 = as_targets(Y, spec, X2.shape[0], lazy=False)
    return X2[None], Y2[None]


def per_member(value, name: str, M: int, *, allow_zero: bool, below_one: bool = False):
    """A scalar or one value per member, as a float64 (M,) array of valid values."""
    arr = np.asarray(value, dtype=object if isinstance(value, (list, tuple)) else None)
    if arr.ndim == 0:
        v = positive_float(value, name, allow_zero=allow_zero)
        values = [v] * M
    else:
        if arr.shape != (M,):
            raise ValueError(
                f"{name} must be a number or one value per member ({M},), got shape {arr.shape}"
            )
        values = [
            positive_float(v, f"{name}[{i}]", allow_zero=allow_zero)
            for i, v in enumerate(arr.tolist())
        ]
    if below_one and any(v >= 1 for v in values):
        raise ValueError(f"{name} must be in [0, 1), got {value!r:.80}")
    return np.asarray(values, dtype=np.float64)


# ------------------------------------------------------------------ state and buffers
@dataclass
class MemberState:
    """The optimizer state of every member: rows of (M, ·) arrays, as one network's
    :class:`~fastbp.optim.Optimizer` holds them (``S1``: velocity or first moment, ``S2``:
    second moment, ``steps``: update counts)."""

    settings: Optimizer
    mus: np.ndarray
    S1: np.ndarray
    S2: np.ndarray
    steps: np.ndarray

    @classmethod
    def fresh(
        cls, settings: Optimizer, mus: np.ndarray, M: int, n_params: int, dtype
    ) -> MemberState:
        """Zero state for M members (sizes as :meth:`fastbp.optim.Optimizer.reset`)."""
        n1 = n_params if settings.name != "sgd" else 1
        n2 = n_params if settings.name == "adam" else 1
        return cls(
            settings,
            mus,
            np.zeros((M, n1), dtype),
            np.zeros((M, n2), dtype),
            np.zeros((M, 1), np.int64),
        )

    def fits(self, name: str, M: int, n_params: int, dtype) -> bool:
        """Whether this state can continue for optimizer ``name`` on these parameters."""
        n1 = n_params if name != "sgd" else 1
        n2 = n_params if name == "adam" else 1
        return (
            self.settings.name == name
            and self.S1.shape == (M, n1)
            and self.S2.shape == (M, n2)
            and self.S1.dtype == dtype
        )

    def member(self, i: int) -> Optimizer:
        """Member i's state as an independent :class:`~fastbp.optim.Optimizer` (copies)."""
        s = self.settings
        return Optimizer(
            s.name,
            momentum=float(self.mus[i]),
            beta1=s.beta1,
            beta2=s.beta2,
            eps=s.eps,
            s1=self.S1[i].copy(),
            s2=self.S2[i].copy(),
            step=self.steps[i].copy(),
        )


class Buffers:
    """One workspace per thread slot (never one per member): gather buffers, z, a, dJ/dz,
    dJ/da, and a gradient buffer, each a (T, ·) array whose row t is slot t's."""

    def __init__(self, spec: NetworkSpec, n_units: int, n_params: int, T: int, rows: int) -> None:
        dt = spec.np_dtype
        size = rows * n_units
        check_allocation(
            T * (4 * size + rows * (spec.n_inputs + spec.n_outputs) + n_params) * dt.itemsize,
            f"the ensemble's workspaces ({T} threads × {rows} rows)",
        )
        self.XB = np.zeros((T, rows, spec.n_inputs), dt)
        self.YB = np.zeros((T, rows, spec.n_outputs), dt)
        self.ZS = np.zeros((T, size), dt)
        self.AS = np.zeros((T, size), dt)
        self.DZS = np.zeros((T, size), dt)
        self.DAS = np.zeros((T, size), dt)
        self.GS = np.zeros((T, n_params), dt)


# ------------------------------------------------------------------ one pass
def run_pass(
    ens: Ensemble,
    X3,
    Y3,
    orders,
    lo: int,
    hi: int,
    batch_size: int,
    state: MemberState,
    lrs,
    l2s,
    info,
    active,
    buf: Buffers,
    n_threads: int,
) -> None:
    """Every active member trains on ``orders[i, lo:hi]``: one compiled call per kernel variant.

    Per-example SGD runs the spec's specialised kernel (or the generic one); minibatches run
    the variant :func:`fastbp.epochs.minibatch_kernel` picks for member i's λ, so each member
    runs what its own fit would.  ``info`` (M, 3) is accumulated as one network's.
    """
    spec, p = ens.spec, ens.plan
    P = ens.params
    opt = state.settings
    with _parallel.launch(n_threads):
        if batch_size == 1 and opt.name == "sgd":
            if specialises(spec):
                module = kernel_module(spec)
                for kernel, use in (
                    (module.ensemble_sgd_epoch, l2s == 0.0),
                    (module.ensemble_sgd_epoch_l2, l2s != 0.0),
                ):
                    mask = (active != 0) & use
                    if mask.any():
                        kernel(
                            X3,
                            Y3,
                            orders,
                            lo,
                            hi,
                            P,
                            p.widths,
                            p.w_off,
                            p.b_off,
                            p.u_off,
                            buf.ZS,
                            buf.AS,
                            buf.DAS,
                            lrs,
                            l2s,
                            info,
                            mask.astype(np.int64),
                        )
            else:
                ekk.sgd_example(
                    X3,
                    Y3,
                    orders,
                    lo,
                    hi,
                    P,
                    p.widths,
                    p.acts,
                    p.out_kind,
                    p.w_off,
                    p.b_off,
                    p.u_off,
                    buf.ZS,
                    buf.AS,
                    buf.DZS,
                    buf.DAS,
                    lrs,
                    l2s,
                    info,
                    active,
                )
            return
        variants: dict[str, list[int]] = {}
        for i in np.flatnonzero(active):
            name = ek.minibatch_kernel(opt.code, float(l2s[i]), batch_size, BLAS_MIN_ROWS).__name__
            variants.setdefault(name, []).append(int(i))
        for name, members in variants.items():
            mask = np.zeros_like(active)
            mask[members] = 1
            ekk.MINIBATCH_DRIVERS[name](
                X3,
                Y3,
                orders,
                lo,
                hi,
                batch_size,
                P,
                p.widths,
                p.acts,
                p.out_kind,
                p.w_off,
                p.b_off,
                p.u_off,
                buf.XB,
                buf.YB,
                buf.ZS,
                buf.AS,
                buf.DZS,
                buf.DAS,
                buf.GS,
                p.weight_mask,
                l2s,
                BLAS_MIN_ROWS,
                opt.code,
                lrs,
                state.mus,
                opt.beta1,
                opt.beta2,
                opt.eps,
                state.S1,
                state.S2,
                state.steps,
                info,
                mask,
            )


def member_outputs(ens: Ensemble, X3, Y3, idx, active, n_threads: int, with_loss: bool):
    """Outputs (M, n, nr) of every member on its rows ``idx`` ((1 or M, n) int64), and the
    loss sums (M,) when ``with_loss``; one compiled call (members over the threads)."""
    spec, p = ens.spec, ens.plan
    M, n = len(ens), idx.shape[1]
    T = max(1, min(n_threads, M))
    rows = min(CHUNK_ROWS, n)
    check_allocation(
        M * n * spec.n_outputs * spec.np_dtype.itemsize,
        f"the outputs of {M} members × {n:,} rows × {spec.n_outputs}",
    )
    out = np.empty((M, n, spec.n_outputs), spec.np_dtype)
    losses = np.zeros(M, np.float64)
    buf = Buffers(spec, p.n_units, 0, T, rows)
    with _parallel.launch(T):
        ekk.outputs(
            X3,
            Y3,
            idx,
            ens.params,
            p.widths,
            p.acts,
            p.out_kind,
            p.w_off,
            p.b_off,
            p.u_off,
            buf.XB,
            buf.YB,
            buf.ZS,
            buf.AS,
            rows,
            BLAS_MIN_ROWS,
            with_loss,
            active,
            out,
            losses,
        )
    return out, losses


# ------------------------------------------------------------------ fit
def fit(
    ens: Ensemble,
    X,
    Y,
    *,
    epochs: int,
    batch_size: int,
    optimizer,
    lr,
    momentum,
    l2,
    schedule,
    shuffle: bool,
    validation_fraction: float,
    early_stopping: bool,
    patience: int,
    min_delta: float,
    seed,
    bootstrap: bool,
    warm_start: bool,
    n_jobs,
    progress: bool,
) -> list[History]:
    """Train every member in place; see :meth:`fastbp.Ensemble.fit`."""
    spec, M = ens.spec, len(ens)
    X3, Y3 = as_member_data(spec, M, X, Y)
    n = X3.shape[1]
    epochs = positive_int(epochs, "epochs", minimum=0)
    lr0 = per_member(lr, "lr", M, allow_zero=False)
    l2s = per_member(l2, "l2", M, allow_zero=True)
    patience = positive_int(patience, "patience")
    min_delta = positive_float(min_delta, "min_delta", allow_zero=True)
    shuffle = _check_bool(shuffle, "shuffle")
    early_stopping = _check_bool(early_stopping, "early_stopping")
    progress = _check_bool(progress, "progress")
    warm_start = _check_bool(warm_start, "warm_start")
    bootstrap = _check_bool(bootstrap, "bootstrap")
    validation_fraction = positive_float(validation_fraction, "validation_fraction", True)
    if validation_fraction >= 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if early_stopping and validation_fraction == 0:
        raise ValueError("early_stopping=True needs validation_fraction > 0 (e.g. 0.1)")
    if isinstance(schedule, str):
        schedule = Schedule(schedule)
    elif not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a name or a fastbp.optim.Schedule, got {schedule!r}")
    if isinstance(optimizer, str):
        settings = Optimizer(optimizer)
        mus = per_member(momentum, "momentum", M, allow_zero=True, below_one=True)
    elif isinstance(optimizer, Optimizer):
        settings = Optimizer(**optimizer.settings())
        mus = np.full(M, settings.momentum, np.float64)
    else:
        raise TypeError(f"optimizer must be a name or a fastbp.optim.Optimizer, got {optimizer!r}")
    seed = check_seed(seed)
    if bootstrap and seed is None:
        raise ValueError("bootstrap=True needs an integer seed (the resamples are drawn from it)")
    n_threads = max(1, min(_parallel.resolve_n_jobs(n_jobs), M))

    # Each member's rows: its bootstrap resample (or all rows), split as its own fit splits them.
    check_allocation(16 * M * n, f"the ensemble's row indices ({M} members × {n:,} rows)")
    base = bootstrap_indices(n, M, seed) if bootstrap else None
    rngs = [
        np.random.default_rng(None if seed is None else seed + i)
        if shuffle or validation_fraction > 0
        else None
        for i in range(M)
    ]
    n_val = max(1, int(round(validation_fraction * n))) if validation_fraction > 0 else 0
    if n_val and n - n_val < 1:
        raise ValueError(f"validation_fraction={validation_fraction} leaves no training data")
    n_train = n - n_val
    batch_size = positive_int(batch_size, "batch_size")
    if batch_size > n_train:
        raise ValueError(
            f"batch_size must be between 1 and the number of training examples ({n_train}), "
            f"got {batch_size}"
        )
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
    buf = Buffers(spec, p.n_units, p.n_params, n_threads, batch_size)
    with ens.writing("fit"), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ens.check_params()
        state = ens.state
        if not (
            warm_start and state is not None and state.fits(settings.name, M, p.n_params, dtype)
        ):
            state = MemberState.fresh(settings, mus, M, p.n_params, dtype)
        else:
            state = MemberState(settings, mus, state.S1, state.S2, state.steps)
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
            )
        for i, h in enumerate(histories):
            if ctrl_c.is_set():
                h.interrupted = True
            if h.lr:
                ens.last_lrs[i] = h.lr[-1]
    _report_divergence(histories)
    return histories


def _report_divergence(histories: list[History]) -> None:
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
                orders[i] = rngs[i].permutation(train_rows[i]) if shuffle else train_rows[i]
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
                        best_params[i] = P[i].copy()
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
    ens: Ensemble, X, Y, *, optimizer, lr, momentum, l2, batch_size, n_jobs
) -> np.ndarray:
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
        if optimizer is None:
            settings = (
                Optimizer("sgd") if current is None else Optimizer(**current.settings.settings())
            )
        elif isinstance(optimizer, str):
            settings = Optimizer(optimizer)
        elif isinstance(optimizer, Optimizer):
            settings = Optimizer(**optimizer.settings())
        else:
            raise TypeError(
                f"optimizer must be None, a name or a fastbp.optim.Optimizer, got {optimizer!r}"
            )
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
            and current.settings.settings() | {"momentum": 0}
            == settings.settings() | {"momentum": 0}
            and (settings.name not in ("momentum", "nesterov") or np.array_equal(current.mus, mus))
        )
        if same:
            assert current is not None
            state = MemberState(current.settings, mus, current.S1, current.S2, current.steps)
        else:
            state = MemberState.fresh(settings, mus, M, p.n_params, dtype)
        before = [ens.params.copy(), state.S1.copy(), state.S2.copy(), state.steps.copy()]
        orders = np.tile(np.arange(n, dtype=np.int64), (M, 1))
        info = np.zeros((M, 3), np.float64)
        active = np.ones(M, np.int64)
        failed = np.zeros(M, np.int64)
        buf = Buffers(spec, p.n_units, p.n_params, n_threads, batch_size)
        run_pass(
            ens, X3, Y3, orders, 0, n, batch_size, state, lrs, l2s, info, active, buf, n_threads
        )
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
    "BOOTSTRAP_KEY", "Buffers", "MemberDivergedWarning", "MemberState", "as_member_data",
    "bootstrap_indices", "fit", "member_outputs", "partial_fit", "per_member", "run_pass",
]  # fmt: skip
