"""Branch-free exp, expm1, log1p, tanh, logistic, softplus and erf that LLVM vectorises.

Numba's pip build has no SVML, so a loop that calls ``math.tanh`` or ``math.exp`` once per
element stays scalar: each call is a libm call LLVM cannot widen.  The functions here are written
out in arithmetic, integer bit operations and selects (``a if c else b`` on values already
computed), with no data-dependent early return, so a ``@jit`` loop over an array that calls them
vectorises (``scripts/bench_fastmath.py`` prints the vector arithmetic of such a loop's LLVM IR
and the math-library calls left in it, and times it against libm and NumPy).

Each public function takes one float scalar and returns the same type: a float32 argument is
computed in float32 with its own, shorter coefficient set; a float64 (or a Python float) in
float64.  The dtype is chosen when Numba compiles the caller (``numba.extending.overload``), and
by ``isinstance`` when the functions run as plain Python (``NUMBA_DISABLE_JIT=1``), where they do
the same arithmetic on Python floats or NumPy scalars.

Methods
-------
* ``exp``: Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2 (ln2 split in a high part that k
  multiplies exactly and a low part), Taylor polynomial of exp(r) (degree 13 in float64, 7 in
  float32), then 2^k added to the exponent bits (integer arithmetic, immune to ``reassoc``),
  with one rounding multiply by 2^-60 (2^-30) for subnormal results; inf above the overflow
  threshold.  k's low-part product uses k converted back from the integer, so that ``reassoc``
  cannot fold k ln2_hi + k ln2_lo into one product.
* ``expm1``: |x| < 0.7: its Taylor series (degree 17 / 11); otherwise exp(x) − 1 (at most 2
  ulp lost there), −1 exactly where NumPy's is.
* ``log1p``: u = 1 + x = 2^e m with m in [sqrt(1/2), sqrt(2)) taken from the bits of u; the
  rounding error of 1 + x is added back as (x - (u - 1)) / u; log(m) with fdlibm's s = f/(2+f)
  polynomial (``Lg1..Lg7``, ``Lg1..Lg4`` in float32); e ln2 split in two parts.  For e = 0 the
  polynomial takes x itself.  The correction's u - 1 is computed from m and 2^e rather than from
  u, so that ``reassoc`` cannot cancel it away.
* ``tanh``: |x| < 0.55: x + x^3 P(x^2), P a weighted least-squares fit (degree 10 / 4);
  otherwise sign(x) (1 - 2 / (exp(2|x|) + 1)), exactly +-1 from NumPy's
  saturation threshold on (18.990341103219276 in float64, 10 in float32).
* ``sigmoid``: e = exp(-|x|); 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0.
* ``softplus``: max(x, 0) + log1p(exp(-|x|)).
* ``erf``: |x| < 1: x P(x^2) (fit of degree 12 / 5); otherwise
  sign(x) (1 - exp(-x^2) Q(t)), t = 2 / (2 + |x|), Q a fit of exp(x^2) erfc(x) over
  1 <= |x| <= 6 (4 in float32) in powers of t - t0, weighted by exp(-x^2) (the error that
  reaches erf); |x| is clamped to 6 (4), where erf rounds to 1.

The fits were made with mpmath at 50 digits on Chebyshev nodes (least squares, weighted to the
error of the final result) and rounded to the working precision.

Special values behave as in NumPy: NaN in gives NaN out; exp(-inf) = 0, exp(inf) = inf, exp
overflows to inf and underflows through the subnormals to 0; log1p(-1) = -inf, log1p(x < -1) =
NaN, log1p(inf) = inf; tanh(+-inf) = +-1, sigmoid(-inf) = 0, sigmoid(inf) = 1, softplus(inf) =
inf, softplus(-inf) = 0, erf(+-inf) = +-1.  None of this depends on the ``nnan``/``ninf``
fast-math flags, which :mod:`fastbp._jit` leaves out, and it holds under the ``reassoc`` flag it
sets (the tests compile with :data:`fastbp._jit.JIT_OPTIONS`): no step relies on an evaluation
order that reassociation could change (see exp and log1p above).  -0 stays -0 where the function
is odd in plain Python; compiled, the ``nsz`` flag lets LLVM return +0 instead, as in every
fastbp kernel.

The saturation thresholds follow NumPy 2.4 on x86-64 (its tanh is not correctly rounded near
them); another NumPy or libm may saturate one ulp earlier or later.  Compiling a caller costs more
than with ``math.*``: each call inlines a few dozen operations (and softplus, exp plus log1p).

Measured accuracy
-----------------
Maximum error in units in the last place (ulp) of the result's dtype, over dense grids and random
samples of the whole input range (tiny and subnormal, around 0, moderate, near the overflow and
saturation thresholds; ``tests/test_fastmath.py``), compiled with fastbp's options.  Reference:
NumPy's ``np.exp``, ``np.log1p``, ``np.tanh`` for those three; a correctly rounded mpmath value for
``sigmoid``, ``softplus`` and ``erf``.

========  =======  =======
function  float64  float32
========  =======  =======
exp       1        3
expm1     2        2
log1p     2        3
tanh      2        2
sigmoid   2        2
softplus  3        2
erf       1        2
========  =======  =======

(NumPy 2.4 and Numba 0.68 on x86-64 with AVX-512; about 450,000 points per function and dtype
against NumPy, 20,000 against mpmath; the mean error is below 0.31 ulp everywhere.)
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from fastbp._jit import FASTMATH_FLAGS, jit_inline

__all__ = ["erf", "exp", "expm1", "log1p", "sigmoid", "softplus", "tanh"]

F32 = np.float32

# ---------------------------------------------------------------------------------------------
# exp
# ---------------------------------------------------------------------------------------------

#: The largest arguments whose exp NumPy finds finite; above them exp is inf.  Arguments are
#: clamped to [EXP_LO, EXP_OVERFLOW] (below EXP_LO, exp rounds to 0), so that the exponent bits
#: never reach the inf/NaN field and 2^k stays exact.
EXP_OVERFLOW_64 = 709.782712893384
EXP_OVERFLOW_32 = F32(88.72283)
EXP_LO_64 = -746.0
EXP_LO_32 = F32(-104.0)
TWO_M60 = 2.0**-60
TWO_M30_32 = F32(2.0**-30)
INF_64 = np.inf
NAN_64 = np.nan
INF_32 = F32(np.inf)
NAN_32 = F32(np.nan)

LOG2E_64 = 1.4426950408889634
LN2_HI_64 = 0.6931471803691238  # 0x3fe62e42fee00000: k * LN2_HI_64 exact for |k| < 2^11
LN2_LO_64 = 1.9082149292705877e-10
LOG2E_32 = F32(1.4426950408889634)
LN2_HI_32 = F32(0.693359375)  # 0x3f318000: k * LN2_HI_32 exact for |k| < 2^15
LN2_LO_32 = F32(-0.00021219444170128554)

#: 1/n! for n = 2..13 (float64) and n = 2..7 (float32): Taylor series of exp(r), |r| <= ln2/2.
E2, E3, E4, E5, E6, E7 = (1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040)
E8, E9, E10, E11, E12, E13 = (
    1 / 40320,
    1 / 362880,
    1 / 3628800,
    1 / 39916800,
    1 / 479001600,
    1 / 6227020800,
)
E2_32, E3_32, E4_32, E5_32, E6_32, E7_32 = (F32(c) for c in (E2, E3, E4, E5, E6, E7))
ONE_32 = F32(1.0)
HALF_32 = F32(0.5)
TWO_32 = F32(2.0)
ZERO_32 = F32(0.0)


@jit_inline
def exp64(x):
    """exp(x) of a float64, branch-free (Cody-Waite reduction, degree-13 Taylor polynomial)."""
    xc = x if x < EXP_OVERFLOW_64 else EXP_OVERFLOW_64  # NaN too; restored at the end
    xc = xc if xc > EXP_LO_64 else EXP_LO_64
    kf = np.floor(xc * LOG2E_64 + 0.5)
    k = np.int64(kf)
    # k's low part multiplies k converted back from the integer: LLVM cannot prove it equal to
    # kf, so reassoc cannot fold the two products into kf * (LN2_HI + LN2_LO), which would lose
    # the split (hundreds of ulp near the underflow threshold).
    r = (xc - kf * LN2_HI_64) - np.float64(k) * LN2_LO_64
    p = E12 + r * E13
    p = E11 + r * p
    p = E10 + r * p
    p = E9 + r * p
    p = E8 + r * p
    p = E7 + r * p
    p = E6 + r * p
    p = E5 + r * p
    p = E4 + r * p
    p = E3 + r * p
    p = E2 + r * p
    p = 1.0 + r * (1.0 + r * p)
    # 2^k applied in the exponent bits (an integer add, which reassoc cannot regroup); results
    # that are subnormal get k + 60 in the bits and one rounding multiply by 2^-60.
    tiny = k < -1021
    kk = k + 60 if tiny else k
    y = np.int64(np.float64(p).view(np.int64) + (kk << 52)).view(np.float64)
    y = y * (TWO_M60 if tiny else 1.0)
    y = INF_64 if x > EXP_OVERFLOW_64 else y
    return y if x == x else x


@jit_inline
def exp32(x):
    """exp(x) of a float32, in float32 (Cody-Waite reduction, degree-7 Taylor polynomial)."""
    xc = x if x < EXP_OVERFLOW_32 else EXP_OVERFLOW_32
    xc = xc if xc > EXP_LO_32 else EXP_LO_32
    kf = np.floor(xc * LOG2E_32 + HALF_32)
    k = np.int32(kf)
    r = (xc - kf * LN2_HI_32) - np.float32(k) * LN2_LO_32
    p = E6_32 + r * E7_32
    p = E5_32 + r * p
    p = E4_32 + r * p
    p = E3_32 + r * p
    p = E2_32 + r * p
    p = ONE_32 + r * (ONE_32 + r * p)
    tiny = k < -125
    kk = k + 30 if tiny else k
    y = np.int32(np.float32(p).view(np.int32) + (kk << 23)).view(np.float32)
    y = y * (TWO_M30_32 if tiny else ONE_32)
    y = INF_32 if x > EXP_OVERFLOW_32 else y
    return y if x == x else x


# ---------------------------------------------------------------------------------------------
# log1p
# ---------------------------------------------------------------------------------------------

#: Added to the bits of u so that the exponent field counts from sqrt(1/2), not from 1.
SQRT_HALF_SHIFT_64 = 0x3FF0000000000000 - 0x3FE6A09E667F3BCD
SQRT_HALF_SHIFT_32 = 0x3F800000 - 0x3F3504F3

#: fdlibm's e_log.c coefficients: log(1+f) = f - hfsq + s (hfsq + R(s^2)), s = f / (2 + f).
LG1, LG2, LG3, LG4, LG5, LG6, LG7 = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)
#: FreeBSD's e_logf.c coefficients (0xaaaaaa.0p-24, 0xccce13.0p-25, 0x91e9ee.0p-25, 0xf89e26.0p-26).
LG1_32, LG2_32, LG3_32, LG4_32 = (
    F32(0.6666666269302368),
    F32(0.40000972151756287),
    F32(0.2849878668785095),
    F32(0.24279078841209412),
)
LOG_LN2_HI_64 = 6.93147180369123816490e-01
LOG_LN2_LO_64 = 1.90821492927058770002e-10
LOG_LN2_HI_32 = F32(0.6931381225585938)  # 0x3f317180
LOG_LN2_LO_32 = F32(9.05800061445916e-06)  # 0x3717f7d1

#: Below these |x|, log1p(x) rounds to x (x^2 / 2 is under half an ulp of x).  Returning x there
#: also keeps subnormal intermediates (s * f^2 of a tiny f) out of the polynomial: in float32
#: they appeared from |x| < 1e-12 on, which softplus(x) meets for x > 28, and slowed it 3x.
LOG1P_TINY_64 = 2.0**-54
LOG1P_TINY_32 = F32(2.0**-25)


@jit_inline
def log1p64(x):
    """log(1 + x) of a float64, branch-free (fdlibm's log kernel, bit-level exponent split)."""
    u = 1.0 + x
    ok = (u > 0.0) & (u < INF_64)
    us = u if ok else 1.0  # NaN, -inf, <= 0 and inf compute on u = 1 (x = 0); selected away
    xs = x if ok else 0.0
    bits = np.float64(us).view(np.int64)
    e = ((bits + SQRT_HALF_SHIFT_64) >> 52) - 1023
    m = np.int64(bits - (e << 52)).view(np.float64)
    ec = e if e < 1000 else 1000
    v = m * np.int64((ec + 1023) << 52).view(np.float64)  # = u for e < 1000
    c = (xs - (v - 1.0)) / us
    c = c if (e != 0) & (e < 1000) else 0.0
    f = m - 1.0 if e != 0 else xs
    tiny = (e == 0) & (abs(f) < LOG1P_TINY_64)  # log1p(x) rounds to x: polynomial zeroed
    f = 0.0 if tiny else f  # so that no intermediate is subnormal (slow on x86)
    s = f / (2.0 + f)
    z = s * s
    R = z * (LG1 + z * (LG2 + z * (LG3 + z * (LG4 + z * (LG5 + z * (LG6 + z * LG7))))))
    hfsq = 0.5 * f * f
    ef = np.float64(e)
    y = ef * LOG_LN2_HI_64 - ((hfsq - (s * (hfsq + R) + (ef * LOG_LN2_LO_64 + c))) - f)
    y = xs if tiny else y  # +-0 keeps its sign
    y = y if x < INF_64 else x
    return y if x > -1.0 else (-INF_64 if x == -1.0 else NAN_64)


@jit_inline
def log1p32(x):
    """log(1 + x) of a float32, in float32 (fdlibm's logf kernel, bit-level exponent split)."""
    u = ONE_32 + x
    ok = (u > ZERO_32) & (u < INF_32)
    us = u if ok else ONE_32
    xs = x if ok else ZERO_32
    bits = np.float32(us).view(np.int32)
    e = ((bits + SQRT_HALF_SHIFT_32) >> 23) - 127
    m = np.int32(bits - (e << 23)).view(np.float32)
    ec = e if e < 100 else 100
    v = m * np.int32((ec + 127) << 23).view(np.float32)
    c = (xs - (v - ONE_32)) / us
    c = c if (e != 0) & (e < 100) else ZERO_32
    f = m - ONE_32 if e != 0 else xs
    tiny = (e == 0) & (abs(f) < LOG1P_TINY_32)
    f = ZERO_32 if tiny else f
    s = f / (TWO_32 + f)
    z = s * s
    R = z * (LG1_32 + z * (LG2_32 + z * (LG3_32 + z * LG4_32)))
    hfsq = HALF_32 * f * f
    ef = np.float32(e)
    y = ef * LOG_LN2_HI_32 - ((hfsq - (s * (hfsq + R) + (ef * LOG_LN2_LO_32 + c))) - f)
    y = xs if tiny else y
    y = y if x < INF_32 else x
    return y if x > -ONE_32 else (-INF_32 if x == -ONE_32 else NAN_32)


# ---------------------------------------------------------------------------------------------
# tanh, sigmoid, softplus
# ---------------------------------------------------------------------------------------------

TANH_SMALL_64 = 0.55
TANH_SMALL_32 = F32(0.55)
#: From TANH_ONE on, tanh is +-1 exactly, as NumPy's is (NumPy 2.4 on x86-64 gives 1.0 from
#: 18.990341103219276 and 10.0 on, one ulp before the correctly rounded value reaches 1 in
#: float64, one ulp after in float32); beyond, |x| is clamped to TANH_CLAMP, where 1 - 2/(e+1)
#: rounds to 1.
TANH_ONE_64 = 18.990341103219276
TANH_CLAMP_64 = 20.0
TANH_CLAMP_32 = F32(10.0)
#: tanh(x) = x + x^3 P(x^2) on |x| < 0.55 (weighted least squares, mpmath).
T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10 = (
    -0.333333333333333,
    0.13333333333326325,
    -0.05396825396361135,
    0.02186948838202139,
    -0.008863232543810601,
    0.003592091488465451,
    -0.0014555395618353084,
    0.000588431669416535,
    -0.00023335043558498307,
    8.327364281792357e-05,
    -1.9469233179243163e-05,
)
T0_32, T1_32, T2_32, T3_32, T4_32 = (
    F32(-0.33333316445350647),
    F32(0.13332565128803253),
    F32(-0.05385029688477516),
    F32(0.021064136177301407),
    F32(-0.006264368072152138),
)


@jit_inline
def tanh64(x):
    """tanh(x) of a float64, branch-free."""
    ax = abs(x)
    xs = x if ax < TANH_SMALL_64 else 0.0  # the polynomial never sees large, inf or NaN
    z = xs * xs
    p = T9 + z * T10
    p = T8 + z * p
    p = T7 + z * p
    p = T6 + z * p
    p = T5 + z * p
    p = T4 + z * p
    p = T3 + z * p
    p = T2 + z * p
    p = T1 + z * p
    p = T0 + z * p
    small = xs + xs * (z * p)
    small = small if z != 0.0 else xs  # keeps -0 (and tiny x) exactly
    axc = TANH_CLAMP_64 if ax >= TANH_ONE_64 else ax  # NaN stays NaN
    big = 1.0 - 2.0 / (exp64(axc + axc) + 1.0)
    big = big if x > 0.0 else -big
    return small if ax < TANH_SMALL_64 else big


@jit_inline
def tanh32(x):
    """tanh(x) of a float32, in float32, branch-free."""
    ax = abs(x)
    xs = x if ax < TANH_SMALL_32 else ZERO_32
    z = xs * xs
    p = T3_32 + z * T4_32
    p = T2_32 + z * p
    p = T1_32 + z * p
    p = T0_32 + z * p
    small = xs + xs * (z * p)
    small = small if z != ZERO_32 else xs
    axc = TANH_CLAMP_32 if ax > TANH_CLAMP_32 else ax
    big = ONE_32 - TWO_32 / (exp32(axc + axc) + ONE_32)
    big = big if x > ZERO_32 else -big
    return small if ax < TANH_SMALL_32 else big


@jit_inline
def sigmoid64(x):
    """Logistic function 1 / (1 + exp(-x)) of a float64, branch-free."""
    e = exp64(-abs(x))
    r = 1.0 / (1.0 + e)
    return r if x >= 0.0 else e * r


@jit_inline
def sigmoid32(x):
    """Logistic function 1 / (1 + exp(-x)) of a float32, in float32, branch-free."""
    e = exp32(-abs(x))
    r = ONE_32 / (ONE_32 + e)
    return r if x >= ZERO_32 else e * r


@jit_inline
def softplus64(x):
    """log(1 + exp(x)) of a float64, branch-free."""
    return (x if x > 0.0 else 0.0) + log1p64(exp64(-abs(x)))


@jit_inline
def softplus32(x):
    """log(1 + exp(x)) of a float32, in float32, branch-free."""
    return (x if x > ZERO_32 else ZERO_32) + log1p32(exp32(-abs(x)))


# ---------------------------------------------------------------------------------------------
# erf
# ---------------------------------------------------------------------------------------------

ERF_CLAMP_64 = 6.0
ERF_CLAMP_32 = F32(4.0)
#: erf(x) = x P(x^2) on |x| < 1 (weighted least squares, mpmath; relative error 3e-17).
A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12 = (
    1.1283791670955126,
    -0.3761263890318375,
    0.11283791670954854,
    -0.02686617064507231,
    0.0052239776247753195,
    -0.0008548326978430694,
    0.00012055331025793798,
    -1.4925593245923501e-05,
    1.6460968721975601e-06,
    -1.634998274189769e-07,
    1.4657600165778558e-08,
    -1.1364607520605601e-09,
    5.943508233981782e-11,
)
#: exp(x^2) erfc(x) = Q(t - B_T0), t = 2 / (2 + x), 1 <= x <= 6 (error in erfc below 1e-17).
B_T0 = 11 / 24
B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12 = (
    0.2214295402299317,
    0.777089126596927,
    0.8884355425966377,
    0.6180783702157009,
    0.10464967671851466,
    -0.20586173351319625,
    -0.08977905639353564,
    0.11621457943718094,
    0.046087728948454997,
    -0.0949676353607215,
    -0.002738911958140076,
    0.08064529185396957,
    -0.052021248878740704,
)
A0_32, A1_32, A2_32, A3_32, A4_32, A5_32 = (
    F32(1.1283791065216064),
    F32(-0.37612318992614746),
    F32(0.11280130594968796),
    F32(-0.02670994959771633),
    F32(0.004916023463010788),
    F32(-0.0005625396152026951),
)
#: The float32 fit: 1 <= x <= 4, t0 = 1/2 (error in erfc below 3e-10).
B_T0_32 = F32(0.5)
B0_32, B1_32, B2_32, B3_32, B4_32, B5_32 = (
    F32(0.25539568066596985),
    F32(0.8543716669082642),
    F32(0.9666301608085632),
    F32(0.6318780779838562),
    F32(0.05978423357009888),
    F32(-0.23104223608970642),
)


@jit_inline
def erf64(x):
    """Error function of a float64, branch-free."""
    ax = abs(x)
    xs = x if ax < 1.0 else 0.0
    z = xs * xs
    p = A11 + z * A12
    p = A10 + z * p
    p = A9 + z * p
    p = A8 + z * p
    p = A7 + z * p
    p = A6 + z * p
    p = A5 + z * p
    p = A4 + z * p
    p = A3 + z * p
    p = A2 + z * p
    p = A1 + z * p
    p = A0 + z * p
    small = xs * p
    axc = ERF_CLAMP_64 if ax > ERF_CLAMP_64 else ax  # NaN stays NaN
    u = 2.0 / (2.0 + axc) - B_T0
    q = B11 + u * B12
    q = B10 + u * q
    q = B9 + u * q
    q = B8 + u * q
    q = B7 + u * q
    q = B6 + u * q
    q = B5 + u * q
    q = B4 + u * q
    q = B3 + u * q
    q = B2 + u * q
    q = B1 + u * q
    q = B0 + u * q
    big = 1.0 - exp64(-(axc * axc)) * q
    big = big if x > 0.0 else -big
    return small if ax < 1.0 else big


@jit_inline
def erf32(x):
    """Error function of a float32, in float32, branch-free."""
    ax = abs(x)
    xs = x if ax < ONE_32 else ZERO_32
    z = xs * xs
    p = A4_32 + z * A5_32
    p = A3_32 + z * p
    p = A2_32 + z * p
    p = A1_32 + z * p
    p = A0_32 + z * p
    small = xs * p
    axc = ERF_CLAMP_32 if ax > ERF_CLAMP_32 else ax
    u = TWO_32 / (TWO_32 + axc) - B_T0_32
    q = B4_32 + u * B5_32
    q = B3_32 + u * q
    q = B2_32 + u * q
    q = B1_32 + u * q
    q = B0_32 + u * q
    big = ONE_32 - exp32(-(axc * axc)) * q
    big = big if x > ZERO_32 else -big
    return small if ax < ONE_32 else big


# ---------------------------------------------------------------------------------------------
# Public, dtype-dispatching names
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# expm1
# ---------------------------------------------------------------------------------------------

#: Below this |x|, expm1 is its Taylor series (degree 17 / 11: the first term left out is under
#: 2^-55 / 2^-27 of the result); above it, exp(x) − 1, which then loses at most 2 ulp.
EXPM1_SMALL_64 = 0.7
EXPM1_SMALL_32 = F32(0.7)
#: NumPy's expm1 is exactly −1 at and below these (exp(x) − 1 rounds there an ulp differently).
EXPM1_MINUS_ONE_64 = -37.42994775023705
EXPM1_MINUS_ONE_32 = F32(-17.31785)
MINUS_ONE_32 = F32(-1.0)
#: 1/n! for n = 2..17, float64; n = 2..11 in float32.
_M = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in range(2, 18))
(M2, M3, M4, M5, M6, M7, M8, M9, M10, M11, M12, M13, M14, M15, M16, M17) = _M
(M2_32, M3_32, M4_32, M5_32, M6_32, M7_32, M8_32, M9_32, M10_32, M11_32) = (F32(c) for c in _M[:10])


@jit_inline
def expm1_64(x):
    """exp(x) − 1 of a float64, branch-free: Taylor near 0, exp(x) − 1 elsewhere."""
    small = abs(x) < EXPM1_SMALL_64
    xs = x if small else 0.0
    p = M16 + xs * M17
    p = M15 + xs * p
    p = M14 + xs * p
    p = M13 + xs * p
    p = M12 + xs * p
    p = M11 + xs * p
    p = M10 + xs * p
    p = M9 + xs * p
    p = M8 + xs * p
    p = M7 + xs * p
    p = M6 + xs * p
    p = M5 + xs * p
    p = M4 + xs * p
    p = M3 + xs * p
    p = M2 + xs * p
    near = xs + xs * (xs * p)
    far = exp64(x) - 1.0
    far = -1.0 if x <= EXPM1_MINUS_ONE_64 else far
    return near if small else far


@jit_inline
def expm1_32(x):
    """exp(x) − 1 of a float32, in float32, branch-free."""
    small = abs(x) < EXPM1_SMALL_32
    xs = x if small else ZERO_32
    p = M10_32 + xs * M11_32
    p = M9_32 + xs * p
    p = M8_32 + xs * p
    p = M7_32 + xs * p
    p = M6_32 + xs * p
    p = M5_32 + xs * p
    p = M4_32 + xs * p
    p = M3_32 + xs * p
    p = M2_32 + xs * p
    near = xs + xs * (xs * p)
    far = exp32(x) - ONE_32
    far = MINUS_ONE_32 if x <= EXPM1_MINUS_ONE_32 else far
    return near if small else far


def exp(x):
    """Exponential e^x, vectorisable; float32 in, float32 out.

    Parameters
    ----------
    x : float
        A float32 or float64 scalar (a Python float counts as float64).

    Returns
    -------
    float
        exp(x) in the dtype of ``x``; 0 below the underflow threshold, inf above the overflow
        threshold, NaN for NaN.
    """
    return exp32(x) if isinstance(x, np.float32) else exp64(x)


def expm1(x):
    """exp(x) − 1, accurate near 0, vectorisable; float32 in, float32 out.

    Parameters
    ----------
    x : float
        A float32 or float64 scalar (a Python float counts as float64).

    Returns
    -------
    float
        exp(x) − 1 in the dtype of ``x``: −1 below the underflow threshold, inf above the
        overflow threshold, NaN for NaN.
    """
    return expm1_32(x) if isinstance(x, np.float32) else expm1_64(x)


def log1p(x):
    """log(1 + x), accurate near 0, vectorisable; float32 in, float32 out.

    Parameters
    ----------
    x : float
        A float32 or float64 scalar.

    Returns
    -------
    float
        log1p(x) in the dtype of ``x``: -inf at -1, NaN below -1 and for NaN, inf at inf.
    """
    return log1p32(x) if isinstance(x, np.float32) else log1p64(x)


def tanh(x):
    """Hyperbolic tangent, vectorisable; float32 in, float32 out.

    Parameters
    ----------
    x : float
        A float32 or float64 scalar.

    Returns
    -------
    float
        tanh(x) in the dtype of ``x``; +-1 at +-inf (and wherever NumPy's tanh rounds to +-1).
    """
    return tanh32(x) if isinstance(x, np.float32) else tanh64(x)


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), vectorisable; float32 in, float32 out.

    Parameters
    ----------
    x : float
        A float32 or float64 scalar.

    Returns
    -------
    float
        The logistic function of ``x`` in its dtype: 0 at -inf, 1 at inf.
    """
    return sigmoid32(x) if isinstance(x, np.float32) else sigmoid64(x)


def softplus(x):
    """Softplus log(1 + exp(x)), vectorisable; float32 in, float32 out.

    Parameters
    ----------
    x : float
        A float32 or float64 scalar.

    Returns
    -------
    float
        softplus(x) in the dtype of ``x``: 0 at -inf, inf at inf.
    """
    return softplus32(x) if isinstance(x, np.float32) else softplus64(x)


def erf(x):
    """Error function, vectorisable; float32 in, float32 out.

    Parameters
    ----------
    x : float
        A float32 or float64 scalar.

    Returns
    -------
    float
        erf(x) in the dtype of ``x``; +-1 at +-inf.
    """
    return erf32(x) if isinstance(x, np.float32) else erf64(x)


def _register(public, impl64, impl32) -> None:
    """Make ``public`` callable from compiled code: float32 -> ``impl32``, else ``impl64``."""

    def typer(x):
        if isinstance(x, types.Float) and x.bitwidth == 32:
            return lambda x: impl32(x)
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return lambda x: impl64(np.float64(x))
        return None

    # The stub is inlined into the caller (Numba IR), whose fast-math flags then rule; its own
    # options are fastbp's all the same.
    overload(
        public,
        jit_options={"fastmath": set(FASTMATH_FLAGS), "error_model": "numpy"},
        inline="always",
    )(typer)


for _public, _impl64, _impl32 in (
    (exp, exp64, exp32),
    (expm1, expm1_64, expm1_32),
    (log1p, log1p64, log1p32),
    (tanh, tanh64, tanh32),
    (sigmoid, sigmoid64, sigmoid32),
    (softplus, softplus64, softplus32),
    (erf, erf64, erf32),
):
    _register(_public, _impl64, _impl32)
