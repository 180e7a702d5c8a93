"""Activation registry: names map to small integer codes that kernels switch on.

Each activation has its value σ(z), derivative σ'(z) and second derivative σ''(z) as scalar
``@jit`` helpers.  Derivatives take both ``z`` and ``a = σ(z)`` so that the cheaper form can be
used (σ' = a(1 − a) for the sigmoid, 1 − a² for tanh).  Tests iterate over :data:`ACTIVATIONS`, so a
new entry here is tested automatically.
"""

from __future__ import annotations

import math

import numpy as np

from fastbp._jit import jit

IDENTITY = 0
RELU = 1
SIGMOID = 2
TANH = 3
SOFTPLUS = 4
LEAKY_RELU = 5

#: Slope of ``leaky_relu`` for negative inputs.
LEAKY_SLOPE = 0.01

#: name -> integer code used inside kernels.
ACTIVATIONS: dict[str, int] = {
    "identity": IDENTITY,
    "relu": RELU,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "softplus": SOFTPLUS,
    "leaky_relu": LEAKY_RELU,
}


#: The same rules as source expressions, for the kernels :mod:`fastbp.specialise` generates:
#: name -> (σ(z), g · σ'(z) given a = σ(z)), with ``{z}``, ``{a}``, ``{g}`` placeholders and the
#: generated module's constants ZERO, ONE, SLOPE (= LEAKY_SLOPE) and DT (its dtype).  ReLU and
#: leaky ReLU test a > 0, which holds exactly when z > 0.  ``tests/test_specialise.py`` checks each
#: pair against :func:`act` and :func:`act_prime`.
EXPRESSIONS: dict[str, tuple[str, str]] = {
    "identity": ("{z}", "{g}"),
    "relu": ("{z} if {z} > ZERO else ZERO", "{g} if {a} > ZERO else ZERO"),
    "sigmoid": ("DT(sigmoid({z}))", "{g} * {a} * (ONE - {a})"),
    "tanh": ("math.tanh({z})", "{g} * (ONE - {a} * {a})"),
    "softplus": ("DT(softplus({z}))", "{g} * DT(sigmoid({z}))"),
    "leaky_relu": ("{z} if {z} > ZERO else SLOPE * {z}", "{g} if {a} > ZERO else SLOPE * {g}"),
}


@jit
def sigmoid(z):
    """Numerically stable logistic function 1 / (1 + exp(−z))."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@jit
def softplus(z):
    """Numerically stable log(1 + exp(z))."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@jit
def act(code, z):
    """σ(z) for the activation with integer ``code``."""
    if code == RELU:
        return z if z > 0 else 0.0 * z
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return math.tanh(z)
    if code == SOFTPLUS:
        return softplus(z)
    if code == LEAKY_RELU:
        return z if z > 0 else LEAKY_SLOPE * z
    return z


@jit
def act_prime(code, z, a):
    """σ'(z), given ``z`` and ``a = σ(z)``."""
    if code == RELU:
        return 1.0 if z > 0 else 0.0
    if code == SIGMOID:
        return a * (1.0 - a)
    if code == TANH:
        return 1.0 - a * a
    if code == SOFTPLUS:
        return sigmoid(z)
    if code == LEAKY_RELU:
        return 1.0 if z > 0 else LEAKY_SLOPE
    return 1.0


@jit
def act_second(code, z, a):
    """σ''(z), given ``z`` and ``a = σ(z)`` (0 almost everywhere for piecewise-linear ones)."""
    if code == SIGMOID:
        return a * (1.0 - a) * (1.0 - 2.0 * a)
    if code == TANH:
        return -2.0 * a * (1.0 - a * a)
    if code == SOFTPLUS:
        s = sigmoid(z)
        return s * (1.0 - s)
    return 0.0


@jit
def piecewise_linear(code):
    """Whether σ'' ≡ 0 (identity, ReLU, leaky ReLU): H v then has no σ'' term at this layer."""
    return code == IDENTITY or code == RELU or code == LEAKY_RELU


def _code(name: str) -> int:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation = {name!r} is unknown; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def evaluate(name: str, z: np.ndarray) -> np.ndarray:
    """σ(z) elementwise, by the same scalar rule the kernels use (:func:`act`).

    For experiments and plots on small arrays (one compiled scalar call per entry), not for
    training.

    Parameters
    ----------
    name : str
        An activation of :data:`ACTIVATIONS`.
    z : array_like
        Pre-activations.

    Returns
    -------
    numpy.ndarray
        σ(z), float64, of z's shape.
    """
    code = _code(name)
    z = np.asarray(z, dtype=np.float64)
    return np.array([act(code, float(v)) for v in z.reshape(-1)]).reshape(z.shape)


def derivative(name: str, z: np.ndarray) -> np.ndarray:
    """σ'(z) elementwise, by the kernels' rule (:func:`act_prime`); see :func:`evaluate`.

    Parameters
    ----------
    name : str
        An activation of :data:`ACTIVATIONS`.
    z : array_like
        Pre-activations.

    Returns
    -------
    numpy.ndarray
        σ'(z), float64, of z's shape.
    """
    code = _code(name)
    z = np.asarray(z, dtype=np.float64)
    flat = [act_prime(code, float(v), act(code, float(v))) for v in z.reshape(-1)]
    return np.array(flat).reshape(z.shape)
