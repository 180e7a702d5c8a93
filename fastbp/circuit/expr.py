"""Circuits from expression text, for the command line: ``"sin(x1 * x2) + exp(x3) / x1"``.

The text is parsed with :mod:`ast` and only a whitelist is accepted: numbers, the variables
``x1..xl``, ``+ - * / **``, unary ``-``/``+`` and calls of the circuit functions (``sin cos exp
log sqrt tanh sigmoid relu softplus``).  Nothing is ever evaluated with ``eval``.
"""

from __future__ import annotations

import ast
import re

from fastbp.circuit import recording
from fastbp.circuit.tape import Circuit

FUNCTIONS = {
    name: getattr(recording, name)
    for name in ("sin", "cos", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "softplus")
}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_VARIABLE = re.compile(r"x([1-9][0-9]*)\Z")


def variables_in(text: str) -> int:
    """The largest k such that ``xk`` appears in ``text`` (so the circuit has k inputs).

    Parameters
    ----------
    text : str
        An expression.

    Returns
    -------
    int
        k, or 0 when no variable appears.

    Raises
    ------
    ValueError
        If ``text`` is not a valid expression.
    """
    names = {node.id for node in ast.walk(_parse(text)) if isinstance(node, ast.Name)}
    found = [int(m.group(1)) for n in names if (m := _VARIABLE.match(n))]
    return max(found, default=0)


def from_expression(text: str, n_inputs: int | None = None) -> Circuit:
    """Record the expression ``text`` (several outputs separated by commas) as a Circuit.

    Parameters
    ----------
    text : str
        E.g. ``"sin(x1 * x2) + exp(x3) / x1"``; commas separate several outputs.
    n_inputs : int, optional
        l, the number of inputs (default: the largest variable index used).

    Returns
    -------
    Circuit
        The recorded circuit (:func:`fastbp.circuit.record` of the expression).

    Raises
    ------
    ValueError
        Naming what is not allowed (unknown names, attribute access, comparisons, ...).
    """
    tree = _parse(text)
    n = variables_in(text) if n_inputs is None else n_inputs

    def f(*xs):
        body = tree.body
        parts = body.elts if isinstance(body, ast.Tuple) else [body]
        outs = tuple(_evaluate(p, xs) for p in parts)
        return outs if len(outs) > 1 else outs[0]

    return recording.record(f, n)


def _parse(text: str) -> ast.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the expression must be non-empty text, e.g. 'sin(x1 * x2) + exp(x3)'")
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"cannot parse expression {text!r}: {exc.msg}") from None


def _evaluate(node: ast.AST, xs: tuple):
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.Name):
        m = _VARIABLE.match(node.id)
        if m and int(m.group(1)) <= len(xs):
            return xs[int(m.group(1)) - 1]
        raise ValueError(f"unknown name {node.id!r}: use x1..x{len(xs)} and {sorted(FUNCTIONS)}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, xs), _evaluate(node.right, xs))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, xs)
        return -value if isinstance(node.op, ast.USub) else value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        return FUNCTIONS[node.func.id](_evaluate(node.args[0], xs))
    raise ValueError(
        f"not allowed in a circuit expression: {ast.unparse(node)!r} (use numbers, x1..xl, "
        f"+ - * / **, and one-argument calls of {sorted(FUNCTIONS)})"
    )
