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

Numba's on-disk cache is keyed on each kernel module's source, not on this file: after changing
these options, delete the ``*.nbi``/``*.nbc`` files under ``fastbp/**/__pycache__``.
"""

from __future__ import annotations

import numba

#: LLVM fast-math flags used by every kernel: reassociation allowed (vectorised sums); no FMA
#: contraction and no approximate functions (lanes and scalar tails round alike); NaN and inf
#: keep their IEEE meaning so divergence checks stay valid.
FASTMATH_FLAGS = frozenset({"nsz", "arcp", "reassoc"})

#: Options shared by every ``@jit`` kernel.
JIT_OPTIONS = {
    "cache": True,
    "fastmath": set(FASTMATH_FLAGS),
    "nogil": True,
    "error_model": "numpy",
}


def jit(func):
    """Compile ``func`` with fastbp's shared Numba options (``cache=True``, safe fastmath)."""
    return numba.njit(**JIT_OPTIONS)(func)
