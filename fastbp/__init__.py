"""fastbp: backpropagation for multilayer perceptrons with Numba-compiled kernels."""

from fastbp import circuit, curvature, datasets, diagnostics, hessian, io, optim, train
from fastbp._version import __version__
from fastbp.activations import ACTIVATIONS
from fastbp.gradcheck import GradcheckReport, gradcheck
from fastbp.init import INITIALISERS
from fastbp.network import Network, Trace
from fastbp.spec import LOSSES, NetworkSpec
from fastbp.train import FitDivergedError, History
from fastbp.warmup import warmup

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
