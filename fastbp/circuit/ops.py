"""Op-code registry: every node of a circuit tape is one of these ops.

Each op has a small integer code (what the tape stores and the kernels switch on), an arity (how
many of ``arg0``, ``arg1`` it reads; unused arguments are −1) and, for the docs, its local
derivatives.  ``c`` is the node's own constant (``consts[i]``): the value of a CONST node and the
exponent of POWC; other ops ignore it.  Codes are part of the file format: append, never renumber.
Tests iterate over :data:`OPS`, so a new entry here is exercised by the random circuits once
:mod:`fastbp.circuit.generate` knows its domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT = 0
CONST = 1
ADD = 2
SUB = 3
MUL = 4
DIV = 5
NEG = 6
SIN = 7
COS = 8
EXP = 9
LOG = 10
SQRT = 11
TANH = 12
SIGMOID = 13
RELU = 14
SOFTPLUS = 15
POWC = 16

#: dtype of the ``ops`` array of a tape (codes fit in a byte; the file format stores this dtype).
OP_DTYPE = np.dtype(np.int8)
#: dtype of ``arg0``, ``arg1``, ``inputs`` and ``outputs`` (node indices; −1 means unused).
INDEX_DTYPE = np.dtype(np.int64)
#: dtype of ``consts`` and of every value, adjoint and tangent.
VALUE_DTYPE = np.dtype(np.float64)


@dataclass(frozen=True)
class Op:
    """One entry of the registry: code, name, arity and the local derivative(s), as text.

    Parameters
    ----------
    code : int
        The int8 code stored in a tape's ``ops``.
    name : str
        The op's name (``fastbp.circuit.OPS`` key).
    arity : int
        How many argument nodes it reads (0, 1 or 2).
    value : str
        Its value as an equation, e.g. ``"y = a b"``.
    derivative : str
        Its local derivative(s), e.g. ``"dy/da = b, dy/db = a"``.
    """

    code: int
    name: str
    arity: int
    value: str
    derivative: str


#: name -> Op, in code order.
OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op(INPUT, "input", 0, "y = x[k]", "(a leaf: its adjoint is the gradient entry)"),
        Op(CONST, "const", 0, "y = c", "(a leaf: no inputs)"),
        Op(ADD, "add", 2, "y = a + b", "dy/da = 1, dy/db = 1"),
        Op(SUB, "sub", 2, "y = a − b", "dy/da = 1, dy/db = −1"),
        Op(MUL, "mul", 2, "y = a b", "dy/da = b, dy/db = a"),
        Op(DIV, "div", 2, "y = a / b", "dy/da = 1/b, dy/db = −a/b² = −y/b"),
        Op(NEG, "neg", 1, "y = −a", "dy/da = −1"),
        Op(SIN, "sin", 1, "y = sin a", "dy/da = cos a"),
        Op(COS, "cos", 1, "y = cos a", "dy/da = −sin a"),
        Op(EXP, "exp", 1, "y = exp a", "dy/da = y"),
        Op(LOG, "log", 1, "y = log a", "dy/da = 1/a"),
        Op(SQRT, "sqrt", 1, "y = √a", "dy/da = 1/(2y)"),
        Op(TANH, "tanh", 1, "y = tanh a", "dy/da = 1 − y²"),
        Op(SIGMOID, "sigmoid", 1, "y = 1/(1 + exp(−a))", "dy/da = y(1 − y)"),
        Op(RELU, "relu", 1, "y = max(a, 0)", "dy/da = 1 if a > 0 else 0"),
        Op(SOFTPLUS, "softplus", 1, "y = log(1 + exp a)", "dy/da = sigmoid(a)"),
        Op(POWC, "pow", 1, "y = a**c (c a constant)", "dy/da = c a**(c−1)"),
    )
}

#: code -> Op (codes are dense from 0).
BY_CODE: tuple[Op, ...] = tuple(sorted(OPS.values(), key=lambda op: op.code))

#: arity per code, as an array (used by tape validation).
ARITY = np.array([op.arity for op in BY_CODE], dtype=np.int64)

#: Number of op codes; valid codes are 0 .. N_OPS − 1.
N_OPS = len(BY_CODE)


def op_name(code: int) -> str:
    """The name of op ``code``, for error messages.

    Parameters
    ----------
    code : int
        An op code, known or not.

    Returns
    -------
    str
        The op's name, or ``"<unknown op code>"``.
    """
    return BY_CODE[code].name if 0 <= code < N_OPS else f"<unknown op {code}>"
