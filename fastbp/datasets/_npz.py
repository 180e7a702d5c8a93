"""``.npz`` archives for :func:`fastbp.datasets.load_file`: read with ``allow_pickle=False``,
every member's announced size checked against the file before numpy allocates it.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from fastbp._npz import claims_too_much, read_npy_header

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read X and y from an ``.npz`` archive (``np.savez(path, X=X, y=y)``), without pickle.

    Parameters
    ----------
    path : pathlib.Path
        The archive.

    Returns
    -------
    X : numpy.ndarray
        (n, d) real numbers, finite.
    y : numpy.ndarray
        (n,) real numbers, finite (a (n, 1) column is flattened).

    Raises
    ------
    ValueError
        For a file that is not a zip archive (a pickle, a bare .npy), a damaged archive, object
        arrays, missing keys, wrong shapes, NaN or inf.
    """
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
    zf = archive.zip
    if zf is None:  # np.load always opens the archive; None only after close()
        raise ValueError(f"{path}: the archive is closed")
    try:
        info = zf.getinfo(key + ".npy")
    except KeyError:
        raise ValueError(f"{path}: member {key!r} is not a .npy array") from None
    size = os.path.getsize(path)
    lying = claims_too_much(info, size)
    try:
        shape, dtype, header_len = read_npy_header(zf, info)
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
