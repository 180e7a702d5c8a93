"""Compiled sweeps over a circuit tape: ONE set of kernels for every circuit.

The tape is data (``ops``, ``arg0``, ``arg1``, ``consts``, ``inputs``, ``outputs``; see
:mod:`fastbp.circuit.tape`), so a new circuit costs no compilation.  Every kernel is a plain
function of arrays: the tape first, then the point(s), then the buffers it writes; it returns
None and allocates nothing.  Single-point kernels take buffers of shape (N,); batch kernels take
(N, B) buffers, one row per node, and loop over nodes outside and points inside, so the op
dispatch is paid once per node, not once per point, and the inner loops are plain array loops.

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

# ----------------------------------------------------------------------------- one point


@jit
def forward(ops, arg0, arg1, consts, inputs, x, v):
    """v[inputs[k]] = x[k], then v[i] = f_i(v[arg0[i]], v[arg1[i]]) for i = 0..N−1.  Writes v."""
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
    g[arg] += g[i] ∂f_i/∂arg for i = N−1..0, from the values v of :func:`forward`.  Writes g."""
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
    t[i] = ∂f_i/∂a t[arg0[i]] + ∂f_i/∂b t[arg1[i]] (forward mode, J·direction).  Writes v, t."""
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
    is the Hessian-vector product.  Writes g, h."""
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


# ----------------------------------------------------------------------------- a batch


@jit
def forward_batch(ops, arg0, arg1, consts, inputs, X, V):
    """:func:`forward` for the B rows of X (B, l) at once: V[inputs[k], p] = X[p, k], then row
    V[i] = f_i(V[arg0[i]], V[arg1[i]]) elementwise.  Writes V (N, B)."""
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
    """:func:`reverse` for B points at once: G = 0, G[outputs[k], p] += W[p, k], then row
    G[arg] += G[i] ⊙ ∂f_i/∂arg for i = N−1..0, from the values V of :func:`forward_batch`.
    Writes G (N, B)."""
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
    """:func:`forward_tangent` for B points and directions at once (X, D of shape (B, l)).
    Writes V, T (N, B)."""
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
    """:func:`reverse_tangent` for B points at once.  Writes G, H (N, B)."""
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
