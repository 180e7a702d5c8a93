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

    Also sets :data:`SINGLE_THREAD_ENV` in ``os.environ`` for any subprocess the worker starts.

    Returns
    -------
    object or None
        The ``threadpoolctl`` limiter (keep a reference), or None without threadpoolctl.
    """
    os.environ.update(SINGLE_THREAD_ENV)
    load_blas()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1)


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
