"""Dataset, the two bundled datasets, and CSV / .npz loading for user data.

Everything here reads with numpy and the standard library: no pickle, no pandas, no scikit-learn.
Bad input is refused with a ValueError that names the file and, where it can, the line and column.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import os
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np

from fastbp._npz import claims_too_much, read_npy_header
from fastbp.spec import DTYPES
from fastbp.validate import as_path

TASKS = ("classification", "regression")

#: A target of whole numbers with at most this many distinct values is taken as class labels when
#: ``load_file`` is called with ``task=None``.
MAX_INFERRED_CLASSES = 50

SUPPORTED_EXTENSIONS = (".csv", ".npz")

#: Where the bundled files live (a Traversable, so zipped installs work too).
_DATA_DIR = resources.files(__package__) / "data"

#: SHA-256 of each bundled file: a damaged or replaced file is refused before it is parsed.
_SHA256 = {
    "digits.csv.gz": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
    "diabetes_data_raw.csv.gz": "7fc0ded571454b1982210d3bb43f0aca44eae01a0b8654a3b24022bdb6b38009",
    "diabetes_target.csv.gz": "8e53f65eb811df43c206f3534bb3af0e5fed213bc37ed6ba36310157d6023803",
}

_DIGITS_DESCRIPTION = (
    "Optical recognition of handwritten digits: 1,797 images of 8x8 pixels, 10 classes (the "
    "digits 0-9, 174 to 183 images each). Each pixel is the number of set pixels (0-16) in one "
    "4x4 block of a 32x32 bitmap produced by NIST preprocessing of a scanned form; the images are "
    "the test partition of the data, written by 13 people. Source: E. Alpaydin and C. Kaynak "
    "(1998), Optical Recognition of Handwritten Digits, UCI Machine Learning Repository, "
    "https://doi.org/10.24432/C50P49 (CC BY 4.0), as distributed by scikit-learn (BSD-3-Clause)."
)

_DIABETES_DESCRIPTION = (
    "Diabetes: ten raw baseline measurements for each of 442 patients (age in years; sex coded "
    "1/2; body mass index; average blood pressure; serum measurements s1 total cholesterol, s2 "
    "LDL, s3 HDL, s4 total/HDL cholesterol, s5 log triglycerides, s6 blood sugar) and the target, "
    "a quantitative measure of disease progression one year after baseline (25 to 346). The "
    "features are not centred or scaled. Source: B. Efron, T. Hastie, I. Johnstone and R. "
    "Tibshirani (2004), Least Angle Regression, Annals of Statistics 32(2):407-499, data from "
    "https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html, as distributed by scikit-learn "
    "(BSD-3-Clause)."
)

_T = TypeVar("_T")
_Record = tuple[int, list[str]]

_DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


@dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """Features, targets and what they mean.

    Attributes
    ----------
    X : numpy.ndarray
        (n, d) C-contiguous float32 or float64 features.
    y : numpy.ndarray
        ``task == "classification"``: (n,) int64 labels 0..K−1.
        ``task == "regression"``: (n,) targets of the same dtype as X.
    feature_names : list of str
        d names, one per column of X.
    target_names : list of str
        Classification: K names, ``target_names[k]`` is the class that label k stands for.
        Regression: one name, the target's.
    task : str
        ``"classification"`` or ``"regression"``.
    name : str
        Short name (``"digits"``, ``"diabetes"``, or the file's stem).
    description : str
        One paragraph: what the data is and where it comes from.

    The fields cannot be reassigned; the arrays themselves are ordinary writeable arrays.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    task: str
    name: str
    description: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))
        object.__setattr__(self, "target_names", tuple(str(n) for n in self.target_names))
        X, y = self.X, self.y
        if self.task not in TASKS:
            raise ValueError(f"task = {self.task!r} is unknown; allowed: {list(TASKS)}")
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype.name not in DTYPES:
            raise ValueError("X must be a 2-D float32 or float64 array")
        if not isinstance(y, np.ndarray) or y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be a 1-D array with one entry per row of X ({X.shape[0]})")
        if len(self.feature_names) != X.shape[1]:
            raise ValueError(
                f"feature_names has {len(self.feature_names)} names for {X.shape[1]} columns; "
                f"it needs one per column"
            )
        if self.task == "classification":
            if y.dtype != np.int64:
                raise ValueError(f"classification labels must be int64, got {y.dtype}")
            k = len(self.target_names)
            if y.size and (y.min() < 0 or y.max() >= k):
                raise ValueError(f"labels must lie in 0..{k - 1} (one per target name)")
        elif y.dtype != X.dtype:
            raise ValueError(f"regression targets must have X's dtype {X.dtype}, got {y.dtype}")

    @property
    def n_samples(self) -> int:
        """n, the number of rows of X."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """d, the number of columns of X."""
        return int(self.X.shape[1])

    def __repr__(self) -> str:
        if self.task == "classification":
            k = len(self.target_names)
            target = f"{k} class{'es' if k != 1 else ''}"
        else:
            target = f"target {self.target_names[0]!r}" if self.target_names else "regression"
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, X={self.X.shape} {self.X.dtype}, "
            f"y={self.y.shape} {self.y.dtype}, {target})"
        )


# ---------------------------------------------------------------------------- bundled data


def load_digits(dtype: str | type | np.dtype = "float64") -> Dataset:
    """The UCI optical handwritten digits: 1,797 8x8 images, 10 classes.

    Returns a :class:`Dataset` with X of shape (1797, 64) in ``dtype`` (``"float32"`` or
    ``"float64"``) holding the raw pixel counts 0..16 row by row (``feature_names`` are
    ``"pixel_<row>_<col>"``), y the int64 digit 0..9 and ``target_names`` ``"0"`` to ``"9"``.
    Raises OSError if the bundled file is missing or damaged.

    Parameters
    ----------
    dtype : str or numpy dtype
        ``"float32"`` or ``"float64"``: the dtype of X.

    Returns
    -------
    Dataset
        The data and its description.

    Raises
    ------
    OSError
        If the bundled file is missing or damaged.
    """
    dt = _check_dtype(dtype)
    table = _read_bundled("digits.csv.gz", delimiter=",", shape=(1797, 65))
    X, labels = table[:, :64], table[:, 64]
    if X.min() < 0 or X.max() > 16 or not np.array_equal(labels, np.round(labels)):
        raise OSError(_damaged("digits.csv.gz", "pixel values outside 0..16 or fractional labels"))
    if labels.min() < 0 or labels.max() > 9:
        raise OSError(_damaged("digits.csv.gz", "labels out of range"))
    return Dataset(
        X=np.ascontiguousarray(X, dtype=dt),
        y=labels.astype(np.int64),
        feature_names=tuple(f"pixel_{i}_{j}" for i in range(8) for j in range(8)),
        target_names=tuple(str(k) for k in range(10)),
        task="classification",
        name="digits",
        description=_DIGITS_DESCRIPTION,
    )


def load_diabetes(dtype: str | type | np.dtype = "float64") -> Dataset:
    """The diabetes regression data of Efron et al. (2004): 442 patients, 10 features.

    Returns a :class:`Dataset` with X of shape (442, 10) in ``dtype`` (``"float32"`` or
    ``"float64"``): the raw, unscaled features ``age, sex, bmi, bp, s1..s6`` (sex coded 1/2); y
    is the disease progression one year after baseline (25..346, mean ≈ 152.1) in the same dtype;
    ``target_names`` is ``("progression",)``. Raises OSError if a bundled file is missing or
    damaged.

    Parameters
    ----------
    dtype : str or numpy dtype
        ``"float32"`` or ``"float64"``: the dtype of X.

    Returns
    -------
    Dataset
        The data and its description.

    Raises
    ------
    OSError
        If the bundled file is missing or damaged.
    """
    dt = _check_dtype(dtype)
    X = _read_bundled("diabetes_data_raw.csv.gz", delimiter=None, shape=(442, 10))
    y = _read_bundled("diabetes_target.csv.gz", delimiter=None, shape=(442, 1))
    return Dataset(
        X=np.ascontiguousarray(X, dtype=dt),
        y=np.ascontiguousarray(y[:, 0], dtype=dt),
        feature_names=_DIABETES_FEATURES,
        target_names=("progression",),
        task="regression",
        name="diabetes",
        description=_DIABETES_DESCRIPTION,
    )


def _damaged(file_name: str, why: str) -> str:
    return (
        f"the bundled data file fastbp/datasets/data/{file_name} is damaged ({why}); "
        f"reinstall fastbp"
    )


def _read_bundled(file_name: str, delimiter: str | None, shape: tuple[int, int]) -> np.ndarray:
    """Verify the file's SHA-256, then parse the gzipped text table and check its shape."""
    try:
        raw = (_DATA_DIR / file_name).read_bytes()
    except OSError as exc:
        raise OSError(
            f"the bundled data file fastbp/datasets/data/{file_name} cannot be read ({exc}); "
            f"reinstall fastbp"
        ) from None
    if hashlib.sha256(raw).hexdigest() != _SHA256[file_name]:
        raise OSError(_damaged(file_name, "SHA-256 mismatch"))
    try:
        text = gzip.decompress(raw).decode("ascii")
        table = np.loadtxt(io.StringIO(text), delimiter=delimiter, ndmin=2, dtype=np.float64)
    except (OSError, EOFError, ValueError) as exc:
        raise OSError(_damaged(file_name, str(exc))) from None
    if table.shape != shape:
        raise OSError(_damaged(file_name, f"shape {table.shape}, expected {shape}"))
    if not np.isfinite(table).all():
        raise OSError(_damaged(file_name, "NaN or inf values"))
    return table


# ---------------------------------------------------------------------------- user data


def load_file(
    path: str | os.PathLike,
    target_column: int | str = -1,
    dtype: str | type | np.dtype = "float64",
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
    dtype : str
        ``"float32"`` or ``"float64"``: the dtype of X (and of y for regression).
    delimiter : str
        CSV only: the cell separator.
    task : str or None
        ``"classification"``, ``"regression"``, or ``None`` to infer it: classification if and
        only if every target is a whole number (an integer dtype, or floats with no fractional
        part) and there are at most 50 distinct targets; regression otherwise. For
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
    dt = _check_dtype(dtype)
    if task is not None and task not in TASKS:
        raise ValueError(f"task = {task!r} is unknown; allowed: {list(TASKS)} or None to infer")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ValueError(
            f"{p}: unsupported file extension {p.suffix!r}; supported: "
            f"{', '.join(SUPPORTED_EXTENSIONS)}"
        )
    if suffix == ".csv":
        X, y, feature_names, target_name = _read_csv(p, target_column, delimiter)
    else:
        X, y = _read_npz(p)
        feature_names = tuple(f"x{j}" for j in range(X.shape[1]))
        target_name = "y"
    return _make_dataset(p, X, y, feature_names, target_name, dt, task)


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
    :func:`load_file`.  Neither file is ever unpickled.

    Parameters
    ----------
    X_path, y_path : str or os.PathLike
        The two ``.npy`` files.
    dtype : {"float32", "float64"} or None
        The regression targets' dtype; None uses X's.
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
    for p, mode in ((px, "r"), (py, None)):
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
    dt = X.dtype if dtype is None else _check_dtype(dtype)
    names = tuple(f"x{j}" for j in range(X.shape[1]))
    return _make_dataset(px, X, y, names, "y", dt, task, keep_x=True)


def _make_dataset(
    path: Path,
    X: np.ndarray,
    y: np.ndarray,
    feature_names: tuple[str, ...],
    target_name: str,
    dtype: np.dtype,
    task: str | None,
    keep_x: bool = False,
) -> Dataset:
    if keep_x:  # a memory map, checked by the caller: used as it is
        X_out = X
    else:
        with np.errstate(over="ignore"):  # overflow to inf is reported below, with its index
            X_out = np.ascontiguousarray(X, dtype=dtype)
        _check_finite_cast(path, X_out, "X")
    whole = y.dtype.kind in "biu" or bool(np.all(y == np.floor(y)))
    classes = np.unique(y)
    if task is None:
        task = "classification" if whole and classes.size <= MAX_INFERRED_CLASSES else "regression"
    if task == "classification":
        if not whole:
            bad = float(y[y != np.floor(y)][0])
            raise ValueError(
                f"{path}: task='classification' needs whole-number class labels in "
                f"{target_name!r}, found {bad}"
            )
        labels = np.searchsorted(classes, y).astype(np.int64)
        target_names = tuple(str(int(c)) for c in classes)
        y_out = labels
    else:
        with np.errstate(over="ignore"):
            y_out = np.ascontiguousarray(y, dtype=dtype)
        _check_finite_cast(path, y_out, target_name)
        target_names = (target_name,)
    return Dataset(
        X=X_out,
        y=y_out,
        feature_names=feature_names,
        target_names=target_names,
        task=task,
        name=path.stem,
        description=(
            f"{X_out.shape[0]} examples with {X_out.shape[1]} features and a {task} target "
            f"{target_name!r}, loaded from {path}."
        ),
    )


def _check_finite_cast(path: Path, arr: np.ndarray, what: str) -> None:
    """Finite before the cast was checked; an inf now means the value overflowed the dtype."""
    if not np.isfinite(arr).all():
        where = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{path}: {what} has a value too large for {arr.dtype} (first at index "
            f"{tuple(int(i) for i in where)}); rescale it or use dtype='float64'"
        )


def _check_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype = {dtype!r} is not supported; allowed: {list(DTYPES)}")
    return dt


# ---------------------------------------------------------------------------- CSV


def _records(f: io.TextIOBase, delimiter: str | None) -> Iterator[_Record]:
    """(line number, cells) of each non-blank record of an open text file."""
    if delimiter is None:
        for line_no, line in enumerate(f, start=1):
            cells = line.split()
            if cells:
                yield line_no, cells
        return
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValueError(f"line {reader.line_num}: {exc}") from None
        if cells and not (len(cells) == 1 and not cells[0].strip()):
            yield reader.line_num, cells


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_csv(
    path: Path, target_column: int | str, delimiter: str | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n'
    ):
        raise ValueError(
            f"delimiter must be a single character other than a quote or newline, or None for "
            f"whitespace; got {delimiter!r}"
        )
    first = _with_path(path, lambda records: next(records, None), delimiter)
    if first is None:
        raise ValueError(f"{path}: the file is empty (no data rows)")
    first_line, first_cells = first
    has_header = not any(_is_number(c) for c in first_cells) and any(c.strip() for c in first_cells)
    n_cols = len(first_cells)
    header_lines = first_line if has_header else 0
    if n_cols < 2:
        hint = f"; is the delimiter {delimiter!r} right?" if delimiter is not None else ""
        raise ValueError(
            f"{path}: line {first_line} has a single column; need at least two (features and "
            f"a target){hint}"
        )
    table = _loadtxt_fast(path, delimiter, header_lines, n_cols)
    if table is None:
        table = _with_path(path, lambda records: _scan(records, header_lines, n_cols), delimiter)
    names = [c.strip() or f"x{j}" for j, c in enumerate(first_cells)] if has_header else None
    t = _target_index(path, target_column, names, n_cols)
    feature_cols = [j for j in range(n_cols) if j != t]
    if names is None:
        feature_names = tuple(f"x{i}" for i in range(len(feature_cols)))
        target_name = "y"
    else:
        feature_names = tuple(names[j] for j in feature_cols)
        target_name = names[t]
    return table[:, feature_cols], table[:, t].copy(), feature_names, target_name


def _with_path(path: Path, consume: Callable[[Iterator[_Record]], _T], delimiter: str | None) -> _T:
    """Run ``consume`` on the file's records; prefix any error with the file name."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return consume(_records(f, delimiter))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file; expected numeric CSV") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _target_index(path: Path, target_column: object, names: list[str] | None, n_cols: int) -> int:
    if isinstance(target_column, str):
        if names is None:
            raise ValueError(
                f"{path}: target_column={target_column!r} names a column, but the file has no "
                f"header row; pass an index instead"
            )
        hits = [j for j, name in enumerate(names) if name == target_column]
        if len(hits) != 1:
            what = "is not a column" if not hits else "names more than one column"
            raise ValueError(
                f"{path}: target_column={target_column!r} {what}; it must name exactly one of "
                f"the columns {names} (or be an index)"
            )
        return hits[0]
    if isinstance(target_column, (bool, np.bool_)) or not isinstance(
        target_column, (int, np.integer)
    ):
        raise ValueError(f"target_column must be an int or a header name, got {target_column!r}")
    if not -n_cols <= target_column < n_cols:
        raise ValueError(
            f"{path}: target_column={target_column} is out of range for {n_cols} columns"
        )
    return int(target_column) % n_cols


def _loadtxt_fast(
    path: Path, delimiter: str | None, header_lines: int, n_cols: int
) -> np.ndarray | None:
    """np.loadtxt for well-formed files; None when the file needs the slow, precise scan."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the scan reports it
            table = np.loadtxt(
                path,
                delimiter=delimiter,
                comments=None,
                skiprows=header_lines,
                quotechar='"' if delimiter is not None else None,
                encoding="utf-8-sig",
                ndmin=2,
                dtype=np.float64,
            )
    except ValueError:
        return None
    if table.shape[0] == 0 or table.shape[1] != n_cols or not np.isfinite(table).all():
        return None
    return table


def _scan(records: Iterator[_Record], header_lines: int, n_cols: int) -> np.ndarray:
    """Parse cell by cell; raise at the first bad cell, naming its line and column."""
    blocks: list[np.ndarray] = []
    rows: list[list[float]] = []
    for line_no, cells in records:
        if line_no <= header_lines:
            continue
        if len(cells) != n_cols:
            raise ValueError(
                f"line {line_no} has {len(cells)} cells, expected {n_cols} as in the first "
                f"{'(header) ' if header_lines else ''}row; rows must not be ragged"
            )
        rows.append([_parse_cell(line_no, j, c) for j, c in enumerate(cells)])
        if len(rows) == 65536:
            blocks.append(np.array(rows, dtype=np.float64))
            rows = []
    if rows:
        blocks.append(np.array(rows, dtype=np.float64))
    if not blocks:
        raise ValueError("the file has a header row but no data rows; at least one is needed")
    return np.concatenate(blocks)


def _parse_cell(line_no: int, j: int, cell: str) -> float:
    s = cell.strip()
    where = f"line {line_no}, column {j + 1}"
    if not s:
        raise ValueError(f"{where}: empty cell; every cell must hold a number")
    try:
        v = float(s)
    except ValueError:
        shown = s if len(s) <= 40 else s[:37] + "..."
        raise ValueError(f"{where}: {shown!r} is not a number") from None
    if not math.isfinite(v):
        kind = "NaN" if math.isnan(v) else "infinite"
        raise ValueError(f"{where}: {s!r} is {kind}; clean the data first")
    return v


# ---------------------------------------------------------------------------- .npz

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # np.load is handed an open file so that it is closed even when the archive is damaged.
    with open(path, "rb") as f:
        head = f.read(6)
        if not head:
            raise ValueError(f"{path}: the file is empty")
        if not head.startswith(_ZIP_MAGIC):
            if head.startswith(b"\x93NUMPY"):
                kind = "a single-array .npy file"
            elif head[:1] == b"\x80":
                kind = "a pickle, which is never loaded because unpickling can run code"
            else:
                kind = "not a zip archive"
            raise ValueError(
                f"{path}: not an .npz archive ({kind}); write one with np.savez(path, X=X, y=y)"
            )
        f.seek(0)
        try:
            with np.load(f, allow_pickle=False) as archive:
                X, y, y_key = _npz_arrays(path, archive)
        except (
            OSError,
            EOFError,
            zipfile.BadZipFile,
            zlib.error,
            RuntimeError,
            NotImplementedError,
        ) as exc:  # RuntimeError: an encrypted member; NotImplementedError: unknown compression
            raise ValueError(f"{path}: damaged .npz archive ({exc})") from None
    if X.ndim != 2:
        raise ValueError(f"{path}: X must be 2-D (n, d), got shape {X.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{path}: {y_key} must have shape (n,) or (n, 1), got {y.shape}; for one-hot "
            f"labels store {y_key}.argmax(axis=1)"
        )
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"{path}: X has {X.shape[0]} rows but {y_key} has {y.shape[0]}; they must match"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{path}: X is empty (shape {X.shape})")
    for name, arr in (("X", X), (y_key, y)):
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(
                f"{path}: {name} contains NaN or inf (first at index {where}); clean the data first"
            )
    return X, y


def _npz_arrays(path: Path, archive: np.lib.npyio.NpzFile) -> tuple[np.ndarray, np.ndarray, str]:
    keys = set(archive.files)
    if "y" in keys and "Y" in keys:
        raise ValueError(f"{path}: holds both 'y' and 'Y'; keep only one of them")
    y_key = "Y" if "Y" in keys else "y"
    missing = [k for k in ("X", y_key) if k not in keys]
    if missing:
        raise ValueError(
            f"{path}: missing array(s) {missing}; expected 'X' and 'y' (or 'Y'), "
            f"found {sorted(keys) or 'no arrays'}"
        )
    return _npz_array(path, archive, "X"), _npz_array(path, archive, y_key), y_key


def _npz_array(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    _check_npy_member(path, archive, key)
    try:
        arr = archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise ValueError(
                f"{path}: array {key!r} holds Python objects (dtype=object); such arrays would "
                f"need pickle to load and are refused, store a numeric array"
            ) from None
        raise ValueError(f"{path}: array {key!r} cannot be read ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{path}: member {key!r} is not a .npy array")
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"{path}: array {key!r} has dtype {arr.dtype}; expected real numbers "
            f"(bool, integer or float)"
        )
    return arr


def _check_npy_member(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> None:
    """Refuse a member whose .npy header announces more data than the archive holds.

    np.load allocates the announced shape before it reads, so a few hostile bytes could
    otherwise ask for terabytes.
    """
    try:
        info = archive.zip.getinfo(key + ".npy")
    except KeyError:
        raise ValueError(f"{path}: member {key!r} is not a .npy array") from None
    size = os.path.getsize(path)
    lying = claims_too_much(info, size)
    try:
        shape, dtype, header_len = read_npy_header(archive.zip, info)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path}: array {key!r} is damaged or not a .npy array ({exc})") from None
    except (RuntimeError, NotImplementedError) as exc:
        raise ValueError(f"{path}: array {key!r} cannot be read ({exc})") from None
    n_bytes = math.prod(shape) * dtype.itemsize
    if lying or (not dtype.hasobject and header_len + n_bytes != info.file_size):
        raise ValueError(
            f"{path}: array {key!r} announces shape {shape} of {dtype} ({n_bytes} bytes) but the "
            f"{size}-byte file holds {max(info.file_size - header_len, 0)}; the file is damaged"
        )
