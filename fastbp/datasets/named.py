"""Load a dataset by name or path: the one rule that ``fastbp train``, ``fastbp curvature``,
``fastbp sweep`` and :func:`fastbp.sweep.prepare_data` share for what ``--dataset`` means."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# From the defining modules, not the package: fastbp.datasets imports this module, so importing
# the package here would be an import circle.
from fastbp.datasets._bundled import load_diabetes, load_digits
from fastbp.datasets._dataset import Dataset
from fastbp.datasets._user import load_file, load_npy

#: The bundled datasets :func:`load_named` knows by name.
BUNDLED = ("digits", "diabetes")


def load_named(
    name: str | os.PathLike[str],
    target_column: int | str = -1,
    task: str | None = None,
    dtype: str | type | np.dtype | None = None,
    target: str | os.PathLike[str] | None = None,
) -> Dataset:
    """A bundled dataset by name, or a user dataset by path.

    * ``"digits"`` or ``"diabetes"``: :func:`load_digits` / :func:`load_diabetes`.
    * a ``.npy`` file of features, with ``target`` a ``.npy`` file of one target per row:
      :func:`load_npy` (memory-mapped, never read whole).
    * any other existing file (``.csv``, ``.npz``): :func:`load_file`.

    Parameters
    ----------
    name : str or os.PathLike
        ``"digits"``, ``"diabetes"`` or a path.
    target_column : int or str
        The target column of a CSV file (index or header name; default: the last).
    task : {"classification", "regression"} or None
        The task of a file dataset; None infers it (see :func:`load_file`).
    dtype : str, type, numpy.dtype or None
        ``float32`` or ``float64``; None follows the data: float64 for the bundled datasets and
        CSV files, the array's dtype for ``.npz`` and ``.npy`` files (a ``.npy`` X is never
        converted, whatever ``dtype`` says: see :func:`load_npy`).
    target : str, os.PathLike or None
        The ``.npy`` file of targets that a ``.npy`` ``name`` needs (and only then).

    Returns
    -------
    Dataset
        The features, targets, task and class names.

    Raises
    ------
    ValueError
        If ``name`` is neither a bundled name nor an existing file, if a ``.npy`` ``name`` comes
        without ``target`` (or ``target`` without one), or if the loader refuses the file.
    """
    text = os.fspath(name)
    if text.lower().endswith(".npy") or target is not None:
        if not (text.lower().endswith(".npy") and target is not None):
            raise ValueError(
                "a .npy dataset needs a .npy file of targets (target=), and target= needs a "
                f".npy dataset; got {text!r} and target={target!r}"
            )
        for path in (Path(text), Path(target)):
            if not path.is_file():
                raise ValueError(f"{path} is not an existing file")
        return load_npy(text, target, dtype=dtype, task=task)
    if text == "digits":
        return load_digits("float64" if dtype is None else dtype)
    if text == "diabetes":
        return load_diabetes("float64" if dtype is None else dtype)
    path = Path(text)
    if not path.exists():
        raise ValueError(f"dataset {text!r} is neither 'digits', 'diabetes' nor an existing file")
    return load_file(path, target_column=target_column, task=task, dtype=dtype)
