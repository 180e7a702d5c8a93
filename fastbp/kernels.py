"""Compiled forward and backward passes of an MLP, in place, on the arrays built by lowering.

Every kernel is a plain function of arrays and integers.  Inputs come first, then the parameter
buffer and the offset tables, then the outputs and workspaces it writes; each returns None (or a
scalar loss).  Nothing is allocated inside the loops.  ``use_blas`` selects the products of
:mod:`fastbp._blas` (BLAS ``np.dot`` when SciPy is installed) for the three matrix products
instead of the explicit loops; both paths are tested against the reference.

Notation (one row i of a batch of m; layer k = 1..r):
    z[k] = W[k] a[k−1] + b[k],    a[k] = σ(z[k]),    a[0] = x
    dJ/dz[r] = ψ(prediction − target)               (fastbp.losses.output_seed; ψ(r) = r for
                                                     the matched loss/output pairs)
    dJ/da[k] = W[k+1]ᵀ dJ/dz[k+1],  dJ/dz[k] = dJ/da[k] ⊙ σ'(z[k])
    dJ/dW[k] = dJ/dz[k] a[k−1]ᵀ,    dJ/db[k] = dJ/dz[k]
"""

from __future__ import annotations

from fastbp._blas import (
    loop_matmul_nn,
    loop_matmul_tn,
    matmul_nn,
    matmul_nt,
    matmul_tn,
)
from fastbp._jit import jit, jit_inline
from fastbp.activations import RELU, act_prime_vec, act_vec, relu, relu_gate
from fastbp.losses import example_loss, output_seed, output_transform


@jit
def block(buf, u_off, widths, k, m):
    """View of layer k (1-based) in a flat workspace for a batch of m rows: shape (m, n_k)."""
    return buf[m * u_off[k - 1] : m * u_off[k]].reshape((m, widths[k]))


@jit
def weights(params, w_off, widths, k):
    """View of W[k] (n_k × n_{k−1}, row-major) inside the flat parameter buffer."""
    n_out = widths[k]
    n_in = widths[k - 1]
    return params[w_off[k - 1] : w_off[k - 1] + n_out * n_in].reshape((n_out, n_in))


@jit
def biases(params, b_off, widths, k):
    """View of b[k] inside the flat parameter buffer."""
    return params[b_off[k - 1] : b_off[k - 1] + widths[k]]


@jit_inline
def affine_row(a_prev, W, b, z):
    """z = W a_prev + b for one example: z_j = b_j + Σ_p W[j, p] a_prev[p].  Writes z.

    The one loop form of the affine map: :func:`affine` (loop path), :func:`forward_example` and
    the one-row kernels all use it.
    """
    n_out, n_in = W.shape
    for j in range(n_out):
        s = b[j]
        for p in range(n_in):
            s += W[j, p] * a_prev[p]
        z[j] = s


@jit
def affine(A_prev, W, b, Z, use_blas):
    """Z = A_prev Wᵀ + b, i.e. z[k] = W[k] a[k−1] + b[k] for every row.  Writes Z."""
    m, n_out = Z.shape
    if use_blas:
        matmul_nt(A_prev, W, Z)
        for i in range(m):
            for j in range(n_out):
                Z[i, j] += b[j]
    else:
        for i in range(m):
            affine_row(A_prev[i], W, b, Z[i])


@jit
def add_bias(b, Z):
    """z ← z + b for every row of Z (the bias of the BLAS forward path).  Writes Z."""
    m, n = Z.shape
    for i in range(m):
        z = Z[i]
        for j in range(n):
            z[j] += b[j]


@jit
def bias_activate(code, b, Z, A):
    """z ← z + b and a = σ(z) in one pass over each row of Z (the BLAS forward path).

    Writes Z and A.  Fuses :func:`add_bias` and :func:`activate`, which made two passes over Z;
    each entry is computed exactly as they compute it.
    """
    m, n = Z.shape
    for i in range(m):
        z = Z[i]
        a = A[i]
        if code == RELU:
            for j in range(n):
                s = z[j] + b[j]
                z[j] = s
                a[j] = relu(s)
        else:  # the bias, then σ in the activation's own loop (act_vec: no per-unit switch)
            for j in range(n):
                z[j] += b[j]
            act_vec(code, z, a)


@jit
def activate(code, Z, A):
    """a = σ(z) elementwise for hidden activation ``code``.  Writes A."""
    m, n = Z.shape
    for i in range(m):
        if code == RELU:  # inline, as in activate_vec
            for j in range(n):
                A[i, j] = relu(Z[i, j])
        else:
            act_vec(code, Z[i], A[i])


@jit
def forward_blas(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A):
    """:func:`forward` through BLAS: per layer one gemm, then one pass that adds the bias and
    applies σ (no copy: Wᵀ is the F-ordered view of W, which BLAS reads as a transposed operand).
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        W = weights(params, w_off, widths, k)
        b = biases(params, b_off, widths, k)
        Zk = block(Z, u_off, widths, k, m)
        Ak = block(A, u_off, widths, k, m)
        A_prev = X if k == 1 else block(A, u_off, widths, k - 1, m)
        matmul_nt(A_prev, W, Zk)
        if k < r:
            bias_activate(acts[k - 1], b, Zk, Ak)
        else:
            add_bias(b, Zk)
            output_transform(out_kind, Zk, Ak)


@jit
def forward_loops(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A):
    """:func:`forward` by explicit loops (small batches): z = W a + b row by row, then σ."""
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        W = weights(params, w_off, widths, k)
        b = biases(params, b_off, widths, k)
        Zk = block(Z, u_off, widths, k, m)
        Ak = block(A, u_off, widths, k, m)
        A_prev = X if k == 1 else block(A, u_off, widths, k - 1, m)
        for i in range(m):
            affine_row(A_prev[i], W, b, Zk[i])
        if k < r:
            activate(acts[k - 1], Zk, Ak)
        else:
            output_transform(out_kind, Zk, Ak)


@jit
def forward(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A, use_blas):
    """Forward pass for the m = X.shape[0] rows of X.

    Writes z[k] into the Z workspace and a[k] into the A workspace for k = 1..r; the output block
    of A holds the prediction (identity, softmax probabilities, or sigmoid probabilities).
    Runs :func:`forward_blas` or :func:`forward_loops`.  Python callers call one of those
    directly: Numba compiles both branches of a function it compiles (it prunes no branch on an
    argument's value), so a caller that names only the path it runs compiles only that path.
    """
    if use_blas:
        forward_blas(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)
    else:
        forward_loops(X, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A)


@jit
def activate_vec(code, z, a):
    """a = σ(z) for one example's layer (the activation branch is outside the loop)."""
    if code == RELU:  # inline here: act_vec is a call, its eleven loops too large to inline
        for j in range(z.shape[0]):
            a[j] = relu(z[j])
    else:
        act_vec(code, z, a)


@jit
def forward_example(x, params, widths, acts, out_kind, w_off, b_off, u_off, Z, A):
    """Forward pass of one example x (1-D): the per-example fast path of :func:`forward`.

    Writes z[k], a[k] at Z[u_off[k−1]:u_off[k]], A[...] (the batch layout with m = 1).
    """
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        W = weights(params, w_off, widths, k)
        b = biases(params, b_off, widths, k)
        z = Z[u_off[k - 1] : u_off[k]]
        a_prev = x if k == 1 else A[u_off[k - 2] : u_off[k - 1]]
        affine_row(a_prev, W, b, z)
        if k < r:
            activate_vec(acts[k - 1], z, A[u_off[k - 1] : u_off[k]])
        else:
            output_transform(out_kind, z.reshape((1, widths[r])),
                             A[u_off[k - 1] : u_off[k]].reshape((1, widths[r])))  # fmt: skip


@jit
def all_finite(a):
    """True when no entry of the flat array ``a`` is NaN or ±inf.

    Σ a_q · 0 is 0 for finite entries and NaN as soon as one is NaN or inf (inf · 0 = NaN); the
    fastmath flags leave out ``nnan``/``ninf``, so LLVM keeps the product but may vectorise the
    sum.  Faster than ``np.isfinite(a).all()``, which allocates a boolean array.
    """
    acc = 0.0
    for q in range(a.shape[0]):
        acc += a[q] * 0.0
    return acc == 0.0


@jit
def backward_example(
    x, y, params, widths, acts, out_kind, loss_param, w_off, b_off, u_off, Z, A, dZ, dA, grad, scale
):
    """:func:`backward` for one example (1-D x and y) after :func:`forward_example`.

    Writes dJ/dz[k], dJ/da[k] (flat, batch layout with m = 1) and overwrites ``grad`` with
    scale · ∇J: one pass over each row of W[k] gives both dJ/dW[k][j, :] = dJ/dz[k][j] a[k−1]
    and the contribution W[k][j, :] dJ/dz[k][j] to dJ/da[k−1].
    """
    r = widths.shape[0] - 1
    output_seed(out_kind, loss_param, A[u_off[r - 1] : u_off[r]], y, dZ[u_off[r - 1] : u_off[r]],
                1.0)  # fmt: skip
    for k in range(r, 0, -1):
        n_in = widths[k - 1]
        W = weights(params, w_off, widths, k)
        gW = weights(grad, w_off, widths, k)
        gb = biases(grad, b_off, widths, k)
        dz = dZ[u_off[k - 1] : u_off[k]]
        a_prev = x if k == 1 else A[u_off[k - 2] : u_off[k - 1]]
        if k > 1:
            da = dA[u_off[k - 2] : u_off[k - 1]]
            da[:] = 0.0
        for j in range(widths[k]):
            d = dz[j]
            g = scale * d
            gb[j] = g
            for p in range(n_in):
                gW[j, p] = g * a_prev[p]
            if k > 1 and d != 0.0:
                for p in range(n_in):
                    da[p] += W[j, p] * d
        if k > 1:
            backprop_activation_vec(
                acts[k - 2], Z[u_off[k - 2] : u_off[k - 1]], a_prev, da,
                dZ[u_off[k - 2] : u_off[k - 1]],
            )  # fmt: skip


@jit
def backprop_activation_vec(code, z, a, da, dz):
    """dz = da ⊙ σ'(z) for one example's layer (branch outside the loop)."""
    if code == RELU:  # inline, as in activate_vec
        for p in range(z.shape[0]):
            dz[p] = relu_gate(z[p], da[p])
    else:
        act_prime_vec(code, z, a, da, dz)


@jit
def loss_sum(Y, Z_r, A_r, out_kind, loss_param):
    """Σ_i J_i over the rows of the output block (see :func:`fastbp.losses.example_loss`)."""
    m, n = Z_r.shape
    total = 0.0
    for i in range(m):
        total += example_loss(out_kind, loss_param, Z_r[i], A_r[i], 0, n, Y, i)
    return total


@jit
def bias_sums(dZ, gb):
    """gb[j] = Σ_i dZ[i, j], the column sums of dZ.  Overwrites gb.

    Accumulated row by row (unit stride); each gb[j] still adds i = 0..m−1 in order.
    """
    m, n_out = dZ.shape
    for j in range(n_out):
        gb[j] = 0.0
    for i in range(m):
        dz = dZ[i]
        for j in range(n_out):
            gb[j] += dz[j]


@jit_inline
def scale_weight_gradient(dZ, gW, gb, scale):
    """gW ← scale · gW and gb = scale · Σ_i dZ[i] (the part of the weight gradient after the
    product); the scaling is skipped when scale = 1 (the minibatch epoch folds 1/m into the seed).
    """
    n_out, n_in = gW.shape
    if scale != 1.0:
        for j in range(n_out):
            for p in range(n_in):
                gW[j, p] *= scale
    bias_sums(dZ, gb)
    if scale != 1.0:
        for j in range(n_out):
            gb[j] *= scale


@jit
def weight_gradient_blas(dZ, A_prev, gW, gb, scale):
    """:func:`weight_gradient` with the product through BLAS."""
    matmul_tn(dZ, A_prev, gW)
    scale_weight_gradient(dZ, gW, gb, scale)


@jit
def weight_gradient_loops(dZ, A_prev, gW, gb, scale):
    """:func:`weight_gradient` with the product by explicit loops."""
    loop_matmul_tn(dZ, A_prev, gW)
    scale_weight_gradient(dZ, gW, gb, scale)


@jit
def weight_gradient(dZ, A_prev, gW, gb, scale, use_blas):
    """gW = scale · Σ_i dJ/dz_i a_{i}[k−1]ᵀ and gb = scale · Σ_i dJ/dz_i.  Overwrites gW and gb."""
    if use_blas:
        weight_gradient_blas(dZ, A_prev, gW, gb, scale)
    else:
        weight_gradient_loops(dZ, A_prev, gW, gb, scale)


@jit
def backprop_linear(dZ, W, dA_prev, use_blas):
    """dJ/da[k−1] = W[k]ᵀ dJ/dz[k] for every row, i.e. dA_prev = dZ W.  Overwrites dA_prev."""
    if use_blas:
        matmul_nn(dZ, W, dA_prev)
    else:
        loop_matmul_nn(dZ, W, dA_prev)


@jit
def backprop_activation(code, Z, A, dA, dZ):
    """dJ/dz[k] = dJ/da[k] ⊙ σ'(z[k]).  Writes dZ."""
    m, n = Z.shape
    for i in range(m):
        z = Z[i]
        da = dA[i]
        dz = dZ[i]
        if code == RELU:
            # σ' is 1 or 0: the one ReLU rule without the dispatch and the multiply by 1.
            for j in range(n):
                dz[j] = relu_gate(z[j], da[j])
        else:
            act_prime_vec(code, z, A[i], da, dz)


@jit
def seed_output(Y, Ar, dZr, out_kind, loss_param, sw):
    """dJ/dz[r]_i = s_i ψ(a[r]_i − y_i) for every row: the seed of the backward pass (s_i = 1 when
    ``sw`` is empty; ψ(r) = r for the matched pairs, :func:`fastbp.losses.output_seed`).
    Writes dZr.

    The layer loop is linear in the seed, so with row weights dZ then holds s_i dJ_i/dz[k] and
    the gradient is scale · Σ_i s_i ∇J_i (scale = 1/Σ_i s_i for the weighted mean).
    """
    if sw.shape[0] == 0:
        for i in range(Ar.shape[0]):
            output_seed(out_kind, loss_param, Ar[i], Y[i], dZr[i], 1.0)
    else:
        for i in range(Ar.shape[0]):
            output_seed(out_kind, loss_param, Ar[i], Y[i], dZr[i], sw[i])


@jit
def backward(
    X,
    Y,
    params,
    widths,
    acts,
    out_kind,
    loss_param,
    w_off,
    b_off,
    u_off,
    Z,
    A,
    dZ,
    dA,
    grad,
    scale,
    use_blas,
):
    """Backward pass after :func:`forward` on the same X; writes the gradient of scale · Σ_i J_i.

    Writes dJ_i/dz[k] (per example, unscaled) into dZ for k = 1..r, dJ_i/da[k] into dA for
    k = 1..r−1, and overwrites ``grad`` (parameter layout) with scale · Σ_i ∇J_i; use
    scale = 1/m for the gradient of the mean loss.  (Python callers run :func:`seed_output`,
    then :func:`backprop_layers_blas` or :func:`backprop_layers_loops`: the same steps.)
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    dZr = block(dZ, u_off, widths, r, m)
    Ar = block(A, u_off, widths, r, m)
    for i in range(m):
        output_seed(out_kind, loss_param, Ar[i], Y[i], dZr[i], 1.0)
    backprop_layers(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, scale,
                    use_blas)  # fmt: skip


@jit
def backprop_layers_blas(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, scale):
    """:func:`backprop_layers` with the two products of each layer through BLAS."""
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(r, 0, -1):
        dZk = block(dZ, u_off, widths, k, m)
        gW = weights(grad, w_off, widths, k)
        gb = biases(grad, b_off, widths, k)
        if k == 1:
            weight_gradient_blas(dZk, X, gW, gb, scale)
        else:
            A_prev = block(A, u_off, widths, k - 1, m)
            weight_gradient_blas(dZk, A_prev, gW, gb, scale)
            dA_prev = block(dA, u_off, widths, k - 1, m)
            matmul_nn(dZk, weights(params, w_off, widths, k), dA_prev)
            backprop_activation(acts[k - 2], block(Z, u_off, widths, k - 1, m), A_prev, dA_prev,
                                block(dZ, u_off, widths, k - 1, m))  # fmt: skip


@jit
def backprop_layers_loops(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad,
                          scale):  # fmt: skip
    """:func:`backprop_layers` with the two products of each layer by explicit loops."""
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(r, 0, -1):
        dZk = block(dZ, u_off, widths, k, m)
        gW = weights(grad, w_off, widths, k)
        gb = biases(grad, b_off, widths, k)
        if k == 1:
            weight_gradient_loops(dZk, X, gW, gb, scale)
        else:
            A_prev = block(A, u_off, widths, k - 1, m)
            weight_gradient_loops(dZk, A_prev, gW, gb, scale)
            dA_prev = block(dA, u_off, widths, k - 1, m)
            loop_matmul_nn(dZk, weights(params, w_off, widths, k), dA_prev)
            backprop_activation(acts[k - 2], block(Z, u_off, widths, k - 1, m), A_prev, dA_prev,
                                block(dZ, u_off, widths, k - 1, m))  # fmt: skip


@jit
def backprop_layers(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad, scale,
                    use_blas):  # fmt: skip
    """The layer loop of the backward pass, from a seeded output block dZ[r] down to layer 1.

    Writes dZ[k] (k < r) and dA[k] (k < r) and overwrites ``grad`` with scale · Σ_i dZ_i[k]
    a_i[k−1]ᵀ (and scale · Σ_i dZ_i[k] for the biases).  It is linear in the seed, so
    :mod:`fastbp.hessian` reuses it for G v with the seed R{dz[r]}
    (``rop_kernels.gnvp_seed``).  Runs :func:`backprop_layers_blas` or
    :func:`backprop_layers_loops` (see :func:`forward`).
    """
    if use_blas:
        backprop_layers_blas(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad,
                             scale)  # fmt: skip
    else:
        backprop_layers_loops(X, params, widths, acts, w_off, b_off, u_off, Z, A, dZ, dA, grad,
                              scale)  # fmt: skip


@jit
def loss_sum_weighted(Y, Z_r, A_r, out_kind, loss_param, sw):
    """Σ_i s_i J_i over the rows of the output block, with sample weights s = ``sw``."""
    m, n = Z_r.shape
    total = 0.0
    for i in range(m):
        total += sw[i] * example_loss(out_kind, loss_param, Z_r[i], A_r[i], 0, n, Y, i)
    return total
