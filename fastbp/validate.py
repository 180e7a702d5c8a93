"""Boundary checks: everything a kernel receives has been validated here first.

Kernels index arrays without bounds checks, so shapes, dtypes, contiguity and finiteness are
settled in Python before any compiled code runs.  Each check names the argument it refuses.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np

from fastbp.spec import NetworkSpec


def _as_array(value: object, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} must be an array, got None")
    if isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(
            f"{name} could not be read as a numeric array ({exc}); expected a rectangular array "
            f"of numbers"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} has dtype {arr.dtype}; expected a real floating-point array "
            f"(complex, object, string and structured arrays are refused)"
        )
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or inf value(s); clean the data first")


def _kernel_ready(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``arr`` as a C-contiguous, aligned, writeable array of ``dtype``, copied only if needed.

    Non-finite values are refused before the conversion; a finite value that overflows a
    narrower dtype (1e300 as float32) is refused after it, without numpy's overflow warning.
    Read-only and misaligned arrays are copied too, so kernels only ever see one array type.
    """
    if arr.dtype.kind == "f":
        _check_finite(arr, name)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.require(arr, dtype=dtype, requirements=["C", "A", "W"])
    if arr.dtype.kind == "f" and arr.dtype.itemsize > out.dtype.itemsize:
        finite = np.isfinite(out)
        if not finite.all():
            bad = int(out.size - np.count_nonzero(finite))
            raise ValueError(
                f"{name} has {bad} value(s) too large for {out.dtype} (max "
                f"{np.finfo(out.dtype).max:.3g}); rescale it or use a float64 network"
            )
    return out


def as_features(X: object, spec: NetworkSpec, name: str = "X") -> np.ndarray:
    """X as a C-contiguous (n, n0) array of the spec's dtype with n ≥ 1 and finite entries.

    Other float dtypes (float16, float32/64 mismatch) are converted once; integer, bool, complex,
    object and structured arrays raise TypeError; wrong shapes, empty batches and NaN/inf raise
    ValueError.
    """
    arr = _as_array(X, name)
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name} has dtype {arr.dtype}; expected floating-point features "
            f"(convert explicitly, e.g. {name}.astype({spec.dtype!r}))"
        )
    if arr.ndim != 2:
        hint = " (for one example use x.reshape(1, -1))" if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D with shape (n, {spec.n_inputs}), got shape {arr.shape}{hint}"
        )
    if arr.shape[1] != spec.n_inputs:
        raise ValueError(
            f"{name} must have {spec.n_inputs} columns (widths[0]), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it must have at least one row")
    return _kernel_ready(arr, spec.np_dtype, name)


def as_targets(Y: object, spec: NetworkSpec, n: int, name: str = "Y") -> np.ndarray:
    """Y as a C-contiguous (n, nr) array of the spec's dtype, in the form the loss expects.

    * ``squared``: (n, nr) real values, or (n,) when nr = 1.
    * ``softmax_cross_entropy``: integer labels (n,) in [0, nr), or (n, nr) rows of non-negative
      numbers summing to 1 (one-hot or soft targets).
    * ``logistic``: (n, nr) values in [0, 1] (0/1 labels or probabilities), or (n,) when nr = 1.
    """
    arr = _as_array(Y, name)
    nr = spec.n_outputs
    if arr.dtype.kind == "b" and spec.loss != "logistic":
        raise TypeError(f"{name} has dtype bool; expected numeric targets for loss={spec.loss!r}")
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n}; they must match")
    if spec.loss == "softmax_cross_entropy" and arr.ndim == 1:
        return _labels_to_onehot(arr, spec, name)
    if arr.ndim == 1:
        if nr != 1:
            raise ValueError(
                f"{name} has shape {arr.shape}; loss={spec.loss!r} with {nr} outputs needs "
                f"shape ({n}, {nr})"
                + (" or integer labels (n,)" if spec.loss == "softmax_cross_entropy" else "")
            )
        arr = arr.reshape(n, 1)
    if arr.shape[1] != nr:
        raise ValueError(f"{name} must have {nr} columns (widths[-1]), got shape {arr.shape}")
    arr = _kernel_ready(arr, spec.np_dtype, name)
    if spec.loss == "logistic" and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1] for loss='logistic'")
    if spec.loss == "softmax_cross_entropy":
        tol = 1e-3 if spec.dtype == "float32" else 1e-6
        if arr.min() < 0 or not np.allclose(arr.sum(axis=1), 1.0, atol=tol, rtol=0):
            raise ValueError(
                f"{name} rows must be non-negative and sum to 1 (one-hot or probabilities) for "
                f"loss='softmax_cross_entropy'; or pass integer labels of shape ({n},)"
            )
    return arr


def _labels_to_onehot(labels: np.ndarray, spec: NetworkSpec, name: str) -> np.ndarray:
    nr = spec.n_outputs
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or not np.all(labels == np.round(labels)):
            raise ValueError(f"{name} labels must be whole numbers in [0, {nr}), got non-integers")
    if labels.min() < 0 or labels.max() >= nr:
        raise ValueError(
            f"{name} labels must lie in [0, {nr}) for {nr} outputs; "
            f"got values from {labels.min()} to {labels.max()}"
        )
    onehot = np.zeros((labels.shape[0], nr), dtype=spec.np_dtype)
    onehot[np.arange(labels.shape[0]), labels.astype(np.int64)] = 1
    return onehot


def as_params(value: object, n_params: int, dtype: np.dtype, name: str = "params") -> np.ndarray:
    """A flat, finite array of ``n_params`` values, converted to ``dtype`` (a copy may be made)."""
    arr = _as_array(value, name)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected floating-point values")
    if arr.ndim != 1 or arr.shape[0] != n_params:
        raise ValueError(f"{name} must be a flat array of {n_params} values, got shape {arr.shape}")
    return _kernel_ready(arr, dtype, name)


def positive_int(value: object, name: str, minimum: int = 1) -> int:
    """An integer ≥ ``minimum`` (bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def positive_float(value: object, name: str, allow_zero: bool = False) -> float:
    """A finite float > 0 (or ≥ 0 with ``allow_zero``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {v}")
    return v


def check_seed(value: object, name: str = "seed", allow_generator: bool = False) -> object:
    """A seed for ``np.random.default_rng``: None or an integer >= 0 (bools refused), or, with
    ``allow_generator``, a ``np.random.Generator``."""
    if allow_generator and isinstance(value, np.random.Generator):
        return value
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        kinds = "an integer >= 0 or None"
        if allow_generator:
            kinds = "an integer >= 0, a np.random.Generator or None"
        raise TypeError(f"{name} must be {kinds}, got {value!r:.80}")
    if value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (or None), got {value}")
    return int(value)


def as_path(value: object, name: str = "path") -> Path:
    """A filesystem path from a str, bytes or os.PathLike (TypeError/ValueError naming ``name``)."""
    try:
        text = os.fspath(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a str or os.PathLike, got {type(value).__name__}"
        ) from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\0" in text:
        raise ValueError(f"{name} must not contain a NUL character, got {text!r}")
    return Path(text)
