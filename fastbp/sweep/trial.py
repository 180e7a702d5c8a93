"""One trial of a sweep: :func:`train_one` trains one configuration, deterministically."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

from fastbp.network import Network
from fastbp.sweep.config import SweepConfig
from fastbp.sweep.data import SweepData, spec_for
from fastbp.sweep.threads import single_thread
from fastbp.train import FitDivergedError

#: Result fields that measure time and so differ between otherwise identical runs.
TIMING_FIELDS = ("seconds",)
#: A run whose final training loss exceeds this many times its initial loss is marked diverged.
DIVERGENCE_FACTOR = 10.0


def exploded(initial_loss: float, losses: list[float]) -> bool:
    """The sweep's divergence rule for a fit that finished: its final loss is not finite, or
    exceeds :data:`DIVERGENCE_FACTOR` × the loss of the initial parameters.

    Parameters
    ----------
    initial_loss : float
        The mean training loss before the first epoch.
    losses : list of float
        The per-epoch mean training losses (none: nothing was trained, nothing exploded).

    Returns
    -------
    bool
        True if the run is to be marked diverged.
    """
    if not losses:
        return False
    final = losses[-1]
    return not (math.isfinite(final) and final <= DIVERGENCE_FACTOR * initial_loss)


def train_one(config: SweepConfig | Mapping[str, Any], data: SweepData) -> dict[str, Any]:
    """Train one configuration on ``data``; returns a JSON-ready dict plus the parameters.

    Keys: ``config`` (dict, with ``loss`` and ``dtype`` resolved: what was trained, as the
    CSV row names it), ``train_score``, ``val_score``, ``test_score`` (accuracy or R²),
    ``final_loss`` (mean training loss of the last epoch), ``initial_loss`` (mean training loss
    of the initial parameters), ``epochs_run``, ``diverged``, ``n_params``, ``history``
    (per-epoch ``loss`` and ``lr``), ``params`` (the flat parameter buffer) and ``seconds`` (fit
    time, the only field that varies).

    ``diverged`` is True if the fit raised :class:`fastbp.FitDivergedError` (a NaN or inf; the
    parameters and scores are then those of the last good epoch) or if its final loss is not
    finite or exceeds :data:`DIVERGENCE_FACTOR` times ``initial_loss`` (:func:`exploded`; the
    parameters are the last epoch's).  A row with ``diverged=False`` therefore has a finite
    final loss at most that factor above where it started, and only such rows can be the best.

    Pure and deterministic: the same config and data give bit-identical results (except
    ``seconds``) in any process with the same fastbp, Numba and NumPy on the same CPU type.

    Parameters
    ----------
    config : SweepConfig or mapping
        One configuration.
    data : SweepData
        The prepared splits.

    Returns
    -------
    dict
        ``config``, ``train_score``, ``val_score``, ``test_score``, ``final_loss``,
        ``initial_loss``, ``epochs_run``, ``diverged``, ``n_params``, ``history``, ``params``
        and ``seconds``.
    """
    cfg = SweepConfig.from_dict(config)
    spec = spec_for(cfg, data)
    with single_thread():
        net = Network(spec, init=cfg.init, seed=cfg.seed)
        initial_loss = net.loss(data.X_train, data.y_train)
        t0 = time.perf_counter()
        diverged = False
        try:
            hist = net.fit(
                data.X_train, data.y_train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                optimizer=cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum, l2=cfg.l2,
                schedule=cfg.schedule, shuffle=True, seed=cfg.seed, progress=False,
            )  # fmt: skip
        except FitDivergedError as exc:
            hist, diverged = exc.history, True
        seconds = time.perf_counter() - t0
        diverged = diverged or exploded(initial_loss, list(hist.loss))
        scores = {
            f"{part}_score": net.score(getattr(data, f"X_{part}"), getattr(data, f"y_{part}"))
            for part in ("train", "val", "test")
        }
    return {
        "config": dataclasses.replace(cfg, loss=spec.loss, dtype=spec.dtype).to_dict(),
        **scores,
        "final_loss": hist.loss[-1] if hist.loss else math.nan,
        "initial_loss": initial_loss,
        "epochs_run": len(hist),
        "diverged": diverged,
        "n_params": net.n_params,
        "history": {"loss": list(hist.loss), "lr": list(hist.lr)},
        "params": net.params.copy(),
        "seconds": seconds,
    }
