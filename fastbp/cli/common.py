"""Helpers several ``fastbp`` subcommands share: datasets named on the command line, and what
``fastbp train`` saves beside a model (standardisers, class names)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastbp.cli.argtypes import UsageError
from fastbp.losses import LOSSES

#: The losses of regression networks: those whose output is a value, not probabilities (a
#: softmax or sigmoid output); ``predict`` prints their outputs and scores them by R².
REGRESSION_LOSSES = tuple(
    name for name, (_, out) in LOSSES.items() if out not in ("softmax", "sigmoid")
)

if TYPE_CHECKING:
    from fastbp.datasets import Dataset, Standardizer
    from fastbp.network import Network


def check_target_column(name: str, target_column: int | str | None) -> None:
    """Refuse a ``--target-column`` given with a ``--dataset`` that is not a CSV file.

    Parameters
    ----------
    name : str
        The ``--dataset`` value.
    target_column : int, str or None
        The ``--target-column`` value; None when it was left out.

    Raises
    ------
    UsageError
        If a target column is given for a bundled dataset or a ``.npz``/``.npy`` file, which
        would otherwise be ignored.
    """
    if target_column is not None and not name.lower().endswith(".csv"):
        raise UsageError(
            f"--target-column applies to a CSV --dataset, not to {name} (whose target is fixed)"
        )


def load_dataset(
    name: str,
    target_column: int | str | None = None,
    task: str | None = None,
    dtype: str | None = None,
    target: Path | None = None,
) -> Dataset:
    """The dataset a ``--dataset`` (and ``--target``) option names.

    Parameters
    ----------
    name : str
        ``digits``, ``diabetes`` or a path (see :func:`fastbp.datasets.load_named`).
    target_column : int, str or None
        The target column of a CSV file: an index, or a header name; None for the last.
    task : str or None
        ``classification``, ``regression`` or None (inferred).
    dtype : str or None
        ``float32`` or ``float64``; None follows the data (see
        :func:`fastbp.datasets.load_named`).
    target : pathlib.Path or None
        The ``--target`` file of a ``.npy`` ``--dataset``.

    Returns
    -------
    fastbp.datasets.Dataset
        The loaded data.

    Raises
    ------
    UsageError
        If ``--dataset`` and ``--target`` do not go together, or ``--target-column`` is given
        for a dataset that is not a CSV file.
    ValueError
        If the loader refuses the name or the file.
    """
    from fastbp.datasets import load_named

    if name.lower().endswith(".npy") != (target is not None):
        raise UsageError("a .npy --dataset needs --target y.npy, and --target needs a .npy one")
    check_target_column(name, target_column)
    column = -1 if target_column is None else target_column
    return load_named(name, target_column=column, task=task, dtype=dtype, target=target)


def model_scalers(net: Network, model: Path) -> tuple[Standardizer | None, Standardizer | None]:
    """The feature and target standardisers saved with a model by ``fastbp train``, checked.

    Parameters
    ----------
    net : fastbp.Network
        The loaded model.
    model : pathlib.Path
        Its file, for error messages.

    Returns
    -------
    tuple of (Standardizer or None, Standardizer or None)
        The feature standardiser (``x_mean``/``x_scale``) and the target one
        (``y_mean``/``y_scale``); None where the file holds none.

    Raises
    ------
    UsageError
        If the arrays are malformed or do not fit the network.
    """
    from fastbp.datasets import Standardizer

    arrays = net.extras
    scalers: list[Standardizer | None] = []
    for prefix, width in (("x", net.spec.n_inputs), ("y", 1)):
        if f"{prefix}_mean" not in arrays and f"{prefix}_scale" not in arrays:
            scalers.append(None)
            continue
        parts: dict[str, Any] = {
            "mean": arrays.get(f"{prefix}_mean"),
            "scale": arrays.get(f"{prefix}_scale"),
        }  # a missing one is None, which from_arrays refuses with a message
        try:
            scaler = Standardizer.from_arrays(parts)
        except ValueError as exc:
            raise UsageError(
                f"model {model}: bad {prefix}_mean/{prefix}_scale arrays: {exc}"
            ) from None
        if scaler.n_features != width or (prefix == "y" and not net.spec.loss_record.standardise_y):
            raise UsageError(
                f"model {model}: {prefix}_mean/{prefix}_scale hold {scaler.n_features} column(s), "
                f"which does not fit the model {net.spec!r}"
            )
        scalers.append(scaler)
    return scalers[0], scalers[1]


def class_names(meta: dict, net: Network, model: Path) -> list[str] | None:
    """``target_names`` from a model's metadata, checked against its classes.

    Parameters
    ----------
    meta : dict
        The model's metadata.
    net : fastbp.Network
        The loaded model.
    model : pathlib.Path
        Its file, for error messages.

    Returns
    -------
    list of str or None
        One name per class, or None if the metadata has none (or the model is multi-label).

    Raises
    ------
    UsageError
        If ``target_names`` is not a list of one string per class.
    """
    names = meta.get("target_names")
    if names is None or (net.spec.output_activation == "sigmoid" and net.spec.n_outputs > 1):
        return None
    n_classes = 2 if net.spec.output_activation == "sigmoid" else net.spec.n_outputs
    if (
        not isinstance(names, list)
        or len(names) != n_classes
        or not all(isinstance(n, str) for n in names)
    ):
        raise UsageError(
            f"model {model}: metadata target_names must be a list of {n_classes} class names, "
            f"got {names!r:.80}"
        )
    return names


def require_matplotlib() -> None:
    """Check that matplotlib is installed before a command that plots starts its work.

    Raises
    ------
    UsageError
        If it is not, naming the extra to install.
    """
    from fastbp.plot import require_matplotlib as require

    try:
        require()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
