"""fastbp.fastmath against NumPy and mpmath: ulp error over the whole range, special values, dtype.

Tolerance: ``MAX_ULP = 4`` units in the last place of the result's dtype, the issue's bound.  The
references are NumPy's ``exp``, ``log1p`` and ``tanh`` (the values fastbp's kernels get today,
themselves within 1 ulp or so of exact) and, for ``sigmoid``, ``softplus`` and ``erf``, whose NumPy
expressions are inexact, mpmath at 80 bits rounded to float64 (and from there to float32: the
double rounding is off only when the exact value lies within 2^-80 relative of a float32 tie).

Where the reference saturates (0, +-1, +-inf) the function must give exactly that value, and NaN
exactly where the reference is NaN.  The functions run compiled inside a loop built with fastbp's
options (:data:`fastbp._jit.JIT_OPTIONS`, ``reassoc`` included), without the disk cache so that
the loop always inlines the current module.  Under ``NUMBA_DISABLE_JIT=1`` the same tests run the
plain-Python path on smaller samples (they take NumPy scalars, one at a time).
"""

from __future__ import annotations

import re
import warnings

import mpmath
import numba
import numpy as np
import pytest

from fastbp import fastmath
from fastbp._jit import JIT_OPTIONS

MAX_ULP = 4
NAMES = ["exp", "expm1", "log1p", "tanh", "sigmoid", "softplus", "erf"]
DTYPES = [np.float64, np.float32]
JIT = not numba.config.DISABLE_JIT
#: Sample sizes: the compiled loops take millions of points in a fraction of a second; the
#: plain-Python path (and the mpmath references) a few thousand.
N_GRID = 200_001 if JIT else 10_001
N_RANDOM = 200_000 if JIT else 10_000
N_MPMATH = 6_000 if JIT else 2_000

OPTIONS = {**JIT_OPTIONS, "cache": False}

#: Where each function changes: a dense grid covers it (beyond, it saturates or is smooth).
CORE = {
    "exp": (-750.0, 712.0),
    "expm1": (-750.0, 712.0),
    "log1p": (-1.0, 40.0),
    "tanh": (-21.0, 21.0),
    "sigmoid": (-750.0, 750.0),
    "softplus": (-750.0, 750.0),
    "erf": (-6.5, 6.5),
}
#: Points around the thresholds in the code and in the dtype (overflow, underflow, saturation).
EDGES = {
    "exp": [
        709.782712893384,
        709.7827128933841,
        709.8,
        -745.13321910194122,
        -745.1332191019412,
        -708.4,
        -708.3964185322641,
        88.72283,
        88.72284,
        -103.972084,
        -87.33654,
        0.34657359,
        -0.34657359,
    ],  # fmt: skip
    "expm1": [0.7, -0.7, 0.6999999999999998, 0.7000000000000001, 709.78, 709.8, -40.0, 1e-300],
    "log1p": [
        -1.0,
        -0.9999999999999999,
        -0.5,
        -0.2928932188134524,
        0.41421356237309515,
        1e-300,
        -1e-300,
        5e-324,
        2.0**53,
        1e300,
        np.finfo(np.float64).max,
    ],  # fmt: skip
    "tanh": [0.55, -0.55, 0.5499999, 9.0, 9.01, 19.06, 20.0, 22.0, 1e-300, 5e-324, 1e300],
    "sigmoid": [36.7, 36.8, 37.0, -745.0, -745.2, -103.0, 16.6, 17.0, 1e300, -1e300],
    "softplus": [36.0, 37.0, 40.0, -745.0, -745.2, -103.0, 16.0, 1e300, -1e300, 5e-324],
    "erf": [
        1.0,
        0.9999999999999999,
        1.0000000000000002,
        3.92,
        4.0,
        5.9,
        5.93,
        6.0,
        6.1,
        1e-300,
        5e-324,
        1e300,
    ],  # fmt: skip
}

_LOOPS: dict = {}


def loop(name: str):
    """A compiled ``out[i] = f(x[i])`` loop (plain Python under NUMBA_DISABLE_JIT)."""
    if name not in _LOOPS:
        f = getattr(fastmath, name)

        def run(x, out):
            for i in range(x.shape[0]):
                out[i] = f(x[i])

        _LOOPS[name] = numba.njit(**OPTIONS)(run)
    return _LOOPS[name]


def loop_ir(name: str, dtype) -> str:
    """The LLVM IR of the compiled loop for ``dtype``."""
    run = loop(name)
    x = np.linspace(-1, 1, 16).astype(dtype)
    run(x, np.empty_like(x))
    (ir,) = [text for sig, text in run.inspect_llvm().items() if sig[0] == numba.typeof(x)]
    return ir


def apply(name: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the plain-Python path raises no NumPy warning either
        loop(name)(x, out)
    return out


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of representable values between ``a`` and ``b`` (0 for two NaNs, inf for one)."""
    bits = np.int64 if a.dtype == np.float64 else np.int32
    ia = a.view(bits).astype(np.int64)
    ib = b.view(bits).astype(np.int64)
    mask = np.int64(np.iinfo(bits).max)
    oa = np.where(ia < 0, -(ia & mask), ia)
    ob = np.where(ib < 0, -(ib & mask), ib)
    d = np.abs(oa - ob).astype(np.float64)
    na, nb = np.isnan(a), np.isnan(b)
    d[na & nb] = 0.0
    d[na ^ nb] = np.inf
    return d


def _mp_sigmoid(v):
    return 1 / (1 + mpmath.exp(-v))


def _mp_softplus(v):
    return mpmath.log1p(mpmath.exp(v)) if v < 0 else v + mpmath.log1p(mpmath.exp(-v))


MPMATH = {"sigmoid": _mp_sigmoid, "softplus": _mp_softplus, "erf": mpmath.erf}
#: The values each function saturates at (rounds to in the dtype beyond some threshold).
SATURATES = {
    "exp": (0.0, np.inf),
    "expm1": (-1.0, np.inf),
    "log1p": (np.inf, -np.inf),
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "softplus": (0.0, np.inf),
    "erf": (-1.0, 1.0),
}
SPECIAL_LIMITS = {  # value at -inf, +inf
    "exp": (0.0, np.inf),
    "expm1": (-1.0, np.inf),
    "log1p": (np.nan, np.inf),
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "softplus": (0.0, np.inf),
    "erf": (-1.0, 1.0),
}


def reference(name: str, x: np.ndarray) -> np.ndarray:
    """NumPy's value (exp, log1p, tanh) or mpmath's, rounded to x's dtype."""
    if name in MPMATH:
        f = MPMATH[name]
        with mpmath.workprec(80):
            ref = [float(f(mpmath.mpf(float(v)))) if np.isfinite(v) else np.nan for v in x]
        with np.errstate(over="ignore"):  # beyond float32's range: rounds to inf
            ref = np.array(ref).astype(x.dtype)
        lo, hi = SPECIAL_LIMITS[name]
        ref[x == -np.inf] = lo
        ref[x == np.inf] = hi
        ref[np.isnan(x)] = np.nan
        return ref
    with np.errstate(all="ignore"):
        return getattr(np, name)(x)


def samples(name: str, dtype, rng: np.random.Generator) -> np.ndarray:
    """Dense grids, threshold neighbourhoods and log-uniform random values over the dtype."""
    info = np.finfo(dtype)
    lo, hi = CORE[name]
    edges = np.array([e for e in EDGES[name] if abs(e) <= float(info.max)], dtype=dtype)
    magnitude = np.exp2(rng.uniform(np.log2(info.smallest_subnormal), np.log2(info.max), N_RANDOM))
    with np.errstate(over="ignore"):  # the neighbours of the largest value include inf
        near = np.concatenate([np.nextafter(edges, dtype(np.inf)), np.nextafter(edges, -np.inf)])
    parts = [
        np.linspace(lo, hi, N_GRID),
        np.linspace(-2.0, 2.0, N_GRID // 4),
        magnitude * rng.choice([-1.0, 1.0], N_RANDOM),
        edges,
        -edges,
        near,
        -near,
    ]
    with np.errstate(over="ignore"):
        x = np.concatenate([np.asarray(p, dtype=np.float64).astype(dtype) for p in parts])
    if name == "log1p":
        x = x[x >= -1]
        x = np.concatenate([x, (np.linspace(-1.0, -0.5, N_GRID // 4)).astype(dtype)])
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_fastmath_matches_reference_within_4_ulp(name: str, dtype) -> None:
    rng = np.random.default_rng(0)
    x = samples(name, dtype, rng)
    if name in MPMATH:
        with np.errstate(over="ignore"):  # edges beyond float32's range become inf
            special = x[np.isin(x, np.array(EDGES[name]).astype(dtype))]
        x = np.concatenate([rng.choice(x, N_MPMATH, replace=False), special, -special])
    got = apply(name, x)
    assert got.dtype == dtype
    ref = reference(name, x)
    d = ulp_distance(got, ref)
    worst = int(np.argmax(d))
    assert d.max() <= MAX_ULP, f"{name}({x[worst]!r}) = {got[worst]!r}, reference {ref[worst]!r}"
    # Saturation and special values exactly where the reference has them.
    for value in SATURATES[name]:
        at = ref == value
        if name == "expm1" and value == -1.0:
            # Where the exact e^x − 1 rounds to −1 (e^x below half an ulp of 1): x <= ln 2^-54 in
            # float64 (ln 2^-25 in float32).  Older NumPy (1.24, glibc's expm1) already returns
            # −1 an ulp early just above that point; fastmath rounds there correctly (within
            # the ulp bound checked above).
            at &= x <= np.log(2.0) * (-54 if dtype == np.float64 else -25)
        np.testing.assert_array_equal(got[at], ref[at], err_msg=f"{name} where reference={value}")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_fastmath_special_values(name: str, dtype) -> None:
    lo, hi = SPECIAL_LIMITS[name]
    x = np.array([np.nan, -np.inf, np.inf, 0.0, -0.0], dtype=dtype)
    got = apply(name, x)
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:3], np.array([lo, hi], dtype=dtype))
    zero = {"exp": 1.0, "log1p": 0.0, "tanh": 0.0, "sigmoid": 0.5, "softplus": np.log(2.0)}
    np.testing.assert_allclose(got[3:], zero.get(name, 0.0), rtol=np.finfo(dtype).eps)
    if not JIT and name in ("log1p", "tanh", "erf"):
        # Odd at 0: plain Python keeps the sign of zero.  Compiled code may not: fastbp's
        # fast-math flags include nsz (no signed zeros), as they do for every kernel.
        assert np.signbit(got[4]) and not np.signbit(got[3])
    if name == "log1p":
        got = apply(name, np.array([-1.0, -1.5, -np.inf, -np.finfo(dtype).max], dtype=dtype))
        assert got[0] == -np.inf and np.isnan(got[1:]).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_fastmath_keeps_the_dtype(name: str, dtype) -> None:
    f = getattr(fastmath, name)
    if JIT:
        # Compiled, the float32 loop holds no float64 arithmetic and no conversion to or from
        # float64: the function computes and returns float32.
        ir = loop_ir(name, dtype)
        if dtype is np.float32:
            assert not re.search(r"= (fadd|fsub|fmul|fdiv|fpext|fptrunc)[^=]* double", ir)
        assert re.search(rf"fmul [^=]*{'float' if dtype is np.float32 else 'double'}", ir)
    else:
        assert type(f(dtype(0.3))) is dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_fastmath_loop_equals_scalar_calls(name: str, dtype) -> None:
    """The vectorised loop body (SIMD lanes) gives the bits of one scalar call per element.

    Each element is also run alone, through the same compiled loop on a one-element slice,
    which takes the loop's scalar path: the two must agree bit for bit (fastbp's flags leave
    out ``contract``, so lanes and scalar code round alike).
    """
    rng = np.random.default_rng(1)
    lo, hi = CORE[name]
    x = np.concatenate(
        [rng.uniform(lo, hi, 203), rng.uniform(-2, 2, 101), [np.nan, np.inf, -np.inf, 0.0, -0.0]]
    ).astype(dtype)
    got = apply(name, x)
    scalar = np.concatenate([apply(name, x[i : i + 1]) for i in range(x.size)])
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), scalar.view(f"u{got.itemsize}"))


@pytest.mark.skipif(not JIT, reason="inspects compiled code")
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_fastmath_loop_vectorises(name: str, dtype) -> None:
    """The loop's LLVM IR multiplies vectors and calls no math library function."""
    ir = loop_ir(name, dtype)
    scalar = "double" if dtype is np.float64 else "float"
    assert re.search(rf"fmul [^=]*<\d+ x {scalar}>", ir), "no vector multiply: not vectorised"
    calls = set(re.findall(r"call [^@]*@([\w.]+)\(", ir))
    libm = {c for c in calls if re.search(r"(exp|log|tanh|erf|pow)", c)}
    assert not libm, f"math library calls left in the loop: {sorted(libm)}"
