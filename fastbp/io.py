"""The fastbp model file: a network's spec, parameters and training record in one ``.npz``.

File format (``format = "fastbp-model"``, ``format_version`` 1, 2 or 3)
----------------------------------------------------------------------
A model file is a zip archive written by :func:`numpy.savez` (uncompressed, ``ZIP_STORED``: the
parameters are close to random bits and do not compress).  It starts with the zip signature
``PK\\x03\\x04``; the conventional extension is ``.fastbp``, but any name is kept as given.  Every
member is a ``.npy`` array; the archive holds exactly these members and no others:

``header.npy``
    1-D ``uint8`` array: the UTF-8 bytes of one JSON object (at most :data:`MAX_HEADER_BYTES`),
    never a pickled string.  Its fields, all always present:

    ``format``          ``"fastbp-model"``
    ``format_version``  ``3`` when the spec uses a field of version 3 (a loss parameter,
                        ``huber_delta`` or ``quantile``, or ``dropout``), else ``2`` when
                        ``optimizer`` uses a setting of version 2 (``weight_decay``, ``"adamw"``),
                        else ``1``: older fastbp reads the rest
    ``fastbp_version``  version of fastbp that wrote the file, e.g. ``"0.1.0"``
    ``created``         UTC time of writing, ISO 8601, e.g. ``"2025-01-31T12:00:00Z"``
    ``spec``            ``NetworkSpec.to_dict()``: ``widths``, ``activations``, ``loss``, ``dtype``
                        (version 3: the loss's parameter; ``dropout``, one rate per hidden
                        layer, if any > 0)
    ``dtype``           ``"float32"`` or ``"float64"`` (equal to ``spec["dtype"]``)
    ``n_params``        length of ``params`` (equal to ``NetworkSpec.n_params``)
    ``init``            initialiser name, or null
    ``seed``            integer seed, or null (a Generator or other seed object is not recorded)
    ``optimizer``       object of optimizer settings, or null
    ``history``         object of per-epoch lists (e.g. ``{"loss": [...]}``), or null
    ``metadata``        free-form object of user information, or null
    ``arrays``          list of the names ``<name>`` stored as ``extra/<name>.npy``
    ``optimizer_state`` list of the names stored as ``optim/<name>.npy``, or null if none was saved

    The JSON is strict (no bare ``NaN``/``Infinity`` tokens, which most JSON readers refuse).
    Inside ``optimizer``, ``history`` and ``metadata`` a non-finite float is written as one of
    the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, and those three exact strings are read
    back as floats; so a diverged epoch's NaN loss survives a round trip.  NumPy scalars and
    arrays in these fields are stored as plain JSON numbers and lists.

``params.npy``
    1-D array of ``n_params`` values in the spec's dtype, laid out as described in
    :mod:`fastbp.lowering`: ``[W[1] (row-major) | b[1] | ... | W[r] | b[r]]``; all finite.

``extra/<name>.npy``
    Optional extra numeric arrays (bool, integer or float), e.g. a feature standardizer's
    ``mean`` and ``scale``.  ``<name>`` matches ``[A-Za-z_][A-Za-z0-9_]*`` (at most 64 chars).

``optim/<name>.npy``
    Optional optimizer state (e.g. momentum ``velocity``), numeric arrays, same naming rule.

Writing is atomic: the archive goes to a temporary file in the target's directory, is flushed
and fsynced, then renamed over the target with :func:`os.replace`.  A failed or interrupted save
leaves any previous file untouched.  When the save fails with an exception (including Ctrl-C) its
temporary file is removed; a process killed outright in the middle of a save (SIGKILL, a crash,
power loss) cannot clean up, and may leave a hidden ``.<name>.<random>.tmp`` file beside the
target, which fastbp never reads and which can be deleted.  Non-finite parameters are refused,
so fastbp never writes a model it would refuse to load.

Reading never executes anything from the file: arrays are read with ``allow_pickle=False``, and
every member's ``.npy`` header (shape and dtype) is checked against the spec and against the
bytes the archive really holds *before* any array is allocated, so a damaged or hostile file
cannot make fastbp allocate more than the file's own size (at most deflate's ~1032:1 expansion
of it, for members that another tool compressed; :func:`numpy.savez_compressed` archives are
read too).  Anything unexpected raises :class:`ModelFileError` naming the file and the problem.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from fastbp._npz import claims_too_much, read_npy_header
from fastbp.format_version import spec_fields_v3, spec_version, version_for
from fastbp.jsonable import from_json, to_json
from fastbp.spec import NetworkSpec
from fastbp.validate import as_path

FORMAT_NAME = "fastbp-model"
FORMAT_VERSION = 3
#: Format versions this fastbp can read.
SUPPORTED_VERSIONS = (1, 2, 3)

#: Refuse headers larger than this (a history of a million epochs still fits easily).
MAX_HEADER_BYTES = 64 * 2**20

_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_EXTRA, _OPTIM = "extra/", "optim/"
_HEADER_FIELDS = (
    "format",
    "format_version",
    "fastbp_version",
    "created",
    "spec",
    "dtype",
    "n_params",
    "init",
    "seed",
    "optimizer",
    "history",
    "metadata",
    "arrays",
    "optimizer_state",
)
#: What reading a damaged archive or member can raise (CRC errors are BadZipFile, bad deflate
#: streams zlib.error, short reads EOFError/ValueError, encrypted members RuntimeError).
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    KeyError,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUPPORTED_VERSIONS",
    "LoadedModel",
    "ModelFileError",
    "load_model",
    "read_header",
    "save_model",
]


class ModelFileError(ValueError):
    """A model file is damaged, foreign, or disagrees with its spec."""


@dataclass(frozen=True)
class LoadedModel:
    """What :func:`load_model` returns.

    Parameters
    ----------
    spec : NetworkSpec
        The validated spec.
    params : numpy.ndarray
        1-D array of ``spec.n_params`` finite values in the spec's dtype.
    header : dict
        The decoded JSON header (see the module docstring for its fields).
    arrays : dict of str to numpy.ndarray
        Extra named arrays (``extra/<name>``); empty if none were saved.
    optimizer_state : dict of str to numpy.ndarray, or None
        Optimizer state arrays (``optim/<name>``), or None if none were saved.
    """

    spec: NetworkSpec
    params: np.ndarray
    header: dict
    arrays: dict[str, np.ndarray]
    optimizer_state: dict[str, np.ndarray] | None

    @property
    def init(self) -> str | None:
        """The initialiser's name, or None."""
        return self.header["init"]

    @property
    def seed(self) -> int | None:
        """The initialiser's seed, or None."""
        return self.header["seed"]

    @property
    def optimizer(self) -> dict | None:
        """The optimizer's settings (:meth:`fastbp.optim.Optimizer.settings`), or None."""
        return self.header["optimizer"]

    @property
    def history(self) -> dict | None:
        """The last fit's history (:meth:`fastbp.History.to_dict`), or None."""
        return self.header["history"]

    @property
    def metadata(self) -> dict | None:
        """The metadata saved with the network, or None."""
        return self.header["metadata"]


# ---------------------------------------------------------------------------------- saving
def save_model(
    path: str | os.PathLike,
    spec: NetworkSpec,
    params: np.ndarray,
    *,
    init: str | None = None,
    seed: object = None,
    optimizer: Mapping[str, Any] | None = None,
    history: Mapping[str, Any] | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    optimizer_state: Mapping[str, np.ndarray] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model file atomically and return its path (exactly as given).

    ``params`` must be a flat array of ``spec.n_params`` finite values of the spec's dtype (it is
    not converted: a dtype mismatch is a ValueError).  ``seed`` is recorded only if it is an
    integer (else null).  ``optimizer``, ``history`` and ``metadata`` must be JSON-representable
    mappings (NumPy scalars and numeric arrays are converted to plain numbers and lists).
    ``arrays`` and ``optimizer_state`` map names to numeric arrays.

    Raises TypeError for wrong argument types and object/string arrays, ValueError for wrong
    params shape or dtype, non-finite params, bad names or an oversized header, and
    FileNotFoundError/NotADirectoryError/IsADirectoryError when the path cannot hold a file.
    Nothing is written unless every check passes; an existing file is replaced only once the new
    one is complete on disk.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write; the path is kept exactly as given.
    spec : NetworkSpec
        The network's spec.
    params : numpy.ndarray
        The flat parameter buffer (finite, ``spec``'s dtype and size).
    init, seed : optional
        The initialiser name and seed, recorded in the header.
    optimizer : mapping, optional
        The optimizer's settings.
    history : mapping, optional
        The training history (``History.to_dict()``).
    arrays : mapping of str to numpy.ndarray, optional
        Extra numeric arrays, stored as ``extra/<name>``.
    optimizer_state : mapping of str to numpy.ndarray, optional
        The optimizer state, stored as ``optim/<name>``.
    metadata : mapping, optional
        JSON-ready metadata.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        For non-finite parameters or arguments that cannot be stored; nothing is written.
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
    params = _check_params_for_save(params, spec)
    if init is not None and not isinstance(init, str):
        raise TypeError(f"init must be a name or None, got {type(init).__name__}")
    extra = _check_named_arrays(arrays, "arrays")
    optim = (
        None if optimizer_state is None else _check_named_arrays(optimizer_state, "optimizer_state")
    )

    from fastbp._version import __version__

    header = {
        "format": FORMAT_NAME,
        "format_version": version_for(optimizer, spec),
        "fastbp_version": __version__,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "spec": spec.to_dict(),
        "dtype": spec.dtype,
        "n_params": spec.n_params,
        "init": init,
        "seed": _seed_for_header(seed),
        "optimizer": _mapping_for_header(optimizer, "optimizer"),
        "history": _mapping_for_header(history, "history"),
        "metadata": _mapping_for_header(metadata, "metadata"),
        "arrays": list(extra),
        "optimizer_state": None if optim is None else list(optim),
    }
    header_bytes = json.dumps(header, allow_nan=False, ensure_ascii=False).encode("utf-8")
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError(
            f"the model header would take {len(header_bytes)} bytes (limit {MAX_HEADER_BYTES}); "
            f"store long records as extra arrays instead"
        )
    members: dict[str, np.ndarray] = {
        "header": np.frombuffer(header_bytes, dtype=np.uint8),
        "params": params,
    }
    members.update({_EXTRA + name: arr for name, arr in extra.items()})
    if optim is not None:
        members.update({_OPTIM + name: arr for name, arr in optim.items()})

    path = as_path(path)
    _write_atomically(path, members)
    return path


def _check_params_for_save(params: object, spec: NetworkSpec) -> np.ndarray:
    arr = np.asarray(params)
    if arr.dtype.hasobject or arr.dtype.kind not in "biuf":
        raise TypeError(f"params has dtype {arr.dtype}; expected a {spec.dtype} array")
    if arr.ndim != 1 or arr.shape[0] != spec.n_params:
        raise ValueError(
            f"params must be a flat array of {spec.n_params} values for {spec!r}, "
            f"got shape {arr.shape}"
        )
    if arr.dtype != spec.np_dtype:
        raise ValueError(
            f"params has dtype {arr.dtype} but the spec says {spec.dtype}; "
            f"convert explicitly with params.astype({spec.dtype!r})"
        )
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        raise ValueError(
            f"params contain {bad} NaN or inf value(s); refusing to save a broken model "
            f"(restore the last good parameters first)"
        )
    return arr


def _check_named_arrays(arrays: Mapping[str, object] | None, what: str) -> dict[str, np.ndarray]:
    if arrays is None:
        return {}
    if not isinstance(arrays, Mapping):
        raise TypeError(f"{what} must be a mapping of names to arrays, got {type(arrays).__name__}")
    out = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(
                f"{what} name {name!r} is not allowed; use letters, digits and underscores "
                f"(not starting with a digit, at most 64 characters)"
            )
        arr = np.asarray(value)
        if arr.dtype.hasobject or arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{what}[{name!r}] has dtype {arr.dtype}; model files hold only numeric "
                f"(bool, integer, float) arrays, never objects or strings"
            )
        out[name] = arr
    return out


def _seed_for_header(seed: object) -> int | None:
    if isinstance(seed, (bool, np.bool_)):
        return None
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    return None


def _mapping_for_header(value: Mapping[str, Any] | None, what: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping or None, got {type(value).__name__}")
    return to_json(value, what, nonfinite="token")


def _write_atomically(path: Path, members: dict[str, np.ndarray]) -> None:
    # A file object, not a name: np.savez would append ".npz" to a name.  (NumPy's stubs type
    # the keyword arrays as its allow_pickle flag, hence the ignore.)
    write_atomically(path, lambda f: np.savez(f, **members), "model")  # type: ignore[arg-type]


def write_atomically(path: Path, write: Callable[[BinaryIO], object], what: str) -> None:
    """Write a file so that ``path`` always holds either its old or its new content, whole.

    ``write(f)`` fills a temporary file in ``path``'s folder; it is flushed, fsynced, given the
    permissions the file would get, and renamed over ``path``; then the folder is fsynced.  On any
    error (a crash, Ctrl-C) the temporary file is removed and ``path`` is untouched.  Used for
    model files, ONNX files and state dicts (``what`` names the kind in error messages).
    """
    parent = path.parent
    if not parent.exists():
        raise FileNotFoundError(f"cannot save {what} to {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot save {what} to {path}: {parent} is not a directory")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save {what} to {path}: it is a directory")
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(parent)


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; give a new one 0o666 minus the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        pass
    umask = 0o022
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError, IndexError):
        pass
    return 0o666 & ~umask


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------- loading
def load_model(path: str | os.PathLike) -> LoadedModel:
    """Read and validate a model file; see the module docstring for the format.

    Raises :class:`ModelFileError` (a ValueError) for anything wrong with the file's contents,
    and FileNotFoundError/IsADirectoryError/PermissionError when it cannot be opened.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_model` or ``Network.save``.

    Returns
    -------
    LoadedModel
        The spec, parameters, header and stored arrays.

    Raises
    ------
    ModelFileError
        If the file is not a valid fastbp model file; the message names the file and the problem.
    """
    path = as_path(path)
    with _open_archive(path) as npz:
        archive = _Archive(path, npz)
        header, spec = archive.check_structure()
        params = archive.read("params", _params_check(spec))
        params = np.ascontiguousarray(params, dtype=spec.np_dtype)
        finite = np.isfinite(params)
        if not finite.all():
            bad = int(params.size - np.count_nonzero(finite))
            raise archive.error(
                f"params contain {bad} NaN or inf value(s); the file is damaged "
                f"(fastbp never saves such a model)"
            )
        extra = {name: archive.read(_EXTRA + name) for name in header["arrays"]}
        optim = None
        if header["optimizer_state"] is not None:
            optim = {name: archive.read(_OPTIM + name) for name in header["optimizer_state"]}
    return LoadedModel(spec, params, header, extra, optim)


def read_header(path: str | os.PathLike) -> dict:
    """The decoded, validated JSON header of a model file, without reading the arrays.

    The archive's members and the ``params`` member's shape and dtype are checked as
    :func:`load_model` checks them; only the array data itself is not read.

    Parameters
    ----------
    path : str or os.PathLike
        A model file.

    Returns
    -------
    dict
        The header's fields (see the user guide's "The file format" page).

    Raises
    ------
    ModelFileError
        If the file is not a valid fastbp model file.
    """
    path = as_path(path)
    with _open_archive(path) as npz:
        archive = _Archive(path, npz)
        header, spec = archive.check_structure()
        archive.layout("params", _params_check(spec))
    return header


@contextmanager
def _open_archive(path: Path) -> Iterator[Any]:
    """The open NpzFile of a model file, after a check of its first bytes.

    The file is opened here and handed to np.load as a file object, so that it is closed even
    when np.load fails on a damaged archive (np.load leaks its own handle in that case).
    """
    with open(path, "rb") as f:  # FileNotFoundError, IsADirectoryError, PermissionError as-is
        magic = f.read(8)
        if not magic.startswith(_ZIP_MAGIC):
            raise ModelFileError(f"{path}: not a fastbp model file ({_describe_foreign(magic)})")
        f.seek(0)
        try:
            npz = np.load(f, allow_pickle=False)
        except _READ_ERRORS as exc:
            raise ModelFileError(
                f"{path}: damaged or truncated model file (not a readable zip/npz archive: {exc})"
            ) from None
        if not isinstance(npz, np.lib.npyio.NpzFile):  # cannot happen after the magic check
            raise ModelFileError(f"{path}: not a fastbp model file (not an npz archive)")
        with npz:
            yield npz


def _describe_foreign(magic: bytes) -> str:
    if not magic:
        return "the file is empty"
    if magic[:1] == b"\x80" or magic[:1] in (b"(", b"]", b"}"):
        return "it looks like a Python pickle, which fastbp never loads"
    if magic.startswith(_NPY_MAGIC):
        return "it is a bare .npy array, not an archive"
    if magic.startswith(b"PK"):
        return "it does not start with a zip local file header"
    return f"it starts with bytes {magic[:4]!r}, not the zip signature b'PK\\x03\\x04'"


def _params_check(spec: NetworkSpec):
    def check(shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        if shape != (spec.n_params,):
            return (
                f"params has shape {shape} but the spec {list(spec.widths)} needs "
                f"({spec.n_params},)"
            )
        if dtype.newbyteorder("=") != spec.np_dtype:
            return f"params has dtype {dtype} but the spec says {spec.dtype}"
        return None

    return check


class _Archive:
    """An open npz archive and its path, with the checks that run before arrays are read."""

    def __init__(self, path: Path, npz: Any) -> None:
        self.path = path
        self.npz = npz
        self.zip: zipfile.ZipFile = npz.zip
        self.size = os.path.getsize(path)

    def error(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {what}")

    def check_structure(self) -> tuple[dict, NetworkSpec]:
        """Member names, header fields and spec; returns the decoded header and the spec."""
        raw_names = self.zip.namelist()
        if len(set(raw_names)) != len(raw_names):
            dups = sorted({n for n in raw_names if raw_names.count(n) > 1})
            raise self.error(f"the archive has duplicate member(s) {dups}; the file is damaged")
        keys = {n[:-4] if n.endswith(".npy") else n for n in raw_names}
        if "header" not in keys or "header.npy" not in raw_names:
            raise self.error(
                f"not a fastbp model file (no 'header' member; members: {sorted(raw_names)})"
            )
        header = self._read_header_json()
        spec = _check_header(header, self.error)
        expected = {"header", "params"}
        expected.update(_EXTRA + name for name in header["arrays"])
        if header["optimizer_state"] is not None:
            expected.update(_OPTIM + name for name in header["optimizer_state"])
        present = {n[:-4] for n in raw_names if n.endswith(".npy")}
        unknown = sorted(present - expected) + sorted(
            n for n in raw_names if not n.endswith(".npy")
        )
        missing = sorted(expected - present)
        if missing:
            raise self.error(f"missing member(s) {missing} that the header lists or requires")
        if unknown:
            raise self.error(
                f"unknown member(s) {unknown}; a fastbp model file holds only header, params and "
                f"the extra/<name> and optim/<name> arrays its header lists"
            )
        return header, spec

    def _read_header_json(self) -> dict:
        def check(shape: tuple[int, ...], dtype: np.dtype) -> str | None:
            if dtype != np.uint8 or len(shape) > 1:
                return (
                    f"header must be a 1-D uint8 array of UTF-8 JSON bytes, got dtype {dtype} "
                    f"and shape {shape}"
                )
            if math.prod(shape) > MAX_HEADER_BYTES:
                return f"header is {math.prod(shape)} bytes (limit {MAX_HEADER_BYTES})"
            return None

        raw = self.read("header", check).tobytes()
        try:
            header = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise self.error(f"header is not valid UTF-8 JSON ({exc})") from None
        if not isinstance(header, dict):
            raise self.error(f"header must be a JSON object, got {type(header).__name__}")
        return header

    def layout(self, key: str, check=None) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype from a member's .npy header, checked before any data is read."""
        info = self.zip.getinfo(key + ".npy")
        if info.flag_bits & 0x1:
            raise self.error(f"member {key!r} is encrypted and cannot be read")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.error(
                f"member {key!r} uses zip compression method {info.compress_type}; "
                f"only stored and deflated members are read"
            )
        if claims_too_much(info, self.size):
            raise self.error(
                f"member {key!r} claims {info.file_size} bytes but the {self.size}-byte file "
                f"cannot hold them; the file is damaged"
            )
        try:
            shape, dtype, header_len = read_npy_header(self.zip, info)
        except _READ_ERRORS as exc:
            raise self.error(f"member {key!r} is damaged or not a .npy array ({exc})") from None
        if dtype.hasobject:
            raise self.error(
                f"member {key!r} holds an object array (dtype {dtype}); model files hold numeric "
                f"arrays only and are never unpickled"
            )
        if check is not None:
            problem = check(shape, dtype)
            if problem is not None:
                raise self.error(problem)
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise self.error(f"member {key!r} has dtype {dtype}; only numeric arrays are read")
        n_bytes = math.prod(shape) * dtype.itemsize
        if header_len + n_bytes != info.file_size:
            raise self.error(
                f"member {key!r} announces shape {shape} ({n_bytes} bytes of {dtype}) but the "
                f"archive holds {info.file_size - header_len} bytes of data; the file is damaged"
            )
        return shape, dtype

    def read(self, key: str, check=None) -> np.ndarray:
        shape, dtype = self.layout(key, check)
        try:
            arr = self.npz[key]
        except _READ_ERRORS as exc:
            raise self.error(f"member {key!r} is damaged ({exc})") from None
        if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != dtype:
            raise self.error(f"member {key!r} did not read back as announced; file is damaged")
        return arr


def _check_header(header: dict, error) -> NetworkSpec:
    """Validate the header's fields in place (decoding non-finite tokens); return the spec."""
    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        raise error(f"not a fastbp model file (header format = {fmt!r}, expected {FORMAT_NAME!r})")
    version = header.get("format_version")
    supported = list(SUPPORTED_VERSIONS)
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        from fastbp._version import __version__

        raise error(
            f"format_version {version} is newer than this fastbp ({__version__}) can read "
            f"(supported versions: {supported}); upgrade fastbp"
        )
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or version not in SUPPORTED_VERSIONS
    ):
        raise error(f"unknown format_version {version!r} (supported versions: {supported})")
    missing = [k for k in _HEADER_FIELDS if k not in header]
    if missing:
        raise error(f"header is missing field(s) {missing}")
    unknown = sorted(set(header) - set(_HEADER_FIELDS))
    if unknown:
        raise error(f"header has unknown field(s) {unknown} for format_version {version}")

    def expect(key: str, types: tuple[type, ...], nullable: bool) -> None:
        v = header[key]
        if v is None and nullable:
            return
        if isinstance(v, bool) and bool not in types or not isinstance(v, types):
            kinds = " or ".join(t.__name__ for t in types) + (" or null" if nullable else "")
            raise error(f"header field {key!r} must be {kinds}, got {v!r:.80}")

    expect("fastbp_version", (str,), False)
    expect("created", (str,), False)
    expect("dtype", (str,), False)
    expect("n_params", (int,), False)
    expect("init", (str,), True)
    expect("seed", (int,), True)
    for key in ("optimizer", "history", "metadata"):
        expect(key, (dict,), True)
        try:
            header[key] = from_json(header[key])
        except RecursionError:
            raise error(f"header field {key!r} is nested too deeply; the file is damaged") from None
    expect("arrays", (list,), False)
    expect("optimizer_state", (list,), True)
    for key in ("arrays", "optimizer_state"):
        names = header[key] or []
        bad = [n for n in names if not isinstance(n, str) or not _NAME_RE.fullmatch(n)]
        if bad:
            raise error(f"header field {key!r} holds invalid name(s) {bad[:5]!r}")
        if len(set(names)) != len(names):
            raise error(f"header field {key!r} lists a name twice; each name must appear once")
    try:
        spec = NetworkSpec.from_dict(header["spec"])
    except (ValueError, TypeError) as exc:
        raise error(f"header holds an invalid spec: {exc}") from None
    if version < spec_version(spec):
        raise error(
            f"the spec's {', '.join(spec_fields_v3(spec))} needs format_version 3, the header "
            f"says {version}"
        )
    if header["dtype"] != spec.dtype:
        raise error(f"header dtype {header['dtype']!r} disagrees with the spec's {spec.dtype!r}")
    if header["n_params"] != spec.n_params:
        raise error(
            f"header n_params = {header['n_params']} disagrees with the spec "
            f"{list(spec.widths)}, which has {spec.n_params} parameters"
        )
    return spec
