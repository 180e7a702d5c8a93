"""Where fastbp keeps what it compiles: one per-user cache directory, never site-packages.

Numba's ``cache=True`` writes ``*.nbi``/``*.nbc`` files into ``__pycache__`` beside the source by
default.  For an installed fastbp that is site-packages, where pip's uninstall does not remove
them (they are not in its record): a later install then finds a ``fastbp/`` folder of leftovers
that Python imports as an empty namespace package.  So fastbp registers its own cache locator
for its own modules, ahead of Numba's in-tree one:

* ``FASTBP_CACHE_DIR`` (environment variable), if set, else the platform's user cache directory
  (``$XDG_CACHE_HOME/fastbp`` or ``~/.cache/fastbp`` on Linux, ``~/Library/Caches/fastbp`` on
  macOS, ``%LOCALAPPDATA%\\fastbp\\Cache`` on Windows);
* below it, ``numba/<key>/`` where the key names the Python, Numba and fastbp versions and a hash
  of the compile options in :mod:`fastbp._jit` and of the source of every module that defines
  compiled functions, so that changing any of them starts a fresh cache instead of loading
  kernels built differently.  (Numba itself checks only the timestamp of the file a cached
  function lives in: ``epochs.py``'s cached kernels would otherwise keep the old code of the
  ``kernels.py`` helpers they inline after ``kernels.py`` changed.)

``NUMBA_CACHE_DIR``, Numba's own setting, still wins when it is set.  If the directory cannot be
created or written (a read-only home), Numba's usual locators take over: a read-only site-packages
install keeps working, compiling in memory where nothing can be cached.  Other libraries' Numba
caches are not affected.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

import numba

PACKAGE_DIR = Path(__file__).resolve().parent

#: Environment variable that moves fastbp's cache directory.
CACHE_ENV = "FASTBP_CACHE_DIR"


def cache_root() -> Path:
    """The directory under which fastbp caches compiled kernels (and generated sources).

    Returns
    -------
    pathlib.Path
        ``$FASTBP_CACHE_DIR`` if set and non-empty, else the platform's user cache directory for
        ``fastbp``.  It is not created here.
    """
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    from numba.misc.appdirs import AppDirs

    return Path(AppDirs(appname="fastbp", appauthor=False).user_cache_dir).resolve()


@functools.lru_cache(maxsize=1)
def kernel_sources_digest() -> str:
    """A hash of the source of every fastbp module that uses :mod:`fastbp._jit` (the modules whose
    code ends up inside compiled kernels)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"fastbp._jit" in data or path.name == "_jit.py":
            digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + data)
    return digest.hexdigest()


def build_key(options: dict) -> str:
    """A short name for one build: Python, Numba and fastbp versions, the jit options and the
    kernel sources (:func:`kernel_sources_digest`)."""
    from fastbp._version import __version__

    opts = sorted((k, sorted(v) if isinstance(v, (set, frozenset)) else v)
                  for k, v in options.items())  # fmt: skip
    text = kernel_sources_digest() + repr(opts)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    return f"fastbp{__version__}-{py}-numba{numba.__version__}-{digest}"


def numba_cache_dir(options: dict) -> Path:
    """The folder that holds Numba's index and object files for fastbp's kernels."""
    return cache_root() / "numba" / build_key(options)


def _is_fastbp_source(py_file: str) -> bool:
    try:
        Path(py_file).resolve().relative_to(PACKAGE_DIR)
    except (ValueError, OSError):
        return False
    return True


def install_locator(options: dict) -> bool:
    """Register fastbp's cache locator with Numba (once); returns whether it is in place.

    Numba keeps its locator classes in ``CacheImpl._locator_classes`` (``_CacheImpl`` before
    0.61).  If that internal is missing, fastbp falls back to Numba's default locations.
    """
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    base = getattr(caching, "_CacheLocator", None)
    mixin = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    if impl is None or base is None or mixin is None:
        return False
    classes = impl._locator_classes
    if any(getattr(c, "_fastbp", False) for c in classes):
        return True

    class FastbpCacheLocator(mixin, base):  # type: ignore[valid-type,misc]  # found at run time
        """Numba locator: fastbp's own modules cache into :func:`numba_cache_dir`."""

        _fastbp = True

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            sub = self.get_suitable_cache_subpath(py_file)
            self._cache_path = str(numba_cache_dir(options) / sub)

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            if numba.config.CACHE_DIR or not _is_fastbp_source(py_file):
                return None  # NUMBA_CACHE_DIR wins; other code keeps Numba's locators
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:
                return None  # not writable: Numba's own locators decide
            return self

    # After the user-provided locator (NUMBA_CACHE_DIR), before the in-tree one (__pycache__).
    classes.insert(1 if classes else 0, FastbpCacheLocator)
    return True


@functools.lru_cache(maxsize=1)
def _lean_cache_class() -> type | None:
    """Numba's ``FunctionCache`` with a lighter ``load_overload`` (see :func:`lean_loading`), or
    None when the Numba internals it relies on are missing."""
    from numba.core import caching

    try:
        from numba.core.runtime import rtsys
    except ImportError:  # pragma: no cover - numba API
        return None
    base = getattr(caching, "FunctionCache", None)
    if base is None or not all(
        hasattr(base, name) for name in ("load_overload", "_load_overload",
                                         "_guard_against_spurious_io_errors")
    ):  # fmt: skip  # pragma: no cover - numba API
        return None

    class LeanLoadCache(base):  # type: ignore[valid-type,misc]  # found at run time
        """Loads a cached overload after initialising Numba's runtime only (no registry refresh)."""

        def load_overload(self, sig, target_context):
            rtsys.initialize(target_context)  # the runtime the loaded code calls into
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)

    return LeanLoadCache


def lean_loading(dispatcher):
    """Let ``dispatcher`` load its cached overloads without Numba's full context refresh.

    Before loading a cached function, Numba refreshes its typing and target contexts: it imports
    and registers every implementation module it has (``load_additional_registries``), about
    150–200 ms, once per process.  Loading compiled code needs none of that, only Numba's runtime
    (NRT), which the loaded code calls for allocations: without it the process crashes, so
    :func:`_lean_cache_class` initialises it.  Compiling still refreshes everything (Numba's
    compiler does so itself), so a later compilation, here or in the user's own Numba code, is
    unaffected.  This is what makes a process's first ``partial_fit`` cost tens of milliseconds
    instead of a quarter of a second when the kernels are cached.

    Parameters
    ----------
    dispatcher : numba dispatcher or function
        A ``numba.njit(cache=True)`` dispatcher; anything else (a plain function under
        ``NUMBA_DISABLE_JIT=1``, a dispatcher without a disk cache) is returned unchanged.

    Returns
    -------
    The same object.
    """
    cache = getattr(dispatcher, "_cache", None)
    lean = _lean_cache_class()
    if (
        lean is not None
        and type(cache).__name__ == "FunctionCache"
        and isinstance(cache, lean.__mro__[1])
    ):
        cache.__class__ = lean
    return dispatcher
