"""How a sweep's trials run: in this process, in joblib workers, or on a Dask cluster.

Each backend is a generator of ``(index, row)`` pairs, in whatever order the trials finish.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Sequence
from typing import Any

from fastbp.sweep.config import SweepConfig
from fastbp.sweep.data import SweepData
from fastbp.sweep.threads import SINGLE_THREAD_ENV, limit_threads_now

#: The backends :func:`fastbp.sweep.run` knows.
BACKENDS = ("serial", "joblib", "dask")

#: What runs one configuration: :func:`fastbp.sweep.train_one` or a function like it.
Task = Callable[[SweepConfig, SweepData], dict[str, Any]]
#: What a backend yields: (position in the grid, the task's row), in the order they finish.
Rows = Generator[tuple[int, dict[str, Any]], None, None]


def _indexed(
    task: Task, index: int, config: SweepConfig, data: SweepData
) -> tuple[int, dict[str, Any]]:
    return index, task(config, data)


def _run_serial(task: Task, configs: Sequence[SweepConfig], data: SweepData, **_: Any) -> Rows:
    for i, cfg in enumerate(configs):
        yield _indexed(task, i, cfg, data)


def _run_joblib(
    task: Task, configs: Sequence[SweepConfig], data: SweepData, n_jobs: int, **_: Any
) -> Rows:
    try:
        from joblib import Parallel, delayed
    except ImportError as exc:
        raise ImportError("backend='joblib' needs joblib: pip install joblib") from exc
    parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    yield from parallel(delayed(_indexed)(task, i, cfg, data) for i, cfg in enumerate(configs))


def _worker_plugin() -> Any:
    """A worker plugin that limits BLAS/OpenMP threads on every (re)started worker."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class SingleThread(WorkerPlugin):
        name = "fastbp-single-thread"

        def setup(self, worker: Any) -> None:
            self.limits = limit_threads_now()

    return SingleThread()


def _run_dask(
    task: Task,
    configs: Sequence[SweepConfig],
    data: SweepData,
    n_jobs: int,
    scheduler: Any,
    warmup: bool,
    retries: int,
    **_: Any,
) -> Rows:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError('backend="dask" needs dask.distributed: pip install "dask[distributed]"'
                          ) from exc  # fmt: skip
    cluster: Any = None
    client: Any = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=":0",
            env=dict(SINGLE_THREAD_ENV),
        )  # fmt: skip
        client = Client(cluster)
    elif isinstance(scheduler, str):
        client = Client(scheduler)
    elif isinstance(scheduler, Client):
        client = None
    else:
        raise TypeError(f"scheduler must be None, an address or a Client, got {scheduler!r}")
    active = client if client is not None else scheduler
    futures: list[Any] = []
    data_ref: Any = None
    try:
        active.register_plugin(_worker_plugin(), name="fastbp-single-thread")
        if warmup:
            from fastbp.warmup import warmup as warm

            active.run(warm, tuple(sorted({c.dtype or data.dtype for c in configs})))
        data_ref = active.scatter(data, broadcast=True, hash=False)
        token = uuid.uuid4().hex[:12]
        futures = [
            active.submit(
                task, cfg, data_ref, key=f"fastbp-sweep-{token}-{i}", retries=retries, pure=False
            )  # fmt: skip
            for i, cfg in enumerate(configs)
        ]
        position = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures, loop=active.loop):  # not the default client's loop
            yield position[fut.key], fut.result()
            fut.release()
    finally:
        for fut in futures:
            fut.release()
        if data_ref is not None:
            data_ref.release()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


#: Backend name to runner; each takes ``(task, configs, data, **options)`` and yields
#: ``(index, row)`` pairs.
RUNNERS: dict[str, Callable[..., Rows]] = {
    "serial": _run_serial,
    "joblib": _run_joblib,
    "dask": _run_dask,
}
