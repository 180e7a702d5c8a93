"""Random circuits for tests and benchmarks: random DAGs over every op, finite on [-1, 1]^l.

Each node picks an op; its first argument is the oldest node that no later node uses yet, so
every node but the last few feeds the outputs (no dead code to flatter a compiler that removes
it).  The second argument of a binary op is another unused node when there is one (half the
time), else a recent node (one of the last ``window``) with probability 0.70, an input with
probability 0.05 (so every input reaches the outputs by short paths and gradients do not vanish
with depth), any earlier node otherwise, and sometimes a constant.  The generator
tracks an interval [lo, hi] containing each node's value for every x in [-1, 1]^l, and keeps each
op inside its domain by inserting helper nodes where the interval needs it: log, sqrt, negative
or fractional powers and denominators get a positive argument (exp(sin a) or a·a + 1); exp gets
an argument at most 4; any argument larger than 4 in magnitude is squashed by tanh or sigmoid
first.  So values stay finite and away from the poles of every derivative.  A prefix of such a
tape is again such a tape, so the tape is cut at exactly ``n_nodes``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fastbp.circuit import ops as O
from fastbp.circuit.tape import Circuit
from fastbp.validate import positive_int

#: Every op a random circuit draws from by default (all but the leaves).
ALL_OPS: tuple[str, ...] = tuple(op.name for op in O.BY_CODE if op.arity > 0)
#: Only + − × and unary minus: circuits without transcendental functions.
ARITHMETIC_OPS: tuple[str, ...] = ("add", "sub", "mul", "neg")

#: Exponents drawn for POWC; the ones that are not positive integers need a positive argument.
POW_EXPONENTS = (2.0, 3.0, -1.0, 0.5, 1.5, -0.5)

#: Arguments beyond this magnitude are squashed (tanh or sigmoid) before use.
SQUASH_ABOVE = 4.0


def random_circuit(
    n_nodes: int,
    n_inputs: int,
    *,
    n_outputs: int = 1,
    seed: int | np.random.Generator = 0,
    ops: Sequence[str] = ALL_OPS,
    window: int = 64,
    p_const: float = 0.2,
) -> Circuit:
    """A random circuit of exactly ``n_nodes`` nodes whose first ``n_inputs`` nodes are its inputs
    and whose last ``n_outputs`` nodes are its outputs, finite on the box [-1, 1]^l.

    ``ops`` names the ops to draw (uniformly); helper nodes (exp, sin, mul, add, tanh, sigmoid,
    constants) are added as the domains require, so they also appear when not listed.

    Parameters
    ----------
    n_nodes : int
        Total number of nodes.
    n_inputs : int
        Number of inputs (the first nodes).
    n_outputs : int
        Number of outputs.
    seed : int or numpy.random.Generator
        Seed of the draw.
    ops : sequence of str
        Op names to draw from.
    window : int
        How many of the latest nodes count as "recent" when a second argument is drawn (see the
        module docstring).
    p_const : float
        Probability that a second argument is a constant (when it is not an unused node).

    Returns
    -------
    Circuit
        The random circuit.
    """
    n_nodes = positive_int(n_nodes, "n_nodes")
    n_inputs = positive_int(n_inputs, "n_inputs")
    n_outputs = positive_int(n_outputs, "n_outputs")
    window = positive_int(window, "window")
    if not 0.0 <= p_const <= 1.0:
        raise ValueError(f"p_const must be a probability in [0, 1], got {p_const!r}")
    if n_inputs > n_nodes or n_outputs > n_nodes:
        raise ValueError(
            f"n_inputs ({n_inputs}) and n_outputs ({n_outputs}) must not exceed n_nodes ({n_nodes})"
        )
    unknown = [name for name in ops if name not in O.OPS or O.OPS[name].arity == 0]
    if unknown or not ops:
        raise ValueError(f"ops must name non-leaf ops from {list(ALL_OPS)}, got {list(ops)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    b = _Builder(n_inputs)
    codes = [O.OPS[name].code for name in ops]
    while len(b.ops) < n_nodes:
        n_draw = max(64, n_nodes - len(b.ops))
        op_draw = rng.integers(0, len(codes), n_draw).tolist()
        u = rng.random((n_draw, 6)).tolist()
        for k in range(n_draw):
            b.add_random(codes[op_draw[k]], u[k], window, p_const)
            if len(b.ops) >= n_nodes:
                break
    N = n_nodes
    ops_a = np.array(b.ops[:N], dtype=O.OP_DTYPE)
    arg0 = np.array(b.arg0[:N], dtype=O.INDEX_DTYPE)
    arg1 = np.array(b.arg1[:N], dtype=O.INDEX_DTYPE)
    consts = np.array(b.consts[:N], dtype=O.VALUE_DTYPE)
    return Circuit.from_arrays(
        ops_a, arg0, arg1, consts, np.arange(n_inputs), np.arange(N - n_outputs, N)
    )


class _Builder:
    """Appends nodes and keeps the interval [lo, hi] of each node's value."""

    def __init__(self, n_inputs: int) -> None:
        self.ops = [O.INPUT] * n_inputs
        self.arg0 = [-1] * n_inputs
        self.arg1 = [-1] * n_inputs
        self.consts = [0.0] * n_inputs
        self.lo = [-1.0] * n_inputs
        self.hi = [1.0] * n_inputs
        self.flip = 0
        self.n_inputs = n_inputs
        self.unused = list(range(n_inputs))  # nodes no later node reads yet, oldest first

    def node(self, op: int, a: int = -1, b: int = -1, c: float = 0.0) -> int:
        lo, hi = _interval(op, a, b, c, self.lo, self.hi)
        for arg in (a, b):
            if arg in self.unused:
                self.unused.remove(arg)
        self.unused.append(len(self.ops))
        self.ops.append(op)
        self.arg0.append(a)
        self.arg1.append(b)
        self.consts.append(c)
        self.lo.append(lo)
        self.hi.append(hi)
        return len(self.ops) - 1

    def pick(self, u: float, v: float, window: int) -> int:
        n = len(self.ops)
        if u < 0.70:
            return max(0, n - 1 - int(v * window))
        if u < 0.75:
            return min(self.n_inputs - 1, int(v * self.n_inputs))
        return min(n - 1, int(v * n))

    def bounded(self, a: int, limit: float = SQUASH_ABOVE) -> int:
        """a itself if |a| ≤ limit on the box, else tanh(a) or sigmoid(a)."""
        if max(-self.lo[a], self.hi[a]) <= limit:
            return a
        self.flip ^= 1
        return self.node(O.TANH if self.flip else O.SIGMOID, a)

    def positive(self, a: int, floor: float = 0.3) -> int:
        """a itself if a ≥ floor on the box, else exp(sin a) ∈ [1/e, e] or a·a + 1 ≥ 1."""
        if self.lo[a] >= floor:
            return a
        self.flip ^= 1
        if self.flip:
            return self.node(O.EXP, self.node(O.SIN, a))
        return self.node(O.ADD, self.node(O.MUL, a, a), self.node(O.CONST, c=1.0))

    def add_random(self, op: int, u: list[float], window: int, p_const: float) -> None:
        a = self.bounded(self.unused[0] if self.unused else self.pick(u[0], u[1], window))
        if O.BY_CODE[op].arity == 2:
            others = [n for n in self.unused if n != a]
            if others and u[1] < 0.5:
                b = self.bounded(others[0])
            elif u[2] < p_const:
                c = round(4.0 * u[3] - 2.0, 2)
                if op == O.DIV and abs(c) < 0.5:
                    c = 0.5 if c >= 0 else -0.5
                b = self.node(O.CONST, c=c)
            else:
                b = self.bounded(self.pick(u[5], u[3], window))
            if op == O.DIV:
                b = self.positive(b)
            elif u[4] < 0.5:
                a, b = b, a
            self.node(op, a, b)
            return
        c = 0.0
        if op == O.POWC:
            c = POW_EXPONENTS[int(u[4] * len(POW_EXPONENTS))]
            if c < 0 or not c.is_integer():
                a = self.positive(a)
        elif op in (O.LOG, O.SQRT):
            a = self.positive(a)
        self.node(op, a, c=c)


def _interval(op: int, a: int, b: int, c: float, lo: list, hi: list) -> tuple[float, float]:
    """An interval containing node op(a, b; c) given intervals of its arguments."""
    if op == O.CONST:
        return c, c
    la, ha = lo[a], hi[a]
    if op == O.MUL and a == b:
        op, c = O.POWC, 2.0  # a·a is a square, not a product of two independent intervals
    if op in (O.ADD, O.SUB, O.MUL, O.DIV):
        lb, hb = lo[b], hi[b]
        if op == O.ADD:
            return la + lb, ha + hb
        if op == O.SUB:
            return la - hb, ha - lb
        if op == O.DIV:
            lb, hb = 1.0 / hb, 1.0 / lb  # the generator only divides by positive intervals
        ends = (la * lb, la * hb, ha * lb, ha * hb)
        return min(ends), max(ends)
    if op == O.NEG:
        return -ha, -la
    if op in (O.SIN, O.COS):
        return -1.0, 1.0
    monotone = {
        O.EXP: math.exp,
        O.LOG: math.log,
        O.SQRT: math.sqrt,
        O.TANH: math.tanh,
        O.SIGMOID: lambda z: 1.0 / (1.0 + math.exp(-z)),
        O.RELU: lambda z: max(z, 0.0),
        O.SOFTPLUS: lambda z: max(z, 0.0) + math.log1p(math.exp(-abs(z))),
    }
    if op in monotone:
        f = monotone[op]
        return f(la), f(ha)
    # POWC
    if c == 2.0:
        if la >= 0:
            return la * la, ha * ha
        if ha <= 0:
            return ha * ha, la * la
        return 0.0, max(la * la, ha * ha)
    pair = (la**c, ha**c)  # c odd, or the argument is positive: monotone
    return min(pair), max(pair)
