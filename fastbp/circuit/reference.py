"""Pure-Python tape walker: forward values, reverse adjoints, tangents and Hessian-vector products.

Python floats in lists and the ``math`` module, explicit loops over the nodes, no numpy in the
arithmetic and no numba: the yardstick the compiled sweeps of :mod:`fastbp.circuit.kernels` are
checked against.  Each op's value and local derivatives sit side by side in :func:`local`
and :func:`second`; the sweeps only walk the tape.  Results follow IEEE semantics (1/0 = inf,
log 0 = −inf, log(−1) = nan) like the kernels, instead of raising as ``math`` does.

Notation, node i with arguments a = v[arg0[i]], b = v[arg1[i]] and constant c = consts[i]:
    forward   v[i] = f_i(a, b)
    reverse   v̄[arg] += v̄[i] ∂f_i/∂arg            (v̄ = d output / d v, the adjoint)
    tangent   v̇[i] = ∂f_i/∂a ȧ + ∂f_i/∂b ḃ       (v̇ = directional derivative along v)
    HVP       the tangent of the reverse sweep:  v̄̇[arg] += v̄̇[i] ∂f_i/∂arg + v̄[i] d(∂f_i/∂arg)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fastbp.circuit import ops as O


def _div(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _log(a: float) -> float:
    if a > 0.0:
        return math.log(a)
    return -math.inf if a == 0.0 else math.nan


def _sqrt(a: float) -> float:
    return math.sqrt(a) if a >= 0.0 else math.nan


def _exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


def _trig(fn, a: float) -> float:
    return fn(a) if math.isfinite(a) else math.nan


def _pow(a: float, c: float) -> float:
    try:
        return math.pow(a, c)
    except OverflowError:
        return math.inf
    except ValueError:
        if a == 0.0:  # 0 ** negative
            odd = c.is_integer() and int(c) % 2 == 1
            return math.copysign(math.inf, a) if odd else math.inf
        return math.nan  # negative ** non-integer


def sigmoid(a: float) -> float:
    """1 / (1 + e^−a), computed without overflow for either sign of a.

    Parameters
    ----------
    a : float
        The argument.

    Returns
    -------
    float
        σ(a).
    """
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = _exp(a)
    return e / (1.0 + e)


def softplus(a: float) -> float:
    """log(1 + e^a) = max(a, 0) + log1p(e^−|a|), without overflow.

    Parameters
    ----------
    a : float
        The argument.

    Returns
    -------
    float
        softplus(a).
    """
    if math.isnan(a):
        return a
    return max(a, 0.0) + math.log1p(_exp(-abs(a)))


def relu(a: float) -> float:
    """max(a, 0).

    Parameters
    ----------
    a : float
        The argument.

    Returns
    -------
    float
        relu(a).
    """
    return 0.0 if a <= 0.0 else a


def value(op: int, a: float, b: float, c: float) -> float:
    """v[i] = f_i(a, b) for one node (``a``, ``b`` unused by leaves and unary ops).

    Parameters
    ----------
    op : int
        The node's op code.
    a : float
        The value of its first argument (0 when unused).
    b : float
        The value of its second argument (0 when unused).
    c : float
        Its constant (CONST value or POWC exponent).

    Returns
    -------
    float
        The node's value.
    """
    if op == O.CONST:
        return c
    if op == O.ADD:
        return a + b
    if op == O.SUB:
        return a - b
    if op == O.MUL:
        return a * b
    if op == O.DIV:
        return _div(a, b)
    if op == O.NEG:
        return -a
    if op == O.SIN:
        return _trig(math.sin, a)
    if op == O.COS:
        return _trig(math.cos, a)
    if op == O.EXP:
        return _exp(a)
    if op == O.LOG:
        return _log(a)
    if op == O.SQRT:
        return _sqrt(a)
    if op == O.TANH:
        return math.tanh(a)
    if op == O.SIGMOID:
        return sigmoid(a)
    if op == O.RELU:
        return relu(a)
    if op == O.SOFTPLUS:
        return softplus(a)
    if op == O.POWC:
        return _pow(a, c)
    raise ValueError(f"op {op} has no value rule")


def local(op: int, a: float, b: float, c: float, y: float) -> tuple[float, float]:
    """(∂f/∂a, ∂f/∂b) at a node whose value is y (0 for an argument the op does not read).

    Parameters
    ----------
    op : int
        The node's op code.
    a : float
        The value of its first argument (0 when unused).
    b : float
        The value of its second argument (0 when unused).
    c : float
        Its constant (CONST value or POWC exponent).
    y : float
        The node's value.

    Returns
    -------
    tuple of float
        (∂f/∂a, ∂f/∂b).
    """
    if op == O.ADD:
        return 1.0, 1.0
    if op == O.SUB:
        return 1.0, -1.0
    if op == O.MUL:
        return b, a
    if op == O.DIV:
        return _div(1.0, b), -_div(y, b)
    if op == O.NEG:
        return -1.0, 0.0
    if op == O.SIN:
        return _trig(math.cos, a), 0.0
    if op == O.COS:
        return -_trig(math.sin, a), 0.0
    if op == O.EXP:
        return y, 0.0
    if op == O.LOG:
        return _div(1.0, a), 0.0
    if op == O.SQRT:
        return _div(0.5, y), 0.0
    if op == O.TANH:
        return 1.0 - y * y, 0.0
    if op == O.SIGMOID:
        return y * (1.0 - y), 0.0
    if op == O.RELU:
        return (1.0 if a > 0.0 else 0.0), 0.0
    if op == O.SOFTPLUS:
        return sigmoid(a), 0.0
    if op == O.POWC:
        return c * _pow(a, c - 1.0), 0.0
    return 0.0, 0.0  # input, const


def second(op: int, a: float, b: float, c: float, y: float) -> tuple[float, float, float]:
    """(∂²f/∂a², ∂²f/∂a∂b, ∂²f/∂b²) at a node whose value is y.

    Parameters
    ----------
    op : int
        The node's op code.
    a : float
        The value of its first argument (0 when unused).
    b : float
        The value of its second argument (0 when unused).
    c : float
        Its constant (CONST value or POWC exponent).
    y : float
        The node's value.

    Returns
    -------
    tuple of float
        (∂²f/∂a², ∂²f/∂a∂b, ∂²f/∂b²).
    """
    if op == O.MUL:
        return 0.0, 1.0, 0.0
    if op == O.DIV:
        # f = a/b: f_ab = −1/b², f_bb = 2a/b³ = 2y/b².
        return 0.0, -_div(1.0, b * b), _div(2.0 * y, b * b)
    if op == O.SIN:
        return -y, 0.0, 0.0
    if op == O.COS:
        return -y, 0.0, 0.0
    if op == O.EXP:
        return y, 0.0, 0.0
    if op == O.LOG:
        return -_div(1.0, a * a), 0.0, 0.0
    if op == O.SQRT:
        return -_div(0.25, y * y * y), 0.0, 0.0
    if op == O.TANH:
        return -2.0 * y * (1.0 - y * y), 0.0, 0.0
    if op == O.SIGMOID:
        return y * (1.0 - y) * (1.0 - 2.0 * y), 0.0, 0.0
    if op == O.SOFTPLUS:
        s = sigmoid(a)
        return s * (1.0 - s), 0.0, 0.0
    if op == O.POWC:
        return c * (c - 1.0) * _pow(a, c - 2.0), 0.0, 0.0
    return 0.0, 0.0, 0.0  # add, sub, neg, relu (piecewise linear), leaves


class Tape:
    """A circuit's arrays as Python lists (what every function below walks).

    Parameters
    ----------
    circuit : Circuit
        The circuit whose tape is copied.
    """

    def __init__(self, circuit) -> None:
        self.ops: list[int] = circuit.ops.tolist()
        self.arg0: list[int] = circuit.arg0.tolist()
        self.arg1: list[int] = circuit.arg1.tolist()
        self.consts: list[float] = circuit.consts.tolist()
        self.inputs: list[int] = circuit.inputs.tolist()
        self.outputs: list[int] = circuit.outputs.tolist()

    def args(self, v: list[float], i: int) -> tuple[float, float]:
        """The values in ``v`` of node i's two arguments (0.0 for an unused one).

        Parameters
        ----------
        v : list of float
            One entry per node.
        i : int
            The node.

        Returns
        -------
        tuple of float
            (v[arg0[i]], v[arg1[i]]).
        """
        a = v[self.arg0[i]] if self.arg0[i] >= 0 else 0.0
        b = v[self.arg1[i]] if self.arg1[i] >= 0 else 0.0
        return a, b


def forward(circuit, x: Sequence[float]) -> list[float]:
    """Every node's value v[0..N−1] at the input point x (a list of floats).

    Parameters
    ----------
    circuit : Circuit
        The circuit.
    x : sequence of float
        The point, one value per input.

    Returns
    -------
    list of float
        One value per node.
    """
    t = Tape(circuit)
    v = [0.0] * len(t.ops)
    for k, node in enumerate(t.inputs):
        v[node] = float(x[k])
    for i, op in enumerate(t.ops):
        if op != O.INPUT:
            a, b = t.args(v, i)
            v[i] = value(op, a, b, t.consts[i])
    return v


def outputs(circuit, x: Sequence[float]) -> list[float]:
    """The circuit's outputs at x.

    Parameters
    ----------
    circuit : Circuit
        The circuit.
    x : sequence of float
        The point, one value per input.

    Returns
    -------
    list of float
        One value per output.
    """
    v = forward(circuit, x)
    return [v[node] for node in circuit.outputs.tolist()]


def reverse(circuit, v: list[float], weights: Sequence[float]) -> list[float]:
    """Adjoints v̄ of every node for the output Σ_k weights[k] · output_k (reverse walk).

    Parameters
    ----------
    circuit : Circuit
        The circuit.
    v : list of float
        Every node's value (:func:`forward`).
    weights : sequence of float
        One weight per output.

    Returns
    -------
    list of float
        One adjoint per node.
    """
    t = Tape(circuit)
    v_bar = [0.0] * len(t.ops)
    for k, node in enumerate(t.outputs):
        v_bar[node] += float(weights[k])
    for i in range(len(t.ops) - 1, -1, -1):
        if O.BY_CODE[t.ops[i]].arity == 0:
            continue
        a, b = t.args(v, i)
        da, db = local(t.ops[i], a, b, t.consts[i], v[i])
        v_bar[t.arg0[i]] += v_bar[i] * da
        if t.arg1[i] >= 0:
            v_bar[t.arg1[i]] += v_bar[i] * db
    return v_bar


def gradient(circuit, x: Sequence[float], weights: Sequence[float]) -> list[float]:
    """d(Σ_k weights[k] output_k)/dx, one entry per input.

    Parameters
    ----------
    circuit : Circuit
        The circuit.
    x : sequence of float
        The point, one value per input.
    weights : sequence of float
        One weight per output.

    Returns
    -------
    list of float
        One entry per input.
    """
    v_bar = reverse(circuit, forward(circuit, x), weights)
    return [v_bar[node] for node in circuit.inputs.tolist()]


def tangents(circuit, v: list[float], direction: Sequence[float]) -> list[float]:
    """Tangents v̇ of every node along ``direction`` (forward mode).

    Parameters
    ----------
    circuit : Circuit
        The circuit.
    v : list of float
        Every node's value (:func:`forward`).
    direction : sequence of float
        One entry per input.

    Returns
    -------
    list of float
        One tangent per node.
    """
    t = Tape(circuit)
    v_dot = [0.0] * len(t.ops)
    for k, node in enumerate(t.inputs):
        v_dot[node] = float(direction[k])
    for i, op in enumerate(t.ops):
        if O.BY_CODE[op].arity == 0:
            continue
        a, b = t.args(v, i)
        a_dot, b_dot = t.args(v_dot, i)
        da, db = local(op, a, b, t.consts[i], v[i])
        v_dot[i] = da * a_dot + (db * b_dot if t.arg1[i] >= 0 else 0.0)
    return v_dot


def jvp(circuit, x: Sequence[float], direction: Sequence[float]) -> list[float]:
    """J v: the directional derivative of every output along ``direction``.

    Parameters
    ----------
    circuit : Circuit
        The circuit.
    x : sequence of float
        The point, one value per input.
    direction : sequence of float
        One entry per input.

    Returns
    -------
    list of float
        One entry per output.
    """
    v_dot = tangents(circuit, forward(circuit, x), direction)
    return [v_dot[node] for node in circuit.outputs.tolist()]


def hvp(
    circuit, x: Sequence[float], direction: Sequence[float], weights: Sequence[float]
) -> list[float]:
    """H v for the scalar Σ_k weights[k] output_k: the tangent of the reverse sweep.

    Parameters
    ----------
    circuit : Circuit
        The circuit.
    x : sequence of float
        The point, one value per input.
    direction : sequence of float
        v, one entry per input.
    weights : sequence of float
        One weight per output.

    Returns
    -------
    list of float
        One entry per input.
    """
    t = Tape(circuit)
    v = forward(circuit, x)
    v_dot = tangents(circuit, v, direction)
    v_bar = [0.0] * len(t.ops)
    v_bar_dot = [0.0] * len(t.ops)
    for k, node in enumerate(t.outputs):
        v_bar[node] += float(weights[k])
    for i in range(len(t.ops) - 1, -1, -1):
        op = t.ops[i]
        if O.BY_CODE[op].arity == 0:
            continue
        a, b = t.args(v, i)
        a_dot, b_dot = t.args(v_dot, i)
        c = t.consts[i]
        da, db = local(op, a, b, c, v[i])
        daa, dab, dbb = second(op, a, b, c, v[i])
        # d(∂f/∂a) = f_aa ȧ + f_ab ḃ,  d(∂f/∂b) = f_ab ȧ + f_bb ḃ.
        v_bar[t.arg0[i]] += v_bar[i] * da
        v_bar_dot[t.arg0[i]] += v_bar_dot[i] * da + v_bar[i] * (daa * a_dot + dab * b_dot)
        if t.arg1[i] >= 0:
            v_bar[t.arg1[i]] += v_bar[i] * db
            v_bar_dot[t.arg1[i]] += v_bar_dot[i] * db + v_bar[i] * (dab * a_dot + dbb * b_dot)
    return [v_bar_dot[node] for node in t.inputs]
