"""How a sweep's trials run: in this process, in joblib workers, or on a Dask cluster.

A backend runs *blocks* of configurations: one task per block, a block task turning the block's
configurations into their rows (:func:`each_config` runs a per-configuration task on each;
:func:`fastbp.sweep.members.train_members` trains a block as one ensemble).  Each backend is a
generator of ``(index, row)`` pairs, in whatever order the blocks finish.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Sequence
from typing import Any

from fastbp.sweep.config import SweepConfig
from fastbp.sweep.data import SweepData, spec_for
from fastbp.sweep.threads import SINGLE_THREAD_ENV, limit_threads_now

#: The backends :func:`fastbp.sweep.run` knows.
BACKENDS = ("serial", "joblib", "dask")

#: What runs one configuration: :func:`fastbp.sweep.train_one` or a function like it.
Task = Callable[[SweepConfig, SweepData], dict[str, Any]]
#: What runs one block of configurations: their rows, in order.
BlockTask = Callable[[Sequence[SweepConfig], SweepData], list[dict[str, Any]]]
#: What a backend yields: (position in the grid, the task's row), in the order they finish.
Rows = Generator[tuple[int, dict[str, Any]], None, None]


def each_config(
    task: Task, configs: Sequence[SweepConfig], data: SweepData
) -> list[dict[str, Any]]:
    """The rows of ``task`` run on each configuration in turn: a per-configuration task as a
    block task (bind ``task`` with :func:`functools.partial`).

    Parameters
    ----------
    task : callable
        ``(config, data) -> row``, e.g. :func:`fastbp.sweep.train_one`.
    configs : sequence of SweepConfig
        The block.
    data : SweepData
        The prepared splits.

    Returns
    -------
    list of dict
        One row per configuration, in order.
    """
    return [task(cfg, data) for cfg in configs]


def _indexed(
    task: BlockTask, indices: Sequence[int], configs: Sequence[SweepConfig], data: SweepData
) -> list[tuple[int, dict[str, Any]]]:
    return list(zip(indices, task(configs, data), strict=True))


def _run_serial(
    task: BlockTask,
    configs: Sequence[SweepConfig],
    blocks: Sequence[Sequence[int]],
    data: SweepData,
    **_: Any,
) -> Rows:
    for block in blocks:
        yield from _indexed(task, block, [configs[i] for i in block], data)


def _run_joblib(
    task: BlockTask,
    configs: Sequence[SweepConfig],
    blocks: Sequence[Sequence[int]],
    data: SweepData,
    n_jobs: int,
    **_: Any,
) -> Rows:
    try:
        from joblib import Parallel, delayed
    except ImportError as exc:
        raise ImportError("backend='joblib' needs joblib: pip install joblib") from exc
    parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    for rows in parallel(
        delayed(_indexed)(task, block, [configs[i] for i in block], data) for block in blocks
    ):
        yield from rows


def _worker_plugin() -> Any:
    """A worker plugin that limits BLAS/OpenMP threads on every (re)started worker."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class SingleThread(WorkerPlugin):
        name = "fastbp-single-thread"

        def setup(self, worker: Any) -> None:
            self.limits = limit_threads_now()

    return SingleThread()


def _run_dask(
    task: BlockTask,
    configs: Sequence[SweepConfig],
    blocks: Sequence[Sequence[int]],
    data: SweepData,
    n_jobs: int,
    scheduler: Any,
    warmup: bool,
    retries: int,
    ensembles: bool = False,
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
            dtypes = sorted({c.dtype or data.dtype for c in configs})
            specs = [spec_for(c, data).to_dict() for c in configs
                     if c.batch_size == 1 and c.optimizer == "sgd"]  # fmt: skip
            active.run(warm_cache, dtypes, specs, ensembles, workers=_one_worker_per_host(active))
        data_ref = active.scatter(data, broadcast=True, hash=False)
        token = uuid.uuid4().hex[:12]
        futures = [
            active.submit(
                _indexed,
                task,
                block,
                [configs[i] for i in block],
                data_ref,
                key=f"fastbp-sweep-{token}-{k}",
                retries=retries,
                pure=False,
            )
            for k, block in enumerate(blocks)
        ]
        for fut in as_completed(futures, loop=active.loop):  # not the default client's loop
            yield from fut.result()
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


#: The warmup steps a sweep's trials reach (:func:`fastbp.warmup.steps`).
SWEEP_WARMUP_PARTS = (
    "forward, loss and gradient",
    "fit",
    "per-example SGD, generic",
    "per-example SGD, specialised",
)


def warm_cache(dtypes: list[str], specs: list[dict], ensembles: bool = False) -> float:
    """Fill this host's kernel cache for a sweep from a child process; returns its seconds.

    The child compiles (or loads) what the trials run: the network passes, ``fit`` and the
    per-example kernels specialised to the sweep's own per-example SGD configurations.  The
    worker itself then loads each kernel from the cache when a trial first runs it, as the
    serial and joblib backends' processes do, so every backend gives bit-identical tables (a
    worker that warmed in-process bound the loop epoch's calls to helpers it had loaded on
    their own, and rounded differently in the last bit; see :func:`fastbp.warmup.warmup`).

    Parameters
    ----------
    dtypes : list of str
        The dtypes the sweep trains in.
    specs : list of dict
        ``NetworkSpec.to_dict()`` of the per-example SGD configurations.
    ensembles : bool
        Also the ensemble kernels (:func:`fastbp.sweep.members.warm_ensembles`), for a sweep
        that trains its configurations as ensembles.

    Returns
    -------
    float
        The child's wall seconds.
    """
    import json
    import subprocess
    import sys
    import time

    code = (
        "import json, sys\n"
        "from fastbp.spec import NetworkSpec\n"
        "from fastbp.sweep.backends import SWEEP_WARMUP_PARTS\n"
        "from fastbp.warmup import warmup\n"
        "dtypes, specs, ensembles = json.loads(sys.argv[1])\n"
        "specs = [NetworkSpec.from_dict(s) for s in specs]\n"
        "warmup(dtypes, activations=(), depths=(), parts=SWEEP_WARMUP_PARTS, specs=specs)\n"
        "if ensembles:\n"
        "    from fastbp.sweep.members import warm_ensembles\n"
        "    warm_ensembles(dtypes, specs)\n"
    )
    t0 = time.perf_counter()
    args = json.dumps([dtypes, specs, ensembles])
    subprocess.run([sys.executable, "-c", code, args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _one_worker_per_host(active: Any) -> list[str]:
    """One worker address per host of the cluster (each host has its own kernel cache)."""
    first: dict[str, str] = {}
    for address, info in active.scheduler_info()["workers"].items():
        first.setdefault(str(info.get("host", address)), address)
    return list(first.values())


#: Backend name to runner; each takes ``(block_task, configs, blocks, data, **options)`` and
#: yields ``(index, row)`` pairs.
RUNNERS: dict[str, Callable[..., Rows]] = {
    "serial": _run_serial,
    "joblib": _run_joblib,
    "dask": _run_dask,
}
