"""The backpropagation lecture's claims, measured: one reproducible experiment per claim.

Each experiment is a function returning a JSON-ready dict of what it measured, with ``holds``
(whether the claim held in this run) and ``verdict`` (one line saying so, with the numbers).
:func:`run` runs a selection, writes ``<letter>_<name>.json`` and ``.png`` for each into a
folder and passes the verdicts to ``echo``; ``fastbp lecture --out DIR [--quick] [--only a,b]``
and the scripts in ``scripts/lecture/`` call it.

==  ===================  =================================================================
a   backprop_cost        backprop costs O(N); central finite differences cost O(N·l) = O(N²)
b   hvp_cost             a Hessian-vector product (R-operator) also costs O(N)
c   zero_init            zero initialisation fails by symmetry, Xavier does not; Xavier keeps
                         the activation variance in range where N(0, 1) does not
d   vanishing            gradients vanish through sigmoid chains (σ' ≤ ¼), much less with ReLU
e   lemmas               the two-layer lemmas, each against finite differences
f   sgd                  per-example SGD on the diabetes data; a too-large rate diverges and the
                         last good epoch is restored
==  ===================  =================================================================

The package has one job per module:

* :mod:`fastbp.lecture.timing`: the timing harness of a and b (interleaved medians on the
  explicit-loop kernels, log-log slopes, the width and depth sweeps, timed finite differences);
* :mod:`fastbp.lecture.experiments`: the six experiments and the thresholds they are judged by;
* :mod:`fastbp.lecture.plots`: one figure per experiment (matplotlib only when drawing);
* :mod:`fastbp.lecture.runner`: the registry (:data:`EXPERIMENTS`, :func:`select`) and
  :func:`run`, which writes the files.

Every name below is importable from ``fastbp.lecture`` itself.
"""

from __future__ import annotations

from fastbp.lecture.experiments import (
    BOUNDED_RATIO,
    HVP_SLOPE,
    LEMMA_COMPILED_RTOL,
    LEMMA_FD_RTOL,
    LINEAR_SLOPE,
    QUADRATIC_MIN_SLOPE,
    backprop_cost,
    hvp_cost,
    lemma_table,
    lemmas,
    sgd,
    two_layer_lemmas,
    vanishing,
    zero_init,
)
from fastbp.lecture.runner import EXPERIMENTS, Experiment, Outcome, run, select
from fastbp.lecture.timing import FD_STEP, interleaved_medians, loglog_slope

__all__ = [
    "BOUNDED_RATIO",
    "EXPERIMENTS",
    "FD_STEP",
    "HVP_SLOPE",
    "LEMMA_COMPILED_RTOL",
    "LEMMA_FD_RTOL",
    "LINEAR_SLOPE",
    "QUADRATIC_MIN_SLOPE",
    "Experiment",
    "Outcome",
    "backprop_cost",
    "hvp_cost",
    "interleaved_medians",
    "lemma_table",
    "lemmas",
    "loglog_slope",
    "run",
    "select",
    "sgd",
    "two_layer_lemmas",
    "vanishing",
    "zero_init",
]
