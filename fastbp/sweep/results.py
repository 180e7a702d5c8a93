"""The table a sweep returns (:class:`SweepResult`) and the files it writes."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastbp.jsonable import to_json
from fastbp.network import Network
from fastbp.sweep.config import SweepConfig
from fastbp.sweep.data import SweepData, spec_for

#: Columns of ``results.csv``, in order.
CSV_COLUMNS = (
    "index", "hidden", "activation", "loss", "dtype", "init", "optimizer", "lr", "momentum",
    "l2", "schedule", "epochs", "batch_size", "seed", "train_score", "val_score", "test_score",
    "final_loss", "epochs_run", "diverged", "n_params", "seconds",
)  # fmt: skip


@dataclass
class SweepResult:
    """The outcome of :func:`fastbp.sweep.run`: one row per configuration, in grid order.

    Parameters
    ----------
    rows : list of dict
        What :func:`fastbp.sweep.train_one` returned for each configuration, plus ``index``
        (the position in the grid).
    data : SweepData
        The splits the rows were trained and scored on.
    backend : str
        The backend that ran them.
    seconds : float
        Wall time of the whole sweep.
    """

    rows: list[dict[str, Any]]
    data: SweepData
    backend: str
    seconds: float

    @property
    def best_index(self) -> int | None:
        """Index of the highest validation score among runs that did not diverge.

        Ties go to the first; None if every run diverged (or scored NaN).
        """
        best, best_score = None, -math.inf
        for row in self.rows:
            s = row["val_score"]
            if not row["diverged"] and math.isfinite(s) and s > best_score:
                best, best_score = row["index"], s
        return best

    @property
    def best(self) -> dict[str, Any] | None:
        """The row at :attr:`best_index`, or None."""
        i = self.best_index
        return None if i is None else self.rows[i]

    def table(self) -> list[dict[str, Any]]:
        """The rows flattened to the CSV columns: config fields, scores and timing.

        Returns
        -------
        list of dict
            One dict per row, keyed by :data:`CSV_COLUMNS` in order (``hidden`` as
            ``"64-64"``, or ``"none"``; ``loss`` and ``dtype`` as resolved for the data, as
            ``row["config"]`` records them).
        """
        out = []
        for row in self.rows:
            cfg = dict(row["config"])
            cfg["hidden"] = "-".join(str(h) for h in cfg["hidden"]) or "none"
            spec = spec_for(SweepConfig.from_dict(row["config"]), self.data)
            cfg["loss"], cfg["dtype"] = spec.loss, spec.dtype
            flat = {"index": row["index"], **cfg}
            flat.update({k: row[k] for k in CSV_COLUMNS if k not in flat})
            out.append({k: flat[k] for k in CSV_COLUMNS})
        return out

    def network(self, index: int) -> Network:
        """The trained network of row ``index``, rebuilt from its parameters.

        It carries the sweep's standardisation as :attr:`fastbp.Network.preprocessing`, so its
        ``predict`` and ``score`` take raw rows (``forward`` and ``fit`` standardised ones).

        Parameters
        ----------
        index : int
            The row's position in the grid.

        Returns
        -------
        fastbp.Network
            A network with that row's spec, parameters and preprocessing.
        """
        from fastbp.datasets import Standardizer
        from fastbp.preprocessing import Preprocessing

        row = self.rows[index]
        net = Network(spec_for(SweepConfig.from_dict(row["config"]), self.data), init="zeros")
        net.params = row["params"]
        net.init, net.seed = row["config"]["init"], row["config"]["seed"]
        d = self.data
        xs = Standardizer.from_arrays({"mean": d.x_mean, "scale": d.x_scale})
        ys = None
        if d.y_mean is not None and d.y_scale is not None:
            ys = Standardizer.from_arrays({"mean": d.y_mean, "scale": d.y_scale})
        net.preprocessing = Preprocessing(xs, ys)
        return net

    def save(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``results.csv``, ``results.json`` and ``best.fastbp`` into ``out_dir``.

        ``results.json`` is strict JSON: NaN and infinities are written as ``null``.
        ``best.fastbp`` (only if some run did not diverge) holds the best network, the feature
        (and target) standardisation and the row's config and scores as metadata.

        Parameters
        ----------
        out_dir : str or os.PathLike
            The folder; created if needed.

        Returns
        -------
        dict of str to pathlib.Path
            ``"csv"``, ``"json"`` and, when written, ``"best"``.

        Raises
        ------
        OSError
            If a file cannot be written.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"csv": out / "results.csv", "json": out / "results.json"}
        with open(paths["csv"], "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(self.table())
        summary = {
            "dataset": self.data.name,
            "task": self.data.task,
            "metric": self.data.metric,
            "backend": self.backend,
            "seconds": self.seconds,
            "best_index": self.best_index,
            "rows": [{k: v for k, v in row.items() if k != "params"} for row in self.rows],
        }
        with open(paths["json"], "w", encoding="utf-8") as f:
            json.dump(to_json(summary, "results", nonfinite="null"), f, indent=1, allow_nan=False)
        best = self.best
        if best is not None:
            d = self.data
            metadata = {
                "dataset": d.name, "task": d.task, "target_names": list(d.target_names),
                "sweep_index": best["index"], "config": best["config"],
                "val_score": best["val_score"], "test_score": best["test_score"],
            }  # fmt: skip
            metadata = to_json(metadata, "metadata", nonfinite="null")
            paths["best"] = self.network(best["index"]).save(out / "best.fastbp", metadata=metadata)
        return paths
