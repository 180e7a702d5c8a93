"""fastbp.fastmath against libm and NumPy: a compiled loop ``out[i] = f(x[i])`` per function.

For each function (exp, log1p, tanh, sigmoid, softplus, erf) and dtype (float64, float32), and
for 4096 and 65536 elements, the script times three ways of filling ``out``:

* ``fast``: a loop compiled with fastbp's options (:data:`fastbp._jit.JIT_OPTIONS`, uncached)
  calling :mod:`fastbp.fastmath`;
* ``libm``: the same loop calling what fastbp's kernels call today (``math.exp``, ``math.log1p``,
  ``math.tanh``, ``math.erf``, and :func:`fastbp.activations.sigmoid` / ``softplus``, which call
  ``math.exp`` and ``math.log1p``);
* ``numpy``: the ufunc (``np.exp``, ``np.log1p``, ``np.tanh``, ``scipy.special.expit``,
  ``np.logaddexp(0, x)``, ``scipy.special.erf``; the scipy ones are left out without scipy),
  writing into ``out``.

Inputs are seeded and spread over the range where each function is not saturated.  Each timing is
the median over REPEATS rounds of a ``timeit`` batch (at least 7), the three interleaved in each
round; the script prints the medians in microseconds per call and the ratios libm / fast and
numpy / fast (above 1: fast is faster).  It also prints, per compiled loop, the vector types of
its LLVM IR's arithmetic (``<4 x double>``, ``<8 x float>`` ...), the evidence that LLVM
vectorised it, and the math library functions it still calls (``llvm.exp.v4f64`` is a vector
intrinsic that, without SVML, becomes one libm call per lane).

    python scripts/bench_fastmath.py [--repeats 15] [--sizes 4096 65536]
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import timeit
from functools import partial

import numba
import numpy as np

from fastbp import activations, fastmath
from fastbp._jit import JIT_OPTIONS

try:
    from scipy import special
except ImportError:  # pragma: no cover - scipy is optional
    special = None

#: The loops are compiled without the disk cache, so that they always inline the current
#: fastbp.fastmath (a cached loop would keep the code of the fastmath it was compiled against).
OPTIONS = {**JIT_OPTIONS, "cache": False}

#: Input range per function: where its value is not yet saturated.
RANGES = {
    "exp": (-80.0, 80.0),
    "log1p": (-0.9, 100.0),
    "tanh": (-10.0, 10.0),
    "sigmoid": (-30.0, 30.0),
    "softplus": (-30.0, 30.0),
    "erf": (-4.0, 4.0),
}

LIBM = {
    "exp": math.exp,
    "log1p": math.log1p,
    "tanh": math.tanh,
    "sigmoid": activations.sigmoid,
    "softplus": activations.softplus,
    "erf": math.erf,
}


def _numpy_peers() -> dict:
    peers = {
        "exp": lambda x, out: np.exp(x, out=out),
        "log1p": lambda x, out: np.log1p(x, out=out),
        "tanh": lambda x, out: np.tanh(x, out=out),
        "softplus": lambda x, out: np.logaddexp(x.dtype.type(0), x, out=out),
    }
    if special is not None:
        peers["sigmoid"] = lambda x, out: special.expit(x, out=out)
        peers["erf"] = lambda x, out: special.erf(x, out=out)
    return peers


def make_loop(f):
    """A compiled ``out[i] = f(x[i])`` loop (fastbp's options, no disk cache)."""

    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])

    return numba.njit(**OPTIONS)(loop)


VECTOR_ARITHMETIC = re.compile(r"= (?:fadd|fsub|fmul|fdiv)[^=]*<(\d+) x (double|float)>")
MATH_CALL = re.compile(r"call [^@]*@((?:llvm\.)?(?:exp|log|log1p|tanh|erf|pow)[\w.]*)\(")


def vectorisation(dispatcher, dtype) -> str:
    """What the compiled loop for ``dtype`` does: its vector arithmetic and math-library calls.

    "vector <4 x double>" means LLVM widened the arithmetic; a call such as ``llvm.exp.v4f64``
    is a vector *intrinsic* that, without SVML, the backend splits back into one libm call per
    lane, so the element work stays scalar.
    """
    x = np.zeros(1, dtype)
    (ir,) = [t for sig, t in dispatcher.inspect_llvm().items() if sig[0] == numba.typeof(x)]
    widths = sorted({f"<{n} x {t}>" for n, t in VECTOR_ARITHMETIC.findall(ir)})
    calls = sorted(set(MATH_CALL.findall(ir)))
    text = f"vector {' '.join(widths)}" if widths else "scalar"
    return text + (f"; calls {' '.join(calls)}" if calls else "; no libm calls")


def medians_us(calls: dict, repeats: int, number: int) -> dict:
    """Median over ``repeats`` rounds of one ``timeit`` batch of ``number`` calls per entry, the
    entries interleaved within each round (so that a busy machine slows them alike), in
    microseconds per call."""
    times: dict = {key: [] for key in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            times[key].append(timeit.timeit(call, number=number) / number * 1e6)
    return {key: statistics.median(t) for key, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536])
    ap.add_argument("--functions", nargs="+", default=list(RANGES))
    args = ap.parse_args()
    repeats = max(7, args.repeats)
    peers = _numpy_peers()
    rng = np.random.default_rng(0)
    print(f"numba {numba.__version__}, numpy {np.__version__}; median of {repeats} repeats")
    header = (
        f"{'function':9} {'dtype':8} {'n':>6} {'fast us':>9} {'libm us':>9} {'numpy us':>9}"
        f" {'libm/fast':>9} {'numpy/fast':>10}"
    )
    print(header)
    for name in args.functions:
        fast_loop = make_loop(getattr(fastmath, name))
        libm_loop = make_loop(LIBM[name])
        lo, hi = RANGES[name]
        for dtype in (np.float64, np.float32):
            for n in args.sizes:
                x = rng.uniform(lo, hi, n).astype(dtype)
                out = np.empty_like(x)
                fast_loop(x, out)
                libm_loop(x, out)
                number = max(1, 2_000_000 // n)
                calls = {"fast": partial(fast_loop, x, out), "libm": partial(libm_loop, x, out)}
                if name in peers:
                    calls["numpy"] = partial(peers[name], x, out)
                t = medians_us(calls, repeats, number)
                t_fast, t_libm, t_np = t["fast"], t["libm"], t.get("numpy", math.nan)
                print(
                    f"{name:9} {np.dtype(dtype).name:8} {n:6d} {t_fast:9.1f} {t_libm:9.1f}"
                    f" {t_np:9.1f} {t_libm / t_fast:9.2f} {t_np / t_fast:10.2f}"
                )
            print(f"  {name} {np.dtype(dtype).name} fast: {vectorisation(fast_loop, dtype)}")
            print(f"  {name} {np.dtype(dtype).name} libm: {vectorisation(libm_loop, dtype)}")


if __name__ == "__main__":
    main()
