"""Bad (and valid-but-odd) inputs for every public entry point, shared by the fuzz suite and
``scripts/fuzz_report.py``.

The contract under test
-----------------------
* Bad input ends in one of :data:`ALLOWED` (ValueError, TypeError, or a fastbp error deriving
  from them, e.g. ``fastbp.io.ModelFileError``, ``fastbp.FitDivergedError``), and path-based entry
  points may also raise one of :data:`FILE_ERRORS`.  Never a segfault, never a Numba exception,
  never an IndexError from a kernel.  :func:`check_refusal` is the one place that says so: it also
  checks that the message names the offending argument and says what was expected.
* Valid-but-odd input (float16, other float widths, big-endian, Fortran order, strided, reversed,
  zero-stride, read-only, misaligned, lists, arrays aliasing the network's own buffers) gives
  bit-for-bit the result of its clean equivalent (a fresh C-contiguous copy).
* A refused call leaves the network's parameters exactly as they were.

Each *property* below is a hypothesis strategy of small, readable cases (their repr names the
entry point, the argument and the defect) plus a check.  ``tests/test_fuzz.py`` runs them with the
``ci`` profile; the properties marked ``isolated`` (odd arrays that reach compiled code) run in a
child process, so that a segfault fails the test naming the case instead of killing pytest.

Run one property in a child by hand::

    python tests/fuzz_cases.py run odd_arrays --profile report --examples 500 --log /tmp/fuzz.log
    python tests/fuzz_cases.py list

Profiles (``HYPOTHESIS_PROFILE`` selects one for the test suite): ``ci`` (deterministic, sized
so the whole suite takes about a minute once kernels are compiled), ``report`` (random, thousands
of examples; ``scripts/fuzz_report.py``) and ``dev`` (random, ci-sized).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastbp as fb
from fastbp import cli
from fastbp.io import ModelFileError, read_header

# ------------------------------------------------------------------------------ the contract
#: What a refusal may raise (fastbp's own errors derive from these two).
ALLOWED: tuple[type[BaseException], ...] = (ValueError, TypeError)
#: What a path-based entry point (save, load, load_file) may raise besides ALLOWED.
FILE_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
#: A message must say what was expected; one of these words or phrases shows that it does.
_EXPECTATION = re.compile(
    r"must|expect|allowed|supported|needs?\b|only|limit|at least|at most|between|unknown|"
    r"refus|cannot|clean|convert|too large|empty|disagree|damaged|missing|invalid|out of range|"
    r"newer|leaves no|does not|not a\b|lie in|sum to|whole numbers|no such|is not|is a directory|"
    r"not an?\b|exist|\btry\b|\bcheck\b|\binstead\b|\btakes\b",
    re.IGNORECASE,
)


class ContractError(AssertionError):
    """A fuzz case broke the contract (wrong exception, vague message, changed parameters...)."""


def _word(name: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])")


def check_refusal(
    exc: BaseException,
    names: tuple[str, ...],
    kind: type[BaseException] | tuple[type[BaseException], ...] = ALLOWED,
) -> None:
    """``exc`` is a documented refusal: of ``kind``, not from Numba, naming one of ``names``.

    "Naming" means the name appears as a whole word (``X`` in "X has dtype int64"), so that a user
    can tell which argument to fix; the message must also say what was expected.
    """
    msg = str(exc)
    where = f"{type(exc).__module__}.{type(exc).__name__}: {msg[:300]}"
    if type(exc).__module__.split(".")[0] == "numba":
        raise ContractError(f"a Numba exception leaked to the user: {where}") from exc
    if not isinstance(exc, kind):
        raise ContractError(f"expected {kind}, got {where}") from exc
    if not any(_word(n).search(msg) for n in names):
        raise ContractError(f"the message does not name any of {names}: {where}") from exc
    if not _EXPECTATION.search(msg):
        raise ContractError(f"the message does not say what was expected: {where}") from exc


def expect_refusal(
    fn: Callable[[], object],
    names: tuple[str, ...],
    kind: type[BaseException] | tuple[type[BaseException], ...] = ALLOWED,
) -> BaseException:
    """Call ``fn``; it must raise a documented refusal (see :func:`check_refusal`)."""
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - every exception is judged by check_refusal
        check_refusal(exc, names, kind)
        return exc
    raise ContractError(
        f"bad input was accepted (expected a refusal naming {names}): {result!r:.200}"
    )


def same(a: object, b: object, what: str = "result") -> None:
    """Bit-for-bit equality of results (arrays, floats with NaN, lists, dataclasses)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        if a_arr.dtype != b_arr.dtype or a_arr.shape != b_arr.shape:
            raise ContractError(f"{what}: {a_arr.dtype}{a_arr.shape} != {b_arr.dtype}{b_arr.shape}")
        if not np.array_equal(a_arr, b_arr, equal_nan=a_arr.dtype.kind in "fc"):
            raise ContractError(f"{what}: values differ ({a_arr!r:.200} vs {b_arr!r:.200})")
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            raise ContractError(f"{what}: {type(a).__name__} != {type(b).__name__}")
        for f in dataclasses.fields(a):
            if f.name not in ("seconds", "examples_per_s"):
                same(getattr(a, f.name), getattr(b, f.name), f"{what}.{f.name}")
    elif isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            raise ContractError(f"{what}: {a!r:.100} != {b!r:.100}")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{what}[{i}]")
    elif isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            raise ContractError(f"{what}: keys {sorted(a)!r:.100} != {b!r:.100}")
        for k in a:
            same(a[k], b[k], f"{what}[{k!r}]")
    elif isinstance(a, float) and isinstance(b, float):
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            raise ContractError(f"{what}: {a!r} != {b!r}")
    elif a != b:
        raise ContractError(f"{what}: {a!r:.100} != {b!r:.100}")


def params_unchanged(net: fb.Network, before: np.ndarray, what: str) -> None:
    if not np.array_equal(net.params, before, equal_nan=True):
        raise ContractError(f"{what} changed the network's parameters")


# ------------------------------------------------------------------------------ profiles
PROFILES = {
    # Deterministic, so CI is repeatable; about a minute in all once kernels are compiled.
    "ci": settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    ),
    # Random and large: scripts/fuzz_report.py (it passes --examples).
    "report": settings(
        max_examples=2000,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    ),
    # Random, ci-sized: for exploring locally (HYPOTHESIS_PROFILE=dev).
    "dev": settings(
        max_examples=60, deadline=None, print_blob=True, suppress_health_check=list(HealthCheck)
    ),
}
for _name, _settings in PROFILES.items():
    settings.register_profile(f"fastbp-{_name}", _settings)


def profile_name() -> str:
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    return name if name in PROFILES else "ci"


# ------------------------------------------------------------------------------ helpers
ACTS = sorted(fb.ACTIVATIONS)
LOSSES = sorted(fb.LOSSES)
DTYPES = ("float32", "float64")

_SCRATCH: Path | None = None


def scratch() -> Path:
    """A per-process temporary directory (hypothesis cannot use pytest's tmp_path)."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="fastbp-fuzz-"))
        atexit.register(shutil.rmtree, _SCRATCH, True)
    return _SCRATCH


@st.composite
def specs(draw, losses=LOSSES, dtypes=DTYPES, max_depth: int = 3, max_width: int = 5):
    r = draw(st.integers(1, max_depth))
    loss = draw(st.sampled_from(losses))
    widths = [draw(st.integers(1, max_width)) for _ in range(r + 1)]
    if loss == "softmax_cross_entropy":
        widths[-1] = max(2, widths[-1])
    acts = [draw(st.sampled_from(ACTS)) for _ in range(r - 1)]
    return fb.NetworkSpec(widths, acts, loss, draw(st.sampled_from(dtypes)))


def clean_data(spec: fb.NetworkSpec, n: int, seed: int):
    """Valid (X, Y, v) for ``spec``: Y in the loss's natural form, v in the parameter layout."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, spec.n_inputs))
    nr = spec.n_outputs
    if spec.loss == "squared":
        Y = rng.normal(size=(n, nr))
    elif spec.loss == "softmax_cross_entropy":
        Y = rng.integers(0, nr, size=n)
    else:
        Y = rng.uniform(size=(n, nr))
    return X, Y, rng.normal(size=spec.n_params)


def make_net(spec: fb.NetworkSpec, seed: int) -> fb.Network:
    net = fb.Network(spec, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for k in range(1, spec.n_layers + 1):
        net.layer(k)[1][...] = rng.uniform(-0.3, 0.3, size=spec.widths[k])
    return net


#: Entry points that take data, and which of X, Y, v each one reads.
DATA_ENTRIES = {
    "forward": "X",
    "predict": "X",
    "predict_proba": "X",
    "loss": "XY",
    "loss_and_gradient": "XY",
    "trace": "XY",
    "score": "XY",
    "gradcheck": "XY",
    "fit": "XY",
    "hvp": "XYv",
    "gnvp": "XYv",
}


def entries_for(spec: fb.NetworkSpec, needs: str) -> list[str]:
    out = [e for e, reads in DATA_ENTRIES.items() if needs in reads]
    if spec.loss_record.task == "regression" and "predict_proba" in out:
        out.remove("predict_proba")  # refused for regression whatever X is
    return out


def call(entry: str, net: fb.Network, X, Y, v, fit_kwargs: dict | None = None):
    """Run one public entry point; fit returns what it changed, so results can be compared."""
    if entry == "forward":
        return net.forward(X)
    if entry == "predict":
        return net.predict(X)
    if entry == "predict_proba":
        return net.predict_proba(X)
    if entry == "loss":
        return net.loss(X, Y)
    if entry == "loss_and_gradient":
        return net.loss_and_gradient(X, Y)
    if entry == "trace":
        return net.trace(X, Y)
    if entry == "score":
        return net.score(X, Y)
    if entry == "gradcheck":
        return fb.gradcheck(net, X, Y, max_params=12, seed=0)
    if entry == "hvp":
        return net.hvp(X, Y, v)
    if entry == "gnvp":
        return net.gnvp(X, Y, v)
    if entry == "fit":
        kwargs = {"epochs": 2, "progress": False, **(fit_kwargs or {})}
        hist = net.fit(X, Y, **kwargs)
        state = net.optimizer.state_arrays()
        return hist.loss, hist.epoch, net.params.copy(), {k: v.copy() for k, v in state.items()}
    if entry == "params":
        net.params = v
        return net.params.copy()
    raise KeyError(entry)


# ------------------------------------------------------------------------------ bad values
def _misaligned(arr: np.ndarray) -> np.ndarray:
    buf = np.zeros(arr.nbytes + 1, dtype=np.uint8)
    out = buf[1:].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


class _Opaque:
    """An arbitrary Python object where an array belongs."""

    def __repr__(self) -> str:
        return "<opaque object>"


#: Python objects where an array belongs: all are TypeErrors.
PY_OBJECTS = {
    "None": None,
    "str": "1,2,3",
    "bytes": b"\x00\x01",
    "dict": {"X": [1.0]},
    "set": {1.0, 2.0},
    "object": _Opaque(),
    "function": len,
    "complex scalar": 1 + 2j,
    "int scalar": 3,
    "bool scalar": True,
    "list of str": [["a", "b"]],
    "ragged list": [[1.0, 2.0], [3.0]],
    "list of None": [None, None],
}

#: A defect of an array argument: name -> f(clean 2-D array, rng) -> (value, exception type).
Defect = Callable[[np.ndarray, np.random.Generator], tuple[object, type]]


def _with(arr: np.ndarray, value: float, rng: np.random.Generator, dtype=None) -> np.ndarray:
    out = arr.astype(dtype or arr.dtype, copy=True)
    idx = tuple(int(rng.integers(0, s)) for s in out.shape)
    out[idx] = value
    return out


def _array_defects(kind: str) -> dict[str, Defect]:
    """Defects shared by X, Y (dense) and v; ``kind`` is the role ('X', 'Y' or 'v')."""
    d: dict[str, Defect] = {
        "NaN": lambda a, rng: (_with(a, np.nan, rng), ValueError),
        "inf": lambda a, rng: (_with(a, np.inf, rng), ValueError),
        "-inf": lambda a, rng: (_with(a, -np.inf, rng), ValueError),
        "NaN in float16": lambda a, rng: (_with(a, np.nan, rng, np.float16), ValueError),
        "inf in float32 view": lambda a, rng: (_with(a, np.inf, rng, np.float32)[::-1], ValueError),
        "NaN read-only": lambda a, rng: (_readonly(_with(a, np.nan, rng)), ValueError),
        "NaN misaligned": lambda a, rng: (_misaligned(_with(a, np.nan, rng)), ValueError),
        "complex128": lambda a, rng: (a.astype(np.complex128), TypeError),
        "complex64": lambda a, rng: (a.astype(np.complex64), TypeError),
        "object": lambda a, rng: (a.astype(object), TypeError),
        "str": lambda a, rng: (a.astype(str), TypeError),
        "bytes": lambda a, rng: (a.astype("S12"), TypeError),
        "datetime64": lambda a, rng: (a.astype(np.int64).astype("M8[s]"), TypeError),
        "timedelta64": lambda a, rng: (a.astype(np.int64).astype("m8[s]"), TypeError),
        "void": lambda a, rng: (np.zeros(a.shape, dtype="V8"), TypeError),
        "structured": lambda a, rng: (
            np.zeros(a.shape[0], dtype=[("a", "f8"), ("b", "f8")]),
            TypeError,
        ),
        "0-d float": lambda a, rng: (np.float64(0.25), ValueError),
        "python float": lambda a, rng: (0.25, ValueError),
        "3-D": lambda a, rng: (a.reshape(a.shape + (1,)), ValueError),
    }
    if kind in ("X", "v"):  # integer features and directions are refused; integer Y is fine
        d.update(
            {
                "int64": lambda a, rng: (np.rint(a).astype(np.int64), TypeError),
                "int8": lambda a, rng: (np.rint(a).astype(np.int8), TypeError),
                "uint8": lambda a, rng: (np.abs(np.rint(a)).astype(np.uint8), TypeError),
                "bool": lambda a, rng: (a > 0, TypeError),
            }
        )
    for name, obj in PY_OBJECTS.items():
        exc = TypeError
        if name == "int scalar" and kind == "Y":
            exc = ValueError  # an int is a valid dtype for targets; the 0-d shape is refused
        if name == "bool scalar" and kind == "Y":
            exc = (TypeError, ValueError)  # bool is refused for some losses, 0-d for all
        d[f"python {name}"] = (lambda o, e: lambda a, rng: (o, e))(obj, exc)
    return d


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def bad_x_defects() -> dict[str, Defect]:
    d = _array_defects("X")
    d.update(
        {
            "1-D": lambda a, rng: (a[0], ValueError),
            "too few columns": lambda a, rng: (a[:, :-1], ValueError),
            "extra column": lambda a, rng: (np.hstack([a, a[:, :1]]), ValueError),
            "no rows": lambda a, rng: (a[:0], ValueError),
            "no rows or columns": lambda a, rng: (np.empty((0, 0)), ValueError),
        }
    )
    return d


def bad_y_defects(spec: fb.NetworkSpec) -> dict[str, Defect]:
    """Defects of Y for ``spec.loss``; the clean Y passed in is dense (n, nr) float."""
    nr = spec.n_outputs
    d = _array_defects("Y")
    d.update(
        {
            "extra row": lambda a, rng: (np.vstack([a, a[:1]]), ValueError),
            "missing row": lambda a, rng: (a[:-1], ValueError),
            "extra column": lambda a, rng: (np.hstack([a, a[:, :1]]), ValueError),
        }
    )
    if nr > 1:
        d["too few columns"] = lambda a, rng: (a[:, :-1], ValueError)
    if spec.loss != "logistic":
        d["bool"] = lambda a, rng: (a > 0.5, TypeError)
    if spec.loss == "softmax_cross_entropy":
        d.update(
            {
                "label = n_outputs": lambda a, rng: (_labels(a, rng, nr), ValueError),
                "label = -1": lambda a, rng: (_labels(a, rng, -1), ValueError),
                "label 2**40": lambda a, rng: (_labels(a, rng, 2**40), ValueError),
                "uint64 label 2**63": lambda a, rng: (
                    _labels(a, rng, 2**63, np.uint64),
                    ValueError,
                ),
                "fractional label": lambda a, rng: (_labels(a, rng, 0.5), ValueError),
                "NaN label": lambda a, rng: (_labels(a, rng, np.nan), ValueError),
                "inf label": lambda a, rng: (_labels(a, rng, np.inf), ValueError),
                "float16 label 70000": lambda a, rng: (
                    _labels(a, rng, 7e4, np.float16),
                    ValueError,
                ),
                "rows not summing to 1": lambda a, rng: (a * 2.0 + 0.1, ValueError),
                "negative probabilities": lambda a, rng: (_negative_rows(a), ValueError),
            }
        )
    if spec.loss == "logistic":
        d.update(
            {
                "target above 1": lambda a, rng: (_with(a, 1.5, rng), ValueError),
                "target below 0": lambda a, rng: (_with(a, -1e-3, rng), ValueError),
            }
        )
    if spec.loss != "softmax_cross_entropy" and nr > 1:
        d["1-D with several outputs"] = lambda a, rng: (a[:, 0], ValueError)
    return d


def _labels(onehot: np.ndarray, rng: np.random.Generator, bad: float, dtype=None) -> np.ndarray:
    dtype = dtype or (np.float64 if isinstance(bad, float) else np.int64)
    labels = onehot.argmax(axis=1).astype(dtype)
    with np.errstate(over="ignore"):  # float16 70000 -> inf, on purpose
        labels[int(rng.integers(0, labels.shape[0]))] = bad
    return labels


def _negative_rows(onehot: np.ndarray) -> np.ndarray:
    out = onehot.astype(np.float64, copy=True)
    out[0, 0] -= 0.5
    out[0, -1] += 0.5  # still sums to 1, but an entry is negative (nr >= 2)
    if out[0, 0] >= 0:
        out[0, 0], out[0, -1] = -0.5, 1.5
    return out


def bad_v_defects() -> dict[str, Defect]:
    d = _array_defects("v")
    d.update(
        {
            "one short": lambda a, rng: (a[:-1], ValueError),
            "one long": lambda a, rng: (np.append(a, 0.0), ValueError),
            "2-D": lambda a, rng: (a.reshape(1, -1), ValueError),
            "empty": lambda a, rng: (a[:0], ValueError),
        }
    )
    return d


def dense_targets(spec: fb.NetworkSpec, Y) -> np.ndarray:
    if spec.loss == "softmax_cross_entropy":
        return np.eye(spec.n_outputs)[Y]
    return np.asarray(Y, dtype=np.float64)


# ------------------------------------------------------------------------------ properties
@dataclass(frozen=True)
class Property:
    """A fuzz property: a strategy of cases, a check, and what it covers."""

    name: str
    strategy: Callable[[], st.SearchStrategy]
    check: Callable[[object], None]
    entry_points: str
    description: str
    isolated: bool = False
    #: Fraction of the profile's max_examples this property runs (expensive cases run fewer).
    weight: float = 1.0
    kind: str = "bad input"


PROPERTIES: dict[str, Property] = {}


def prop(**meta) -> Callable:
    def register(fn: Callable[[object], None]) -> Callable[[object], None]:
        name = fn.__name__.removeprefix("check_")
        PROPERTIES[name] = Property(name=name, check=fn, **meta)
        return fn

    return register


@dataclass(frozen=True)
class Case:
    """One generated case; its repr is what a failure (or a crash) reports."""

    entry: str
    arg: str = ""
    defect: str = ""
    spec: fb.NetworkSpec | None = None
    n: int = 1
    seed: int = 0
    extra: tuple = ()

    def __repr__(self) -> str:
        parts = [self.entry]
        if self.arg:
            parts.append(f"{self.arg}={self.defect!r}" if self.defect else self.arg)
        if self.spec is not None:
            s = self.spec
            parts.append(f"spec={list(s.widths)},{list(s.activations)},{s.loss},{s.dtype}")
            parts.append(f"n={self.n} seed={self.seed}")
        if self.extra:
            parts.append(" ".join(f"{k}={v!r}" for k, v in self.extra))
        return "Case(" + " ".join(parts) + ")"


# ---- spec and network arguments
# fmt: off
_BAD_SPEC_FIELDS: dict[str, list] = {
    "widths": [
        [], [3], None, 3, "3,1", b"\x03\x01", {3: 1}, {3, 1}, [0, 1], [3, 0], [-1, 1], [1.5, 1],
        [3.0, 1], [True, 1], [None, 1], ["3", 1], [[3], 1], [3, np.float64(1)], [10**7, 10**7],
        [2, 10**12, 2], [10**30, 1],  # [10**7, 10**7] alone needs 745 TiB
    ],
    "activations": [["bogus"], ["RELU"], [None], [["relu"]], [3], "bogus", None, 3, ["relu"] * 5],
    "loss": ["bogus", "", "SQUARED", None, 3, ["squared"], "softmax"],
    "dtype": [
        "float16", "int64", "complex128", "f2", np.int32, object, [("a", "f8")], (np.float64, -1),
        "foo", 3.5, "", "float128", np.longdouble,
    ],
}
# fmt: on


def _spec_case_strategy():
    field_st = st.sampled_from(sorted(_BAD_SPEC_FIELDS))
    return field_st.flatmap(
        lambda f: st.builds(
            lambda i, seed: Case("NetworkSpec", f, repr(_BAD_SPEC_FIELDS[f][i])[:60], seed=seed),
            st.integers(0, len(_BAD_SPEC_FIELDS[f]) - 1),
            st.integers(0, 3),
        )
    )


def _spec_value(case: Case):
    for value in _BAD_SPEC_FIELDS[case.arg]:
        if repr(value)[:60] == case.defect:
            return value
    raise KeyError(case.defect)


@prop(
    strategy=_spec_case_strategy,
    entry_points="NetworkSpec",
    description="bad widths, activations, loss, dtype; absurd sizes",
)
def check_spec_args(case: Case) -> None:
    base = {"widths": [3, 4, 2], "activations": ["relu"], "loss": "squared", "dtype": "float64"}
    value = _spec_value(case)
    kwargs = {**base, case.arg: value}
    if case.arg == "widths" and isinstance(value, list) and len(value) == 3:
        kwargs["activations"] = ["tanh"]
    if case.arg == "widths" and isinstance(value, list) and len(value) == 2:
        kwargs["activations"] = []
    if case.arg == "loss" and case.seed == 1:  # softmax with a single output
        kwargs.update(widths=[3, 1], activations=[], loss="softmax_cross_entropy")
        expect_refusal(lambda: fb.NetworkSpec(**kwargs), ("loss",), ValueError)
        return
    names = (case.arg,) if case.arg != "activations" else ("activations", "activations[0]")
    exc = expect_refusal(lambda: fb.NetworkSpec(**kwargs), names, ValueError)
    if (
        case.arg == "widths"
        and isinstance(value, list)
        and any(isinstance(w, int) and not isinstance(w, bool) and w >= 10**7 for w in value)
    ):
        if "GiB" not in str(exc):
            raise ContractError(f"an absurd size must say how much memory it asks for: {exc}")


# fmt: off
_BAD_NETWORK_ARGS: dict[str, list] = {
    "spec": [None, {"widths": [3, 1]}, "spec", [3, 1]],
    "init": ["bogus", "", None, 3, ["zeros"], "Zeros"],
    "seed": [-1, -(2**70), 1.5, "a", [1], True, _Opaque(), np.float64(2.0)],
    "k": [0, -1, 99, 1.5, "1", None, True],
}
# fmt: on


@prop(
    strategy=lambda: st.sampled_from(sorted(_BAD_NETWORK_ARGS)).flatmap(
        lambda f: st.builds(
            lambda i, spec: Case("Network", f, repr(_BAD_NETWORK_ARGS[f][i])[:40], spec=spec),
            st.integers(0, len(_BAD_NETWORK_ARGS[f]) - 1),
            specs(),
        )
    ),
    entry_points="Network, Network.layer",
    description="bad spec, init, seed, layer index",
)
def check_network_args(case: Case) -> None:
    value = next(v for v in _BAD_NETWORK_ARGS[case.arg] if repr(v)[:40] == case.defect)
    if case.arg == "spec":
        expect_refusal(lambda: fb.Network(value), ("spec",), TypeError)
    elif case.arg == "init":
        expect_refusal(lambda: fb.Network(case.spec, init=value), ("init",), ValueError)
    elif case.arg == "seed":
        expect_refusal(lambda: fb.Network(case.spec, seed=value), ("seed",))
    else:
        net = fb.Network(case.spec, seed=0)
        before = net.params.copy()
        expect_refusal(lambda: net.layer(value), ("k",), ValueError)
        params_unchanged(net, before, "layer()")


# ---- bad data: X, Y, v
def _data_case_strategy(arg: str):
    @st.composite
    def strategy(draw):
        spec = draw(specs())
        entries = entries_for(spec, arg) + (["params"] if arg == "v" else [])
        entry = draw(st.sampled_from(entries))
        if arg == "X":
            defects = bad_x_defects()
        elif arg == "Y":
            defects = bad_y_defects(spec)
        else:
            defects = bad_v_defects()
        defect = draw(st.sampled_from(sorted(defects)))
        return Case(
            entry, arg, defect, spec, n=draw(st.integers(1, 24)), seed=draw(st.integers(0, 999))
        )

    return strategy()


def _run_data_defect(case: Case) -> None:
    spec = case.spec
    net = make_net(spec, case.seed)
    X, Y, v = clean_data(spec, case.n, case.seed)
    rng = np.random.default_rng(case.seed)
    if case.arg == "X":
        value, exc = bad_x_defects()[case.defect](X, rng)
        X = value
    elif case.arg == "Y":
        value, exc = bad_y_defects(spec)[case.defect](dense_targets(spec, Y), rng)
        Y = value
    else:
        value, exc = bad_v_defects()[case.defect](v, rng)
        v = value
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        value_copy = value.copy()
    names = (case.arg,) if case.entry != "params" else ("params",)
    before = net.params.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a refusal must not also warn
        expect_refusal(lambda: call(case.entry, net, X, Y, v), names, exc)
    params_unchanged(net, before, f"a refused {case.entry}")
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        same(value, value_copy, f"the refused {case.arg}")  # inputs are never written


for _arg, _what in (
    ("X", "wrong shape/ndim, empty, 0-d, wrong dtype, NaN/inf, Python objects"),
    ("Y", "wrong shape, labels out of range, non-integer labels, bad probabilities, NaN/inf"),
    ("v", "wrong length/ndim, wrong dtype, NaN/inf, Python objects"),
):
    PROPERTIES[f"bad_{_arg}"] = Property(
        name=f"bad_{_arg}",
        strategy=(lambda a: lambda: _data_case_strategy(a))(_arg),
        check=_run_data_defect,
        entry_points=", ".join(e for e, reads in DATA_ENTRIES.items() if _arg in reads)
        + (", params setter" if _arg == "v" else ""),
        description=f"bad {_arg}: {_what}",
    )


# ---- non-finite parameters
@prop(
    strategy=lambda: st.builds(
        lambda spec, entry, value, seed: Case(entry, "params", value, spec, n=3, seed=seed),
        specs(),
        st.sampled_from(sorted([*DATA_ENTRIES, "save"])),
        st.sampled_from(["nan", "inf", "-inf"]),
        st.integers(0, 999),
    ),
    entry_points="every data entry point, save",
    description="NaN/inf inside the network's own parameters",
)
def check_nonfinite_params(case: Case) -> None:
    spec = case.spec
    if case.entry == "predict_proba" and spec.loss_record.task == "regression":
        return
    net = make_net(spec, case.seed)
    X, Y, v = clean_data(spec, case.n, case.seed)
    idx = case.seed % spec.n_params
    net.params[idx] = float(case.defect)
    before = net.params.copy()
    if case.entry == "save":
        path = scratch() / f"nonfinite-{os.getpid()}.fastbp"
        path.unlink(missing_ok=True)
        expect_refusal(lambda: net.save(path), ("params", "parameters"), ValueError)
        if path.exists() or list(scratch().glob(f".{path.name}.*")):
            raise ContractError("a refused save left a file behind")
    else:
        expect_refusal(lambda: call(case.entry, net, X, Y, v), ("params", "parameters"), ValueError)
    params_unchanged(net, before, f"a refused {case.entry}")


# ---- hyper-parameters of fit and gradcheck
# fmt: off
_BAD_FIT: dict[str, list] = {
    "epochs": [-1, -(10**9), 1.5, "3", None, True, [1], np.float64(2.0)],
    "batch_size": [0, -1, "n+1", "n+100", 1.5, None, True, "8"],
    "lr": [0, 0.0, -1e-3, math.nan, math.inf, -math.inf, "0.1", None, True, [0.1], 1j],
    "momentum": [-0.1, 1.0, 1.5, math.nan, math.inf, "a", None],
    "l2": [-1.0, math.nan, math.inf, "x", None],
    "optimizer": ["bogus", "", "SGD", None, 3, ["sgd"]],
    "schedule": ["bogus", "", None, 3, ("constant",)],
    "validation_fraction": [-0.1, 1.0, 1.5, math.nan, "0.1", None],
    "patience": [0, -1, 1.5, None],
    "min_delta": [-1.0, math.nan, "0"],
    "seed": [-1, 1.5, "a", True, [0]],
    "shuffle": ["yes", 1, None],
    "early_stopping": ["yes", 1, None, "with validation_fraction=0"],
    "progress": ["no", 0, None],
    "warm_start": ["yes", 1, None],
    "beta1": [1.0, -0.1, math.nan],
    "eps": [0.0, -1e-8, math.inf],
    "step_size": [0, 1.5],
    "gamma": [0.0, -1.0, math.nan],
}
# fmt: on
# fmt: off
_BAD_GRADCHECK: dict[str, list] = {
    "eps": [0.0, -1e-6, math.nan, math.inf, "1e-6", None],
    "rtol": [-1.0, math.nan, "x"],
    "atol": [-1.0, math.inf, "x"],
    "max_params": [0, -1, 1.5, "10"],
    "seed": [-1, 1.5, "a"],
    "net": [None, "net", _Opaque()],
}
# fmt: on


def _hyper_strategy():
    table = [("fit", k, i) for k, vs in _BAD_FIT.items() for i in range(len(vs))]
    table += [("gradcheck", k, i) for k, vs in _BAD_GRADCHECK.items() for i in range(len(vs))]
    table += [(e, "net", i) for e in ("hvp", "gnvp") for i in range(3)]
    return st.builds(
        lambda row, spec, n, seed: Case(row[0], row[1], str(row[2]), spec, n=n, seed=seed),
        st.sampled_from(table),
        specs(),
        st.integers(2, 12),
        st.integers(0, 999),
    )


@prop(
    strategy=_hyper_strategy,
    entry_points="fit (and Optimizer, Schedule), gradcheck, hvp, gnvp",
    description="lr <= 0 or NaN, batch_size 0 or > n, epochs < 0, unknown optimizer/schedule, ...",
)
def check_bad_hyper(case: Case) -> None:
    spec, n, i = case.spec, case.n, int(case.defect)
    net = make_net(spec, case.seed)
    X, Y, v = clean_data(spec, n, case.seed)
    before = net.params.copy()
    if case.entry == "fit":
        value = _BAD_FIT[case.arg][i]
        kwargs: dict = {"epochs": 1, "progress": False}
        name = case.arg
        if case.arg == "batch_size" and isinstance(value, str) and value.startswith("n+"):
            value = n + int(value[2:])
        if case.arg == "early_stopping" and isinstance(value, str) and value.startswith("with"):
            value = True
        if case.arg in ("beta1", "eps"):
            kwargs["optimizer"] = _lazy(lambda: fb.optim.Optimizer("adam", **{name: value}))
        elif case.arg in ("step_size", "gamma"):
            kwargs["schedule"] = _lazy(lambda: fb.optim.Schedule("step", **{name: value}))
        else:
            kwargs[case.arg] = value
        if case.arg == "momentum":
            kwargs["optimizer"] = "momentum"

        def run():
            resolved = {k: (w() if isinstance(w, _lazy) else w) for k, w in kwargs.items()}
            return net.fit(X, Y, **resolved)

        expect_refusal(run, (name,))
    elif case.entry == "gradcheck":
        value = _BAD_GRADCHECK[case.arg][i]
        if case.arg == "net":
            expect_refusal(lambda: fb.gradcheck(value, X, Y), ("net",), TypeError)
        else:
            kwargs = {case.arg: value}
            if case.arg == "seed":
                kwargs["max_params"] = 1  # the seed only matters when parameters are sampled
            expect_refusal(lambda: fb.gradcheck(net, X, Y, **kwargs), (case.arg,))
    else:
        fn = fb.hessian.hvp if case.entry == "hvp" else fb.hessian.gnvp
        value = _BAD_GRADCHECK["net"][i]
        expect_refusal(lambda: fn(value, X, Y, v), ("net",), TypeError)
    params_unchanged(net, before, f"a refused {case.entry}")


class _lazy:  # noqa: N801 - a marker type for values built inside the refusal check
    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn

    def __call__(self) -> object:
        return self.fn()


# ---- save / load / load_file arguments
# fmt: off
_BAD_SAVE: dict[str, list] = {
    "path": [
        123, None, 1.5, ["m.fastbp"], "nul\0byte.fastbp", b"nul\0.fastbp", "<missing dir>",
        "<dir>",
    ],
    "arrays": [
        [1, 2], 3, "x", {"": np.ones(2)}, {"1a": np.ones(2)}, {"a/b": np.ones(2)},
        {"x" * 65: np.ones(2)}, {3: np.ones(2)}, {"ok": np.array(["a"])},
        {"ok": np.array([object()])}, {"ok": np.ones(2, dtype=complex)},
    ],
    "metadata": [[1], "x", {"k": _Opaque()}, {1: "v"}, {"k": {1, 2}}, {"k": np.array(["s"])}],
}
# fmt: on
# fmt: off
_BAD_LOAD = [
    123, None, 1.5, "nul\0byte.fastbp", "<missing file>", "<dir>",
]
# fmt: on
# fmt: off
_BAD_LOAD_FILE: dict[str, list] = {
    "path": [123, None, "<missing file>.csv", "<dir>.csv", "x.txt", "nul\0.csv"],
    "dtype": ["float16", "int64", "foo", (np.float64, -1), [("a", "f8")]],
    "delimiter": ["", ",,", '"', "\n", 3],
    "task": ["bogus", 3],
    "target_column": [99, -99, 1.5, "nope", True, None],
}
# fmt: on


def _path_value(token: object, stem: str) -> object:
    if not isinstance(token, str) or not token.startswith("<"):
        return token
    base = scratch()
    if token.startswith("<missing dir>"):
        return base / "no-such-dir" / "m.fastbp"
    if token.startswith("<missing file>"):
        return base / ("no-such-file" + token.removeprefix("<missing file>"))
    d = base / ("a-directory" + token.removeprefix("<dir>"))
    d.mkdir(exist_ok=True)
    return d


def _files_strategy():
    table = [("save", k, i) for k, vs in _BAD_SAVE.items() for i in range(len(vs))]
    table += [("load", "path", i) for i in range(len(_BAD_LOAD))]
    table += [("load_file", k, i) for k, vs in _BAD_LOAD_FILE.items() for i in range(len(vs))]
    return st.builds(lambda row: Case(row[0], row[1], str(row[2])), st.sampled_from(table))


_GOOD_CSV: Path | None = None


def _good_csv() -> Path:
    global _GOOD_CSV
    if _GOOD_CSV is None:
        _GOOD_CSV = scratch() / "good.csv"
        _GOOD_CSV.write_text("a,b,c\n1,2,0\n3,4,1\n5,6,0\n", encoding="utf-8")
    return _GOOD_CSV


@prop(
    strategy=_files_strategy,
    entry_points="Network.save, Network.load, datasets.load_file",
    description="bad paths, extra arrays, metadata, dtype, delimiter, task, target_column",
)
def check_file_args(case: Case) -> None:
    i = int(case.defect)
    net = fb.Network(fb.NetworkSpec([3, 2], [], "squared"), seed=0)
    if case.entry == "save":
        value = _BAD_SAVE[case.arg][i]
        target = scratch() / "save-args.fastbp"
        target.unlink(missing_ok=True)
        kwargs = {"path": target, case.arg: _path_value(value, "save")}
        names = (case.arg,)
        if case.arg == "path" and not isinstance(
            kwargs["path"], (str, bytes, int, float, type(None), list)
        ):
            names = ("path", str(kwargs["path"]))
        expect_refusal(lambda: net.save(**kwargs), names, ALLOWED + FILE_ERRORS)
        leftovers = [p.name for p in scratch().rglob("*save-args*")] + [
            p.name for p in scratch().rglob("*.tmp")
        ]
        if leftovers:
            raise ContractError(f"a refused save left files behind: {leftovers}")
    elif case.entry == "load":
        value = _path_value(_BAD_LOAD[i], "load")
        names = ("path", str(value))
        expect_refusal(lambda: fb.Network.load(value), names, ALLOWED + FILE_ERRORS)
    else:
        value = _BAD_LOAD_FILE[case.arg][i]
        kwargs = {"path": _good_csv()}
        kwargs[case.arg] = _path_value(value, "load_file") if case.arg == "path" else value
        names = (case.arg, str(kwargs["path"]))
        expect_refusal(lambda: fb.datasets.load_file(**kwargs), names, ALLOWED + FILE_ERRORS)


# ---- valid but odd arrays (isolated: these reach compiled code)
# fmt: off
ODD_KINDS = (
    "same", "float16", "float32", "float64", "longdouble", "big-endian", "fortran", "strided",
    "reversed", "zero-stride", "read-only", "misaligned", "misaligned read-only reversed", "list",
    "matrix", "masked", "memoryview",
)
# fmt: on


def make_odd(arr: np.ndarray, kind: str) -> object:
    """A valid-but-odd version of ``arr`` (values may change for dtype kinds)."""
    if kind == "same":
        return arr.copy()
    if kind in ("float16", "float32", "float64", "longdouble"):
        if arr.dtype.kind != "f":
            return arr.astype({"float16": np.int8, "float32": np.int16}.get(kind, np.uint32))
        return arr.astype(np.dtype(kind) if kind != "longdouble" else np.longdouble)
    if kind == "big-endian":
        return arr.astype(arr.dtype.newbyteorder(">"))
    if kind == "fortran":
        return np.asfortranarray(arr)
    if kind == "strided":
        big = np.zeros(tuple(2 * s for s in arr.shape), dtype=arr.dtype)
        sl = tuple(slice(None, None, 2) for _ in arr.shape)
        big[sl] = arr
        return big[sl]
    if kind == "reversed":
        rev = tuple(slice(None, None, -1) for _ in arr.shape)
        return arr[rev].copy()[rev]
    if kind == "zero-stride":
        return np.broadcast_to(arr[:1], arr.shape)
    if kind == "read-only":
        return _readonly(arr)
    if kind == "misaligned":
        return _misaligned(arr)
    if kind == "misaligned read-only reversed":
        rev = tuple(slice(None, None, -1) for _ in arr.shape)
        out = _misaligned(arr[rev].copy())[rev]
        out.setflags(write=False)
        return out
    if kind == "list":
        return arr.tolist()
    if kind == "matrix":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return np.matrix(arr) if arr.ndim == 2 else arr.copy()
    if kind == "masked":
        return np.ma.masked_array(arr, mask=np.zeros(arr.shape, dtype=bool))
    if kind == "memoryview":
        return memoryview(np.ascontiguousarray(arr))
    raise KeyError(kind)


def clean_of(odd: object, target: np.dtype | None) -> np.ndarray:
    """The clean equivalent of ``odd``: a fresh, native, C-contiguous array (float -> target)."""
    arr = np.asarray(odd)
    dtype = (
        target if (target is not None and arr.dtype.kind == "f") else arr.dtype.newbyteorder("=")
    )
    return np.array(arr, dtype=dtype, order="C", copy=True)


def _fit_kwargs_strategy():
    return st.fixed_dictionaries(
        {
            "batch_size": st.sampled_from([1, 2, 5]),
            "optimizer": st.sampled_from(["sgd", "momentum", "nesterov", "adam"]),
            "shuffle": st.booleans(),
        }
    )


@st.composite
def _odd_strategy(draw):
    spec = draw(specs())
    arg = draw(st.sampled_from(["X", "Y", "v", "all"]))
    needs = {"X": "X", "Y": "Y", "v": "v", "all": "X"}[arg]
    entries = entries_for(spec, needs) + (["params"] if arg == "v" else [])
    entry = draw(st.sampled_from(entries))
    n = draw(st.sampled_from([1, 2, 5, 16, 23]))  # >= 16 rows take the BLAS path
    fit_kwargs = draw(_fit_kwargs_strategy()) if entry == "fit" else {}
    if fit_kwargs:
        fit_kwargs["batch_size"] = min(fit_kwargs["batch_size"], n)
    extra = tuple(sorted(fit_kwargs.items()))
    return Case(
        entry, arg, draw(st.sampled_from(ODD_KINDS)), spec, n, draw(st.integers(0, 999)), extra
    )


@prop(
    strategy=_odd_strategy,
    entry_points="every data entry point, params setter",
    description="float16/float32/longdouble, big-endian, Fortran, strided, reversed, zero-stride, "
    "read-only, misaligned, lists, matrix, masked, memoryview: same result as a clean copy",
    isolated=True,
    weight=0.5,
    kind="valid but odd",
)
def check_odd_arrays(case: Case) -> None:
    spec = case.spec
    X, Y, v = clean_data(spec, case.n, case.seed)
    args = {"X": X, "Y": Y, "v": v}
    odd, clean = dict(args), dict(args)
    for name in ("X", "Y", "v") if case.arg == "all" else (case.arg,):
        odd[name] = make_odd(args[name], case.defect)
        target = spec.np_dtype
        if case.entry == "gradcheck":  # gradcheck also reads X and Y in float64
            target = np.dtype(np.float64)
        clean[name] = clean_of(
            odd[name], target if name != "Y" or spec.loss != "softmax_cross_entropy" else None
        )
    snapshot = {k: np.array(np.asarray(val), copy=True) for k, val in odd.items()}
    net_odd, net_clean = make_net(spec, case.seed), make_net(spec, case.seed)
    fit_kwargs = dict(case.extra)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = call(case.entry, net_odd, odd["X"], odd["Y"], odd["v"], fit_kwargs)
        want = call(case.entry, net_clean, clean["X"], clean["Y"], clean["v"], fit_kwargs)
    same(got, want, f"{case.entry} on {case.defect} {case.arg}")
    same(net_odd.params, net_clean.params, "parameters afterwards")
    for k, val in odd.items():  # the caller's arrays are never written
        same(np.asarray(val), snapshot[k], f"the caller's {k}")


# ---- arrays that alias the network's own buffers (isolated)
# fmt: off
_ALIASES = (
    "X = W[1]", "X = params view", "X = reversed params view", "Y = params view",
    "X = Y = params view", "v = params", "v = reversed params", "params = reversed params",
    "X = optimizer state",
)
# fmt: on


@st.composite
def _alias_strategy(draw):
    spec = draw(specs())
    alias = draw(st.sampled_from(_ALIASES))
    if alias.startswith("v") or alias.startswith("params"):
        entries = ["hvp", "gnvp"] if alias.startswith("v") else ["params"]
    else:
        entries = entries_for(spec, "Y" if "Y" in alias else "X")
    if "Y" in alias and spec.loss != "squared":
        spec = fb.NetworkSpec(spec.widths, spec.activations, "squared", spec.dtype)
    if alias == "X = optimizer state":
        entries = ["fit"]
    entry = draw(st.sampled_from(entries))
    fit_kwargs = draw(_fit_kwargs_strategy()) if entry == "fit" else {}
    if alias == "X = optimizer state":
        fit_kwargs.update(optimizer="adam", warm_start=True)
    return Case(
        entry, alias, "", spec, 0, draw(st.integers(0, 999)), tuple(sorted(fit_kwargs.items()))
    )


@prop(
    strategy=_alias_strategy,
    entry_points="every data entry point, params setter",
    description="X, Y or v that are views of net.params, W[1] or the optimizer state",
    isolated=True,
    weight=0.5,
    kind="valid but odd",
)
def check_aliasing(case: Case) -> None:
    spec = case.spec
    net, twin = make_net(spec, case.seed), make_net(spec, case.seed)
    n0, nr = spec.n_inputs, spec.n_outputs
    fit_kwargs = dict(case.extra)
    if case.arg == "X = optimizer state":  # a previous fit leaves Adam state behind
        X0, Y0, _ = clean_data(spec, 4, case.seed)
        for m in (net, twin):
            m.fit(X0, Y0, epochs=1, optimizer="adam", progress=False)
    p = net.params
    n = net.layer(1)[0].shape[0] if case.arg == "X = W[1]" else max(1, p.size // (n0 + nr))
    X, Y, v = clean_data(spec, n, case.seed)
    if "batch_size" in fit_kwargs:
        fit_kwargs["batch_size"] = min(fit_kwargs["batch_size"], n)
    if case.arg == "X = W[1]":
        X = net.layer(1)[0]
    elif case.arg == "X = params view":
        X = p[: n * n0].reshape(n, n0)
    elif case.arg == "X = reversed params view":
        X = p[::-1][: n * n0].reshape(n, n0)
    elif case.arg == "X = optimizer state":
        X = net.optimizer.s1[: n * n0].reshape(n, n0)
    elif case.arg == "Y = params view":
        Y = p[-n * nr :].reshape(n, nr)
    elif case.arg == "X = Y = params view":
        X, Y = p[: n * n0].reshape(n, n0), p[-n * nr :].reshape(n, nr)
        if n0 == nr:
            Y = X
    elif case.arg == "v = params":
        v = p
    elif case.arg in ("v = reversed params", "params = reversed params"):
        v = p[::-1]
    clean = {k: np.array(a, copy=True) for k, a in (("X", X), ("Y", Y), ("v", v))}

    def outcome(m, X, Y, v):  # a fit that diverges on the clean data must diverge alike
        try:
            return call(case.entry, m, X, Y, v, fit_kwargs)
        except fb.FitDivergedError as exc:  # e.g. X = Adam's moments (~1e3) into a Poisson exp
            return ("FitDivergedError", str(exc))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = outcome(net, X, Y, v)
        want = outcome(twin, clean["X"], clean["Y"], clean["v"])
    same(got, want, f"{case.entry} with {case.arg}")
    same(net.params, twin.params, "parameters afterwards")
    if not np.isfinite(net.params).all():
        raise ContractError("non-finite parameters after an aliasing call")


# ---- valid but extreme values (isolated)
@st.composite
def _extreme_strategy(draw):
    spec = draw(specs())
    entry = draw(st.sampled_from([*entries_for(spec, "X"), "fit", "fit"]))
    what = draw(st.sampled_from(["huge X", "tiny X", "zero X", "huge Y", "huge params", "hyper"]))
    if what == "huge Y" and spec.loss != "squared":
        what = "huge X"
    hyper = {}
    if entry == "fit":
        hyper = draw(
            st.fixed_dictionaries(
                {
                    "lr": st.sampled_from([1e-300, 1e-3, 1.0, 1e10, 1e300]),
                    "l2": st.sampled_from([0.0, 1e-3, 1e300]),
                    "momentum": st.sampled_from([0.0, 0.5, 0.999999]),
                    "optimizer": st.sampled_from(["sgd", "momentum", "nesterov", "adam"]),
                    "batch_size": st.sampled_from([1, 3, 50]),
                    "epochs": st.integers(1, 3),
                }
            )
        )
    n = draw(st.sampled_from([1, 3, 17]))
    if hyper:
        hyper["batch_size"] = min(hyper["batch_size"], n)
    return Case(entry, what, "", spec, n, draw(st.integers(0, 999)), tuple(sorted(hyper.items())))


@prop(
    strategy=_extreme_strategy,
    entry_points="every data entry point, fit",
    description="finite but extreme values (1e300, subnormals, lr 1e300, l2 1e300): a result, "
    "or FitDivergedError with the last good parameters; never NaN parameters",
    isolated=True,
    weight=0.5,
    kind="valid but odd",
)
def check_extreme_values(case: Case) -> None:
    spec = case.spec
    net = make_net(spec, case.seed)
    X, Y, v = clean_data(spec, case.n, case.seed)
    big = float(np.finfo(spec.np_dtype).max) / 8
    X = np.clip(X, -4.0, 4.0)
    if case.arg == "huge X":
        X = X * big
    elif case.arg == "tiny X":
        X = X * float(np.finfo(spec.np_dtype).smallest_subnormal)
    elif case.arg == "zero X":
        X = np.zeros_like(X)
    elif case.arg == "huge Y":
        Y = Y * big
    elif case.arg == "huge params":
        net.params = np.clip(net.params.astype(np.float64) * big, -big, big)
    before = net.params.copy()
    hyper = dict(case.extra)
    try:
        with np.errstate(all="ignore"):
            call(case.entry, net, X, Y, v, hyper)
    except fb.FitDivergedError as exc:
        check_refusal(exc, ("diverged",), ValueError)
        if len(exc.history) != exc.epoch - 1 or not exc.history.diverged:
            raise ContractError(
                f"FitDivergedError history does not match epoch {exc.epoch}"
            ) from exc
        if exc.epoch == 1:
            same(net.params, before, "parameters after divergence in epoch 1")
    if not np.isfinite(net.params).all():
        raise ContractError(f"{case.entry} left non-finite parameters")
    if case.entry != "fit":
        same(net.params, before, f"parameters after {case.entry}")


# ---- data larger than memory: virtual arrays and memory maps (isolated)
#: Entry points that allocate per row (outputs, traces, copies, fit's shuffling index): a
#: virtual array of 10**12 rows must be refused by size before anything is allocated.
_PER_ROW = ("forward", "predict", "predict_proba", "trace", "score", "gradcheck", "hvp", "gnvp",
            "fit")  # fmt: skip


@st.composite
def _large_strategy(draw):
    spec = draw(specs())
    entry = draw(st.sampled_from(entries_for(spec, "X")))
    options = ["memmap X", "memmap X and Y"] if "Y" in DATA_ENTRIES[entry] else ["memmap X"]
    options += ["virtual 10**12 rows"] if entry in _PER_ROW else ["virtual 2*10**5 rows"]
    what = draw(st.sampled_from(options))
    n = draw(st.sampled_from([1, 3, 17]))
    return Case(entry, what, "", spec, n, draw(st.integers(0, 999)))


@prop(
    strategy=_large_strategy,
    entry_points="every data entry point",
    description="data larger than memory: virtual (broadcast) arrays of 10**12 rows are refused "
    "by size (ValueError naming GiB, never MemoryError); memory-mapped X/Y, read chunk by chunk, "
    "give the in-memory result to the bit",
    isolated=True,
    weight=0.2,
    kind="valid but odd",
)
def check_large_data(case: Case) -> None:
    from fastbp import rows, validate

    spec = case.spec
    net, twin = make_net(spec, case.seed), make_net(spec, case.seed)
    X, Y, v = clean_data(spec, case.n, case.seed)
    before = net.params.copy()
    if case.arg.startswith("virtual"):
        rows_n = 10**12 if "12" in case.arg else 2 * 10**5
        Xv = np.broadcast_to(X[:1], (rows_n, spec.n_inputs))
        Yv = np.broadcast_to(Y[:1], (rows_n, *Y.shape[1:]))
        if rows_n == 10**12:
            exc = expect_refusal(lambda: call(case.entry, net, Xv, Yv, v), ("GiB",))
            if isinstance(exc, MemoryError):
                raise ContractError("a MemoryError reached the user") from exc
        else:
            got = call(case.entry, net, Xv, Yv, v)
            want = call(case.entry, twin, X[:1], Y[:1], v)
            if isinstance(got, tuple):  # loss_and_gradient: the mean of identical rows
                np.testing.assert_allclose(got[0], want[0], rtol=1e-4)
                np.testing.assert_allclose(got[1], want[1], rtol=1e-3, atol=1e-6)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-4)
        same(net.params, before, "parameters after a refused call")
        return
    folder = scratch()
    np.save(folder / "X.npy", X)
    np.save(folder / "Y.npy", Y)
    Xm = np.load(folder / "X.npy", mmap_mode="r")
    Ym = np.load(folder / "Y.npy", mmap_mode="r") if "Y" in case.arg else Y
    limit = rows.COPY_LIMIT_BYTES
    rows.COPY_LIMIT_BYTES = validate.COPY_LIMIT_BYTES = 0  # every copy-needing array lazy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = call(case.entry, net, Xm, Ym, v)
            want = call(case.entry, twin, X, Y, v)
    finally:
        rows.COPY_LIMIT_BYTES = validate.COPY_LIMIT_BYTES = limit
    same(got, want, f"{case.entry} with {case.arg}")
    same(net.params, twin.params, "parameters afterwards")


# ---- hostile model files: truncation and byte flips
@dataclass
class _ModelFixture:
    path: Path
    raw: bytes
    net: fb.Network
    csv: Path
    info_out: str
    predict_out: str


_MODELS: dict[str, _ModelFixture] = {}


def _capture(argv: list[str]) -> tuple[int, str, str]:
    """Run ``fastbp ARGV`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def model_fixture(kind: str) -> _ModelFixture:
    """A valid model file as ``fastbp train`` writes it (regression or classification)."""
    if kind in _MODELS:
        return _MODELS[kind]
    d = scratch() / f"model-{kind}"
    d.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    if kind == "reg":
        spec = fb.NetworkSpec([4, 3, 1], ["tanh"], "squared")
        X, Y = rng.normal(size=(20, 4)), rng.normal(size=20)
        arrays = {
            "x_mean": rng.normal(size=4),
            "x_scale": rng.uniform(0.5, 2, size=4),
            "y_mean": np.array([1.5]),
            "y_scale": np.array([2.0]),
        }
        meta = {"dataset": "fuzz", "task": "regression", "target_names": ["y"]}
    else:
        spec = fb.NetworkSpec([4, 3, 3], ["relu"], "softmax_cross_entropy", "float32")
        X, Y = rng.normal(size=(20, 4)), rng.integers(0, 3, size=20)
        arrays = {"x_mean": rng.normal(size=4), "x_scale": rng.uniform(0.5, 2, size=4)}
        meta = {"dataset": "fuzz", "task": "classification", "target_names": ["a", "b", "c"]}
    net = fb.Network(spec, seed=0)
    net.fit(X, Y, epochs=2, optimizer="adam", batch_size=4, progress=False)
    path = d / "model.fastbp"
    net.save(path, arrays=arrays, metadata=meta)
    loaded = fb.Network.load(path)
    csv = d / "rows.csv"
    csv.write_text("\n".join(",".join(f"{x:.6f}" for x in row) for row in X[:5]) + "\n")
    _, info_out, _ = _capture(["info", str(path)])
    code, predict_out, err = _capture(["predict", "--model", str(path), "--data", str(csv)])
    assert code == 0, err
    _MODELS[kind] = _ModelFixture(path, path.read_bytes(), loaded, csv, info_out, predict_out)
    return _MODELS[kind]


def same_network(a: fb.Network, b: fb.Network) -> None:
    same(a.spec, b.spec, "spec")
    same(a.params, b.params, "params")
    same(a.extras, b.extras, "extra arrays")
    same(a.metadata, b.metadata, "metadata")
    same(a.history, b.history, "history")
    same((a.init, a.seed), (b.init, b.seed), "init and seed")
    same(a.optimizer.settings(), b.optimizer.settings(), "optimizer settings")
    same(a.optimizer.state_arrays(), b.optimizer.state_arrays(), "optimizer state")


def check_model_file(fx: _ModelFixture, data: bytes, tag: str) -> None:
    """Write ``data`` as the model file: it loads identically or is refused cleanly, everywhere."""
    path = fx.path.parent / "mutated.fastbp"
    path.write_bytes(data)
    try:
        net = fb.Network.load(path)
    except Exception as exc:  # noqa: BLE001
        check_refusal(exc, (str(path),), ModelFileError)
    else:
        same_network(net, fx.net)
    try:
        header = read_header(path)
    except Exception as exc:  # noqa: BLE001
        check_refusal(exc, (str(path),), ModelFileError)
    else:
        if header["spec"] != fx.net.spec.to_dict():
            raise ContractError(f"{tag}: read_header accepted a different spec")
    for argv, want in (
        (["info", str(path)], fx.info_out.replace(str(fx.path), str(path))),
        (["predict", "--model", str(path), "--data", str(fx.csv)], fx.predict_out),
    ):
        code, out, err = _capture(argv)
        if code == 0:
            if out != want:
                raise ContractError(
                    f"{tag}: fastbp {argv[0]} accepted the file but printed {out!r:.300}"
                )
        else:
            _check_cli_error(code, err, (str(path), "model"), argv)


def _check_cli_error(code: int, err: str, names: tuple[str, ...], argv: list[str]) -> None:
    if code != 2:
        raise ContractError(f"fastbp {argv} exited {code} (expected 0 or 2); stderr {err!r:.300}")
    if "Traceback" in err:
        raise ContractError(f"fastbp {argv} printed a traceback: {err[-500:]}")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if not lines or "error" not in lines[-1]:
        raise ContractError(f"fastbp {argv}: no one-line error on stderr: {err!r:.300}")
    if not any(_word(n).search(lines[-1]) for n in names):
        raise ContractError(f"fastbp {argv}: the error does not name any of {names}: {lines[-1]!r}")


@prop(
    strategy=lambda: st.builds(
        lambda kind, mode, cuts: Case("model file", kind, mode, extra=(("at", cuts),)),
        st.sampled_from(["reg", "clf"]),
        st.sampled_from(["truncate", "flip 1 byte", "flip 3 bytes", "zero a block", "append"]),
        st.lists(st.floats(0, 1, exclude_max=True), min_size=3, max_size=3).map(tuple),
    ),
    entry_points="Network.load, io.read_header, fastbp info, fastbp predict",
    description="random truncation points and byte flips of a valid model file",
    kind="hostile file",
)
def check_model_bytes(case: Case) -> None:
    fx = model_fixture(case.arg)
    raw = bytearray(fx.raw)
    cuts = dict(case.extra)["at"]
    size = len(raw)
    if case.defect == "truncate":
        data = bytes(raw[: int(cuts[0] * size)])
    elif case.defect == "append":
        data = bytes(raw) + bytes(int(c * 255) for c in cuts)
    elif case.defect == "zero a block":
        lo = int(cuts[0] * size)
        data = bytes(raw[:lo]) + bytes(min(64, size - lo)) + bytes(raw[lo + 64 :])
    else:
        for c in cuts[: 1 if case.defect == "flip 1 byte" else 3]:
            pos = int(c * size)
            raw[pos] ^= 1 + int(c * 1e6) % 255
        data = bytes(raw)
    check_model_file(fx, data, repr(case))


# ---- hostile model files: crafted headers
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "squared", "float64", "relu"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
# fmt: off
_HEADER_PATHS = (
    "format", "format_version", "fastbp_version", "created", "spec", "spec.widths",
    "spec.widths.0", "spec.activations", "spec.loss", "spec.dtype", "dtype", "n_params", "init",
    "seed", "optimizer", "optimizer.name", "optimizer.momentum", "optimizer.beta2", "history",
    "history.epoch", "history.loss", "history.interrupted", "history.best_epoch", "metadata",
    "metadata.target_names", "metadata.target_names.0", "arrays", "arrays.0", "optimizer_state",
    "(new field)", "(deleted field)",
)
# fmt: on


def _set_path(header: dict, path: str, value: object) -> None:
    keys = path.split(".")
    node = header
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value


@prop(
    strategy=lambda: st.builds(
        lambda kind, path, value: Case("model header", kind, path, extra=(("value", value),)),
        st.sampled_from(["reg", "clf"]),
        st.sampled_from(_HEADER_PATHS),
        _JSON,
    ),
    entry_points="Network.load, io.read_header, fastbp info, fastbp predict",
    description="valid archives whose JSON header holds arbitrary values in one field",
    kind="hostile file",
)
def check_model_header(case: Case) -> None:
    fx = model_fixture(case.arg)
    with np.load(fx.path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    header = json.loads(members["header"].tobytes().decode("utf-8"))
    value = dict(case.extra)["value"]
    if case.defect == "(new field)":
        header["surprise"] = value
    elif case.defect == "(deleted field)":
        header.pop(sorted(header)[zlib.crc32(json.dumps(value).encode()) % len(header)])
    else:
        try:
            _set_path(header, case.defect, value)
        except (IndexError, KeyError, TypeError):
            return
    members["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **members)
    path = fx.path.parent / "mutated.fastbp"
    path.write_bytes(buf.getvalue())
    try:
        net = fb.Network.load(path)
    except Exception as exc:  # noqa: BLE001
        check_refusal(exc, (str(path),), ModelFileError)
    else:
        if not np.isfinite(net.params).all():
            raise ContractError("a loaded network has non-finite parameters")
        net.forward(np.zeros((2, net.spec.n_inputs)))
        repr(net.history)
    for argv in (
        ["info", str(path)],
        ["predict", "--model", str(path), "--data", str(fx.csv)],
    ):
        code, _, err = _capture(argv)
        if code != 0:
            _check_cli_error(code, err, (str(path), "model"), argv)


# ---- data files for datasets.load_file
_CELLS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e999",
            "-1e999",
            "0x10",
            "1_000",
            '"3"',
            '"4',
            "abc",
            "\u22121",
            "1,5",
            "\x00",
            "\ufeff1",
            "3.",
            ".5",
            "+2",
            "1e-320",
            "\t7 ",
        ]
    ),
)


@st.composite
def _csv_strategy(draw):
    rows = draw(st.integers(0, 6))
    cols = draw(st.integers(1, 4))
    header = draw(st.booleans())
    lines = []
    if header:
        lines.append(
            ",".join(draw(st.sampled_from(["a", "b", "y", "x 1", '"q"', ""])) for _ in range(cols))
        )
    numeric_only = draw(st.booleans())
    for _ in range(rows):
        width = cols if draw(st.integers(0, 9)) else draw(st.integers(1, cols + 2))
        if numeric_only:
            cells = [repr(draw(st.floats(-1e6, 1e6, allow_nan=False))) for _ in range(width)]
        else:
            cells = [draw(_CELLS) for _ in range(width)]
        lines.append(",".join(cells))
    ending = draw(st.sampled_from(["\n", "\r\n", ""]))
    text = ending.join(lines) if ending else "\n".join(lines)
    kwargs = draw(
        st.fixed_dictionaries(
            {
                "target_column": st.sampled_from([-1, 0, 1, -2, "y", "a"]),
                "task": st.sampled_from([None, "classification", "regression"]),
                "dtype": st.sampled_from(DTYPES),
            }
        )
    )
    return Case("load_file", "csv", text[:400], extra=tuple(sorted(kwargs.items())))


def _check_dataset(case: Case, path: Path, kwargs: dict) -> None:
    try:
        data = fb.datasets.load_file(path, **kwargs)
    except Exception as exc:  # noqa: BLE001
        names = (str(path), *kwargs)
        check_refusal(exc, names, ValueError)
        return
    if not (np.isfinite(data.X).all() and data.X.shape[0] == data.y.shape[0] >= 1):
        raise ContractError(f"load_file returned a bad dataset: {data!r}")
    if data.task == "regression" and not np.isfinite(data.y).all():
        raise ContractError("load_file returned non-finite targets")


@prop(
    strategy=_csv_strategy,
    entry_points="datasets.load_file (.csv)",
    description="random CSV text: ragged rows, text, NaN/inf, quotes, NUL, BOM, headers",
    kind="hostile file",
)
def check_csv_files(case: Case) -> None:
    path = scratch() / "fuzz.csv"
    path.write_bytes(case.defect.encode("utf-8"))
    kwargs = dict(case.extra)
    _check_dataset(case, path, kwargs)
    rows = [ln for ln in case.defect.replace("\r\n", "\n").split("\n") if ln.strip()]
    try:
        grid = [[float(c) for c in r.split(",")] for r in rows]
    except ValueError:
        return
    if (
        len(rows) >= 1
        and len({len(r) for r in grid}) == 1
        and len(grid[0]) >= 2
        and all(math.isfinite(x) and abs(x) < 1e30 for r in grid for x in r)
        and isinstance(kwargs["target_column"], int)
        and -len(grid[0]) <= kwargs["target_column"] < len(grid[0])
        and kwargs["task"] != "classification"
    ):
        data = fb.datasets.load_file(path, **{**kwargs, "task": "regression"})
        table = np.array(grid)
        t = kwargs["target_column"] % table.shape[1]
        X = np.delete(table, t, axis=1).astype(kwargs["dtype"])
        same(data.X, X, "parsed CSV features")


_NPZ_RAW: dict[str, bytes] = {}


def _npz_bytes(kind: str) -> bytes:
    if kind not in _NPZ_RAW:
        rng = np.random.default_rng(1)
        buf = io.BytesIO()
        saver = np.savez_compressed if kind == "compressed" else np.savez
        saver(buf, X=rng.normal(size=(6, 3)), y=rng.integers(0, 3, size=6))
        _NPZ_RAW[kind] = buf.getvalue()
    return _NPZ_RAW[kind]


_NPZ_ARRAYS = {
    "X object": lambda rng: {"X": np.array([[1.0, None]], dtype=object), "y": np.ones(1)},
    "y object": lambda rng: {"X": np.ones((1, 2)), "y": np.array([object()])},
    "X structured": lambda rng: {"X": np.zeros(2, dtype=[("a", "f8")]), "y": np.ones(2)},
    "X complex": lambda rng: {"X": np.ones((2, 2), dtype=complex), "y": np.ones(2)},
    "X str": lambda rng: {"X": np.array([["1", "2"]]), "y": np.ones(1)},
    "X 0-d": lambda rng: {"X": np.float64(1.0), "y": np.ones(1)},
    "X 3-D": lambda rng: {"X": np.ones((2, 2, 2)), "y": np.ones(2)},
    "X empty": lambda rng: {"X": np.ones((0, 2)), "y": np.ones(0)},
    "X no columns": lambda rng: {"X": np.ones((2, 0)), "y": np.ones(2)},
    "y 2-D": lambda rng: {"X": np.ones((2, 2)), "y": np.ones((2, 2))},
    "rows differ": lambda rng: {"X": np.ones((3, 2)), "y": np.ones(2)},
    "X NaN": lambda rng: {"X": np.array([[1.0, np.nan]]), "y": np.ones(1)},
    "y inf": lambda rng: {"X": np.ones((1, 2)), "y": np.array([np.inf])},
    "X float16 inf": lambda rng: {
        "X": np.array([[1.0, np.inf]], dtype=np.float16),
        "y": np.ones(1),
    },
    "X too big for float32": lambda rng: {"X": np.array([[1e300, 1.0]]), "y": np.ones(1)},
    "no y": lambda rng: {"X": np.ones((2, 2))},
    "y and Y": lambda rng: {"X": np.ones((2, 2)), "y": np.ones(2), "Y": np.ones(2)},
    "X bool": lambda rng: {"X": np.ones((2, 2), dtype=bool), "y": np.ones(2)},
    "X uint64 huge": lambda rng: {
        "X": np.full((2, 2), 2**64 - 1, dtype=np.uint64),
        "y": np.ones(2),
    },
}


@prop(
    strategy=lambda: st.one_of(
        st.builds(
            lambda kind, mode, cuts: Case("load_file", f"npz {kind}", mode, extra=(("at", cuts),)),
            st.sampled_from(["stored", "compressed"]),
            st.sampled_from(["truncate", "flip 1 byte", "flip 3 bytes"]),
            st.lists(st.floats(0, 1, exclude_max=True), min_size=3, max_size=3).map(tuple),
        ),
        st.builds(
            lambda kind, dtype: Case("load_file", "npz arrays", kind, extra=(("dtype", dtype),)),
            st.sampled_from(sorted(_NPZ_ARRAYS)),
            st.sampled_from(DTYPES),
        ),
    ),
    entry_points="datasets.load_file (.npz)",
    description="truncated and flipped archives; object, structured, complex, NaN, ragged arrays",
    kind="hostile file",
)
def check_npz_files(case: Case) -> None:
    path = scratch() / "fuzz.npz"
    extra = dict(case.extra)
    if case.arg == "npz arrays":
        with open(path, "wb") as f:
            np.savez(f, **_NPZ_ARRAYS[case.defect](None))
        _check_dataset(case, path, {"dtype": extra["dtype"]})
        return
    kind = case.arg.split()[1]
    raw = bytearray(_npz_bytes(kind))
    cuts = extra["at"]
    if case.defect == "truncate":
        data = bytes(raw[: int(cuts[0] * len(raw))])
    else:
        for c in cuts[: 1 if case.defect == "flip 1 byte" else 3]:
            raw[int(c * len(raw))] ^= 1 + int(c * 1e6) % 255
        data = bytes(raw)
    path.write_bytes(data)
    clean = scratch() / "clean.npz"
    clean.write_bytes(_npz_bytes(kind))
    want = fb.datasets.load_file(clean)
    try:
        got = fb.datasets.load_file(path)
    except Exception as exc:  # noqa: BLE001
        check_refusal(exc, (str(path),), ValueError)
    else:
        same((got.X, got.y, got.task), (want.X, want.y, want.task), "a damaged archive's data")


# ---- the command line
# fmt: off
_BASE_TRAIN = [
    "train", "--dataset", "diabetes", "--hidden", "3", "--epochs", "1", "--no-progress", "--json",
]
# fmt: on
# fmt: off
_CLI_JUNK: dict[str, list[str]] = {
    "--epochs": ["-1", "abc", "", "1.5", "nan", "1e3"],
    "--batch-size": ["0", "-5", "abc", "1.5", "100000"],
    "--lr": ["0", "-1", "nan", "inf", "abc", ""],
    "--momentum": ["-0.5", "1", "2", "nan", "inf", "abc"],
    "--l2": ["-1", "nan", "inf", "abc"],
    "--hidden": ["", ",", "0", "-3", "a,b", "3,,0", "10000000,10000000", "1.5"],
    "--activation": ["bogus", "", "RELU"],
    "--loss": ["bogus", "logistic", "softmax_cross_entropy"],
    "--dtype": ["float16", "int", ""],
    "--init": ["bogus", ""],
    "--optimizer": ["bogus", ""],
    "--schedule": ["bogus"],
    "--test-fraction": ["0", "1", "-0.1", "nan", "abc", "0.9999"],
    "--validation-fraction": ["1", "-0.1", "nan", "abc", "0.999"],
    "--patience": ["0", "-1", "abc"],
    "--seed": ["-1", "abc", "1.5"],
    "--dataset": [
        "<missing>.csv", "<dir>", "<text>.csv", "<ragged>.csv", "<pickle>.npz", "<model>.npz",
        "bogus",
    ],
    "--target-column": ["abc", "1.5", "<csv> 99"],
    "--task": ["bogus"],
    "--out": ["<missing dir>/m.fastbp", "<dir>"],
    "--early-stopping": ["<flag>"],
}
# fmt: on
_CLI_NAMES = {
    "--batch-size": ("batch_size", "batch"),
    "--hidden": ("widths", "hidden"),
    "--test-fraction": ("test_fraction",),
    "--validation-fraction": ("validation_fraction",),
    "--early-stopping": ("early_stopping",),
    "--target-column": ("target_column",),
    "--loss": ("loss",),
    "--dataset": ("dataset",),
    "--seed": ("seed",),
    "--momentum": ("momentum",),
    "--l2": ("l2",),
}
# fmt: off
_OTHER_ARGV = [
    ["info"], ["info", "<missing>"], ["info", "<dir>"], ["info", "<text>.csv"],
    ["info", "<model>", "--bogus"], ["predict", "--model", "<model>"],
    ["predict", "--model", "<model>", "--data", "<missing>.csv"],
    ["predict", "--model", "<model>", "--data", "<ragged>.csv"],
    ["predict", "--model", "<model>", "--data", "<wide>.csv"],
    ["predict", "--model", "<text>.csv", "--data", "<rows>.csv"],
    ["predict", "--model", "<pickle>.npz", "--data", "<rows>.csv"],
    ["predict", "--model", "<model>", "--data", "<rows>.csv", "--out", "<missing dir>/p.csv"],
    ["predict", "--model", "<model>", "--data", "<rows>.csv", "--target-column", "abc"],
    ["gradcheck", "--widths", "1"], ["gradcheck", "--widths", "0,1"],
    ["gradcheck", "--widths", "100000000,100000000"],
    ["gradcheck", "--widths", "3,1", "--loss", "softmax_cross_entropy"],
    ["gradcheck", "--batch", "0"], ["gradcheck", "--batch", "10000000000"],
    ["gradcheck", "--max-params", "-1"], ["gradcheck", "--dtype", "float16"],
    ["gradcheck", "--seed", "-3"], ["curvature", "--model", "<model>", "--dataset", "digits"],
    ["curvature", "--model", "<model>", "--dataset", "diabetes", "--samples", "1"],
    ["curvature", "--model", "<missing>", "--dataset", "diabetes"],
    ["curvature", "--model", "<model>", "--dataset", "diabetes", "--iters", "0"], ["bogus"],
    ["--bogus"], ["train", "--bogus"], ["train", "--epochs"], [""],
]
# fmt: on


def _cli_files() -> dict[str, str]:
    d = scratch() / "cli"
    if d.exists():
        return json.loads((d / "index.json").read_text())
    d.mkdir()
    (d / "a-dir").mkdir()
    (d / "text.csv").write_text("a,b\nx,y\n")
    (d / "ragged.csv").write_text("1,2,3\n4,5\n")
    (d / "pickle.npz").write_bytes(b"\x80\x04\x95" + bytes(40))
    (d / "csv.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    fx = model_fixture("reg")
    (d / "model.npz").write_bytes(fx.raw)
    (d / "wide.csv").write_text("1,2,3,4,5,6,7\n")
    index = {
        "<missing>": str(d / "missing"),
        "<missing dir>": str(d / "missing-dir"),
        "<dir>": str(d / "a-dir"),
        "<text>": str(d / "text"),
        "<ragged>": str(d / "ragged"),
        "<pickle>": str(d / "pickle"),
        "<model>": str(fx.path),
        "<rows>": str(fx.csv.with_suffix("")),
        "<wide>": str(d / "wide"),
        "<csv>": str(d / "csv.csv"),
    }
    (d / "index.json").write_text(json.dumps(index))
    return index


def _resolve(token: str, files: dict[str, str]) -> list[str]:
    if token == "<flag>":
        return []
    for key, path in files.items():
        if token.startswith(key):
            rest = token[len(key) :]
            if key == "<model>" and rest == ".npz":
                return [str(Path(files["<csv>"]).parent / "model.npz")]
            if key == "<csv>":
                return [path, *rest.split()]
            return [path + rest]
    return [token]


@prop(
    strategy=lambda: st.one_of(
        st.builds(
            lambda opt, i: Case("fastbp train", opt, _CLI_JUNK[opt][i % len(_CLI_JUNK[opt])]),
            st.sampled_from(sorted(_CLI_JUNK)),
            st.integers(0, 20),
        ),
        st.builds(lambda i: Case("fastbp", "argv", str(i)), st.integers(0, len(_OTHER_ARGV) - 1)),
    ),
    entry_points="fastbp train/predict/info/gradcheck/curvature (cli.main in-process)",
    description="junk option values, unknown options, missing and hostile files",
    weight=0.5,
)
def check_cli_args(case: Case) -> None:
    files = _cli_files()
    if case.entry == "fastbp train":
        argv = list(_BASE_TRAIN)
        value = _resolve(case.defect, files)
        if case.arg == "--target-column" and case.defect.startswith("<csv>"):
            argv += ["--dataset", value[0], "--target-column", value[1]]
        else:
            argv += [case.arg, *value]
        names = (case.arg, case.arg.lstrip("-"), *_CLI_NAMES.get(case.arg, ()), *value)
    else:
        argv = [t for tok in _OTHER_ARGV[int(case.defect)] for t in _resolve(tok, files)]
        names = tuple(t for t in argv if t) + ("fastbp", "COMMAND", "widths", "loss", "batch")
        names += ("dataset", "samples", "model", "seed", "target_column", "iters")
    code, out, err = _capture(argv)
    if code == 0:
        raise ContractError(f"fastbp {argv} accepted junk (exit 0): {out[:200]!r}")
    _check_cli_error(code, err, names, argv)


# ------------------------------------------------------------------------------ running
def examples_for(name: str, profile: str | None = None) -> int:
    base = PROFILES[profile or profile_name()].max_examples
    return max(5, round(base * PROPERTIES[name].weight))


def run_property(
    name: str,
    max_examples: int | None = None,
    profile: str | None = None,
    log: Callable[[str], None] | None = None,
) -> int:
    """Run one property in this process; returns how many examples ran (raises on a failure)."""
    prop_ = PROPERTIES[name]
    profile = profile or profile_name()
    n = max_examples or examples_for(name, profile)
    count = 0

    @settings(PROFILES[profile], max_examples=n)
    @given(prop_.strategy())
    def inner(case) -> None:
        nonlocal count
        count += 1
        if log is not None:
            log(f"case {count}: {case!r}")
        prop_.check(case)

    inner()
    return count


@dataclass
class ChildResult:
    """What a property run in a child process reported."""

    name: str
    returncode: int
    examples: int
    seconds: float
    error: str | None
    last_case: str | None
    stderr: str = field(repr=False, default="")

    @property
    def crashed(self) -> bool:
        return self.returncode < 0 or self.returncode in (134, 139)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.error is None

    def describe(self) -> str:
        if self.crashed:
            return (
                f"the child process running {self.name!r} died (status {self.returncode}) in "
                f"{self.last_case}\n{self.stderr[-3000:]}"
            )
        return (
            f"{self.name!r} failed: {self.error}\nlast case: {self.last_case}\n"
            f"{self.stderr[-3000:]}"
        )


def run_in_child(
    name: str, log_path: Path, max_examples: int | None = None, profile: str | None = None,
    timeout: float = 900,
) -> ChildResult:  # fmt: skip
    """Run a property in a fresh interpreter; a crash is reported with the case that caused it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "run", name, "--log", str(log_path)]
    cmd += ["--profile", profile or profile_name()]
    if max_examples:
        cmd += ["--examples", str(max_examples)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    last = None
    if log_path.exists():
        lines = [
            ln for ln in log_path.read_text(errors="replace").splitlines() if ln.startswith("case ")
        ]
        last = lines[-1] if lines else None
    try:
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        summary = {"examples": 0, "error": None if proc.returncode < 0 else proc.stderr[-2000:]}
    return ChildResult(name, proc.returncode, summary.get("examples", 0), seconds,
                       summary.get("error"), last, proc.stderr)  # fmt: skip


def _segfault_canary(case) -> None:  # used to prove that a crash is caught and named
    import ctypes

    if case >= 3:
        ctypes.string_at(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz_cases", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one property in this process and print a JSON summary")
    r.add_argument("name", choices=[*PROPERTIES, "segfault_canary"])
    r.add_argument("--examples", type=int, default=None)
    r.add_argument("--profile", choices=sorted(PROFILES), default=None)
    r.add_argument("--log", type=Path, default=None, help="append 'case N: ...' lines here")
    sub.add_parser("list", help="list the properties")
    args = parser.parse_args(argv)
    if args.command == "list":
        for p in PROPERTIES.values():
            flag = " [isolated]" if p.isolated else ""
            print(f"{p.name:<18} {p.kind:<14} {p.entry_points}{flag}\n{'':<34}{p.description}")
        return 0
    import faulthandler

    fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if args.log else None
    if fd is not None:
        faulthandler.enable(file=sys.stderr)

        def log(line: str) -> None:  # unbuffered: it must survive a segfault
            os.write(fd, (line.replace("\n", "\\n") + "\n").encode("utf-8", "replace"))
    else:
        log = None
    if args.name == "segfault_canary":
        for i in range(5):
            if log:
                log(f"case {i + 1}: canary {i}")
            _segfault_canary(i)
        return 0
    warnings.simplefilter("error")  # as pytest's filterwarnings = error
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="numba")
    error = None
    count = 0

    def counting_log(line: str) -> None:
        nonlocal count
        count += 1
        if log is not None:
            log(line)

    try:
        run_property(args.name, args.examples, args.profile, counting_log)
    except Exception as exc:  # noqa: BLE001 - reported as JSON
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"property": args.name, "examples": count, "error": error}))
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
