""":func:`run`: check a grid against the data, run it on a backend, collect the table."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from fastbp.datasets import Dataset
from fastbp.progress import Progress
from fastbp.sweep.backends import BACKENDS, RUNNERS, BlockTask, Task, each_config
from fastbp.sweep.config import expand_grid
from fastbp.sweep.data import SweepData, check_config, prepare_data
from fastbp.sweep.members import member_blocks, train_members
from fastbp.sweep.results import SweepResult
from fastbp.sweep.trial import train_one
from fastbp.validate import positive_int


def run(
    grid: Mapping[str, Any] | Sequence[Any],
    data: SweepData | Dataset | str | os.PathLike[str],
    backend: str = "serial",
    n_jobs: int = 2,
    scheduler: Any = None,
    progress: bool = True,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    warmup: bool = True,
    retries: int = 2,
    task: Task = train_one,
    target: str | os.PathLike[str] | None = None,
    dtype: str | None = None,
    ensembles: bool = True,
) -> SweepResult:
    """Train every configuration of ``grid`` on ``data`` and collect one table.

    Parameters
    ----------
    grid : mapping or sequence
        A mapping of lists (cartesian product) or a list of configurations, or a list of
        :class:`SweepConfig` (see :func:`expand_grid`).
    data : SweepData, fastbp.datasets.Dataset, str or os.PathLike
        A :class:`SweepData`, or a dataset (or a name or path, see :func:`prepare_data`) to
        split with :func:`prepare_data`'s defaults.
    backend : str
        ``"serial"``, ``"joblib"`` or ``"dask"``.
    n_jobs : int
        Worker processes for joblib, and workers of the default Dask ``LocalCluster``.
    scheduler : None, str or distributed.Client
        Dask only: None (start a ``LocalCluster`` and close it at the end), the address of a
        running scheduler (``"tcp://host:8786"``), or a ``distributed.Client`` (left open).
    progress : bool
        Show progress over configurations on stderr (:class:`fastbp.progress.Progress`: a tqdm
        bar, or one line ``config i/n val=...`` per finished configuration without tqdm).
    out_dir : str, os.PathLike or None
        If given, write ``results.csv``, ``results.json`` and ``best.fastbp`` there.
    warmup : bool
        Dask only: load the compiled kernels on every worker before submitting.
    retries : int
        Dask only: how many times a task that *raised* is retried (a task whose worker died is
        rerun by the scheduler anyway, up to ``distributed.scheduler.allowed-failures``).
    task : callable
        The function run per configuration, :func:`train_one` by default; another one must have
        the same signature and be importable (or picklable) on the workers.
    target : str, os.PathLike or None
        The ``.npy`` file of targets when ``data`` is the path of a ``.npy`` file of features.
    dtype : {"float32", "float64"} or None
        The dtype of the prepared data, and of every configuration that sets none; None follows
        the data (see :func:`prepare_data`).  Only when ``data`` is not a :class:`SweepData`.
    ensembles : bool
        With the default ``task``: train configurations that differ only in ``lr``,
        ``momentum``, ``l2`` and ``seed`` together as the members of one
        :class:`fastbp.Ensemble` (:mod:`fastbp.sweep.members`): one ensemble per group in
        this process for ``"serial"`` (on every Numba thread), a group cut into ``n_jobs``
        contiguous blocks, one single-threaded ensemble each, for joblib and Dask.  The
        table is the same as with ``ensembles=False`` (each configuration by
        :func:`train_one`), bit for bit but ``seconds`` (then each member's share of its
        ensemble's fit time) within one build of the kernels; kernels loaded from the disk
        cache can differ in the last bits (the ensembles guide).  Ignored with another ``task``.

    Returns
    -------
    SweepResult
        One row per configuration, in grid order, with the best by validation score.

    Raises
    ------
    ValueError
        If the backend is unknown, ``scheduler`` is given without Dask, or a configuration is
        invalid or does not fit the data (checked before any is trained, so a typo fails at
        once).
    ImportError
        If the backend's package (joblib, dask.distributed) is missing.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend = {backend!r} is unknown; allowed: {list(BACKENDS)}")
    n_jobs = positive_int(n_jobs, "n_jobs")
    configs = expand_grid(grid)
    if not isinstance(data, SweepData):
        data = prepare_data(data, target=target, dtype=dtype)
    elif target is not None or dtype is not None:
        raise ValueError("target= and dtype= apply to a dataset, not to a prepared SweepData")
    for i, cfg in enumerate(configs):
        check_config(cfg, data, index=i)
    if scheduler is not None and backend != "dask":
        raise ValueError("scheduler= is only used with backend='dask'")
    bar = Progress(len(configs), progress, unit="config", desc=f"sweep ({backend})")
    rows: list[dict[str, Any] | None] = [None] * len(configs)
    t0 = time.perf_counter()
    block_task: BlockTask
    ensembles = ensembles and task is train_one
    if ensembles:
        blocks = member_blocks(configs, data, 1 if backend == "serial" else n_jobs)
        block_task = functools.partial(train_members, n_jobs=None if backend == "serial" else 1)
    else:
        blocks = [(i,) for i in range(len(configs))]
        block_task = functools.partial(each_config, task)
    results = RUNNERS[backend](
        block_task, configs, blocks, data, n_jobs=n_jobs, scheduler=scheduler, warmup=warmup,
        retries=retries, ensembles=ensembles,
    )  # fmt: skip
    try:
        for i, res in results:
            rows[i] = {"index": i, **res}
            bar.update({"val": res["val_score"]})
    finally:
        results.close()  # shuts a Dask cluster down even if the loop stopped early
        bar.close()
    done = [row for row in rows if row is not None]
    if len(done) != len(rows):  # a backend that lost a task would be a bug, not a user error
        raise RuntimeError(f"the {backend} backend returned {len(done)} of {len(rows)} rows")
    result = SweepResult(done, data, backend, time.perf_counter() - t0)
    if out_dir is not None:
        result.save(out_dir)
    return result
