"""Seeing Numba at work: how long a run spent compiling kernels and loading them from the cache.

A fresh kernel cache makes a process's first calls compile (seconds); a warm one makes them load
compiled code from disk (milliseconds to a few hundred).  Both happen inside the first call of a
kernel, so they would otherwise be counted as training time: the first epoch looks slow and a
progress bar's estimate of the time left is off by that much.  :class:`CompileWatch` listens to
Numba's own events while it is active:

* ``numba:compile`` starts and ends around each compilation (nested ones for the functions a
  kernel calls); the outermost ones are summed in :attr:`CompileWatch.compile_seconds`, and the
  first one calls ``on_compile`` once, so that the display can say what is happening while it
  happens;
* ``numba:compiler_lock`` wraps every compilation *and* every load from the disk cache; the
  outermost ones are summed in :attr:`CompileWatch.lock_seconds`, and ``lock_seconds −
  compile_seconds`` is the time spent loading (:attr:`CompileWatch.load_seconds`).

Only events of the thread that entered the watch are counted, so a watch in one thread is not
misled by compilations in another.  The events are public Numba API (``numba.core.event``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from numba.core import event as _event

#: What a progress display says, once, when a run starts compiling.
COMPILING_MESSAGE = (
    "fastbp: compiling kernels for this network (first run only; later runs load them from the "
    "cache)"
)


class CompileWatch:
    """Count the seconds Numba spends compiling and loading kernels while the watch is active.

    Parameters
    ----------
    on_compile : callable, optional
        Called with no argument when the first compilation starts (once per watch).

    Examples
    --------
    >>> from fastbp.compiling import CompileWatch
    >>> with CompileWatch() as watch:
    ...     pass  # calls that may compile
    >>> watch.compile_seconds >= 0
    True
    """

    def __init__(self, on_compile: Callable[[], None] | None = None) -> None:
        self.on_compile = on_compile
        self.compile_seconds = 0.0
        self.lock_seconds = 0.0
        self.compilations = 0
        #: The kernels compiled (outermost compilations only), as ``module.function`` names.
        self.compiled: list[str] = []
        self._thread = threading.get_ident()
        self._compile_depth = 0
        self._lock_depth = 0
        self._compile_t0 = 0.0
        self._lock_t0 = 0.0
        self._compile_listener = _Listener(self._compile_start, self._compile_end, self._thread)
        self._lock_listener = _Listener(self._lock_start, self._lock_end, self._thread)
        self._active = False

    @property
    def load_seconds(self) -> float:
        """Seconds spent loading compiled kernels from the disk cache (and typing their calls)."""
        return max(0.0, self.lock_seconds - self.compile_seconds)

    @property
    def seconds(self) -> float:
        """Compiling and loading together."""
        return max(self.lock_seconds, self.compile_seconds)

    def _compile_start(self, event: _event.Event) -> None:
        if self._compile_depth == 0:
            self._compile_t0 = time.perf_counter()
            if self.compilations == 0 and self.on_compile is not None:
                self.on_compile()
            self.compilations += 1
            func = getattr(event.data.get("dispatcher"), "py_func", None)
            self.compiled.append(f"{func.__module__}.{func.__qualname__}" if func else "?")
        self._compile_depth += 1

    def _compile_end(self, event: _event.Event) -> None:
        self._compile_depth -= 1
        if self._compile_depth == 0:
            self.compile_seconds += time.perf_counter() - self._compile_t0

    def _lock_start(self, event: _event.Event) -> None:
        if self._lock_depth == 0:
            self._lock_t0 = time.perf_counter()
        self._lock_depth += 1

    def _lock_end(self, event: _event.Event) -> None:
        self._lock_depth -= 1
        if self._lock_depth == 0:
            self.lock_seconds += time.perf_counter() - self._lock_t0

    def __enter__(self) -> CompileWatch:
        _event.register("numba:compile", self._compile_listener)
        _event.register("numba:compiler_lock", self._lock_listener)
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._active:
            _event.unregister("numba:compile", self._compile_listener)
            _event.unregister("numba:compiler_lock", self._lock_listener)
            self._active = False

    def __repr__(self) -> str:
        return (
            f"CompileWatch(compile_seconds={self.compile_seconds:.3f}, "
            f"load_seconds={self.load_seconds:.3f}, compilations={self.compilations})"
        )


class _Listener(_event.Listener):
    """Forwards the start and end of one kind of Numba event raised in one thread."""

    def __init__(
        self,
        start: Callable[[_event.Event], None],
        end: Callable[[_event.Event], None],
        thread: int,
    ) -> None:
        self._start = start
        self._end = end
        self._thread = thread

    def on_start(self, event: _event.Event) -> None:
        if threading.get_ident() == self._thread:
            self._start(event)

    def on_end(self, event: _event.Event) -> None:
        if threading.get_ident() == self._thread:
            self._end(event)
