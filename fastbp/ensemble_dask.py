"""``Ensemble.fit(..., client=...)``: the members trained in contiguous shards on a Dask cluster.

:func:`fit_on_cluster` checks the arguments here (the checks of a local fit,
:func:`fastbp.ensemble_train.check_fit`), so bad input is refused before anything is sent.
It then splits the M members into contiguous shards, one per worker, sized by the workers'
thread counts; sends the data once (shared rows broadcast to every worker, per-member blocks
to the worker of their shard); and on each worker trains a sub-ensemble holding exactly its
shard's rows of the parameters (and optimizer state, with ``warm_start``).  Member i keeps
its global identity: it shuffles, splits and resamples with the fit's ``seed + i`` (through
the explicit member seeds of :func:`fastbp.ensemble_train.fit_checked`) and trains with its
own ``lr``, ``momentum`` and ``l2``.  Parameters, optimizer state, histories and last learning
rates come back into the ensemble in member order, so the result is bit for bit that of a
local :meth:`fastbp.Ensemble.fit` (only the timing fields of the histories differ).

Needs ``dask.distributed`` (``pip install "fastbp[dask]"``); only the caller's ``client`` is
used, so this module imports nothing from Dask itself.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from fastbp import ensemble_train
from fastbp.ensemble_train import FitArgs, MemberState
from fastbp.history import History

if TYPE_CHECKING:
    from fastbp.ensemble import Ensemble

#: Placeholder for the data in the arguments sent with each shard (the data travels apart).
_NO_DATA = np.empty((0, 0, 0))


def shard_bounds(n_members: int, weights: list[int]) -> list[tuple[int, int]]:
    """Contiguous shards ``[lo, hi)`` of ``n_members`` members, sized in proportion to
    ``weights`` (one per worker: its thread count); empty shards are left out.

    Parameters
    ----------
    n_members : int
        M ≥ 1.
    weights : list of int
        One positive weight per worker.

    Returns
    -------
    list of tuple of int
        ``(lo, hi)`` per non-empty shard, in order, covering ``0 .. M``.
    """
    total = sum(weights)
    cuts = [0]
    running = 0
    for w in weights:
        running += w
        cuts.append(round(n_members * running / total))
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True) if hi > lo]


def fit_on_cluster(ens: Ensemble, X, Y, *, client: Any, **fit_kwargs: Any) -> list[History]:
    """Train every member of ``ens`` in place on a Dask cluster; see :meth:`fastbp.Ensemble.fit`.

    Parameters
    ----------
    ens : Ensemble
        The ensemble; its parameters (and, with ``warm_start``, optimizer state) are the start.
    X, Y : array_like
        As for :meth:`fastbp.Ensemble.fit`.
    client : distributed.Client
        The cluster's client.  Each worker gets one contiguous shard of members (shards sized
        by the workers' thread counts); a worker's shard runs on ``n_jobs`` threads, or as many
        as the worker has when ``n_jobs`` is None.
    **fit_kwargs
        The keyword arguments of :meth:`fastbp.Ensemble.fit`; ``progress`` is not shown (the
        shards run on the workers).

    Returns
    -------
    list of History
        One per member, in order (also ``ens.histories``).

    Raises
    ------
    TypeError, ValueError
        Bad input, refused here before anything is sent.
    RuntimeError
        The cluster has no workers, or the ensemble is in use in another thread.
    fastbp.FitDivergedError
        When every member diverged (each was restored first), as for a local fit.

    Warns
    -----
    MemberDivergedWarning
        When some members diverged.

    Notes
    -----
    If a shard fails on its worker, the exception is raised here and ``ens`` is left as it
    was.  With ``seed=None`` the shuffles are not reproducible, locally or here.
    """
    a = ensemble_train.check_fit(ens, X, Y, **fit_kwargs)
    n_jobs = fit_kwargs.get("n_jobs")
    M, p, dtype = len(ens), ens.plan, ens.spec.np_dtype
    seeds = None if a.seed is None else a.seed + np.arange(M, dtype=np.int64)
    with ens.writing("fit"):
        ens.check_params()
        workers = sorted(
            (address, int(info.get("nthreads", 1)) or 1)
            for address, info in client.scheduler_info()["workers"].items()
        )
        if not workers:
            raise RuntimeError("the Dask cluster has no workers")
        bounds = shard_bounds(M, [threads for _, threads in workers])
        shared = a.X3.shape[0] == 1
        sent = dataclasses.replace(a, X3=_NO_DATA, Y3=_NO_DATA, progress=False)
        futures: list[Any] = []
        data: list[Any] = []
        old = ens.state
        warm = old is not None and a.warm_start and old.fits(a.settings.name, M, p.n_params, dtype)
        try:
            if shared:
                data = [client.scatter(d, broadcast=True, hash=False) for d in (a.X3, a.Y3)]
            token = uuid.uuid4().hex[:12]
            for k, (lo, hi) in enumerate(bounds):
                address, threads = workers[k]
                if shared:
                    X_ref, Y_ref = data
                else:
                    X_ref, Y_ref = (
                        client.scatter(d[lo:hi], workers=[address], hash=False)
                        for d in (a.X3, a.Y3)
                    )
                    data += [X_ref, Y_ref]
                state = None
                if warm:
                    assert old is not None
                    state = (old.S1[lo:hi], old.S2[lo:hi], old.steps[lo:hi])
                futures.append(
                    client.submit(
                        fit_shard,
                        type(ens),
                        ens.spec,
                        ens.init,
                        ens.seed + lo,
                        ens.params[lo:hi].copy(),
                        state,
                        ens.last_lrs[lo:hi].copy(),
                        _shard_args(sent, lo, hi),
                        X_ref,
                        Y_ref,
                        None if seeds is None else seeds[lo:hi],
                        threads if n_jobs is None else n_jobs,
                        key=f"fastbp-ensemble-{token}-{k}",
                        workers=[address],
                        allow_other_workers=True,
                        pure=False,
                    )
                )
            results = client.gather(futures)
        finally:
            for f in futures + data:
                f.release()
        ens.params[...] = np.concatenate([r[0] for r in results])
        S1, S2, steps = (np.concatenate([r[1][j] for r in results]) for j in range(3))
        ens.state = MemberState(a.settings, a.mus, S1, S2, steps)
        histories = [h for r in results for h in r[2]]
        ens.histories = histories
        ens.last_lrs[...] = np.concatenate([r[3] for r in results])
    ensemble_train.report_divergence(histories)
    return histories


def _shard_args(a: FitArgs, lo: int, hi: int) -> FitArgs:
    """The checked arguments of members ``lo .. hi - 1``: their slices of the per-member ones."""
    return dataclasses.replace(
        a, lr0=a.lr0[lo:hi].copy(), mus=a.mus[lo:hi].copy(), l2s=a.l2s[lo:hi].copy()
    )


def fit_shard(
    cls: type[Ensemble],
    spec,
    init: str,
    seed: int,
    params: np.ndarray,
    state: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    last_lrs: np.ndarray,
    args: FitArgs,
    X3: np.ndarray,
    Y3: np.ndarray,
    member_seeds: np.ndarray | None,
    n_jobs: int | None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], list[History], np.ndarray]:
    """Train one shard (on a worker): a sub-ensemble of the shard's members, its first member
    being global member ``seed - ens.seed``.

    Parameters
    ----------
    cls : type
        :class:`fastbp.Ensemble` (or the caller's subclass), passed in so that this module
        does not import :mod:`fastbp.ensemble`, which imports it.
    spec : NetworkSpec
        The ensemble's spec.
    init : str
        The ensemble's initialiser (recorded only; the parameters are given).
    seed : int
        The ensemble's seed plus the shard's first member index.
    params : numpy.ndarray
        (m, n_params) the shard's parameter rows.
    state : tuple of numpy.ndarray or None
        The shard's rows of ``S1``, ``S2`` and ``steps`` to continue (``warm_start``), or None.
    last_lrs : numpy.ndarray
        (m,) the shard's last learning rates.
    args : FitArgs
        The checked arguments, the per-member ones sliced to the shard, without the data.
    X3, Y3 : numpy.ndarray
        The data: shared (1, n, ·) or the shard's per-member blocks (m, n, ·).
    member_seeds : numpy.ndarray or None
        (m,) the members' global fit seeds (``seed + i``), or None for an unseeded fit.
    n_jobs : int or None
        Threads for this shard.

    Returns
    -------
    tuple
        ``(params, (S1, S2, steps), histories, last_lrs)`` of the shard after the fit.
    """
    from fastbp import _parallel

    m = params.shape[0]
    sub = cls(spec, m, init="zeros", seed=seed)
    sub.init = init
    sub.params[...] = params
    sub.last_lrs[...] = last_lrs
    if state is not None:
        sub.state = MemberState(args.settings, args.mus, *(s.copy() for s in state))
    n_threads = max(1, min(_parallel.resolve_n_jobs(n_jobs), m))
    args = dataclasses.replace(args, X3=X3, Y3=Y3, n_threads=n_threads)
    histories = ensemble_train.fit_checked(sub, args, member_seeds)
    assert sub.state is not None
    return sub.params, (sub.state.S1, sub.state.S2, sub.state.steps), histories, sub.last_lrs


__all__ = ["fit_on_cluster", "fit_shard", "shard_bounds"]
