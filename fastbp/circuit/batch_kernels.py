"""Compiled sweeps over a circuit tape for a batch of B points at once.

The same sweeps as :mod:`fastbp.circuit.kernels` (whose docstring states the equations), with
(N, B) buffers, one row per node: the loops run over nodes outside and points inside, so the op
dispatch is paid once per node, not once per point, and the inner loops are plain array loops.
Indices are trusted: :class:`fastbp.circuit.Circuit` validated the tape and sized the buffers.
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
def forward_batch(ops, arg0, arg1, consts, inputs, X, V):
    """:func:`~fastbp.circuit.kernels.forward` for the B rows of X (B, l) at once:
    V[inputs[k], p] = X[p, k], then row V[i] = f_i(V[arg0[i]], V[arg1[i]]) elementwise.
    Writes V (N, B).

    Parameters
    ----------
    ops, arg0, arg1, consts : numpy.ndarray
        The validated tape: int8 op codes, int64 argument nodes, float64 constants.
    inputs : numpy.ndarray
        (l,) input nodes.
    X : numpy.ndarray
        (B, l) the points.
    V : numpy.ndarray
        (N, B) output: every node's value at every point.
    """
    B = X.shape[0]
    for k in range(inputs.shape[0]):
        row = V[inputs[k]]
        for p in range(B):
            row[p] = X[p, k]
    for i in range(ops.shape[0]):
        op = ops[i]
        if op <= CONST:
            if op == CONST:
                V[i, :] = consts[i]
            continue
        y = V[i]
        a = V[arg0[i]]
        if op == ADD:
            b = V[arg1[i]]
            for p in range(B):
                y[p] = a[p] + b[p]
        elif op == SUB:
            b = V[arg1[i]]
            for p in range(B):
                y[p] = a[p] - b[p]
        elif op == MUL:
            b = V[arg1[i]]
            for p in range(B):
                y[p] = a[p] * b[p]
        elif op == DIV:
            b = V[arg1[i]]
            for p in range(B):
                y[p] = a[p] / b[p]
        elif op == NEG:
            for p in range(B):
                y[p] = -a[p]
        elif op == SIN:
            for p in range(B):
                y[p] = np.sin(a[p])
        elif op == COS:
            for p in range(B):
                y[p] = np.cos(a[p])
        elif op == EXP:
            for p in range(B):
                y[p] = np.exp(a[p])
        elif op == LOG:
            for p in range(B):
                y[p] = np.log(a[p])
        elif op == SQRT:
            for p in range(B):
                y[p] = np.sqrt(a[p])
        elif op == TANH:
            for p in range(B):
                y[p] = np.tanh(a[p])
        elif op == SIGMOID:
            for p in range(B):
                y[p] = sigmoid(a[p])
        elif op == RELU:
            for p in range(B):
                y[p] = 0.0 if a[p] <= 0.0 else a[p]
        elif op == SOFTPLUS:
            for p in range(B):
                y[p] = softplus(a[p])
        elif op == POWC:
            c = consts[i]
            for p in range(B):
                y[p] = a[p] ** c


@jit
def reverse_batch(ops, arg0, arg1, consts, outputs, W, V, G):
    """:func:`~fastbp.circuit.kernels.reverse` for B points at once: G = 0,
    G[outputs[k], p] += W[p, k], then row G[arg] += G[i] ⊙ ∂f_i/∂arg for i = N−1..0, from the
    values V of :func:`forward_batch`.  Writes G (N, B).

    Parameters
    ----------
    ops, arg0, arg1, consts : numpy.ndarray
        The validated tape: int8 op codes, int64 argument nodes, float64 constants.
    outputs : numpy.ndarray
        (n_out,) output nodes.
    W : numpy.ndarray
        (B, n_out) the weights of each point's outputs.
    V : numpy.ndarray
        (N, B) node values from :func:`forward_batch`.
    G : numpy.ndarray
        (N, B) output: every node's adjoint at every point.
    """
    B = W.shape[0]
    G[:, :] = 0.0
    for k in range(outputs.shape[0]):
        row = G[outputs[k]]
        for p in range(B):
            row[p] += W[p, k]
    for i in range(ops.shape[0] - 1, -1, -1):
        op = ops[i]
        if op <= CONST:
            continue
        gy = G[i]
        ga = G[arg0[i]]
        a = V[arg0[i]]
        if op == ADD:
            gb = G[arg1[i]]
            for p in range(B):
                ga[p] += gy[p]
            for p in range(B):
                gb[p] += gy[p]
        elif op == SUB:
            gb = G[arg1[i]]
            for p in range(B):
                ga[p] += gy[p]
            for p in range(B):
                gb[p] -= gy[p]
        elif op == MUL:
            gb = G[arg1[i]]
            b = V[arg1[i]]
            for p in range(B):
                ga[p] += gy[p] * b[p]
            for p in range(B):
                gb[p] += gy[p] * a[p]
        elif op == DIV:
            gb = G[arg1[i]]
            b = V[arg1[i]]
            y = V[i]
            for p in range(B):
                q = gy[p] / b[p]
                ga[p] += q
                gb[p] -= q * y[p]
        elif op == NEG:
            for p in range(B):
                ga[p] -= gy[p]
        elif op == SIN:
            for p in range(B):
                ga[p] += gy[p] * np.cos(a[p])
        elif op == COS:
            for p in range(B):
                ga[p] -= gy[p] * np.sin(a[p])
        elif op == EXP:
            y = V[i]
            for p in range(B):
                ga[p] += gy[p] * y[p]
        elif op == LOG:
            for p in range(B):
                ga[p] += gy[p] / a[p]
        elif op == SQRT:
            y = V[i]
            for p in range(B):
                ga[p] += gy[p] * (0.5 / y[p])
        elif op == TANH:
            y = V[i]
            for p in range(B):
                ga[p] += gy[p] * (1.0 - y[p] * y[p])
        elif op == SIGMOID:
            y = V[i]
            for p in range(B):
                ga[p] += gy[p] * (y[p] * (1.0 - y[p]))
        elif op == RELU:
            for p in range(B):
                ga[p] += gy[p] * (1.0 if a[p] > 0.0 else 0.0)
        elif op == SOFTPLUS:
            for p in range(B):
                ga[p] += gy[p] * sigmoid(a[p])
        elif op == POWC:
            c = consts[i]
            for p in range(B):
                ga[p] += gy[p] * (c * a[p] ** (c - 1.0))


@jit
def forward_tangent_batch(ops, arg0, arg1, consts, inputs, X, D, V, T):
    """:func:`~fastbp.circuit.kernels.forward_tangent` for B points and directions at once
    (X, D of shape (B, l)).  Writes V, T (N, B).

    Parameters
    ----------
    ops, arg0, arg1, consts : numpy.ndarray
        The validated tape: int8 op codes, int64 argument nodes, float64 constants.
    inputs : numpy.ndarray
        (l,) input nodes.
    X : numpy.ndarray
        (B, l) the points.
    D : numpy.ndarray
        (B, l) one direction per point.
    V : numpy.ndarray
        (N, B) output: node values.
    T : numpy.ndarray
        (N, B) output: node tangents.
    """
    B = X.shape[0]
    for k in range(inputs.shape[0]):
        row = V[inputs[k]]
        trow = T[inputs[k]]
        for p in range(B):
            row[p] = X[p, k]
            trow[p] = D[p, k]
    for i in range(ops.shape[0]):
        op = ops[i]
        if op <= CONST:
            if op == CONST:
                V[i, :] = consts[i]
                T[i, :] = 0.0
            continue
        y = V[i]
        ty = T[i]
        a = V[arg0[i]]
        ta = T[arg0[i]]
        if op == ADD:
            b = V[arg1[i]]
            tb = T[arg1[i]]
            for p in range(B):
                y[p] = a[p] + b[p]
                ty[p] = ta[p] + tb[p]
        elif op == SUB:
            b = V[arg1[i]]
            tb = T[arg1[i]]
            for p in range(B):
                y[p] = a[p] - b[p]
                ty[p] = ta[p] - tb[p]
        elif op == MUL:
            b = V[arg1[i]]
            tb = T[arg1[i]]
            for p in range(B):
                y[p] = a[p] * b[p]
                ty[p] = ta[p] * b[p] + a[p] * tb[p]
        elif op == DIV:
            b = V[arg1[i]]
            tb = T[arg1[i]]
            for p in range(B):
                q = a[p] / b[p]
                y[p] = q
                ty[p] = (ta[p] - q * tb[p]) / b[p]
        elif op == NEG:
            for p in range(B):
                y[p] = -a[p]
                ty[p] = -ta[p]
        elif op == SIN:
            for p in range(B):
                y[p] = np.sin(a[p])
                ty[p] = np.cos(a[p]) * ta[p]
        elif op == COS:
            for p in range(B):
                y[p] = np.cos(a[p])
                ty[p] = -np.sin(a[p]) * ta[p]
        elif op == EXP:
            for p in range(B):
                q = np.exp(a[p])
                y[p] = q
                ty[p] = q * ta[p]
        elif op == LOG:
            for p in range(B):
                y[p] = np.log(a[p])
                ty[p] = ta[p] / a[p]
        elif op == SQRT:
            for p in range(B):
                q = np.sqrt(a[p])
                y[p] = q
                ty[p] = (0.5 / q) * ta[p]
        elif op == TANH:
            for p in range(B):
                q = np.tanh(a[p])
                y[p] = q
                ty[p] = (1.0 - q * q) * ta[p]
        elif op == SIGMOID:
            for p in range(B):
                q = sigmoid(a[p])
                y[p] = q
                ty[p] = q * (1.0 - q) * ta[p]
        elif op == RELU:
            for p in range(B):
                y[p] = 0.0 if a[p] <= 0.0 else a[p]
                ty[p] = ta[p] * (1.0 if a[p] > 0.0 else 0.0)
        elif op == SOFTPLUS:
            for p in range(B):
                y[p] = softplus(a[p])
                ty[p] = sigmoid(a[p]) * ta[p]
        elif op == POWC:
            c = consts[i]
            for p in range(B):
                y[p] = a[p] ** c
                ty[p] = c * a[p] ** (c - 1.0) * ta[p]


@jit
def reverse_tangent_batch(ops, arg0, arg1, consts, outputs, W, V, T, G, H):
    """:func:`~fastbp.circuit.kernels.reverse_tangent` for B points at once.  Writes G, H (N, B).

    Parameters
    ----------
    ops, arg0, arg1, consts : numpy.ndarray
        The validated tape: int8 op codes, int64 argument nodes, float64 constants.
    outputs : numpy.ndarray
        (n_out,) output nodes.
    W : numpy.ndarray
        (B, n_out) the weights of each point's outputs.
    V : numpy.ndarray
        (N, B) node values from :func:`forward_tangent_batch`.
    T : numpy.ndarray
        (N, B) node tangents from :func:`forward_tangent_batch`.
    G : numpy.ndarray
        (N, B) output: adjoints.
    H : numpy.ndarray
        (N, B) output: adjoint tangents (at the inputs: H·D per point).
    """
    B = W.shape[0]
    G[:, :] = 0.0
    H[:, :] = 0.0
    for k in range(outputs.shape[0]):
        row = G[outputs[k]]
        for p in range(B):
            row[p] += W[p, k]
    for i in range(ops.shape[0] - 1, -1, -1):
        op = ops[i]
        if op <= CONST:
            continue
        gy = G[i]
        hy = H[i]
        ga = G[arg0[i]]
        ha = H[arg0[i]]
        a = V[arg0[i]]
        ta = T[arg0[i]]
        if op == ADD or op == SUB:
            s = 1.0 if op == ADD else -1.0
            gb = G[arg1[i]]
            hb = H[arg1[i]]
            for p in range(B):
                ga[p] += gy[p]
                ha[p] += hy[p]
            for p in range(B):
                gb[p] += s * gy[p]
                hb[p] += s * hy[p]
        elif op == MUL:
            gb = G[arg1[i]]
            hb = H[arg1[i]]
            b = V[arg1[i]]
            tb = T[arg1[i]]
            for p in range(B):
                ga[p] += gy[p] * b[p]
                ha[p] += hy[p] * b[p] + gy[p] * tb[p]
            for p in range(B):
                gb[p] += gy[p] * a[p]
                hb[p] += hy[p] * a[p] + gy[p] * ta[p]
        elif op == DIV:
            gb = G[arg1[i]]
            hb = H[arg1[i]]
            b = V[arg1[i]]
            tb = T[arg1[i]]
            y = V[i]
            ty = T[i]
            for p in range(B):
                rb = 1.0 / b[p]
                ga[p] += gy[p] * rb
                ha[p] += hy[p] * rb - gy[p] * tb[p] * rb * rb
            for p in range(B):
                rb = 1.0 / b[p]
                gb[p] -= gy[p] * y[p] * rb
                hb[p] -= hy[p] * y[p] * rb + gy[p] * (ty[p] - y[p] * tb[p] * rb) * rb
        elif op == NEG:
            for p in range(B):
                ga[p] -= gy[p]
                ha[p] -= hy[p]
        elif op == SIN:
            y = V[i]
            for p in range(B):
                d = np.cos(a[p])
                ga[p] += gy[p] * d
                ha[p] += hy[p] * d - gy[p] * y[p] * ta[p]
        elif op == COS:
            y = V[i]
            for p in range(B):
                d = -np.sin(a[p])
                ga[p] += gy[p] * d
                ha[p] += hy[p] * d - gy[p] * y[p] * ta[p]
        elif op == EXP:
            y = V[i]
            ty = T[i]
            for p in range(B):
                ga[p] += gy[p] * y[p]
                ha[p] += hy[p] * y[p] + gy[p] * ty[p]
        elif op == LOG:
            for p in range(B):
                ra = 1.0 / a[p]
                ga[p] += gy[p] * ra
                ha[p] += hy[p] * ra - gy[p] * ta[p] * ra * ra
        elif op == SQRT:
            y = V[i]
            ty = T[i]
            for p in range(B):
                ry = 1.0 / y[p]
                ga[p] += gy[p] * 0.5 * ry
                ha[p] += hy[p] * 0.5 * ry - gy[p] * 0.5 * ty[p] * ry * ry
        elif op == TANH:
            y = V[i]
            ty = T[i]
            for p in range(B):
                d = 1.0 - y[p] * y[p]
                ga[p] += gy[p] * d
                ha[p] += hy[p] * d - gy[p] * 2.0 * y[p] * ty[p]
        elif op == SIGMOID:
            y = V[i]
            ty = T[i]
            for p in range(B):
                d = y[p] * (1.0 - y[p])
                ga[p] += gy[p] * d
                ha[p] += hy[p] * d + gy[p] * (1.0 - 2.0 * y[p]) * ty[p]
        elif op == RELU:
            for p in range(B):
                d = 1.0 if a[p] > 0.0 else 0.0
                ga[p] += gy[p] * d
                ha[p] += hy[p] * d
        elif op == SOFTPLUS:
            for p in range(B):
                s = sigmoid(a[p])
                ga[p] += gy[p] * s
                ha[p] += hy[p] * s + gy[p] * s * (1.0 - s) * ta[p]
        elif op == POWC:
            c = consts[i]
            for p in range(B):
                d = c * a[p] ** (c - 1.0)
                ga[p] += gy[p] * d
                ha[p] += hy[p] * d + gy[p] * (c * (c - 1.0) * a[p] ** (c - 2.0)) * ta[p]
