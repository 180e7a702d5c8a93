"""Launching fastbp's parallel compiled drivers (``numba.prange``) safely from any thread.

Numba runs ``prange`` loops on a threading layer chosen once per process, at the first parallel
launch: ``tbb``, ``omp`` or ``workqueue`` (see Numba's "Threading layers" documentation).

* **The layer.**  Unless you chose one (``NUMBA_THREADING_LAYER`` in the environment, or
  ``numba.config.THREADING_LAYER`` set before fastbp is imported), importing this module asks
  Numba for a *fork-safe* layer (``numba.config.THREADING_LAYER = "forksafe"``): TBB when the
  ``tbb`` package is installed (``pip install tbb``), else ``workqueue``.  Numba's own default
  prefers GNU OpenMP over ``workqueue``, and a process that has used GNU OpenMP cannot
  ``fork``: a child of ``multiprocessing``'s default start method on Linux is terminated at
  its first parallel region ("fork() called from a process already using GNU OpenMP").  The
  setting is process-wide, so it also applies to your own ``parallel=True`` functions.
* **Launches from several Python threads.**  The ``workqueue`` layer aborts the process when
  two Python threads launch parallel regions at the same time.  Under it, :func:`launch` holds
  one process-wide lock, so fastbp's launches run one after another (each still uses every
  core).  Under ``tbb`` or ``omp`` no lock is taken.
* The thread count is Numba's per-thread setting (:func:`numba.set_num_threads`): :func:`launch`
  sets it for the launching thread and restores it afterwards, so ``n_jobs`` never leaks into
  the caller's other Numba code.

Results never depend on the thread count: every parallel driver splits its work into
independent members, each computed by one thread in the same order whatever the count.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numba

_LOCK = threading.RLock()

#: The layer fastbp asks Numba for when the user has not chosen one (see the module docstring).
LAYER_REQUEST = "forksafe"

_config: Any = numba.config  # its settings are set at import time; mypy cannot see them
if "NUMBA_THREADING_LAYER" not in os.environ and _config.THREADING_LAYER == "default":
    _config.THREADING_LAYER = LAYER_REQUEST

#: Layers under which concurrent launches from several Python threads are safe.
THREAD_SAFE_LAYERS = frozenset({"tbb", "omp"})


def max_threads() -> int:
    """The most threads a parallel driver can use (``NUMBA_NUM_THREADS``, default: all cores).

    Returns
    -------
    int
    """
    return int(_config.NUMBA_NUM_THREADS)


def resolve_n_jobs(n_jobs: int | None) -> int:
    """The thread count for ``n_jobs``: None or -1 is every core Numba may use; 1..N as given.

    Parameters
    ----------
    n_jobs : int or None
        None, -1, or a positive count (capped at :func:`max_threads`).

    Returns
    -------
    int
    """
    if n_jobs is None:
        return max_threads()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be None, -1 or a positive integer, got {n_jobs!r}")
    if n_jobs == -1:
        return max_threads()
    return min(n_jobs, max_threads())


def _layer() -> str | None:
    try:
        return str(numba.threading_layer())
    except ValueError:  # no parallel region has run yet: the layer is not chosen
        return None


@contextmanager
def launch(n_threads: int) -> Iterator[None]:
    """Run the parallel drivers called inside on ``n_threads`` threads, safely.

    Parameters
    ----------
    n_threads : int
        Threads for the ``prange`` loops launched inside (1..:func:`max_threads`).

    Yields
    ------
    None
    """
    layer = _layer()
    locked = layer not in THREAD_SAFE_LAYERS  # workqueue, or not chosen yet
    if locked:
        _LOCK.acquire()
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(max(1, min(int(n_threads), max_threads())))
        yield
    finally:
        numba.set_num_threads(previous)
        if locked:
            _LOCK.release()


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask where the OS has one).

    Returns
    -------
    int
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
