"""Recording: ordinary Python over :class:`Var` objects, lowered to a :class:`Circuit` tape.

``record(f, n_inputs)`` hands f one Var per input; every ``+ - * /``, unary minus, ``**`` with a
constant exponent and every call of :func:`sin`, :func:`cos`, :func:`exp`, :func:`log`,
:func:`sqrt`, :func:`tanh`, :func:`sigmoid`, :func:`relu`, :func:`softplus` on a Var appends one
node to the tape.  Python numbers become CONST nodes (one node per distinct value).  Recording is
plain Python and compiles nothing; the same functions applied to plain numbers return floats, so
f also runs as an ordinary function.  Control flow cannot depend on a Var (it has no value while
recording): use relu, sigmoid or softplus for the smooth and piecewise-linear switches.
"""

from __future__ import annotations

import math
import numbers
import struct
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from fastbp.circuit import ops as O
from fastbp.circuit import reference
from fastbp.circuit.tape import Circuit


class Recorder:
    """The tape being written: one entry per node in ``ops``, ``arg0``, ``arg1``, ``consts``."""

    def __init__(self) -> None:
        self.ops: list[int] = []
        self.arg0: list[int] = []
        self.arg1: list[int] = []
        self.consts: list[float] = []
        self.inputs: list[int] = []
        self._const_nodes: dict[bytes, int] = {}
        self.closed = False

    def append(self, op: int, a: int = -1, b: int = -1, c: float = 0.0) -> Var:
        """Record one node.

        Parameters
        ----------
        op : int
            Its op code.
        a : int
            Its first argument node (−1 when unused).
        b : int
            Its second argument node (−1 when unused).
        c : float
            Its constant (CONST value or POWC exponent; 0 otherwise).

        Returns
        -------
        Var
            The new node.

        Raises
        ------
        RuntimeError
            If the recording has finished.
        """
        if self.closed:
            raise RuntimeError(
                "this variable belongs to a recording that has finished; record inside the "
                "function passed to record()"
            )
        self.ops.append(op)
        self.arg0.append(a)
        self.arg1.append(b)
        self.consts.append(c)
        return Var(self, len(self.ops) - 1)

    def input(self) -> Var:
        """Record the next INPUT node.

        Returns
        -------
        Var
            The new input.
        """
        var = self.append(O.INPUT)
        self.inputs.append(var.node)
        return var

    def const(self, value: float) -> Var:
        """The CONST node holding ``value`` (created once per distinct value, bit for bit).

        Parameters
        ----------
        value : float
            The constant.

        Returns
        -------
        Var
            Its node.
        """
        key = struct.pack("<d", value)
        node = self._const_nodes.get(key)
        if node is None:
            node = self.append(O.CONST, c=value).node
            self._const_nodes[key] = node
        return Var(self, node)

    def lift(self, value: object) -> Var:
        """A Var of this recorder for a Var or a real number.

        Parameters
        ----------
        value : Var or numbers.Real
            A variable of this recording, or a finite real number (recorded as a constant).

        Returns
        -------
        Var
            The variable.

        Raises
        ------
        ValueError
            If ``value`` belongs to another recording or is not finite.
        TypeError
            If ``value`` is neither a Var nor a real number.
        """
        if isinstance(value, Var):
            if value.recorder is not self:
                raise ValueError("cannot combine variables from two different recordings")
            return value
        return self.const(_number(value))

    def circuit(self, outputs: Sequence[object]) -> Circuit:
        """Close the recording and lower it to a validated Circuit with these outputs.

        Parameters
        ----------
        outputs : sequence of Var or numbers.Real
            The outputs, in order.

        Returns
        -------
        Circuit
            The validated circuit.
        """
        nodes = [self.lift(v).node for v in outputs]
        self.closed = True
        return Circuit.from_arrays(
            np.array(self.ops, dtype=O.OP_DTYPE),
            np.array(self.arg0, dtype=O.INDEX_DTYPE),
            np.array(self.arg1, dtype=O.INDEX_DTYPE),
            np.array(self.consts, dtype=O.VALUE_DTYPE),
            np.array(self.inputs, dtype=O.INDEX_DTYPE),
            np.array(nodes, dtype=O.INDEX_DTYPE),
        )


def _number(value: object) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"a circuit can combine variables with real numbers only, got {type(value).__name__}"
        )
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"circuit constants must be finite, got {v}")
    return v


class Var:
    """A node of the circuit being recorded.  It has no value; operators record nodes.

    Parameters
    ----------
    recorder : Recorder
        The recording it belongs to.
    node : int
        Its node index.
    """

    __slots__ = ("recorder", "node")
    __array_ufunc__ = None  # numpy scalars and arrays defer to the reflected operators below

    def __init__(self, recorder: Recorder, node: int) -> None:
        self.recorder = recorder
        self.node = node

    def _binary(self, op: int, other: object, swap: bool = False) -> Var:
        if not isinstance(other, (Var, numbers.Real)) or isinstance(other, (bool, np.bool_)):
            return NotImplemented
        rec = self.recorder
        a, b = self, rec.lift(other)
        if swap:
            a, b = b, a
        return rec.append(op, a.node, b.node)

    def __add__(self, other: object) -> Var:
        return self._binary(O.ADD, other)

    def __radd__(self, other: object) -> Var:
        return self._binary(O.ADD, other, swap=True)

    def __sub__(self, other: object) -> Var:
        return self._binary(O.SUB, other)

    def __rsub__(self, other: object) -> Var:
        return self._binary(O.SUB, other, swap=True)

    def __mul__(self, other: object) -> Var:
        return self._binary(O.MUL, other)

    def __rmul__(self, other: object) -> Var:
        return self._binary(O.MUL, other, swap=True)

    def __truediv__(self, other: object) -> Var:
        return self._binary(O.DIV, other)

    def __rtruediv__(self, other: object) -> Var:
        return self._binary(O.DIV, other, swap=True)

    def __neg__(self) -> Var:
        return self.recorder.append(O.NEG, self.node)

    def __pos__(self) -> Var:
        return self

    def __pow__(self, exponent: object) -> Var:
        if isinstance(exponent, Var):
            raise TypeError("the exponent of ** must be a constant number; use exp(b * log(a))")
        c = _number(exponent)
        if c == 1.0:
            return self
        if c == 0.0:
            return self.recorder.const(1.0)
        return self.recorder.append(O.POWC, self.node, c=c)

    def __rpow__(self, base: object) -> Var:
        c = _number(base)
        if c <= 0.0:
            raise ValueError(f"base ** variable is recorded as exp(variable · log base): base {c}")
        return exp(self * math.log(c))

    def __bool__(self) -> bool:
        raise TypeError(
            "a circuit variable has no value while recording, so it cannot steer if/while; "
            "use relu, sigmoid or softplus"
        )

    def __repr__(self) -> str:
        return f"Var(node={self.node}, op={O.op_name(self.recorder.ops[self.node])})"


def _unary(op: int, name: str) -> Callable:
    def fn(a: object) -> Var | float:
        if isinstance(a, Var):
            return a.recorder.append(op, a.node)
        return reference.value(op, _number_ieee(a), 0.0, 0.0)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"{O.BY_CODE[op].value}: a new circuit node when ``a`` is a Var, a float when it is a "
        f"number.  Local derivative: {O.BY_CODE[op].derivative}.\n\n"
        f"Parameters\n----------\na : Var or numbers.Real\n    The argument.\n\n"
        f"Returns\n-------\nVar or float\n    A new node of a's recording, or the value "
        f"{name}(a) (IEEE semantics) for a number.\n"
    )
    return fn


def _number_ieee(value: object) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected a circuit variable or a real number, got {type(value).__name__}")
    return float(value)


sin = _unary(O.SIN, "sin")
cos = _unary(O.COS, "cos")
exp = _unary(O.EXP, "exp")
log = _unary(O.LOG, "log")
sqrt = _unary(O.SQRT, "sqrt")
tanh = _unary(O.TANH, "tanh")
sigmoid = _unary(O.SIGMOID, "sigmoid")
relu = _unary(O.RELU, "relu")
softplus = _unary(O.SOFTPLUS, "softplus")


def record(f: Callable, n_inputs: int, *, as_list: bool = False) -> Circuit:
    """Record ``f`` once and lower it to a :class:`Circuit`.

    f receives ``n_inputs`` variables (``f(x1, ..., xl)``, or ``f([x1, ..., xl])`` with
    ``as_list=True``) and returns a Var, a number (a constant output) or a tuple/list of them
    (several outputs, in that order; a numpy object array of them is flattened).  Nothing is
    compiled: every circuit runs on the same compiled sweeps.

    Parameters
    ----------
    f : callable
        The function to record: one variable per input (or one list with ``as_list=True``).
    n_inputs : int
        Number of inputs l.
    as_list : bool
        Pass the inputs to ``f`` as one list.

    Returns
    -------
    Circuit
        The recorded tape.

    Raises
    ------
    TypeError
        If ``f`` is not callable, ``n_inputs`` is not an integer, or ``f`` returns something
        other than variables and real numbers.
    ValueError
        If ``n_inputs`` is negative, ``f`` returns no outputs or records a non-finite constant.
    """
    if isinstance(n_inputs, (bool, np.bool_)) or not isinstance(n_inputs, numbers.Integral):
        raise TypeError(f"n_inputs must be an integer, got {n_inputs!r}")
    if n_inputs < 0:
        raise ValueError(f"n_inputs must be >= 0, got {n_inputs}")
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    rec = Recorder()
    xs = [rec.input() for _ in range(int(n_inputs))]
    result = f(xs) if as_list else f(*xs)
    if isinstance(result, np.ndarray):  # e.g. an object array of Vars built with numpy
        result = result.ravel().tolist()
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    if not outputs:
        raise ValueError("f returned no outputs (an empty tuple or list)")
    for k, out in enumerate(outputs):
        if not isinstance(out, Var) and (
            isinstance(out, (bool, np.bool_)) or not isinstance(out, numbers.Real)
        ):
            raise TypeError(
                f"output {k} of f is a {type(out).__name__}; f must return circuit variables or "
                f"numbers (a tuple or list of them for several outputs)"
            )
    return rec.circuit(outputs)


def trace(f: Callable, n_inputs: int, *, as_list: bool = False) -> Circuit:
    """Deprecated alias of :func:`record` (renamed so that "trace" keeps one meaning in fastbp:
    :meth:`fastbp.Network.trace`, the per-layer record of a pass).  Removed in the next release.

    Parameters
    ----------
    f : callable
        As in :func:`record`.
    n_inputs : int
        As in :func:`record`.
    as_list : bool
        As in :func:`record`.

    Returns
    -------
    Circuit
        What :func:`record` returns.
    """
    warnings.warn(
        "fastbp.circuit.trace is deprecated and will be removed in the next release; use "
        "fastbp.circuit.record (same arguments)",
        DeprecationWarning,
        stacklevel=2,
    )
    return record(f, n_inputs, as_list=as_list)
