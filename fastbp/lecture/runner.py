"""The registry of the lecture's experiments and the runner that writes their files.

:func:`run` runs a selection (:func:`select`), writes ``<letter>_<name>.json`` and ``.png`` for
each into a folder and hands each verdict line to ``echo``.  The command line is
``fastbp lecture`` (:mod:`fastbp.cli`), which calls :func:`select` and :func:`run`.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np

from fastbp._version import __version__
from fastbp.jsonable import to_json
from fastbp.lecture.experiments import (
    backprop_cost,
    hvp_cost,
    lemma_table,
    lemmas,
    sgd,
    vanishing,
    zero_init,
)
from fastbp.lecture.plots import (
    plot_backprop_cost,
    plot_hvp_cost,
    plot_lemmas,
    plot_sgd,
    plot_vanishing,
    plot_zero_init,
)
from fastbp.plot import require_matplotlib


@dataclass(frozen=True)
class Experiment:
    """One claim of the lecture: its experiment and its figure.

    Parameters
    ----------
    letter : str
        The claim's letter, a–f (file names and ``--only``).
    name : str
        The experiment's name (file names and ``--only``).
    title : str
        The claim in a few words.
    run : callable
        ``run(quick=..., seed=...)`` returns the measured data (see
        :mod:`fastbp.lecture.experiments`).
    plot : callable
        ``plot(data, path)`` writes the figure (see :mod:`fastbp.lecture.plots`).
    """

    letter: str
    name: str
    title: str
    run: Callable[..., dict[str, Any]]
    plot: Callable[[dict[str, Any], str | os.PathLike[str]], None]


#: The experiments in lecture order; keys are the names used for files and ``--only``.
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "a",
            "backprop_cost",
            "backprop is O(N), finite differences O(N·l)",
            backprop_cost,
            plot_backprop_cost,
        ),
        Experiment("b", "hvp_cost", "a Hessian-vector product is O(N)", hvp_cost, plot_hvp_cost),
        Experiment(
            "c",
            "zero_init",
            "zero init fails by symmetry, Xavier does not",
            zero_init,
            plot_zero_init,
        ),
        Experiment(
            "d", "vanishing", "sigmoid chains vanish, ReLU much less", vanishing, plot_vanishing
        ),
        Experiment("e", "lemmas", "the two-layer lemmas hold", lemmas, plot_lemmas),
        Experiment("f", "sgd", "per-example SGD as written (diabetes)", sgd, plot_sgd),
    )  # fmt: skip
}


def select(only: str | Sequence[str] | None) -> list[Experiment]:
    """The experiments named by letters or names, in lecture order.

    Parameters
    ----------
    only : str or sequence of str or None
        A comma-separated string (``"c,e"``) or a sequence (``["zero_init", "e"]``) of letters
        and names; repeats count once.  None selects all six.

    Returns
    -------
    list of Experiment
        The selection, sorted by letter.

    Raises
    ------
    ValueError
        For an unknown letter or name, or an empty selection.
    """
    if only is None:
        return list(EXPERIMENTS.values())
    items = only.split(",") if isinstance(only, str) else list(only)
    by_key = {e.letter: e for e in EXPERIMENTS.values()} | EXPERIMENTS
    chosen: list[Experiment] = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        if item not in by_key:
            allowed = ", ".join(f"{e.letter}/{e.name}" for e in EXPERIMENTS.values())
            raise ValueError(f"unknown experiment {item!r}; choose from {allowed}")
        if by_key[item] not in chosen:
            chosen.append(by_key[item])
    if not chosen:
        raise ValueError("no experiment selected")
    return sorted(chosen, key=lambda e: e.letter)


@dataclass
class Outcome:
    """One experiment's result: its data (as written to JSON), the files written, the time.

    Parameters
    ----------
    experiment : Experiment
        What ran.
    data : dict
        The experiment's result with the run's settings and environment, in strict-JSON form
        (non-finite floats as None).
    seconds : float
        Wall time of the experiment (not counting the files).
    files : list of pathlib.Path
        The JSON and PNG files written, if any.
    """

    experiment: Experiment
    data: dict[str, Any]
    seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """Whether the claim held in this run (``data["holds"]``)."""
        return bool(self.data["holds"])

    def line(self) -> str:
        """The one-line verdict.

        Returns
        -------
        str
            ``"[<letter>] <title>: HOLDS. <verdict> (<seconds> s)"``, or ``DOES NOT HOLD``.
        """
        e = self.experiment
        word = "HOLDS" if self.holds else "DOES NOT HOLD"
        return f"[{e.letter}] {e.title}: {word}. {self.data['verdict']} ({self.seconds:.1f} s)"


def _env() -> dict[str, Any]:
    """Versions and machine, recorded in every result file."""
    return {
        "fastbp": __version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def run(
    only: str | Sequence[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    quick: bool = False,
    seed: int = 0,
    plot: bool = True,
    echo: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Run the selected experiments; with ``out``, write ``<letter>_<name>.json`` and ``.png``.

    Parameters
    ----------
    only : str or sequence of str or None
        The selection, as :func:`select` takes it; None runs all six.
    out : str or os.PathLike or None
        The folder for the files (created if missing); None writes nothing.
    quick : bool
        Smaller sweeps and fewer epochs (what the tests and the documentation build run).
    seed : int
        Passed to every experiment.
    plot : bool
        Also write each figure (needs matplotlib, checked before anything runs; only with
        ``out``).
    echo : callable or None
        Receives each verdict line (:meth:`Outcome.line`) as soon as it is known, and the
        lemma table (:func:`fastbp.lecture.lemma_table`) after experiment e; e.g. ``print``.

    Returns
    -------
    list of Outcome
        One per experiment run, in lecture order.

    Raises
    ------
    ValueError
        For a bad selection (before anything runs).
    ImportError
        With ``out`` and ``plot`` but without matplotlib (before anything runs).
    """
    chosen = select(only)
    if out is not None and plot:
        require_matplotlib()
    folder = None if out is None else Path(out)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for e in chosen:
        t0 = time.perf_counter()
        data = e.run(quick=quick, seed=seed)
        seconds = time.perf_counter() - t0
        data = {"experiment": e.name, "title": e.title, **data, "quick": quick, "seed": seed,
                "seconds": seconds, "environment": _env()}  # fmt: skip
        outcome = Outcome(e, to_json(data, e.name, nonfinite="null"), seconds)
        if folder is not None:
            path = folder / f"{e.letter}_{e.name}.json"
            path.write_text(json.dumps(outcome.data, indent=1, allow_nan=False) + "\n")
            outcome.files.append(path)
            if plot:
                png = folder / f"{e.letter}_{e.name}.png"
                e.plot(outcome.data, png)
                outcome.files.append(png)
        outcomes.append(outcome)
        if echo is not None:
            echo(outcome.line())
            if e.name == "lemmas":
                echo(lemma_table(outcome.data))
    return outcomes
