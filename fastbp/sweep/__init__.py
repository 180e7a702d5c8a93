"""Hyper-parameter sweeps: a grid of configurations, run serially, with joblib or on Dask.

* :func:`train_one` ``(config, data) -> dict`` trains one configuration.  It is a pure
  function: the same config and data give bit-identical scores, history and parameters in any
  process (one caveat: see "Determinism" below).  It pins BLAS/OpenMP to one thread while it
  runs (through ``threadpoolctl`` when that is installed), because the minibatch path calls BLAS.
* :func:`run` expands a grid, checks every configuration before anything is trained, and runs
  them.  ``backend`` picks how:

  - ``"serial"``: in this process, one after another.
  - ``"joblib"``: in ``n_jobs`` loky worker processes (``pip install joblib``).
  - ``"dask"``: on a ``dask.distributed`` cluster (``pip install "dask[distributed]"``).  The
    default is a ``LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True)``;
    ``scheduler`` can instead be the address of a running scheduler or a ``Client``.  The data
    is sent to every worker once (``client.scatter(..., broadcast=True)``).  Every worker runs
    with one thread: ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
    ``MKL_NUM_THREADS`` are set to 1 in the environment of the workers it starts, and a worker
    plugin applies the BLAS limit at run time on workers started elsewhere.  When a worker
    dies, the scheduler reruns its tasks on the surviving or restarted workers.  Exceptions
    are retried ``retries`` times.  The table is still complete and identical to a serial run.

  By default (``ensembles=True``) configurations that differ only in ``lr``, ``momentum``,
  ``l2`` and ``seed`` train together as the members of one :class:`fastbp.Ensemble`
  (:mod:`~fastbp.sweep.members`, :func:`train_members`): the serial backend trains each such
  group as one ensemble on every Numba thread, joblib and Dask cut a group into ``n_jobs``
  contiguous blocks, one single-threaded ensemble per task.  Each member is its configuration
  exactly as :func:`train_one` trains it, so the table is the same bit for bit (``seconds``
  then is each member's share of its ensemble's fit time) within one build of the kernels; a
  process that loads them from the disk cache can differ in the last bits (the ensembles guide,
  "The equivalence guarantee").  ``ensembles=False`` trains each configuration alone.

  The table comes back in grid order, whichever order the tasks finish in.  With ``out_dir`` it
  is also written as ``results.csv`` and ``results.json``.  The configuration with the best
  validation score is written as ``best.fastbp``, a :meth:`fastbp.Network.save` file with the
  feature standardiser, so ``fastbp predict DIR/best.fastbp`` works on raw data.

Compiled kernels: fastbp caches them on disk in the per-user cache directory
(:mod:`fastbp._cache`; ``FASTBP_CACHE_DIR`` moves it), so workers on one machine, or on machines
sharing that directory over a file system, load them instead of compiling them.  The first task on
a fresh worker still pays the load, about a second.
``run(..., warmup=True)`` (the default for Dask) fills the cache up front from a child process
on one worker per host (:func:`fastbp.sweep.backends.warm_cache`), so that the workers only load
kernels, as the serial and joblib processes do.  On a cluster of your own, run
``fastbp warmup`` on each host in a process of its own (not inside the workers: a process that
calls helper kernels on their own before a sweep's epochs can round differently in the last bit,
see :func:`fastbp.warmup.warmup`)::

    client.run(fastbp.sweep.backends.warm_cache, ["float64"], [])   # per worker: a child process

Determinism: scores, histories and parameters are bit-identical across backends on machines
with the same CPU type and the same fastbp/Numba/NumPy versions.  Only the ``seconds`` fields
(:data:`TIMING_FIELDS`) vary from run to run.  One caveat comes from Numba.  Under fastmath, a
kernel that a process JIT-compiles itself can round differently in the last bit from the same
kernel loaded from the disk cache.  On a cold cache, the process that compiles first (usually
the serial run) can therefore differ by about 1e-15 from workers that load the cache.  Run
``fastbp warmup`` (or any sweep) once in another process beforehand, and every process then
runs the same cached code.

The package is split by job: :mod:`~fastbp.sweep.config` (configurations and grids),
:mod:`~fastbp.sweep.data` (the splits), :mod:`~fastbp.sweep.trial` (:func:`train_one`),
:mod:`~fastbp.sweep.members` (groups of configurations trained as ensembles),
:mod:`~fastbp.sweep.threads` (one thread per worker), :mod:`~fastbp.sweep.backends`,
:mod:`~fastbp.sweep.results` and :mod:`~fastbp.sweep.runner` (:func:`run`).  It has no command
line of its own: ``fastbp sweep`` lives in :mod:`fastbp.cli.sweep`.
"""

from fastbp.sweep.backends import BACKENDS
from fastbp.sweep.config import SweepConfig, expand_grid, load_grid
from fastbp.sweep.data import SweepData, check_config, prepare_data, spec_for
from fastbp.sweep.members import group_configs, train_members
from fastbp.sweep.results import CSV_COLUMNS, SweepResult
from fastbp.sweep.runner import run
from fastbp.sweep.threads import SINGLE_THREAD_ENV
from fastbp.sweep.trial import DIVERGENCE_FACTOR, TIMING_FIELDS, exploded, train_one

__all__ = [
    "BACKENDS",
    "CSV_COLUMNS",
    "DIVERGENCE_FACTOR",
    "SINGLE_THREAD_ENV",
    "TIMING_FIELDS",
    "SweepConfig",
    "SweepData",
    "SweepResult",
    "check_config",
    "expand_grid",
    "exploded",
    "group_configs",
    "load_grid",
    "prepare_data",
    "run",
    "spec_for",
    "train_members",
    "train_one",
]
