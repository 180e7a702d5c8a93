"""Compiled per-example passes: the per-row dJ_i/dz[k] of a batch, and what is built from them.

The ordinary backward pass (:mod:`fastbp.kernels`) already holds, for every row i of a chunk and
every layer k, the per-example derivative dJ_i/dz[k] in its dZ workspace before it sums the rows
into the gradient.  Every per-example quantity of a layer is a function of that row and of the
layer's input a_i[k−1] (a_i[0] = x_i), because

    dJ_i/dW[k] = dJ_i/dz[k] a_i[k−1]ᵀ,    dJ_i/db[k] = dJ_i/dz[k].

* :func:`backprop_deltas`: from a seeded output block
  dZ[r], dZ[k−1] = (dZ[k] W[k]) ⊙ σ'(z[k−1]) for k = r..2, without forming the gradient.  The
  seed is dJ_i/dz[r] = a_i[r] − y_i (:func:`fastbp.kernels.seed_output`) for gradients, or a
  column of the symmetric factor of the output-loss Hessian (:func:`ggn_seed`) for the
  Gauss-Newton diagonal.
* :func:`add_row_norms_sq`: out_i += Σ_k ‖dz_i[k]‖² (‖a_i[k−1]‖² + 1), the squared norm of the
  gradient of J_i by the outer-product identity ‖u vᵀ‖_F = ‖u‖ ‖v‖ (the + 1 is the bias).
* :func:`write_per_example_gradients`: row i of G = ∇J_i in the parameter layout.
* :func:`square_inputs`, :func:`add_squared_gradients`: Σ_i (∇J_i)² elementwise without forming
  ∇J_i, per layer (dZ∘dZ)ᵀ(A∘A) (one product, BLAS on large chunks), and optionally Σ_i ∇J_i.

Kernels follow kernels.py: inputs first, then parameters and offset tables, outputs and
workspaces last; each returns None, allocates nothing, and reuses the forward, backward and
activation-derivative helpers of :mod:`fastbp.kernels` and :mod:`fastbp._blas`.
"""

from __future__ import annotations

from fastbp._blas import gemm, gemm_scratch, loop_matmul_tn
from fastbp._jit import jit
from fastbp.kernels import backprop_activation, backprop_linear, biases, block, weights
from fastbp.losses import ggn_seed  # noqa: F401  (the output-loss Hessian factor, per loss)


@jit
def backprop_deltas(params, widths, acts, w_off, u_off, Z, A, dZ, dA, m, use_blas):
    """dJ/da[k−1] = dJ/dz[k] W[k] and dJ/dz[k−1] = dJ/da[k−1] ⊙ σ'(z[k−1]) for k = r..2.

    Every row of the m-row chunk at once, the product through BLAS with ``use_blas``, else by
    explicit loops (:func:`fastbp.kernels.backprop_linear`).  Reads the seeded output block of
    dZ and the forward pass in Z, A; writes the other blocks of dZ and dA.
    """
    r = widths.shape[0] - 1
    for k in range(r, 1, -1):
        dA_prev = block(dA, u_off, widths, k - 1, m)
        backprop_linear(block(dZ, u_off, widths, k, m), weights(params, w_off, widths, k), dA_prev,
                        use_blas)  # fmt: skip
        backprop_activation(acts[k - 2], block(Z, u_off, widths, k - 1, m),
                            block(A, u_off, widths, k - 1, m), dA_prev,
                            block(dZ, u_off, widths, k - 1, m))  # fmt: skip


@jit
def add_row_norms_sq(X, widths, u_off, A, dZ, m, out):
    """out_i += Σ_k ‖dz_i[k]‖² (‖a_i[k−1]‖² + 1) for the m rows of a chunk: ‖∇J_i‖².

    ‖dJ_i/dW[k]‖²_F = ‖dz_i[k]‖² ‖a_i[k−1]‖² (outer product) and ‖dJ_i/db[k]‖² = ‖dz_i[k]‖².
    Adds into out (m,).
    """
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        dZk = block(dZ, u_off, widths, k, m)
        A_prev = X if k == 1 else block(A, u_off, widths, k - 1, m)
        n_out = widths[k]
        n_in = widths[k - 1]
        for i in range(m):
            dz = dZk[i]
            a = A_prev[i]
            d2 = 0.0
            for j in range(n_out):
                d2 += dz[j] * dz[j]
            a2 = 1.0
            for p in range(n_in):
                a2 += a[p] * a[p]
            out[i] += d2 * a2


@jit
def write_per_example_gradients(X, widths, w_off, b_off, u_off, A, dZ, m, G):
    """G[i] = ∇J_i in the parameter layout: dJ_i/dW[k] = dz_i[k] a_i[k−1]ᵀ, dJ_i/db[k] = dz_i[k].

    Overwrites the m rows of G (m, n_params), one row at a time from start to end (a stream of
    writes, which is what this kernel's time is).  Each W[k] block is written through its own
    (n_k, n_{k−1}) view, row by row: LLVM then vectorises the inner loop without the index
    arithmetic and alias checks of writes at computed offsets into the whole row (30 % faster).
    """
    r = widths.shape[0] - 1
    for i in range(m):
        g = G[i]
        for k in range(1, r + 1):
            dz = block(dZ, u_off, widths, k, m)[i]
            a = X[i] if k == 1 else block(A, u_off, widths, k - 1, m)[i]
            gW = weights(g, w_off, widths, k)
            for j in range(widths[k]):
                d = dz[j]
                row = gW[j]
                for p in range(row.shape[0]):
                    row[p] = d * a[p]
            gb = biases(g, b_off, widths, k)
            for j in range(widths[k]):
                gb[j] = dz[j]


@jit
def square_inputs(X, widths, u_off, A, m, X2, A2):
    """X2 = X∘X and, in the A layout, A2[k] = a[k]∘a[k] for the hidden layers k = 1..r−1.

    Writes X2 (m, n0) and the hidden blocks of the flat A2 (the inputs of layers 2..r).
    """
    r = widths.shape[0] - 1
    for i in range(m):
        for p in range(widths[0]):
            X2[i, p] = X[i, p] * X[i, p]
    for k in range(1, r):
        Ak = block(A, u_off, widths, k, m)
        A2k = block(A2, u_off, widths, k, m)
        for i in range(m):
            for p in range(widths[k]):
                A2k[i, p] = Ak[i, p] * Ak[i, p]


@jit
def add_squared_gradients(X, X2, widths, w_off, b_off, u_off, A, A2, dZ, dA, m, out, total,
                          scratch, with_total, use_blas):  # fmt: skip
    """out += Σ_i (∇J_i)² elementwise, per layer (dZ∘dZ)ᵀ(A∘A) and Σ_i dZ∘dZ for the biases.

    (dJ_i/dW[k]_jp)² = (dz_ij[k])² (a_ip[k−1])², so the sum over rows is one matrix product of
    the squares.  With ``with_total`` also total += Σ_i ∇J_i (dZᵀA and Σ_i dZ).  dZ∘dZ is written
    over the layer's block of dA (no longer needed after the backward pass).  With ``use_blas``
    each product accumulates into its output in the gemm (BLAS β = 1); the explicit loops (small
    batches) write it to the parameter-sized ``scratch`` and add it.
    """
    r = widths.shape[0] - 1
    scal = gemm_scratch(out)
    for k in range(1, r + 1):
        n_out = widths[k]
        n_in = widths[k - 1]
        dZk = block(dZ, u_off, widths, k, m)
        D2 = block(dA, u_off, widths, k, m)
        A_prev = X if k == 1 else block(A, u_off, widths, k - 1, m)
        A2_prev = X2 if k == 1 else block(A2, u_off, widths, k - 1, m)
        gW = weights(scratch, w_off, widths, k)
        oW = weights(out, w_off, widths, k)
        b0 = b_off[k - 1]
        if with_total:
            tW = weights(total, w_off, widths, k)
            if use_blas:
                gemm(True, False, 1.0, dZk, A_prev, 1.0, tW, scal)
            else:
                loop_matmul_tn(dZk, A_prev, gW)
                for j in range(n_out):
                    for p in range(n_in):
                        tW[j, p] += gW[j, p]
        for i in range(m):
            for j in range(n_out):
                d = dZk[i, j]
                D2[i, j] = d * d
                if with_total:
                    total[b0 + j] += d
                out[b0 + j] += d * d
        if use_blas:
            gemm(True, False, 1.0, D2, A2_prev, 1.0, oW, scal)
        else:
            loop_matmul_tn(D2, A2_prev, gW)
            for j in range(n_out):
                for p in range(n_in):
                    oW[j, p] += gW[j, p]


@jit
def finish_variance(squares, mean, n):
    """squares ← max(0, squares/n − (mean/n)²) in one pass: the population variance from the
    sums Σ_i (∇J_i)² and Σ_i ∇J_i (rounding can leave tiny negatives, clipped to 0)."""
    inv = 1.0 / n
    for q in range(squares.shape[0]):
        g = mean[q] * inv
        v = squares[q] * inv - g * g
        squares[q] = v if v > 0.0 else 0.0
