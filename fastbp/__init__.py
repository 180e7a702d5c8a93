"""fastbp: backpropagation for multilayer perceptrons with Numba-compiled kernels.

``import fastbp`` loads what a network needs to be built and trained (``Network``,
``NetworkSpec``, the training loop and the kernels it runs, ``gradcheck``, ``warmup``).  The
submodules in ``_LAZY`` below (circuits, curvature and datasets among them) load on first use: a
process that only trains a network does not pay for them (issue 15's cold-start target).  The
functions ``gradcheck`` and ``warmup`` are imported eagerly: their submodules share their names,
and importing a submodule would rebind the package attribute to it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fastbp._version import __version__
from fastbp.activations import ACTIVATIONS
from fastbp.gradcheck import GradcheckReport, gradcheck, gradcheck_dropout
from fastbp.history import FitDivergedError, History
from fastbp.init import INITIALISERS
from fastbp.network import Network, Trace
from fastbp.spec import LOSSES, NetworkSpec
from fastbp.warmup import warmup

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from fastbp import circuit, curvature, datasets, diagnostics, hessian, io, optim, train
    from fastbp.ensemble import Ensemble

#: Submodules loaded on first access of ``fastbp.<name>``.
_LAZY = ("circuit", "curvature", "datasets", "diagnostics", "hessian", "io", "optim", "train")

#: Classes loaded on first access, from the submodule named: ``fastbp.Ensemble``.
_LAZY_CLASSES = {"Ensemble": "fastbp.ensemble"}


def __getattr__(name: str) -> Any:
    """Import a submodule of :data:`_LAZY` (or a class of :data:`_LAZY_CLASSES`) on first
    access (PEP 562)."""
    if name in _LAZY_CLASSES:
        value = getattr(importlib.import_module(_LAZY_CLASSES[name]), name)
        globals()[name] = value
        return value
    if name not in _LAZY:
        raise AttributeError(f"module 'fastbp' has no attribute {name!r}")
    return importlib.import_module(f"fastbp.{name}")  # also binds it on the package


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_CLASSES))


__all__ = [
    "ACTIVATIONS",
    "Ensemble",
    "FitDivergedError",
    "History",
    "INITIALISERS",
    "LOSSES",
    "GradcheckReport",
    "Network",
    "NetworkSpec",
    "Trace",
    "__version__",
    "circuit",
    "curvature",
    "datasets",
    "diagnostics",
    "hessian",
    "io",
    "gradcheck",
    "gradcheck_dropout",
    "optim",
    "train",
    "warmup",
]
