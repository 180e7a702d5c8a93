"""Validation of circuit tapes and of the arguments of :class:`~fastbp.circuit.Circuit` methods.

Everything here runs before a compiled kernel does: :func:`check_tape` is what makes every sweep
over a tape stay in bounds, and :func:`real_array` / :func:`flag` turn bad arguments into a
TypeError at the Python boundary.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fastbp.circuit import ops as O
from fastbp.circuit import reference

#: The six arrays of a tape, in the order of :meth:`fastbp.circuit.Circuit.from_arrays`.
ARRAY_NAMES = ("ops", "arg0", "arg1", "consts", "inputs", "outputs")


def flag(value: object, name: str) -> bool:
    """``value`` as a bool, refusing anything that is not ``True`` or ``False``.

    Parameters
    ----------
    value : object
        The caller's argument.
    name : str
        Its name, for the error message.

    Returns
    -------
    bool
        ``bool(value)``.

    Raises
    ------
    TypeError
        If ``value`` is not a Python or numpy bool.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def real_array(value: object, name: str) -> np.ndarray:
    """``value`` as an array of real numbers: ints and floats are accepted (and converted to
    float64 by the caller); bool, complex, object, string and structured data are refused.

    Parameters
    ----------
    value : object
        The caller's argument (anything ``numpy.asarray`` reads).
    name : str
        Its name, for the error message.

    Returns
    -------
    numpy.ndarray
        ``numpy.asarray(value)``, of an integer or floating dtype.

    Raises
    ------
    TypeError
        If ``value`` is not numeric data of a real dtype.
    """
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} has dtype {arr.dtype}; expected real numbers (int or float; bool, complex, "
            f"object, string and structured arrays are refused)"
        )
    return arr


def as_tape_arrays(
    ops: object, arg0: object, arg1: object, consts: object, inputs: object, outputs: object
) -> tuple[np.ndarray, ...]:
    """The six tape arrays as fresh 1-D arrays of the tape dtypes (int8 ops, int64 indices,
    float64 constants), refusing non-numeric data, other ranks and op codes that the cast to
    int8 would wrap.

    Parameters
    ----------
    ops, arg0, arg1, consts, inputs, outputs : array_like
        The tape, as :meth:`fastbp.circuit.Circuit.from_arrays` takes it.

    Returns
    -------
    tuple of numpy.ndarray
        ``(ops, arg0, arg1, consts, inputs, outputs)``, converted copies; :func:`check_tape`
        validates them.

    Raises
    ------
    TypeError
        If an array is not numeric, or an index array is not integer.
    ValueError
        If an array is not 1-D or an op code is unknown.
    """
    out = []
    for name, value in zip(ARRAY_NAMES, (ops, arg0, arg1, consts, inputs, outputs), strict=True):
        arr = real_array(value, name)
        if name != "consts" and arr.dtype.kind not in "iu" and arr.size:  # [] reads as float
            raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
        out.append(arr)
    ops_a = out[0]
    unknown = np.flatnonzero((ops_a < 0) | (ops_a >= O.N_OPS))  # before the cast to int8 wraps
    if unknown.size:
        i = int(unknown[0])
        raise ValueError(
            f"node {i}: op code {int(ops_a[i])} is not a known op (valid codes 0..{O.N_OPS - 1})"
        )
    idx = O.INDEX_DTYPE
    return (
        np.array(ops_a, dtype=O.OP_DTYPE),
        np.array(out[1], dtype=idx),
        np.array(out[2], dtype=idx),
        np.array(out[3], dtype=O.VALUE_DTYPE),
        np.array(out[4], dtype=idx),
        np.array(out[5], dtype=idx),
    )


def check_tape(
    ops: np.ndarray,
    arg0: np.ndarray,
    arg1: np.ndarray,
    consts: np.ndarray,
    inputs: np.ndarray,
    outputs: np.ndarray,
) -> None:
    """Refuse a malformed tape with a ValueError naming the first bad node and the problem.

    Checks: equal lengths N ≥ 1; known op codes; each argument an earlier node (0 ≤ arg < i)
    where the op's arity needs it and −1 where it does not; finite constants; ``inputs`` are
    distinct INPUT nodes and list every INPUT node; ≥ 1 output, each in 0..N−1.  After it
    passes, no kernel sweep over the tape can index out of bounds.

    Parameters
    ----------
    ops, arg0, arg1, consts, inputs, outputs : numpy.ndarray
        The tape, as :func:`as_tape_arrays` returns it.

    Raises
    ------
    ValueError
        Naming the first problem found.
    """
    N = ops.shape[0]
    for name, arr in (("arg0", arg0), ("arg1", arg1), ("consts", consts)):
        if arr.shape[0] != N:
            raise ValueError(f"{name} has {arr.shape[0]} entries but ops has {N}: one per node")
    if N == 0:
        raise ValueError("a circuit needs at least one node")
    codes = ops.astype(np.int64)
    bad = np.flatnonzero((codes < 0) | (codes >= O.N_OPS))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"node {i}: op code {codes[i]} is not a known op (valid codes 0..{O.N_OPS - 1})"
        )
    arity = O.ARITY[codes]
    node = np.arange(N)
    problems = [
        np.where(arity > slot, (arr < 0) | (arr >= node), arr != -1)
        for slot, arr in ((0, arg0), (1, arg1))
    ]
    bad = np.flatnonzero(problems[0] | problems[1])
    if bad.size:
        i = int(bad[0])
        slot = 0 if problems[0][i] else 1
        j = int((arg0, arg1)[slot][i])
        n_args = int(arity[i])
        label = f"node {i} ({O.op_name(int(codes[i]))}, {n_args} argument{'s' * (n_args != 1)})"
        if n_args <= slot:
            raise ValueError(f"{label}: arg{slot} must be -1 (unused), got {j}")
        if j < 0:
            raise ValueError(f"{label}: arg{slot} = {j} is missing or negative")
        what = "is out of range" if j >= N else "is not an earlier node (a forward reference)"
        raise ValueError(
            f"{label}: arg{slot} = {j} {what}; arguments must be earlier nodes 0..{i - 1}"
        )
    nonfinite = np.flatnonzero(~np.isfinite(consts))
    if nonfinite.size:
        i = int(nonfinite[0])
        raise ValueError(
            f"node {i} ({O.op_name(int(codes[i]))}): constant {float(consts[i])!r} is not finite"
        )
    l = inputs.shape[0]
    for k in range(l):
        if not 0 <= inputs[k] < N:
            raise ValueError(f"inputs[{k}] = {int(inputs[k])} is out of range for {N} nodes")
    if l:
        not_input = np.flatnonzero(codes[inputs] != O.INPUT)
        if not_input.size:
            k = int(not_input[0])
            i = int(inputs[k])
            raise ValueError(
                f"inputs[{k}] = {i} is node {i} ({O.op_name(int(codes[i]))}), not an input node"
            )
    seen = np.zeros(N, dtype=np.int64)
    np.add.at(seen, inputs, 1)
    twice = np.flatnonzero(seen > 1)
    if twice.size:
        raise ValueError(f"node {int(twice[0])} is listed more than once in inputs")
    unlisted = np.flatnonzero((codes == O.INPUT) & (seen == 0))
    if unlisted.size:
        raise ValueError(
            f"node {int(unlisted[0])} is an input node but is not listed in inputs, so it "
            f"would have no value"
        )
    if outputs.shape[0] == 0:
        raise ValueError("a circuit needs at least one output")
    out_of_range = np.flatnonzero((outputs < 0) | (outputs >= N))
    if out_of_range.size:
        k = int(out_of_range[0])
        raise ValueError(f"outputs[{k}] = {int(outputs[k])} is out of range for {N} nodes")


def check_forward(tape: Mapping[str, np.ndarray], buf: np.ndarray, what: str, offset: int) -> None:
    """Raise FloatingPointError at the first node (in tape order) whose ``what`` is not
    finite: its arguments, being earlier nodes, are finite, so that node made it.

    Parameters
    ----------
    tape : mapping of str to numpy.ndarray
        The validated tape arrays, keyed by :data:`ARRAY_NAMES`.
    buf : numpy.ndarray
        (N,) or (N, m) values or tangents of a forward sweep over m points.
    what : str
        What ``buf`` holds ("value", "tangent"), for the message.
    offset : int
        Index of the first of the m points in the caller's batch.

    Raises
    ------
    FloatingPointError
        Naming the node, its op, the point and its arguments, if any entry is not finite.
    """
    rows = buf.reshape(tape["ops"].shape[0], -1)
    bad = ~np.isfinite(rows)
    if not bad.any():
        return
    i = int(np.argmax(bad.any(axis=1)))
    p = int(np.argmax(bad[i]))
    op = int(tape["ops"][i])
    where = f" at point {offset + p}" if rows.shape[1] > 1 or offset else ""
    if op == O.INPUT:
        k = int(np.flatnonzero(tape["inputs"] == i)[0])
        raise FloatingPointError(
            f"input {k} (node {i}) has non-finite {what} {float(rows[i, p])!r}{where}"
        )
    args = ", ".join(
        f"node {j} = {float(rows[j, p])!r}"
        for j in (int(tape["arg0"][i]), int(tape["arg1"][i]))
        if j >= 0
    )
    raise FloatingPointError(
        f"node {i} ({O.op_name(op)}) is the first non-finite {what}: "
        f"{float(rows[i, p])!r}{where}" + (f" (its arguments' {what}s: {args})" if args else "")
    )


def check_reverse(
    tape: Mapping[str, np.ndarray], buf: np.ndarray, V: np.ndarray, what: str, offset: int
) -> None:
    """Raise FloatingPointError naming the node whose local derivative made an adjoint
    non-finite.  The reverse sweep runs from the last node down, so the highest node j with a
    non-finite adjoint has finite-adjoint consumers; the culprit is among them.

    Parameters
    ----------
    tape : mapping of str to numpy.ndarray
        The validated tape arrays, keyed by :data:`ARRAY_NAMES`.
    buf : numpy.ndarray
        (N,) or (N, m) adjoints (or adjoint tangents) of a reverse sweep over m points.
    V : numpy.ndarray
        The node values of the same points, shaped like ``buf``.
    what : str
        What ``buf`` holds ("adjoint", "adjoint tangent"), for the message.
    offset : int
        Index of the first of the m points in the caller's batch.

    Raises
    ------
    FloatingPointError
        Naming the node and the consumer whose local derivative is not finite, if any entry of
        ``buf`` is not finite.
    """
    N = tape["ops"].shape[0]
    rows = buf.reshape(N, -1)
    bad = ~np.isfinite(rows)
    if not bad.any():
        return
    j = int(N - 1 - np.argmax(bad.any(axis=1)[::-1]))
    p = int(np.argmax(bad[j]))
    vals = V.reshape(N, -1)[:, p]
    where = f" at point {offset + p}" if rows.shape[1] > 1 or offset else ""
    consumers = np.flatnonzero((tape["arg0"] == j) | (tape["arg1"] == j)).tolist()
    culprits = []
    for i in consumers:
        op = int(tape["ops"][i])
        a = float(vals[tape["arg0"][i]])
        b = float(vals[tape["arg1"][i]]) if tape["arg1"][i] >= 0 else 0.0
        da, db = reference.local(op, a, b, float(tape["consts"][i]), float(vals[i]))
        d = da if tape["arg0"][i] == j else db
        if not np.isfinite(d):
            culprits.append(f"node {i} ({O.op_name(op)}) has local derivative {d!r} at {a!r}")
    detail = (
        "; ".join(culprits)
        if culprits
        else (f"its consumers are nodes {consumers[:8]}" if consumers else "it has no consumers")
    )
    raise FloatingPointError(
        f"the {what} of node {j} ({O.op_name(int(tape['ops'][j]))}) is "
        f"{float(rows[j, p])!r}{where}, "
        f"the first non-finite {what} of the reverse sweep: {detail}"
    )
