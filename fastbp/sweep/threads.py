"""One thread per sweep worker: the environment and the run-time limits on BLAS/OpenMP pools."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from fastbp._blas import HAVE_BLAS

#: Environment of the Dask workers that :func:`fastbp.sweep.run` starts: one thread for Numba,
#: OpenMP and BLAS.
SINGLE_THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def load_blas() -> None:
    """Load the BLAS that Numba's np.dot calls (SciPy's), so that a thread limit reaches it.

    Numba links it only when a BLAS kernel is first compiled or loaded.  A limit set before that
    misses it, and a 2-thread OpenBLAS rounds some products differently from a 1-thread one.
    """
    if HAVE_BLAS:
        import scipy.linalg.cython_blas  # noqa: F401


def limit_threads_now() -> object | None:
    """Limit this process's BLAS/OpenMP pools to one thread, for good (a worker's setup).

    Also sets :data:`SINGLE_THREAD_ENV` in ``os.environ`` for any subprocess the worker starts,
    but ``NUMBA_NUM_THREADS`` once Numba's thread pool runs (a worker in the client's process,
    ``LocalCluster(processes=False)``, after an ensemble's parallel fit): Numba rereads the
    environment when it compiles and refuses a value that differs from its running pool's.

    Returns
    -------
    object or None
        The ``threadpoolctl`` limiter (keep a reference), or None without threadpoolctl.
    """
    env = dict(SINGLE_THREAD_ENV)
    if numba_pool_started():
        del env["NUMBA_NUM_THREADS"]
    os.environ.update(env)
    load_blas()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1)


def numba_pool_started() -> bool:
    """Whether this process's Numba thread pool has been launched (its size is then fixed).

    Returns
    -------
    bool
        True once a parallel kernel ran (or if Numba no longer says; the safe answer).
    """
    from numba.np.ufunc import parallel

    return bool(getattr(parallel, "_is_initialized", True))


@contextmanager
def single_thread() -> Iterator[None]:
    """A context in which BLAS/OpenMP pools run one thread (a no-op without threadpoolctl).

    Yields
    ------
    None
        Inside the block, the limit holds; it is lifted on leaving.
    """
    load_blas()
    cm: AbstractContextManager[object]
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        cm = nullcontext()
    else:
        cm = threadpool_limits(limits=1)
    with cm:
        yield
