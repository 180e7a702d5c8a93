"""A yardstick for W6, not a peer: import numba and call one cached ``@njit`` function.

Any library built on Numba's on-disk cache pays, in a fresh process, for ``import numba`` and
then, at its first compiled call, for Numba's CPU target (its typing and lowering registries,
and the NumPy support modules they import; with SciPy installed those import
``scipy.linalg`` to find BLAS) and for loading the cached machine code.  This process does the
least of that: one trivial function, loaded from Numba's cache after the first (discarded) run.
It is the floor for fastbp's warm-cache start, which loads its own kernels the same way.
"""

from __future__ import annotations

import numba

from _peers import tool_numbaimport
from _peers.tool_numbaimport import LIBRARY, setup, versions


@numba.njit(cache=True)
def _plus_one(x):
    return x + 1.0


class Trainer(tool_numbaimport.Trainer):
    """Its one "epoch" is the call of the cached function."""

    def epoch(self) -> None:
        """Call the cached function once (loaded from Numba's cache)."""
        _plus_one(1.0)


__all__ = ["LIBRARY", "Trainer", "setup", "versions"]
