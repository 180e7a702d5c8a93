"""The one place where Numba compilation options are defined.

Every compiled function in fastbp is decorated with :func:`jit`, so cache and fastmath settings
cannot drift between modules.  ``fastmath`` leaves out ``nnan`` and ``ninf``: with those flags LLVM
may assume no NaN or inf ever appears and delete the very checks that detect a diverging run.  It
also leaves out ``contract`` (fused multiply-add) and ``afn`` (approximate exp/log/...): with
either, a value computed in a SIMD lane can round differently from the same value computed in a
scalar remainder loop.  Measured on W1/W2, dropping them costs no speed.  ``reassoc`` stays: it
is what lets LLVM vectorise the dot products (strict IEEE order is 4x slower on W2).  Its price:
results can differ in the last bits between builds of the same kernel (a process that compiles
a kernel itself and one that loads it from the on-disk cache), and the hidden units of a
zero-initialised network stay identical only up to rounding (~1e-15), not to the bit.

The one exception: the kernels :mod:`fastbp.specialise` generates for a spec use
:func:`jit_specialised`, which adds ``contract`` (FMA), measured faster there (see
:data:`SPECIALISED_FASTMATH_FLAGS`).

Compiled kernels are cached on disk in a per-user directory (:mod:`fastbp._cache`), never beside
the sources: ``FASTBP_CACHE_DIR`` moves it.  The cache folder's name includes a hash of
:data:`JIT_OPTIONS` and the fastbp, Numba and Python versions, so changing these options (or
upgrading) compiles afresh instead of loading kernels built otherwise.
"""

from __future__ import annotations

import warnings

import numba
from numba.core.errors import NumbaIRAssumptionWarning

from fastbp._cache import install_locator, lean_loading

#: LLVM fast-math flags used by every kernel: reassociation allowed (vectorised sums); no FMA
#: contraction and no approximate functions (lanes and scalar tails round alike); NaN and inf
#: keep their IEEE meaning so divergence checks stay valid.
FASTMATH_FLAGS = frozenset({"nsz", "arcp", "reassoc"})

# Numba's SSA pass runs a pedantic self-check that warns ("variable ... is not in scope") when
# the branch-free functions of fastbp.fastmath, inlined in Numba IR (their ``a if c else b``
# selects are branches there), sit in a large caller such as a generated kernel.  The compiled
# code is right (tests/test_activations.py, tests/test_specialise.py); the warning would only
# reach users at their first call of such a kernel, so this one message is silenced.
warnings.filterwarnings(
    "ignore", message=r"variable '.*' is not in scope", category=NumbaIRAssumptionWarning
)

#: Options shared by every ``@jit`` kernel.
JIT_OPTIONS = {
    "cache": True,
    "fastmath": set(FASTMATH_FLAGS),
    "nogil": True,
    "error_model": "numpy",
}

#: Whether fastbp's own cache locator is registered (False only on a Numba without the internals
#: it relies on; kernels then cache where Numba puts them by default).
CACHE_LOCATOR = install_locator(JIT_OPTIONS)


def jit(func):
    """Compile ``func`` with fastbp's shared Numba options (``cache=True``, safe fastmath)."""
    return lean_loading(numba.njit(**JIT_OPTIONS)(func))


def jit_inline(func):
    """:func:`jit` for a small helper of hot loops, inlined into each caller by Numba itself.

    A rule written once as its own function (``kernels.affine_row``, ``losses.output_seed``,
    ``epochs.sgd_row``) must cost nothing over writing it out in every loop.  Left to LLVM, the
    call was not always inlined: per-example SGD ran 1.4× slower with ``sgd_row`` as a plain
    ``@jit`` function (measured in-process against the loops written inline), and at the old
    speed with it inlined here.
    """
    return lean_loading(numba.njit(**JIT_OPTIONS, inline="always")(func))


#: Fast-math flags of the spec-specialised kernels (:mod:`fastbp.specialise`): the safe set plus
#: ``contract`` (fused multiply-add).  Measured on W1 in one process, interleaved, best of 25
#: epochs: +3–5 % in float64 and +5–7 % in float32 over the safe set; adding every flag
#: (``fastmath=True``) gained nothing more.  These kernels are compared with the reference to the
#: suite's tolerances, never bit for bit, so the lane/remainder rounding difference FMA brings
#: does not matter there; ``nnan``/``ninf`` stay out, so divergence checks still hold.
SPECIALISED_FASTMATH_FLAGS = FASTMATH_FLAGS | {"contract"}

#: Options of the spec-specialised kernels.
SPECIALISED_OPTIONS = {**JIT_OPTIONS, "fastmath": set(SPECIALISED_FASTMATH_FLAGS)}


def jit_specialised(func):
    """Compile a generated, spec-specialised kernel (:data:`SPECIALISED_OPTIONS`, cached)."""
    return lean_loading(numba.njit(**SPECIALISED_OPTIONS)(func))


def jit_specialised_uncached(func):
    """:func:`jit_specialised` without the on-disk cache, for generated code that has no source
    file to key a cache on (when the cache directory is not writable).
    """
    return numba.njit(**{**SPECIALISED_OPTIONS, "cache": False})(func)


#: Options of the compiled drivers that spread ensemble members over threads (``prange``):
#: :data:`JIT_OPTIONS` plus ``parallel=True``.  Launches go through
#: :func:`fastbp._parallel.launch` (thread safety, thread count).
PARALLEL_OPTIONS = {**JIT_OPTIONS, "parallel": True}


def jit_parallel(func):
    """Compile a driver whose ``numba.prange`` loop runs on Numba's threads (cached).

    Call it only inside :func:`fastbp._parallel.launch`, which sets the thread count and keeps
    two Python threads from launching parallel regions at once on a layer that cannot take it.
    """
    return lean_loading(numba.njit(**PARALLEL_OPTIONS)(func))


def jit_parallel_uncached(func):
    """:func:`jit_parallel` without the on-disk cache (generated code with no source file)."""
    return numba.njit(**{**PARALLEL_OPTIONS, "cache": False})(func)


#: Options of the parallel drivers generated beside the spec-specialised kernels: the
#: specialised fast-math flags, so that the kernel a driver inlines sits in a function with the
#: same flags as when a single network's fit calls it (an ensemble member must equal its solo
#: fit bit for bit).  On LLVM 14 (Numba 0.59, 0.60) that alone was not enough for wide layers,
#: which is why Numba's floor is 0.61 (docs/guide/install.rst).
PARALLEL_SPECIALISED_OPTIONS = {**SPECIALISED_OPTIONS, "parallel": True}


def jit_parallel_specialised(func):
    """:func:`jit_parallel` with :data:`PARALLEL_SPECIALISED_OPTIONS` (cached)."""
    return lean_loading(numba.njit(**PARALLEL_SPECIALISED_OPTIONS)(func))


def jit_parallel_specialised_uncached(func):
    """:func:`jit_parallel_specialised` without the on-disk cache."""
    return numba.njit(**{**PARALLEL_SPECIALISED_OPTIONS, "cache": False})(func)
