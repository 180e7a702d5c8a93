"""The arguments of :meth:`fastbp.Ensemble.fit`, checked before anything runs.

The data as shared (1, n, ·) or per-member (M, n, ·) arrays (never copied when they are already
kernel-ready), settings given as a scalar or one value per member, and each member's bootstrap
resample, drawn from a seed of its own (:func:`bootstrap_indices`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fastbp import _parallel
from fastbp.ensemble_pass import uses_lanes
from fastbp.optim import Optimizer, Schedule
from fastbp.rows import LazyRows
from fastbp.train import _check_bool, check_split_and_schedule, toolbox
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
    return member_bootstrap_indices(n, seed + np.arange(n_members, dtype=np.int64))


def member_bootstrap_indices(n: int, seeds: np.ndarray) -> np.ndarray:
    """The bootstrap resamples of members whose fit seeds are ``seeds``.

    Parameters
    ----------
    n : int
        The number of rows.
    seeds : numpy.ndarray
        (M,) each member's fit seed: member i draws from
        ``np.random.default_rng([BOOTSTRAP_KEY, seeds[i]])``.

    Returns
    -------
    numpy.ndarray
        (M, n) int64, as :func:`bootstrap_indices` gives for ``seeds = seed + arange(M)``.
    """
    out = np.empty((len(seeds), n), dtype=np.int64)
    for i, s in enumerate(seeds):
        out[i] = np.random.default_rng([BOOTSTRAP_KEY, int(s)]).integers(0, n, size=n)
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


# ------------------------------------------------------------------ fit
@dataclass
class FitArgs:
    """The checked arguments of :meth:`fastbp.Ensemble.fit` (:func:`check_fit`).

    Parameters
    ----------
    X3, Y3 : numpy.ndarray
        The data as shared (1, n, ·) or per-member (M, n, ·) arrays of the spec's dtype.
    lr0, mus, l2s : numpy.ndarray
        Each member's learning rate, momentum and L2 penalty, (M,) float64.
    settings : fastbp.optim.Optimizer
        The optimizer's settings (its state lives in :class:`MemberState`).
    schedule : fastbp.optim.Schedule
        The learning-rate schedule.
    n_val : int
        Validation rows per member (0 without validation).
    n_threads : int
        Threads for the compiled calls (at most M).
    epochs, batch_size, shuffle, validation_fraction, early_stopping, patience, min_delta, \
seed, bootstrap, warm_start, progress
        As given to :meth:`fastbp.Ensemble.fit`, checked.
    tools : tuple of (float, float, int) or None
        (λ_wd, C, W) of ``weight_decay``/``adamw``, ``clip_norm`` and ``warmup``
        (:func:`fastbp.train.toolbox`), shared by the members; None when all are off.
    lanes : bool
        Per-example SGD runs with the members in SIMD lanes
        (:func:`fastbp.ensemble_pass.uses_lanes`, decided for the whole ensemble; a shard of it
        keeps the decision, and a sweep turns it off to stay bit for bit).
    """

    X3: np.ndarray
    Y3: np.ndarray
    epochs: int
    batch_size: int
    settings: Optimizer
    lr0: np.ndarray
    mus: np.ndarray
    l2s: np.ndarray
    schedule: Schedule
    shuffle: bool
    validation_fraction: float
    n_val: int
    early_stopping: bool
    patience: int
    min_delta: float
    seed: int | None
    bootstrap: bool
    warm_start: bool
    n_threads: int
    progress: bool
    lanes: bool = False
    tools: tuple | None = None


def check_fit(
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
    weight_decay=None,
    clip_norm=None,
    warmup=0,
) -> FitArgs:
    """Check the arguments of :meth:`fastbp.Ensemble.fit` without training anything.

    :func:`fit` calls it first, and :func:`fastbp.ensemble_dask.fit_on_cluster` calls it
    before sending anything.

    Parameters
    ----------
    ens : Ensemble
        The ensemble to train.
    X, Y : array_like
        The data, as for :meth:`fastbp.Ensemble.fit`.
    epochs, batch_size, optimizer, lr, momentum, l2, schedule, shuffle, validation_fraction, \
early_stopping, patience, min_delta, seed, bootstrap, warm_start, n_jobs, progress, \
weight_decay, clip_norm, warmup
        As for :meth:`fastbp.Ensemble.fit`.

    Returns
    -------
    FitArgs
        The checked arguments.

    Raises
    ------
    TypeError, ValueError
        What :meth:`fastbp.Ensemble.fit` raises for bad input.
    """
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
    validation_fraction, schedule = check_split_and_schedule(
        validation_fraction, early_stopping, schedule
    )
    if isinstance(optimizer, str):
        settings = Optimizer(optimizer, weight_decay=weight_decay)
        mus = per_member(momentum, "momentum", M, allow_zero=True, below_one=True)
    elif isinstance(optimizer, Optimizer):
        if weight_decay is not None:
            raise TypeError("give weight_decay to the Optimizer, not beside one")
        settings = Optimizer(**optimizer.settings())
        mus = np.full(M, settings.momentum, np.float64)
    else:
        raise TypeError(f"optimizer must be a name or a fastbp.optim.Optimizer, got {optimizer!r}")
    tools = toolbox(settings, clip_norm, warmup, dp=False)
    seed = check_seed(seed)
    if bootstrap and seed is None:
        raise ValueError("bootstrap=True needs an integer seed (the resamples are drawn from it)")
    n_threads = max(1, min(_parallel.resolve_n_jobs(n_jobs), M))
    check_allocation(16 * M * n, f"the ensemble's row indices ({M} members × {n:,} rows)")
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
    lanes = batch_size == 1 and settings.name == "sgd" and tools is None and uses_lanes(spec, M)
    return FitArgs(
        X3, Y3, epochs, batch_size, settings, lr0, mus, l2s, schedule, shuffle,
        validation_fraction, n_val, early_stopping, patience, min_delta, seed, bootstrap,
        warm_start, n_threads, progress, lanes, tools,
    )  # fmt: skip
