"""The loaders of user data: :func:`load_file` (``.csv`` or ``.npz``, by extension) and
:func:`load_npy` (features memory-mapped from ``.npy``).

Everything here reads with numpy and the standard library: no pickle, no pandas, no scikit-learn.
Bad input is refused with a ValueError that names the file and, where it can, the line and column.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from fastbp.datasets._csv import read_csv
from fastbp.datasets._dataset import TASKS, Dataset, check_dtype, make_dataset
from fastbp.datasets._npz import read_npz
from fastbp.spec import DTYPES
from fastbp.validate import as_path

SUPPORTED_EXTENSIONS = (".csv", ".npz")


def load_file(
    path: str | os.PathLike,
    target_column: int | str = -1,
    dtype: str | type | np.dtype | None = "float64",
    delimiter: str | None = ",",
    task: str | None = None,
) -> Dataset:
    """Load a numeric data set from a ``.csv`` or ``.npz`` file.

    CSV (``.csv``)
        UTF-8 text (a byte-order mark is ignored), one example per line, cells separated by
        ``delimiter`` (one character; ``None`` splits on runs of whitespace); double quotes
        around a cell are allowed. Every cell must be a finite number. The first non-blank line is
        a header when none of its cells is a number; its names become ``feature_names`` and the
        target's name. Lines that are empty or hold only whitespace are skipped. Column
        ``target_column`` (an index, negative counting from the end, or a header name) is y;
        all other columns, in order, are X. At least two columns are needed.
    NumPy archive (``.npz``)
        Written by ``np.savez(path, X=X, y=y)``: X a 2-D numeric array (n, d) and y a numeric
        array of shape (n,) or (n, 1), stored under ``"y"`` or ``"Y"``; other keys are ignored.
        The file is read with ``allow_pickle=False``: object arrays are refused and a pickle
        renamed ``.npz`` is never unpickled. ``target_column`` and ``delimiter`` do not apply.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its extension (case-insensitive) picks the format.
    target_column : int
        CSV only: which column holds the target (default: the last).
    dtype : str or None
        ``"float32"`` or ``"float64"``: the dtype of X (and of y for regression); None follows
        the file: float32 for an ``.npz`` whose X is float32, float64 otherwise.
    delimiter : str
        CSV only: the cell separator.
    task : str or None
        ``"classification"``, ``"regression"``, or ``None`` to infer it: classification if and
        only if every target is a whole number (an integer dtype, or floats with no fractional
        part) and there are at most 50 distinct targets; regression otherwise. A guess of
        more than 10 classes (counts?) or fewer than 5 rows per class is doubtful: the dataset's
        ``task_note`` states it and names the override (``task="regression"``).  A target with
        one distinct value is refused (there is nothing to learn) unless the task is given. For
        classification y becomes int64 labels 0..K−1 in sorted order of the distinct target
        values, and ``target_names`` holds those values as strings (``"3"``, not ``"3.0"``);
        an explicit ``task="classification"`` requires whole-number targets but has no limit
        on K.

    Returns
    -------
    Dataset
        Named after the file's stem. Feature names come from the CSV header, else ``"x0"``,
        ``"x1"``, ...; the regression target's name from the header, else ``"y"``.

    Raises
    ------
    ValueError
        For an unsupported extension, an empty file, ragged rows, text, empty, NaN or inf
        cells, values that overflow float32, a damaged or non-zip ``.npz``, object arrays,
        missing keys, or X and y with different numbers of rows. The message names the file
        and, for CSV, the line and column (both counted from 1).
    FileNotFoundError
        If ``path`` does not exist.
    """
    p = as_path(path)
    dt = None if dtype is None else check_dtype(dtype)
    if task is not None and task not in TASKS:
        raise ValueError(f"task = {task!r} is unknown; allowed: {list(TASKS)} or None to infer")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ValueError(
            f"{p}: unsupported file extension {p.suffix!r}; supported: "
            f"{', '.join(SUPPORTED_EXTENSIONS)}"
        )
    if suffix == ".csv":
        X, y, feature_names, target_name = read_csv(p, target_column, delimiter)
    else:
        X, y = read_npz(p)
        feature_names = tuple(f"x{j}" for j in range(X.shape[1]))
        target_name = "y"
    if dt is None:
        dt = np.dtype(X.dtype if X.dtype.name in DTYPES else np.float64)
    return make_dataset(p, X, y, feature_names, target_name, dt, task)


def load_npy(
    X_path: str | os.PathLike,
    y_path: str | os.PathLike,
    dtype: str | type | np.dtype | None = None,
    task: str | None = None,
) -> Dataset:
    """Memory-map features from one ``.npy`` file and read targets from another.

    X is opened with ``np.load(X_path, mmap_mode="r")``: nothing of it is read into memory here
    but a finiteness check, block by block.  It must be a 2-D float32 or float64 array; it is not
    converted (a network of another dtype converts it chunk by chunk while training).  y (shape
    (n,) or (n, 1), read whole, ``allow_pickle=False``) becomes labels or regression targets as in
    :func:`load_file`; regression targets take X's dtype, as a :class:`Dataset` requires, whatever
    ``dtype`` says.  Neither file is ever unpickled.

    Parameters
    ----------
    X_path, y_path : str or os.PathLike
        The two ``.npy`` files.
    dtype : {"float32", "float64"} or None
        The dtype the data will be trained in, checked; it converts nothing here (X stays
        memory-mapped in its own dtype and the targets follow X), so that a float32 file trains
        in float64 (or the reverse) without a whole copy.  None: X's.
    task : {"classification", "regression"} or None
        As in :func:`load_file`.

    Returns
    -------
    Dataset
        Whose ``X`` is a read-only :class:`numpy.memmap`.

    Raises
    ------
    ValueError
        For a file that is not a ``.npy`` array (a pickle, an object array), wrong shapes or
        dtypes, NaN or inf, or row counts that differ.
    """
    from fastbp.rows import block_rows, row_blocks

    px, py = as_path(X_path, "X_path"), as_path(y_path, "y_path")
    arrays = []
    modes: tuple[tuple[Path, Literal["r"] | None], ...] = ((px, "r"), (py, None))
    for p, mode in modes:
        if p.suffix.lower() != ".npy":
            raise ValueError(f"{p}: expected a .npy file (np.save), got {p.suffix!r}")
        try:
            arrays.append(np.load(p, mmap_mode=mode, allow_pickle=False))
        except FileNotFoundError:
            raise
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{p}: not a readable .npy array ({exc})") from None
    X, y = arrays
    if X.ndim != 2 or X.dtype.name not in DTYPES:
        raise ValueError(f"{px}: X must be a 2-D float32 or float64 array, got {X.shape} {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{px}: X is empty (shape {X.shape})")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "biuf":
        raise ValueError(f"{py}: y must be numeric with shape (n,) or (n, 1), got {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{py}: y has {y.shape[0]} rows but X has {X.shape[0]}; they must match")
    for s in row_blocks(X.shape[0], block_rows(X[:1].nbytes)):
        if not np.isfinite(X[s]).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(X[s]))[0])
            raise ValueError(
                f"{px}: X contains NaN or inf (first at index {(where[0] + s.start, where[1])})"
            )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{py}: y contains NaN or inf; clean the data first")
    if dtype is not None:
        check_dtype(dtype)
    names = tuple(f"x{j}" for j in range(X.shape[1]))
    return make_dataset(px, X, y, names, "y", X.dtype, task, keep_x=True)
