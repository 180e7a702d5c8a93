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
from fastbp.gradcheck import GradcheckReport, gradcheck
from fastbp.history import FitDivergedError, History
from fastbp.init import INITIALISERS
from fastbp.network import Network, Trace
from fastbp.spec import LOSSES, NetworkSpec
from fastbp.warmup import warmup

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from fastbp import circuit, curvature, datasets, diagnostics, hessian, io, optim, train

#: Names loaded on first use: name -> (module, attribute or None for the module itself).
_LAZY: dict[str, tuple[str, str | None]] = {
    "circuit": ("fastbp.circuit", None),
    "curvature": ("fastbp.curvature", None),
    "datasets": ("fastbp.datasets", None),
    "diagnostics": ("fastbp.diagnostics", None),
    "hessian": ("fastbp.hessian", None),
    "io": ("fastbp.io", None),
    "optim": ("fastbp.optim", None),
    "train": ("fastbp.train", None),
}


def __getattr__(name: str) -> Any:
    """Load a lazy submodule or name of :data:`_LAZY` on first access (PEP 562)."""
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'fastbp' has no attribute {name!r}")
    module = importlib.import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ACTIVATIONS",
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
    "optim",
    "train",
    "warmup",
]
