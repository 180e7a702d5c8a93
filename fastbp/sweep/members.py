"""Sweeps as ensembles: configurations that differ only in ``lr``, ``momentum``, ``l2`` and
``seed`` train together as the members of one :class:`fastbp.Ensemble`.

:func:`group_configs` groups a grid's configurations by everything else (the resolved spec:
hidden widths, activation, loss and dtype; and init, optimizer, schedule, epochs and
batch_size); :func:`member_blocks` cuts each group into contiguous blocks, one per worker;
:func:`train_members` trains one block as one ensemble and returns, for every configuration,
the row :func:`fastbp.sweep.train_one` returns for it, bit for bit but the ``seconds``.

Member i of a block is configuration i exactly as :func:`~fastbp.sweep.train_one` trains it:
its initial parameters are those of ``Network(spec, init=init, seed=config.seed)``, and it
shuffles with ``config.seed`` (the explicit member seeds of
:func:`fastbp.ensemble_train.fit`, since a grid's seeds need not be ``seed + i``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fastbp import ensemble_train
from fastbp.ensemble import Ensemble
from fastbp.ensemble_dask import shard_bounds
from fastbp.network import Network
from fastbp.sweep.config import SweepConfig
from fastbp.sweep.data import SweepData, spec_for
from fastbp.sweep.threads import single_thread
from fastbp.sweep.trial import exploded

#: Configuration fields that may differ between the members of one ensemble.
MEMBER_FIELDS = ("lr", "momentum", "l2", "seed")


def group_key(config: SweepConfig, data: SweepData) -> tuple:
    """What configurations must share to train as one ensemble: every field but
    :data:`MEMBER_FIELDS`, with ``loss`` and ``dtype`` resolved for ``data``.

    Parameters
    ----------
    config : SweepConfig
        A configuration.
    data : SweepData
        The prepared splits (they resolve ``loss=None`` and ``dtype=None``).

    Returns
    -------
    tuple
        A hashable key; equal keys train together.
    """
    spec = spec_for(config, data)
    resolved = dataclasses.replace(config, loss=spec.loss, dtype=spec.dtype)
    return tuple(
        (f.name, getattr(resolved, f.name))
        for f in dataclasses.fields(resolved)
        if f.name not in MEMBER_FIELDS
    )


def group_configs(configs: Sequence[SweepConfig], data: SweepData) -> list[list[int]]:
    """The grid positions of each group of configurations that can train as one ensemble.

    Parameters
    ----------
    configs : sequence of SweepConfig
        The grid.
    data : SweepData
        The prepared splits.

    Returns
    -------
    list of list of int
        Groups in the order of their first configuration; positions ascending in each.
    """
    groups: dict[tuple, list[int]] = {}
    for i, cfg in enumerate(configs):
        groups.setdefault(group_key(cfg, data), []).append(i)
    return list(groups.values())


def member_blocks(
    configs: Sequence[SweepConfig], data: SweepData, n_parts: int
) -> list[tuple[int, ...]]:
    """Each group of :func:`group_configs` cut into at most ``n_parts`` contiguous blocks of
    near-equal size (one ensemble each; ``n_parts=1``: a whole group per ensemble).

    Parameters
    ----------
    configs : sequence of SweepConfig
        The grid.
    data : SweepData
        The prepared splits.
    n_parts : int
        The most blocks per group (the number of workers).

    Returns
    -------
    list of tuple of int
        Grid positions per block; every position is in exactly one block.
    """
    blocks = []
    for group in group_configs(configs, data):
        for lo, hi in shard_bounds(len(group), [1] * min(n_parts, len(group))):
            blocks.append(tuple(group[lo:hi]))
    return blocks


def train_members(
    configs: Sequence[SweepConfig | Mapping[str, Any]], data: SweepData, n_jobs: int | None = None
) -> list[dict[str, Any]]:
    """Train configurations of one group (:func:`group_key`) as one ensemble.

    Parameters
    ----------
    configs : sequence of SweepConfig or mapping
        Configurations with equal :func:`group_key`.
    data : SweepData
        The prepared splits.
    n_jobs : int or None
        Numba threads for the ensemble's fit (None: all); the rows do not depend on it.

    Returns
    -------
    list of dict
        One row per configuration, in order, each what :func:`fastbp.sweep.train_one` returns
        for it, bit for bit, but ``seconds``: the ensemble's fit time divided by the number of
        members (each member's share).

    Raises
    ------
    ValueError
        If the configurations do not share one group key.
    """
    cfgs = [SweepConfig.from_dict(c) for c in configs]
    if not cfgs:
        return []
    if len({group_key(c, data) for c in cfgs}) != 1:
        raise ValueError(
            f"train_members needs configurations that differ only in {MEMBER_FIELDS}; "
            f"group them with fastbp.sweep.members.group_configs"
        )
    first = cfgs[0]
    spec = spec_for(first, data)
    M = len(cfgs)
    with single_thread():
        nets = [Network(spec, init=c.init, seed=c.seed) for c in cfgs]
        initial_losses = [net.loss(data.X_train, data.y_train) for net in nets]
        ens = Ensemble(spec, M, init="zeros")
        ens.init = first.init
        for i, net in enumerate(nets):
            ens.params[i] = net.params
        t0 = time.perf_counter()
        histories = ensemble_train.fit(
            ens, data.X_train, data.y_train, epochs=first.epochs, batch_size=first.batch_size,
            optimizer=first.optimizer, lr=[c.lr for c in cfgs],
            momentum=[c.momentum for c in cfgs], l2=[c.l2 for c in cfgs],
            schedule=first.schedule, shuffle=True, validation_fraction=0.0,
            early_stopping=False, patience=5, min_delta=0.0, seed=0, bootstrap=False,
            warm_start=False, n_jobs=n_jobs, progress=False,
            member_seeds=np.array([c.seed for c in cfgs], dtype=np.int64), report=False,
            exact=True,
        )  # fmt: skip
        seconds = (time.perf_counter() - t0) / M
        rows = []
        for cfg, net, hist, initial_loss, params in zip(
            cfgs, nets, histories, initial_losses, ens.params, strict=True
        ):
            net.params[...] = params
            scores = {
                f"{part}_score": net.score(getattr(data, f"X_{part}"), getattr(data, f"y_{part}"))
                for part in ("train", "val", "test")
            }
            rows.append({
                "config": dataclasses.replace(cfg, loss=spec.loss, dtype=spec.dtype).to_dict(),
                **scores,
                "final_loss": hist.loss[-1] if hist.loss else math.nan,
                "initial_loss": initial_loss,
                "epochs_run": len(hist),
                "diverged": hist.diverged or exploded(initial_loss, list(hist.loss)),
                "n_params": net.n_params,
                "history": {"loss": list(hist.loss), "lr": list(hist.lr)},
                "params": net.params.copy(),
                "seconds": seconds,
            })  # fmt: skip
    return rows


def warm_ensembles(dtypes: Sequence[str], specs: Sequence[Any]) -> None:
    """Compile (or load) the ensemble kernels a sweep's :func:`train_members` runs: tiny fits of
    two members through every minibatch variant per dtype, and per-example SGD (with and
    without L2) per spec.  For a warmup child process (:func:`fastbp.sweep.backends.warm_cache`).

    Parameters
    ----------
    dtypes : sequence of str
        The dtypes the sweep trains in.
    specs : sequence of NetworkSpec
        The specs of the sweep's per-example SGD configurations.
    """
    from fastbp.lowered import BLAS_MIN_ROWS
    from fastbp.spec import NetworkSpec

    def tiny_fit(spec: NetworkSpec, **kwargs: Any) -> None:
        n = min(2 * BLAS_MIN_ROWS, 64)
        X = np.linspace(-1.0, 1.0, n * spec.n_inputs).reshape(n, spec.n_inputs)
        Y = np.zeros((n, spec.n_outputs))
        Y[:, 0] = 1.0
        ensemble_train.fit(
            Ensemble(spec, 2), X, Y, epochs=1, optimizer=kwargs.pop("optimizer", "sgd"),
            momentum=0.9, schedule="constant", shuffle=True, validation_fraction=0.0,
            early_stopping=False, patience=5, min_delta=0.0, seed=0, bootstrap=False,
            warm_start=False, n_jobs=1, progress=False, report=False, **kwargs,
        )  # fmt: skip

    for dtype in dtypes:
        spec = NetworkSpec([2, 3, 2], ["relu"], loss="softmax_cross_entropy", dtype=dtype)
        for batch_size in sorted({2, min(BLAS_MIN_ROWS, 32)}):
            for optimizer in ("sgd", "adam"):
                tiny_fit(spec, batch_size=batch_size, optimizer=optimizer, lr=1e-3, l2=[0.0, 1e-4])
    for spec in specs:
        tiny_fit(spec, batch_size=1, lr=1e-3, l2=[0.0, 1e-4])


__all__ = [
    "MEMBER_FIELDS",
    "group_configs",
    "group_key",
    "member_blocks",
    "train_members",
    "warm_ensembles",
]
