"""Compiled sweeps over a circuit tape: ONE set of kernels for every circuit.

The tape is data (``ops``, ``arg0``, ``arg1``, ``consts``, ``inputs``, ``outputs``; see
:mod:`fastbp.circuit.tape`), so a new circuit costs no compilation.  Every kernel is a plain
function of arrays: the tape first, then the point(s), then the buffers it writes; it returns
None and allocates nothing.  Single-point kernels take buffers of shape (N,); batch kernels take
(N, B) buffers, one row per node, and loop over nodes outside and points inside, so the op
dispatch is paid once per node, not once per point, and the inner loops are plain array loops.
This module holds the single-point kernels; :mod:`fastbp.circuit.batch_kernels` the batch ones.

Notation, node i = f_i(a, b) with a = v[arg0[i]], b = v[arg1[i]], c = consts[i]:
    forward    v[i] = f_i(a, b)                          (``forward``)
    reverse    v̄[arg] += v̄[i] ∂f_i/∂arg                   (``reverse``; v̄ seeded with weights)
    tangent    v̇[i] = ∂f_i/∂a ȧ + ∂f_i/∂b ḃ               (``forward_tangent``: JVP)
    HVP        v̄̇[arg] += v̄̇[i] ∂f_i/∂arg + v̄[i] d(∂f_i/∂arg)   (``reverse_tangent``)
Local derivatives are taken from saved values where that is cheaper (exp: y, tanh: 1 − y²,
sigmoid: y(1 − y), sqrt: 1/(2y)).  Numbers follow IEEE semantics: ``error_model="numpy"`` in
:mod:`fastbp._jit` makes 1/0 = inf and 0/0 = nan instead of raising, and np.log / np.sqrt give
−inf / nan outside their domain.  Indices are trusted: :class:`fastbp.circuit.Circuit` validated
the tape (every argument an earlier node, codes and arities valid) and the caller sized the
buffers, so nothing here reads or writes out of bounds.
"""

from __future__ import annotations

import numpy as np

from fastbp._jit import jit
from fastbp.activations import sigmoid, softplus
from fastbp.circuit.ops import (
    ADD,
    CONST,
    COS,
    DIV,
    EXP,
    LOG,
    MUL,
    NEG,
    POWC,
    RELU,
    SIGMOID,
    SIN,
    SOFTPLUS,
    SQRT,
    SUB,
    TANH,
)


@jit
def forward(ops, arg0, arg1, consts, inputs, x, v):
    """v[inputs[k]] = x[k], then v[i] = f_i(v[arg0[i]], v[arg1[i]]) for i = 0..N−1.  Writes v.

    Parameters
    ----------
    ops, arg0, arg1, consts : numpy.ndarray
        The validated tape: int8 op codes, int64 argument nodes, float64 constants.
    inputs : numpy.ndarray
        (l,) input nodes.
    x : numpy.ndarray
        (l,) the point.
    v : numpy.ndarray
        (N,) output: every node's value.
    """
    for k in range(inputs.shape[0]):
        v[inputs[k]] = x[k]
    for i in range(ops.shape[0]):
        op = ops[i]
        if op <= CONST:
            if op == CONST:
                v[i] = consts[i]
            continue
        a = v[arg0[i]]
        if op == ADD:
            v[i] = a + v[arg1[i]]
        elif op == SUB:
            v[i] = a - v[arg1[i]]
        elif op == MUL:
            v[i] = a * v[arg1[i]]
        elif op == DIV:
            v[i] = a / v[arg1[i]]
        elif op == NEG:
            v[i] = -a
        elif op == SIN:
            v[i] = np.sin(a)
        elif op == COS:
            v[i] = np.cos(a)
        elif op == EXP:
            v[i] = np.exp(a)
        elif op == LOG:
            v[i] = np.log(a)
        elif op == SQRT:
            v[i] = np.sqrt(a)
        elif op == TANH:
            v[i] = np.tanh(a)
        elif op == SIGMOID:
            v[i] = sigmoid(a)
        elif op == RELU:
            v[i] = 0.0 if a <= 0.0 else a
        elif op == SOFTPLUS:
            v[i] = softplus(a)
        elif op == POWC:
            v[i] = a ** consts[i]


@jit
def reverse(ops, arg0, arg1, consts, outputs, weights, v, g):
    """Adjoints of Σ_k weights[k] v[outputs[k]]: g = 0, g[outputs[k]] += weights[k], then
    g[arg] += g[i] ∂f_i/∂arg for i = N−1..0, from the values v of :func:`forward`.  Writes g.

    Parameters
    ----------
    ops, arg0, arg1, consts : numpy.ndarray
        The validated tape: int8 op codes, int64 argument nodes, float64 constants.
    outputs : numpy.ndarray
        (n_out,) output nodes.
    weights : numpy.ndarray
        (n_out,) the weight of each output.
    v : numpy.ndarray
        (N,) node values from :func:`forward`.
    g : numpy.ndarray
        (N,) output: every node's adjoint (at the inputs: the gradient).
    """
    g[:] = 0.0
    for k in range(outputs.shape[0]):
        g[outputs[k]] += weights[k]
    for i in range(ops.shape[0] - 1, -1, -1):
        op = ops[i]
        if op <= CONST:
            continue
        gi = g[i]
        j = arg0[i]
        if op == ADD:
            g[j] += gi
            g[arg1[i]] += gi
        elif op == SUB:
            g[j] += gi
            g[arg1[i]] -= gi
        elif op == MUL:
            k = arg1[i]
            g[j] += gi * v[k]
            g[k] += gi * v[j]
        elif op == DIV:
            k = arg1[i]
            rb = 1.0 / v[k]
            g[j] += gi * rb
            g[k] -= gi * v[i] * rb
        elif op == NEG:
            g[j] -= gi
        elif op == SIN:
            g[j] += gi * np.cos(v[j])
        elif op == COS:
            g[j] -= gi * np.sin(v[j])
        elif op == EXP:
            g[j] += gi * v[i]
        elif op == LOG:
            g[j] += gi / v[j]
        elif op == SQRT:
            g[j] += gi * (0.5 / v[i])
        elif op == TANH:
            y = v[i]
            g[j] += gi * (1.0 - y * y)
        elif op == SIGMOID:
            y = v[i]
            g[j] += gi * (y * (1.0 - y))
        elif op == RELU:
            g[j] += gi * (1.0 if v[j] > 0.0 else 0.0)
        elif op == SOFTPLUS:
            g[j] += gi * sigmoid(v[j])
        elif op == POWC:
            c = consts[i]
            g[j] += gi * (c * v[j] ** (c - 1.0))


@jit
def forward_tangent(ops, arg0, arg1, consts, inputs, x, direction, v, t):
    """Values and tangents together: v as in :func:`forward`, t[inputs[k]] = direction[k] and
    t[i] = ∂f_i/∂a t[arg0[i]] + ∂f_i/∂b t[arg1[i]] (forward mode, J·direction).  Writes v, t.

    Parameters
    ----------
    ops, arg0, arg1, consts : numpy.ndarray
        The validated tape: int8 op codes, int64 argument nodes, float64 constants.
    inputs : numpy.ndarray
        (l,) input nodes.
    x : numpy.ndarray
        (l,) the point.
    direction : numpy.ndarray
        (l,) the direction.
    v : numpy.ndarray
        (N,) output: every node's value.
    t : numpy.ndarray
        (N,) output: every node's tangent (at the outputs: the JVP).
    """
    for k in range(inputs.shape[0]):
        v[inputs[k]] = x[k]
        t[inputs[k]] = direction[k]
    for i in range(ops.shape[0]):
        op = ops[i]
        if op <= CONST:
            if op == CONST:
                v[i] = consts[i]
                t[i] = 0.0
            continue
        j = arg0[i]
        a = v[j]
        ta = t[j]
        if op == ADD:
            k = arg1[i]
            v[i] = a + v[k]
            t[i] = ta + t[k]
        elif op == SUB:
            k = arg1[i]
            v[i] = a - v[k]
            t[i] = ta - t[k]
        elif op == MUL:
            k = arg1[i]
            b = v[k]
            v[i] = a * b
            t[i] = ta * b + a * t[k]
        elif op == DIV:
            k = arg1[i]
            b = v[k]
            y = a / b
            v[i] = y
            t[i] = (ta - y * t[k]) / b
        elif op == NEG:
            v[i] = -a
            t[i] = -ta
        elif op == SIN:
            v[i] = np.sin(a)
            t[i] = np.cos(a) * ta
        elif op == COS:
            v[i] = np.cos(a)
            t[i] = -np.sin(a) * ta
        elif op == EXP:
            y = np.exp(a)
            v[i] = y
            t[i] = y * ta
        elif op == LOG:
            v[i] = np.log(a)
            t[i] = ta / a
        elif op == SQRT:
            y = np.sqrt(a)
            v[i] = y
            t[i] = (0.5 / y) * ta
        elif op == TANH:
            y = np.tanh(a)
            v[i] = y
            t[i] = (1.0 - y * y) * ta
        elif op == SIGMOID:
            y = sigmoid(a)
            v[i] = y
            t[i] = y * (1.0 - y) * ta
        elif op == RELU:
            v[i] = 0.0 if a <= 0.0 else a
            t[i] = ta * (1.0 if a > 0.0 else 0.0)
        elif op == SOFTPLUS:
            v[i] = softplus(a)
            t[i] = sigmoid(a) * ta
        elif op == POWC:
            c = consts[i]
            v[i] = a**c
            t[i] = c * a ** (c - 1.0) * ta


@jit
def reverse_tangent(ops, arg0, arg1, consts, outputs, weights, v, t, g, h):
    """Forward-over-reverse: the adjoints g of :func:`reverse` and their tangents h = ġ along the
    direction whose tangents t (and values v) :func:`forward_tangent` computed.  For each node
    g[arg] += g[i] ∂f_i/∂arg and h[arg] += h[i] ∂f_i/∂arg + g[i] d(∂f_i/∂arg); h at the inputs
    is the Hessian-vector product.  Writes g, h.

    Parameters
    ----------
    ops, arg0, arg1, consts : numpy.ndarray
        The validated tape: int8 op codes, int64 argument nodes, float64 constants.
    outputs : numpy.ndarray
        (n_out,) output nodes.
    weights : numpy.ndarray
        (n_out,) the weight of each output.
    v : numpy.ndarray
        (N,) node values from :func:`forward_tangent`.
    t : numpy.ndarray
        (N,) node tangents from :func:`forward_tangent`.
    g : numpy.ndarray
        (N,) output: every node's adjoint.
    h : numpy.ndarray
        (N,) output: every adjoint's tangent (at the inputs: H·direction).
    """
    g[:] = 0.0
    h[:] = 0.0
    for k in range(outputs.shape[0]):
        g[outputs[k]] += weights[k]
    for i in range(ops.shape[0] - 1, -1, -1):
        op = ops[i]
        if op <= CONST:
            continue
        gi = g[i]
        hi = h[i]
        j = arg0[i]
        if op == ADD:
            k = arg1[i]
            g[j] += gi
            g[k] += gi
            h[j] += hi
            h[k] += hi
        elif op == SUB:
            k = arg1[i]
            g[j] += gi
            g[k] -= gi
            h[j] += hi
            h[k] -= hi
        elif op == MUL:
            k = arg1[i]
            g[j] += gi * v[k]
            g[k] += gi * v[j]
            h[j] += hi * v[k] + gi * t[k]
            h[k] += hi * v[j] + gi * t[j]
        elif op == DIV:
            # ∂/∂a = 1/b, ∂/∂b = −y/b;  d(1/b) = −ḃ/b²,  d(−y/b) = −(ẏ − y ḃ/b)/b.
            k = arg1[i]
            rb = 1.0 / v[k]
            y = v[i]
            tb = t[k]
            g[j] += gi * rb
            g[k] -= gi * y * rb
            h[j] += hi * rb - gi * tb * rb * rb
            h[k] -= hi * y * rb + gi * (t[i] - y * tb * rb) * rb
        elif op == NEG:
            g[j] -= gi
            h[j] -= hi
        elif op == SIN:
            # ∂/∂a = cos a;  d(cos a) = −sin a ȧ = −y ȧ.
            d = np.cos(v[j])
            g[j] += gi * d
            h[j] += hi * d - gi * v[i] * t[j]
        elif op == COS:
            # ∂/∂a = −sin a;  d(−sin a) = −cos a ȧ = −y ȧ.
            d = -np.sin(v[j])
            g[j] += gi * d
            h[j] += hi * d - gi * v[i] * t[j]
        elif op == EXP:
            # ∂/∂a = y;  dy = ẏ.
            y = v[i]
            g[j] += gi * y
            h[j] += hi * y + gi * t[i]
        elif op == LOG:
            # ∂/∂a = 1/a;  d(1/a) = −ȧ/a².
            ra = 1.0 / v[j]
            g[j] += gi * ra
            h[j] += hi * ra - gi * t[j] * ra * ra
        elif op == SQRT:
            # ∂/∂a = 1/(2y);  d(1/(2y)) = −ẏ/(2y²).
            ry = 1.0 / v[i]
            g[j] += gi * 0.5 * ry
            h[j] += hi * 0.5 * ry - gi * 0.5 * t[i] * ry * ry
        elif op == TANH:
            # ∂/∂a = 1 − y²;  d(1 − y²) = −2y ẏ.
            y = v[i]
            d = 1.0 - y * y
            g[j] += gi * d
            h[j] += hi * d - gi * 2.0 * y * t[i]
        elif op == SIGMOID:
            # ∂/∂a = y(1 − y);  d(y(1 − y)) = (1 − 2y) ẏ.
            y = v[i]
            d = y * (1.0 - y)
            g[j] += gi * d
            h[j] += hi * d + gi * (1.0 - 2.0 * y) * t[i]
        elif op == RELU:
            d = 1.0 if v[j] > 0.0 else 0.0
            g[j] += gi * d
            h[j] += hi * d
        elif op == SOFTPLUS:
            # ∂/∂a = s = sigmoid(a);  ds = s(1 − s) ȧ.
            s = sigmoid(v[j])
            g[j] += gi * s
            h[j] += hi * s + gi * s * (1.0 - s) * t[j]
        elif op == POWC:
            # ∂/∂a = c a^(c−1);  d(c a^(c−1)) = c(c−1) a^(c−2) ȧ.
            c = consts[i]
            a = v[j]
            g[j] += gi * (c * a ** (c - 1.0))
            h[j] += hi * (c * a ** (c - 1.0)) + gi * (c * (c - 1.0) * a ** (c - 2.0)) * t[j]
