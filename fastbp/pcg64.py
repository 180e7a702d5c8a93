"""NumPy's ``Generator.shuffle`` for a PCG64 generator, compiled: the same draws, to the bit.

An ensemble draws one order of its training rows per member per epoch, and member i must draw
exactly what ``np.random.default_rng(seed + i).permutation(rows)`` draws in a single network's
fit.  NumPy shuffles one array at a time at about 10 ns a row; for 64 members of 20,000 rows that
was a fifth of a small ensemble's epoch.  This module runs NumPy's algorithm itself, on the
generator's state, inside one parallel compiled call for all members (so on every core):

* PCG64 (O'Neill's ``pcg_setseq_128_xsl_rr_64``): the 128-bit state advances as
  state ← state · a + inc (mod 2¹²⁸), and each 64-bit output is the state's high and low
  halves xor-ed, rotated right by the state's top 6 bits.  NumPy hands out 32-bit draws in
  halves of one 64-bit output, low half first, keeping the high half (``has_uint32``,
  ``uinteger``) for the next draw.
* ``shuffle`` of a 1-D array: for i = n−1 down to 1, j uniform in [0, i] by masked rejection
  (the smallest all-ones mask ≥ i, then 32-bit draws), then swap entries i and j.  NumPy
  switches to 64-bit draws for i ≥ 2³²; this module does not, so callers keep to arrays of
  fewer than 2³² entries (:data:`MAX_LENGTH`).

:func:`pack_state` reads a generator's state into six uint64 words and :func:`unpack_state`
writes it back, so a generator can go on where the compiled draws left it.  The tests compare
the shuffles with NumPy's for many seeds and lengths, starting from states with and without a
buffered half.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from fastbp._jit import jit

_U = np.uint64
_LOW32 = np.uint64(0xFFFFFFFF)
#: PCG's default 128-bit multiplier, as its high and low 64-bit words.
MULTIPLIER_HIGH = np.uint64(2549297995355413924)
MULTIPLIER_LOW = np.uint64(4865540595714422341)
_MASK64 = (1 << 64) - 1
#: :func:`shuffle` draws as NumPy does for arrays of at most this many entries.
MAX_LENGTH = 2**32


def pack_state(rng: np.random.Generator) -> np.ndarray:
    """A PCG64 generator's state as uint64[6]: state (high, low), increment (high, low),
    ``has_uint32``, ``uinteger``.

    Parameters
    ----------
    rng : numpy.random.Generator
        A generator on a ``PCG64`` bit generator (``np.random.default_rng``'s).

    Returns
    -------
    numpy.ndarray
        uint64[6].
    """
    st = rng.bit_generator.state
    if st.get("bit_generator") != "PCG64":
        raise TypeError(f"a PCG64 generator is needed, got {st.get('bit_generator')!r}")
    s, inc = int(st["state"]["state"]), int(st["state"]["inc"])
    words = [s >> 64, s & _MASK64, inc >> 64, inc & _MASK64, int(st["has_uint32"]),
             int(st["uinteger"])]  # fmt: skip
    return np.array(words, dtype=np.uint64)


def unpack_state(rng: np.random.Generator, words: np.ndarray) -> None:
    """Set a PCG64 generator's state from :func:`pack_state`'s words (as advanced by
    :func:`shuffle`).

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator to set.
    words : numpy.ndarray
        uint64[6].
    """
    w = [int(x) for x in words]
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
        "has_uint32": w[4],
        "uinteger": w[5],
    }


def _mul_high_emulated(a, b):
    """The high 64 bits of the 128-bit product a · b of two uint64, from 32-bit halves (the
    interpreted version, under ``NUMBA_DISABLE_JIT=1``)."""
    a0 = a & _LOW32
    a1 = a >> _U(32)
    b0 = b & _LOW32
    b1 = b >> _U(32)
    p0 = a0 * b0
    p1 = a0 * b1
    p2 = a1 * b0
    mid = (p0 >> _U(32)) + (p1 & _LOW32) + (p2 & _LOW32)
    return a1 * b1 + (p1 >> _U(32)) + (p2 >> _U(32)) + (mid >> _U(32))


@intrinsic
def _mul_high_native(typingctx, a, b):
    """The high 64 bits of a · b, as one 128-bit multiply in LLVM IR (one ``mul`` on x86-64)."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        x, y = (builder.zext(v, wide) for v in args)
        product = builder.mul(x, y)
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

    return sig, codegen


_mul_high = (
    _mul_high_emulated if numba.config.DISABLE_JIT else _mul_high_native  # type: ignore[attr-defined]
)


def _quiet_when_interpreted(kernel):
    """Under ``NUMBA_DISABLE_JIT=1`` the uint64 arithmetic runs as NumPy scalars, which warn on
    the wrap-around PCG relies on; silence that (compiled code wraps silently)."""
    if not numba.config.DISABLE_JIT:
        return kernel

    @functools.wraps(kernel)
    def quiet(*args):
        with np.errstate(over="ignore"):
            return kernel(*args)

    return quiet


@_quiet_when_interpreted
@jit
def shuffle(data, words):
    """Shuffle the 1-D int64 array ``data`` in place exactly as NumPy's ``Generator.shuffle``
    would with the PCG64 state ``words`` (:func:`pack_state`), and advance ``words``.

    Parameters
    ----------
    data : numpy.ndarray
        int64 (n,), shuffled in place.
    words : numpy.ndarray
        uint64[6], the generator's state; updated.
    """
    hi = words[0]
    lo = words[1]
    inc_hi = words[2]
    inc_lo = words[3]
    has = words[4]
    half = words[5]
    for i in range(data.shape[0] - 1, 0, -1):
        top = _U(i)
        mask = top
        mask |= mask >> _U(1)
        mask |= mask >> _U(2)
        mask |= mask >> _U(4)
        mask |= mask >> _U(8)
        mask |= mask >> _U(16)
        mask |= mask >> _U(32)
        while True:
            if has != _U(0):  # the high half of the last 64-bit output
                has = _U(0)
                value = half
            else:  # advance the state, output 64 bits, use the low half
                new_hi = _mul_high(lo, MULTIPLIER_LOW) + lo * MULTIPLIER_HIGH + hi * MULTIPLIER_LOW
                lo = lo * MULTIPLIER_LOW + inc_lo
                hi = new_hi + inc_hi + (_U(1) if lo < inc_lo else _U(0))
                x = hi ^ lo
                rot = hi >> _U(58)
                out = (x >> rot) | (x << ((_U(64) - rot) & _U(63)))
                has = _U(1)
                half = out >> _U(32)
                value = out & _LOW32
            value = value & mask
            if value <= top:
                break
        j = np.int64(value)
        t = data[j]
        data[j] = data[i]
        data[i] = t
    words[0] = hi
    words[1] = lo
    words[4] = has
    words[5] = half


__all__ = [
    "MAX_LENGTH", "MULTIPLIER_HIGH", "MULTIPLIER_LOW", "pack_state", "shuffle", "unpack_state",
]  # fmt: skip
