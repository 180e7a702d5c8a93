"""The one place where Numba compilation options are defined.

Every compiled function in fastbp is decorated with :func:`jit`, so cache and fastmath settings
cannot drift between modules.  ``fastmath`` leaves out ``nnan`` and ``ninf``: with those flags LLVM
may assume no NaN or inf ever appears and delete the very checks that detect a diverging run.
"""

from __future__ import annotations

import numba

#: LLVM fast-math flags used by every kernel: reassociation and contraction (FMA) allowed,
#: but NaN and inf keep their IEEE meaning so divergence checks stay valid.
FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

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
