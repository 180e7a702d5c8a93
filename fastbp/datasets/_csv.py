"""Numeric CSV files for :func:`fastbp.datasets.load_file`: a header row or none, quoted cells,
any one-character delimiter or whitespace, and errors that name the line and column.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")
_Record = tuple[int, list[str]]


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


def read_csv(
    path: Path, target_column: int | str, delimiter: str | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """Read a numeric CSV file: the format :func:`fastbp.datasets.load_file` documents.

    Well-formed files go through one ``np.loadtxt``; any other is scanned cell by cell so that
    the error names the first bad line and column.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    target_column : int or str
        Index (negative from the end) or header name of the target column.
    delimiter : str or None
        One character, or None for runs of whitespace.

    Returns
    -------
    X : numpy.ndarray
        (n, d) float64 features.
    y : numpy.ndarray
        (n,) float64 targets.
    feature_names : tuple of str
        From the header, else ``x0, x1, ...``.
    target_name : str
        From the header, else ``"y"``.

    Raises
    ------
    ValueError
        Naming the file and, where it can, the line and column of the problem.
    """
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
