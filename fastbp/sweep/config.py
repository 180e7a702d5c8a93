"""Sweep configurations: one :class:`SweepConfig` per training run, and grids of them."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastbp.init import INITIALISERS
from fastbp.optim import Optimizer, Schedule
from fastbp.validate import positive_float, positive_int


@dataclass(frozen=True)
class SweepConfig:
    """One training configuration: the spec fields that the data does not fix, and the fit.

    ``hidden`` is the hidden widths (an int means one hidden layer).  ``loss=None`` picks
    ``softmax_cross_entropy`` for classification and ``squared`` for regression; ``logistic``
    is allowed for two classes; ``dtype=None`` follows the data.  A trial's result records the
    configuration with ``loss`` and ``dtype`` resolved (see :func:`fastbp.sweep.train_one`).
    The other fields are those of :meth:`fastbp.Network.fit` (``seed`` seeds both the
    initialisation and the shuffling).

    Parameters
    ----------
    hidden : tuple of int
        The hidden widths; an int means one hidden layer, ``()`` none.
    activation : str
        The hidden activation (see :data:`fastbp.ACTIVATIONS`).
    loss : str or None
        The loss; None picks it from the task.
    dtype : str or None
        ``"float32"`` or ``"float64"``; None follows the data (the dtype of
        :class:`~fastbp.sweep.SweepData`'s arrays).
    init : str
        The initialiser (see :data:`fastbp.init.INITIALISERS`).
    optimizer : str
        ``"sgd"``, ``"momentum"``, ``"nesterov"`` or ``"adam"``.
    lr, momentum, l2 : float
        Learning rate, momentum and L2 penalty, as for :meth:`fastbp.Network.fit`.
    schedule : str
        The learning-rate schedule.
    epochs, batch_size, seed : int
        As for :meth:`fastbp.Network.fit`.

    Raises
    ------
    ValueError, TypeError
        If a field is out of range or of the wrong type.
    """

    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    loss: str | None = None
    dtype: str | None = None
    init: str = "xavier_normal"
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    l2: float = 0.0
    schedule: str = "constant"
    epochs: int = 10
    batch_size: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Iterable):
            raise ValueError(f"hidden must be an integer or a list of integers, got {hidden!r}")
        hidden = tuple(hidden)
        for h in hidden:
            positive_int(h, "hidden width")
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        positive_int(self.epochs, "epochs", minimum=0)
        positive_int(self.batch_size, "batch_size")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")
        positive_float(self.lr, "lr")
        positive_float(self.l2, "l2", allow_zero=True)
        if self.init not in INITIALISERS:
            raise ValueError(f"init = {self.init!r} is unknown; allowed: {sorted(INITIALISERS)}")
        # validates name and momentum; sweeps train as Ensembles, which have no adamw
        Optimizer(self.optimizer, momentum=self.momentum).require_plain("a sweep")
        Schedule(self.schedule)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | SweepConfig) -> SweepConfig:
        """A config from a mapping of its fields.

        Parameters
        ----------
        d : mapping or SweepConfig
            Field names to values (a SweepConfig is returned as it is).

        Returns
        -------
        SweepConfig
            The configuration; fields left out take their defaults.

        Raises
        ------
        ValueError
            If ``d`` is not a mapping, or has unknown keys (named in the message).
        """
        if isinstance(d, SweepConfig):
            return d
        if not isinstance(d, Mapping):
            raise ValueError(f"a configuration must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown configuration key(s) {unknown}; allowed: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict.

        Returns
        -------
        dict
            Field names to values, ``hidden`` as a list.
        """
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def expand_grid(grid: Mapping[str, Any] | Sequence[Any]) -> list[SweepConfig]:
    """The configurations of a grid, in a fixed order.

    * A mapping of lists is a cartesian product, the last key varying fastest.  A scalar value
      stands for a one-element list.  Every element of a list is one value, so
      ``{"hidden": [64, 128]}`` gives two single-layer networks and
      ``{"hidden": [[64, 64], [128]]}`` gives a two-layer and a one-layer network.
    * A list of mappings is taken as it is, one configuration each.

    Keys left out take the :class:`SweepConfig` defaults.

    Parameters
    ----------
    grid : mapping or sequence
        A mapping of lists (cartesian product), or a list of configurations.

    Returns
    -------
    list of SweepConfig
        The configurations, in a fixed order.

    Raises
    ------
    ValueError
        If the grid is empty, has an empty list, or holds an invalid configuration (its index
        is named).
    """
    if isinstance(grid, Mapping):
        keys = list(grid)
        options = [v if isinstance(v, list) else [v] for v in grid.values()]
        for key, opts in zip(keys, options, strict=True):
            if not opts:
                raise ValueError(f"grid key {key!r} has an empty list of values")
        raw = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*options)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        raw = list(grid)
    else:
        raise ValueError(
            f"a grid must be a mapping of lists or a list of configurations, got "
            f"{type(grid).__name__}"
        )
    if not raw:
        raise ValueError("the grid has no configurations")
    return [_config(i, d) for i, d in enumerate(raw)]


def _config(index: int, d: Mapping[str, Any]) -> SweepConfig:
    try:
        return SweepConfig.from_dict(d)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"configuration {index} ({d!r}): {exc}") from None


def load_grid(path: str | os.PathLike[str]) -> list[SweepConfig]:
    """Read a grid from a JSON file (see :func:`expand_grid`).

    Parameters
    ----------
    path : str or os.PathLike
        A JSON file holding a grid.

    Returns
    -------
    list of SweepConfig
        The configurations, as :func:`expand_grid` gives them.

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        If it is not valid JSON or not a valid grid (the message starts with the path).
    """
    try:
        with open(path, encoding="utf-8") as f:
            grid = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)}: not valid JSON: {exc}") from None
    try:
        return expand_grid(grid)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None
