"""Load cached kernels in the background, so that a process's first call does not wait for them.

A fresh process that calls an estimator's ``partial_fit`` first has to load the compiled epoch
kernel from the disk cache and start Numba's runtime: about 80–100 ms, most of it LLVM work
(linking the cached object code, compiling the runtime's own small module) that releases the GIL.
:func:`start` does that in a daemon thread as soon as :mod:`fastbp.sklearn` is imported, while
the importing program goes on loading its data, so the first call finds the kernels in memory.

Only overloads already in the cache are loaded: nothing is ever compiled in the background.  A
call that needs a kernel while the thread is still loading it waits for Numba's compiler lock,
as it would have waited for its own load.  Before ``os.fork`` and at exit the thread is waited
for (so a forked child never inherits a half-held lock).  ``FASTBP_PRELOAD=0`` turns it off.
Any failure (a Numba without the internals used here, an unreadable cache) leaves the kernels to
load on first use, as without this module.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Iterable

import numba

#: Environment variable: "0" turns background loading off.
PRELOAD_ENV = "FASTBP_PRELOAD"

_threads: list[threading.Thread] = []
_lock = threading.Lock()


def enabled() -> bool:
    """Whether background loading is on (not ``FASTBP_PRELOAD=0``, not ``NUMBA_DISABLE_JIT``)."""
    disabled = numba.config.DISABLE_JIT  # type: ignore[attr-defined]
    return os.environ.get(PRELOAD_ENV, "1").strip() != "0" and not disabled


def cached_signatures(dispatcher) -> list:
    """The signatures of ``dispatcher`` that its disk cache holds for this machine's codegen.

    Parameters
    ----------
    dispatcher : numba dispatcher
        A ``cache=True`` dispatcher.

    Returns
    -------
    list
        Signatures that :meth:`dispatcher.compile` would load rather than compile (empty when
        the cache or Numba's internals are not as expected).
    """
    cache = getattr(dispatcher, "_cache", None)
    cache_file = getattr(cache, "_cache_file", None)
    if cache is None or cache_file is None or not hasattr(cache, "_index_key"):
        return []
    codegen = dispatcher.targetctx.codegen()
    found = []
    for key in cache_file._load_index():
        sig = key[0]
        if key == cache._index_key(sig, codegen):
            found.append(sig)
    return found


def load_cached(dispatchers: Iterable, keep: Callable[[object], bool] = lambda sig: True) -> int:
    """Load every cached overload of ``dispatchers`` that ``keep`` accepts; returns how many.

    Parameters
    ----------
    dispatchers : iterable of numba dispatchers
        The kernels to load.
    keep : callable
        ``keep(signature)``: whether to load that overload.

    Returns
    -------
    int
        The number of overloads now in memory that were not before.
    """
    loaded = 0
    for dispatcher in dispatchers:
        for sig in cached_signatures(dispatcher):
            if keep(sig) and tuple(sig) not in dispatcher.overloads:
                dispatcher.compile(sig)  # in the cache (checked above): loads, never compiles
                loaded += 1
    return loaded


def start(dispatchers: Callable[[], Iterable], keep: Callable[[object], bool] = lambda s: True):
    """Start loading ``dispatchers()``'s cached overloads in a daemon thread (see module doc).

    Parameters
    ----------
    dispatchers : callable
        Returns the kernels to load; called in the thread (so their modules' imports run there).
    keep : callable
        ``keep(signature)``: whether to load that overload.

    Returns
    -------
    threading.Thread or None
        The thread, or None when background loading is off.
    """
    if not enabled():
        return None

    def run() -> None:
        try:
            load_cached(dispatchers(), keep)
        except Exception:  # noqa: BLE001 - an optimisation only: kernels then load on first use
            return

    thread = threading.Thread(target=run, name="fastbp-preload", daemon=True)
    with _lock:
        _threads.append(thread)
    thread.start()
    return thread


def wait(timeout: float | None = None) -> None:
    """Wait for the background loading started so far (before fork, at exit, in tests).

    Parameters
    ----------
    timeout : float or None
        Seconds to wait for each thread at most; None waits until they finish.
    """
    with _lock:
        threads = list(_threads)
    for thread in threads:
        if thread is not threading.current_thread():
            thread.join(timeout)


atexit.register(wait, 10.0)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=wait)
