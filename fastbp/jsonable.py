"""One encoder from Python/NumPy values to strict JSON (model headers, sweep and lecture files)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

#: String tokens for the non-finite floats in ``nonfinite="token"`` mode (model file headers).
NONFINITE_TOKENS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def to_json(
    value: object, where: str = "value", *, nonfinite: Literal["token", "null"] = "null"
) -> Any:
    """The plain-Python, strict-JSON form of ``value``.

    NumPy scalars become Python numbers, numeric arrays nested lists, tuples lists.

    Parameters
    ----------
    value : object
        None, str, bool, numbers (NumPy's too), numeric arrays, and lists, tuples and
        string-keyed mappings of these.
    where : str
        What ``value`` is, for error messages.
    nonfinite : {"null", "token"}
        ``"null"`` writes NaN and ±inf as ``null`` (results: a missing figure); ``"token"`` as the
        strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, which :func:`from_json` turns back
        (model headers: the value must survive the round trip).

    Returns
    -------
    object
        A value that ``json.dumps(..., allow_nan=False)`` accepts.

    Raises
    ------
    TypeError
        For anything else (objects, non-string keys, non-numeric arrays).
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v):
            return v
        if nonfinite == "null":
            return None
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{where} holds an array of dtype {value.dtype}; only numeric ones fit")
        return to_json(value.tolist(), where, nonfinite=nonfinite)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a non-string key {k!r}; JSON keys must be strings")
            out[k] = to_json(v, f"{where}[{k!r}]", nonfinite=nonfinite)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(v, f"{where}[{i}]", nonfinite=nonfinite) for i, v in enumerate(value)]
    raise TypeError(
        f"{where} holds a {type(value).__name__}, which JSON cannot hold "
        f"(use numbers, strings, bools, None, lists and dicts)"
    )


def from_json(value: Any) -> Any:
    """Undo the ``nonfinite="token"`` encoding of :func:`to_json` (strings back to NaN/±inf).

    Parameters
    ----------
    value : object
        A value read with ``json.loads``.

    Returns
    -------
    object
        ``value`` with every ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` string made a float.
    """
    if isinstance(value, str):
        return NONFINITE_TOKENS.get(value, value)
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    return value
