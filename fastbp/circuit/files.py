"""The circuit file format: a tape saved as an ``.npz`` archive with a JSON header.

A file holds seven arrays: ``header`` (the UTF-8 bytes of a JSON object, as uint8) and the six
tape arrays ``ops``, ``arg0``, ``arg1``, ``consts``, ``inputs``, ``outputs``.  The header names
the format (:data:`FORMAT_NAME`), its version (:data:`FORMAT_VERSION`), the counts N, l and
n_out, and the op table (``op_names[code]``), so a file written by another op registry is
refused rather than misread.  Files are written through :func:`fastbp.io.write_atomically` and
read with ``allow_pickle=False``.  :meth:`fastbp.circuit.Circuit.save` and
:meth:`~fastbp.circuit.Circuit.load` call :func:`write_tape` and :func:`read_tape`.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from fastbp.circuit import ops as O
from fastbp.circuit.validation import ARRAY_NAMES, as_tape_arrays, check_tape
from fastbp.io import write_atomically

#: ``format`` field of the JSON header of a saved circuit.
FORMAT_NAME = "fastbp.circuit"
#: The only file-format version this code reads and writes.
FORMAT_VERSION = 1


def write_tape(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write a validated tape to ``path`` as an ``.npz`` file with a JSON header, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write; the folder must exist.  An existing file is replaced whole or not at all.
    arrays : mapping of str to numpy.ndarray
        The six tape arrays keyed by :data:`~fastbp.circuit.validation.ARRAY_NAMES` (a
        :class:`~fastbp.circuit.Circuit`'s, already validated).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    """
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "n_nodes": int(arrays["ops"].shape[0]),
        "n_inputs": int(arrays["inputs"].shape[0]),
        "n_outputs": int(arrays["outputs"].shape[0]),
        "op_names": [op.name for op in O.BY_CODE],
    }
    raw = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    tape: dict[str, Any] = {"header": raw, **{name: arrays[name] for name in ARRAY_NAMES}}

    def write(fh: BinaryIO) -> None:
        np.savez(fh, **tape)

    write_atomically(Path(os.fspath(path)), write, "circuit")


def read_tape(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read and validate the tape in a file written by :func:`write_tape`.

    The file is opened with ``allow_pickle=False`` (nothing in it is executed).  Any other
    format, version, set of arrays or op table is refused, and the tape is checked with
    :func:`~fastbp.circuit.validation.check_tape`.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`write_tape` (or :meth:`fastbp.circuit.Circuit.save`).

    Returns
    -------
    dict of str to numpy.ndarray
        The six tape arrays, keyed like :meth:`fastbp.circuit.Circuit.from_arrays`'s arguments.

    Raises
    ------
    ValueError
        If the file is not a fastbp circuit file of this version, or its tape is malformed.
    OSError
        If the file cannot be opened (``FileNotFoundError`` when it does not exist).
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:  # our handle, closed even when numpy fails half-way
        try:
            data = np.load(fh, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds a bare array, not an .npz archive")
            with data:
                keys = set(data.files)
                if keys != {"header", *ARRAY_NAMES}:
                    raise ValueError(
                        f"its arrays are {sorted(keys)}, expected "
                        f"{sorted({'header', *ARRAY_NAMES})}"
                    )
                header = _read_header(data["header"])
                arrays = {name: data[name] for name in ARRAY_NAMES}
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path} is not a fastbp circuit file: {exc}") from None
    for key, name in (("n_nodes", "ops"), ("n_inputs", "inputs"), ("n_outputs", "outputs")):
        if header.get(key) != arrays[name].shape[0]:
            raise ValueError(
                f"{path}: header says {key} = {header.get(key)!r} but array {name!r} has "
                f"shape {arrays[name].shape}"
            )
    tape = as_tape_arrays(*(arrays[name] for name in ARRAY_NAMES))
    check_tape(*tape)
    names = header.get("op_names")
    names = names if isinstance(names, list) else []
    for code in np.unique(tape[0]).tolist():
        theirs = names[code] if code < len(names) else None
        if theirs != O.op_name(code):
            raise ValueError(
                f"{path}: op code {code} means {theirs!r} in the file but {O.op_name(code)!r} here"
            )
    return dict(zip(ARRAY_NAMES, tape, strict=True))


def _read_header(raw: np.ndarray) -> dict[str, Any]:
    """The JSON header of a circuit file, checked for format name and version."""
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError("its header is not a byte string")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise ValueError(f"its header names format {fmt!r}, expected {FORMAT_NAME!r}")
    version = header.get("version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise ValueError(
            f"format version {version!r} is not supported (this fastbp reads version "
            f"{FORMAT_VERSION})"
        )
    return header
