"""A yardstick for W6, not a peer: a process that imports numba (and numpy) and does nothing else.

The issue's cold-start target compares fastbp's warm-cache start (import, build W1, one epoch)
with this process: ``import numba`` is the floor for any Numba-based library.
"""

from __future__ import annotations

import numba
import numpy as np

LIBRARY = "numba"


def setup(threads: int) -> None:
    """Nothing to set."""


def versions() -> dict:
    return {"numba": numba.__version__, "numpy": np.__version__}


class Trainer:
    """Takes no step: the W6 child times the import alone."""

    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray) -> None:
        self.layers = layers

    def epoch(self) -> None:
        """Nothing: the yardstick is the import."""

    def params(self):
        return self.layers
