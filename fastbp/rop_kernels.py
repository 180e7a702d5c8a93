"""Compiled R-operator passes: Hessian-vector and Gauss-Newton-vector products in O(N).

Pearlmutter's R-operator is the directional derivative along a parameter direction v,
R{f} = d/dt f(θ + t v) at t = 0.  V[k] and Vb[k] are the blocks of v laid out like W[k] and b[k].
Applied to the forward pass (one row; layer k = 1..r; R{a[0]} = 0) it gives

    R{z[k]} = W[k] R{a[k−1]} + V[k] a[k−1] + Vb[k],     R{a[k]} = σ'(z[k]) ⊙ R{z[k]}

and at the output R{a[r]} = (∂a[r]/∂z[r]) R{z[r]}: R{z} (identity), a(1 − a) R{z} (sigmoid),
a ⊙ (R{z} − aᵀR{z}) (softmax).  Since dJ/dz[r] = ψ(a[r] − y) (:func:`fastbp.losses.output_seed`),
R{dJ/dz[r]} = ψ'(a[r] − y) ⊙ R{a[r]} (:func:`fastbp.losses.seed_curvature`: ψ' = 1 for the
matched pairs, whose output Jacobian is in R{a[r]}; 1[|r| ≤ δ] for huber; 0 for
absolute_error and quantile).  Applied to the backward pass it gives the Hessian-vector product:

    R{dJ/da[k−1]} = W[k]ᵀ R{dJ/dz[k]} + V[k]ᵀ dJ/dz[k]
    R{dJ/dz[k]}   = R{dJ/da[k]} ⊙ σ'(z[k]) + dJ/da[k] ⊙ σ''(z[k]) ⊙ R{z[k]}
    R{dJ/dW[k]}   = R{dJ/dz[k]} a[k−1]ᵀ + dJ/dz[k] R{a[k−1]}ᵀ,   R{dJ/db[k]} = R{dJ/dz[k]}

:func:`hvp_backward_blas` and :func:`hvp_backward_loops` compute the ordinary dJ/dz, dJ/da in the
same sweep (reading W[k] once for both in the loop path) and never form the gradient, which H v
does not need.  For the generalised Gauss-Newton product G v = Jᵀ H_loss J v the same
R{dJ/dz[r]} = H_loss R{z[r]} is backpropagated linearly (no σ'' term, no V term) with the
ordinary backward helpers of kernels.py (:func:`gnvp_seed`, then ``backprop_layers_blas``).

Kernels follow kernels.py: inputs first, then parameters, direction and offset tables, outputs and
workspaces last; each returns None.  The R-workspaces RZ, RA, RdZ, RdA have the layout of
lowering.Workspace.  Batches of ``blas_min_rows`` rows or more take the matrix-product path
(:func:`r_forward` after ``kernels.forward_blas``, then :func:`hvp_backward_blas`, whose
helpers :func:`r_affine`, :func:`r_weight_gradient` and :func:`r_backprop_linear` call the
:mod:`fastbp._blas` products); smaller batches take the fused loops
(:func:`forward_and_r_forward`, :func:`r_backprop_rows`), which read W[k] and V[k] once per pass.
"""

from __future__ import annotations

from fastbp._blas import gemm, gemm_scratch
from fastbp._jit import jit
from fastbp.activations import RELU, act_prime, act_second, piecewise_linear, relu_gate
from fastbp.kernels import (
    activate,
    add_bias,
    backprop_layers_loops,
    bias_sums,
    biases,
    block,
    output_transform,
    weight_gradient_blas,
    weight_gradient_loops,
    weights,
)
from fastbp.losses import output_seed, r_output_transform, seed_curvature, target_row_ok
from fastbp.row_kernels import BAD_X, BAD_Y, BAD_Z, finite_sum_check, loss_param_of, unpack_plan


@jit
def r_affine(A_prev, RA_prev, W, V, RZ, scal):
    """R{z[k]} − Vb[k] = V[k] a[k−1] + W[k] R{a[k−1]} for every row: two gemms into RZ.

    The second accumulates into the first (BLAS β = 1); the bias Vb[k] is added by the pass that
    follows (:func:`r_bias_activate`).  ``scal`` comes from ``_blas.gemm_scratch``.  Writes RZ.
    """
    gemm(False, True, 1.0, A_prev, V, 0.0, RZ, scal)
    gemm(False, True, 1.0, RA_prev, W, 1.0, RZ, scal)


@jit
def r_activate(code, Z, A, RZ, RA):
    """R{a[k]} = σ'(z[k]) ⊙ R{z[k]} for hidden activation ``code``.  Writes RA."""
    m, n = Z.shape
    for i in range(m):
        for j in range(n):
            RA[i, j] = act_prime(code, Z[i, j], A[i, j]) * RZ[i, j]


@jit
def r_bias_activate(code, Vb, Z, A, RZ, RA):
    """R{z[k]} += Vb[k], then R{a[k]} = σ'(z[k]) ⊙ R{z[k]}, in one pass.  Writes RZ and RA."""
    m, n = Z.shape
    for i in range(m):
        if code == RELU:  # the branch outside the loop, so that the loop vectorises
            for j in range(n):
                rz = RZ[i, j] + Vb[j]
                RZ[i, j] = rz
                RA[i, j] = relu_gate(Z[i, j], rz)
        else:
            for j in range(n):
                rz = RZ[i, j] + Vb[j]
                RZ[i, j] = rz
                RA[i, j] = act_prime(code, Z[i, j], A[i, j]) * rz


@jit
def r_forward(X, params, v, widths, acts, out_kind, w_off, b_off, u_off, Z, A, RZ, RA):
    """R-forward pass along direction ``v`` after :func:`fastbp.kernels.forward` on the same X.

    The matrix-product path (small batches take :func:`forward_and_r_forward` instead): per
    layer one or two gemms (:func:`r_affine`), then one pass adding Vb[k] and applying σ'.
    Writes R{z[k]} into RZ and R{a[k]} into RA for k = 1..r; the output block of RA holds
    R{a[r]} = H_loss R{z[r]} = R{dJ/dz[r]}.
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    scal = gemm_scratch(v)
    for k in range(1, r + 1):
        V = weights(v, w_off, widths, k)
        Vb = biases(v, b_off, widths, k)
        RZk = block(RZ, u_off, widths, k, m)
        if k == 1:
            # R{a[0]} = 0: R{z[1]} = V[1] x + Vb[1].
            gemm(False, True, 1.0, X, V, 0.0, RZk, scal)
        else:
            r_affine(block(A, u_off, widths, k - 1, m), block(RA, u_off, widths, k - 1, m),
                     weights(params, w_off, widths, k), V, RZk, scal)  # fmt: skip
        RAk = block(RA, u_off, widths, k, m)
        Ak = block(A, u_off, widths, k, m)
        if k < r:
            r_bias_activate(acts[k - 1], Vb, block(Z, u_off, widths, k, m), Ak, RZk, RAk)
        else:
            add_bias(Vb, RZk)
            r_output_transform(out_kind, Ak, RZk, RAk)


@jit
def affine_and_r_affine(A_prev, RA_prev, W, b, V, Vb, Z, RZ, first):
    """z[k] = W[k] a[k−1] + b[k] and R{z[k]} = W[k] R{a[k−1]} + V[k] a[k−1] + Vb[k] together.

    The loop path for small batches: one sweep over the rows of W[k] and V[k] serves both
    products and every row of the batch (row j of W and V is read from memory once).  With
    ``first`` (layer 1, R{a[0]} = 0) RA_prev is not read.  Writes Z and RZ.
    """
    m, n_out = Z.shape
    n_in = W.shape[1]
    for j in range(n_out):
        for i in range(m):
            s = b[j]
            rs = Vb[j]
            if first:
                for p in range(n_in):
                    a = A_prev[i, p]
                    s += W[j, p] * a
                    rs += V[j, p] * a
            else:
                for p in range(n_in):
                    a = A_prev[i, p]
                    w = W[j, p]
                    s += w * a
                    rs += w * RA_prev[i, p] + V[j, p] * a
            Z[i, j] = s
            RZ[i, j] = rs


@jit
def forward_and_r_forward(X, params, v, widths, acts, out_kind, w_off, b_off, u_off, Z, A, RZ, RA):
    """:func:`fastbp.kernels.forward` and :func:`r_forward` in one pass, for small batches.

    Each layer's W[k] and V[k] are read once for z, a, R{z} and R{a} (the loop path; batches of
    ``blas_min_rows`` rows or more take the BLAS path, :func:`r_forward` after ``forward``).
    Writes Z, A, RZ, RA as the two would.
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    for k in range(1, r + 1):
        Zk = block(Z, u_off, widths, k, m)
        Ak = block(A, u_off, widths, k, m)
        RZk = block(RZ, u_off, widths, k, m)
        RAk = block(RA, u_off, widths, k, m)
        A_prev = X if k == 1 else block(A, u_off, widths, k - 1, m)
        RA_prev = X if k == 1 else block(RA, u_off, widths, k - 1, m)  # not read for k = 1
        affine_and_r_affine(
            A_prev, RA_prev,
            weights(params, w_off, widths, k), biases(params, b_off, widths, k),
            weights(v, w_off, widths, k), biases(v, b_off, widths, k),
            Zk, RZk, k == 1,
        )  # fmt: skip
        if k < r:
            activate(acts[k - 1], Zk, Ak)
            r_activate(acts[k - 1], Zk, Ak, RZk, RAk)
        else:
            output_transform(out_kind, Zk, Ak)
            r_output_transform(out_kind, Ak, RZk, RAk)


@jit
def r_backprop_rows(dZ, RdZ, W, V, A_prev, RA_prev, dA_prev, RdA_prev, out_W, out_b, scale):
    """One layer k ≥ 2 of :func:`hvp_backward_loops` in one sweep over the rows of W[k] and V[k].

    The loop path for small batches, fusing :func:`r_weight_gradient` and
    :func:`r_backprop_linear`: row j of W[k], V[k] and R{dJ/dW[k]} is touched once for the whole
    batch.  Overwrites out_W, out_b (scale · Σ_i R{dJ/dz_i} a_i[k−1]ᵀ + dJ/dz_i R{a_i[k−1]}ᵀ and
    scale · Σ_i R{dJ/dz_i}), dA_prev (W[k]ᵀ dJ/dz[k]) and RdA_prev (W[k]ᵀ R{dJ/dz[k]} +
    V[k]ᵀ dJ/dz[k]).
    """
    m, n_out = dZ.shape
    n_in = W.shape[1]
    for i in range(m):
        for p in range(n_in):
            dA_prev[i, p] = 0.0
            RdA_prev[i, p] = 0.0
    for j in range(n_out):
        sb = 0.0
        for i in range(m):
            d = dZ[i, j]
            rd = RdZ[i, j]
            sb += rd
            sd = scale * d
            srd = scale * rd
            if i == 0:
                for p in range(n_in):
                    w = W[j, p]
                    dA_prev[i, p] += d * w
                    RdA_prev[i, p] += rd * w + d * V[j, p]
                    out_W[j, p] = srd * A_prev[i, p] + sd * RA_prev[i, p]
            else:
                for p in range(n_in):
                    w = W[j, p]
                    dA_prev[i, p] += d * w
                    RdA_prev[i, p] += rd * w + d * V[j, p]
                    out_W[j, p] += srd * A_prev[i, p] + sd * RA_prev[i, p]
        out_b[j] = scale * sb


@jit
def r_weight_gradient(RdZ, A_prev, dZ, RA_prev, out_W, out_b, scale, scal):
    """R{dJ/dW[k]} = scale · Σ_i (R{dJ/dz_i} a_i[k−1]ᵀ + dJ/dz_i R{a_i[k−1]}ᵀ), R{dJ/db[k]} too.

    Two gemms with α = scale, the second accumulating into the first (BLAS β = 1).  Overwrites
    out_W and out_b (with scale · Σ_i R{dJ/dz_i}).
    """
    gemm(True, False, scale, RdZ, A_prev, 0.0, out_W, scal)
    gemm(True, False, scale, dZ, RA_prev, 1.0, out_W, scal)
    bias_sums(RdZ, out_b)
    for j in range(out_b.shape[0]):
        out_b[j] *= scale


@jit
def r_backprop_linear(dZ, RdZ, W, V, dA_prev, RdA_prev, need_dA, scal):
    """dJ/da[k−1] = W[k]ᵀ dJ/dz[k] and R{dJ/da[k−1]} = W[k]ᵀ R{dJ/dz[k]} + V[k]ᵀ dJ/dz[k].

    Two or three gemms (the last accumulating, BLAS β = 1).  Overwrites RdA_prev, and dA_prev
    when ``need_dA`` (else it is not touched: the caller needs no dJ/da[k−1]).
    """
    if need_dA:
        gemm(False, False, 1.0, dZ, W, 0.0, dA_prev, scal)
    gemm(False, False, 1.0, RdZ, W, 0.0, RdA_prev, scal)
    gemm(False, False, 1.0, dZ, V, 1.0, RdA_prev, scal)


@jit
def backprop_pair_activation(code, Z, A, dA, RZ, RdA, dZ, RdZ, with_dZ, curved):
    """R{dJ/dz[k]} = R{dJ/da[k]} ⊙ σ'(z[k]) + dJ/da[k] ⊙ σ''(z[k]) ⊙ R{z[k]} and, with
    ``with_dZ``, dJ/dz[k] = dJ/da[k] ⊙ σ'(z[k]).

    One pass, for both backward paths (layer 1 needs no dJ/dz[1]: R{a[0]} = 0).  Without
    ``curved`` (σ'' ≡ 0: identity, ReLU, leaky ReLU) the σ'' term is left out and dA is read
    only for dZ.  Writes RdZ (and dZ).
    """
    m, n = Z.shape
    for i in range(m):
        if code == RELU and with_dZ:  # the branches outside the loops, so that they vectorise
            for j in range(n):
                RdZ[i, j] = relu_gate(Z[i, j], RdA[i, j])
                dZ[i, j] = relu_gate(Z[i, j], dA[i, j])
        elif code == RELU:
            for j in range(n):
                RdZ[i, j] = relu_gate(Z[i, j], RdA[i, j])
        else:
            for j in range(n):
                z = Z[i, j]
                a = A[i, j]
                slope = act_prime(code, z, a)
                rd = RdA[i, j] * slope
                if curved:
                    rd += dA[i, j] * act_second(code, z, a) * RZ[i, j]
                RdZ[i, j] = rd
                if with_dZ:
                    dZ[i, j] = dA[i, j] * slope


@jit
def hvp_seed(Y, A_r, RA_r, dZ_r, RdZ_r, out_kind, loss_param):
    """dJ/dz[r] = ψ(a[r] − y) and R{dJ/dz[r]} = ψ'(a[r] − y) ⊙ R{a[r]} (= R{a[r]} for the
    matched pairs; :func:`fastbp.losses.output_seed`, :func:`fastbp.losses.seed_curvature`).

    Writes dZ_r and RdZ_r.
    """
    for i in range(A_r.shape[0]):
        output_seed(out_kind, loss_param, A_r[i], Y[i], dZ_r[i], 1.0)
        for j in range(A_r.shape[1]):
            h = seed_curvature(out_kind, loss_param, A_r[i, j] - Y[i, j])
            RdZ_r[i, j] = h * RA_r[i, j]


@jit
def hvp_backward_blas(
    X, Y, params, v, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Z, A, dZ, dA, RZ, RA, RdZ, RdA, out, scale,
):  # fmt: skip
    """Backward pass and its R-image: ``out`` = scale · Σ_i H_i v, H_i = ∇²J_i; BLAS products.

    Needs Z, A (``kernels.forward_blas``) and RZ, RA (:func:`r_forward`) for the same X.  Writes
    dJ_i/dz[k], dJ_i/da[k] into dZ, dA for k ≥ 2 (as the gradient's backward pass does, but
    without forming the gradient, which H v does not need), R{dJ_i/dz[k]}, R{dJ_i/da[k]} into
    RdZ, RdA, and overwrites ``out`` (parameter layout).  Each sum of two products accumulates
    in its gemm (β = 1).  Layer 1 needs no dJ/dz[1] (R{a[0]} = 0), and no dJ/da[1] either when
    σ₁'' ≡ 0 (piecewise-linear σ₁), so that product is skipped.  scale = 1/n gives H v for the
    mean loss.  :func:`hvp_backward_loops` is the same pass for small batches (Numba compiles
    every branch of a function, so each path is its own kernel).
    """
    m = X.shape[0]
    r = widths.shape[0] - 1
    scal = gemm_scratch(out)
    hvp_seed(Y, block(A, u_off, widths, r, m), block(RA, u_off, widths, r, m),
             block(dZ, u_off, widths, r, m), block(RdZ, u_off, widths, r, m), out_kind,
             loss_param)  # fmt: skip
    for k in range(r, 0, -1):
        dZk = block(dZ, u_off, widths, k, m)
        RdZk = block(RdZ, u_off, widths, k, m)
        out_W = weights(out, w_off, widths, k)
        out_b = biases(out, b_off, widths, k)
        if k == 1:
            # R{a[0]} = 0: only the R{dJ/dz[1]} xᵀ term remains.
            weight_gradient_blas(RdZk, X, out_W, out_b, scale)
            continue
        A_prev = block(A, u_off, widths, k - 1, m)
        dA_prev = block(dA, u_off, widths, k - 1, m)
        RdA_prev = block(RdA, u_off, widths, k - 1, m)
        RA_prev = block(RA, u_off, widths, k - 1, m)
        r_weight_gradient(RdZk, A_prev, dZk, RA_prev, out_W, out_b, scale, scal)
        code = acts[k - 2]
        curved = not piecewise_linear(code)
        r_backprop_linear(dZk, RdZk, weights(params, w_off, widths, k),
                          weights(v, w_off, widths, k), dA_prev, RdA_prev, k > 2 or curved,
                          scal)  # fmt: skip
        backprop_pair_activation(
            code, block(Z, u_off, widths, k - 1, m), A_prev, dA_prev,
            block(RZ, u_off, widths, k - 1, m), RdA_prev, block(dZ, u_off, widths, k - 1, m),
            block(RdZ, u_off, widths, k - 1, m), k > 2, curved,
        )  # fmt: skip


@jit
def hvp_backward_loops(
    X, Y, params, v, widths, acts, out_kind, loss_param, w_off, b_off, u_off,
    Z, A, dZ, dA, RZ, RA, RdZ, RdA, out, scale,
):  # fmt: skip
    """:func:`hvp_backward_blas` for small batches: R{dJ/dW[k]}, dJ/da[k−1] and R{dJ/da[k−1]} of a
    layer in one sweep over W[k], V[k] (:func:`r_backprop_rows`)."""
    m = X.shape[0]
    r = widths.shape[0] - 1
    hvp_seed(Y, block(A, u_off, widths, r, m), block(RA, u_off, widths, r, m),
             block(dZ, u_off, widths, r, m), block(RdZ, u_off, widths, r, m), out_kind,
             loss_param)  # fmt: skip
    for k in range(r, 0, -1):
        dZk = block(dZ, u_off, widths, k, m)
        RdZk = block(RdZ, u_off, widths, k, m)
        out_W = weights(out, w_off, widths, k)
        out_b = biases(out, b_off, widths, k)
        if k == 1:
            weight_gradient_loops(RdZk, X, out_W, out_b, scale)
            continue
        A_prev = block(A, u_off, widths, k - 1, m)
        dA_prev = block(dA, u_off, widths, k - 1, m)
        RdA_prev = block(RdA, u_off, widths, k - 1, m)
        r_backprop_rows(dZk, RdZk, weights(params, w_off, widths, k), weights(v, w_off, widths, k),
                        A_prev, block(RA, u_off, widths, k - 1, m), dA_prev, RdA_prev, out_W,
                        out_b, scale)  # fmt: skip
        code = acts[k - 2]
        backprop_pair_activation(
            code, block(Z, u_off, widths, k - 1, m), A_prev, dA_prev,
            block(RZ, u_off, widths, k - 1, m), RdA_prev, block(dZ, u_off, widths, k - 1, m),
            block(RdZ, u_off, widths, k - 1, m), k > 2, not piecewise_linear(code),
        )  # fmt: skip


@jit
def gnvp_seed(Y, A_r, RA_r, RdZ_r, out_kind, loss_param, scale):
    """R{dz[r]} = scale · H_loss J v = scale · ψ'(a[r] − y) ⊙ R{a[r]}: the seed of G v's linear
    backward pass (ψ' = 1 for the matched pairs, :func:`fastbp.losses.seed_curvature`).

    Writes RdZ_r.  G v = Σ_i J_iᵀ H_loss,i J_i v then comes from ``kernels.backprop_layers_blas``
    (or ``_loops``) run from this seed with scale 1 (the pass is linear, so the 1/n of the mean
    is folded in here, saving a scaling pass per layer): R{dz[k−1]} = (W[k]ᵀ R{dz[k]}) ⊙
    σ'(z[k−1]) and G v = Σ_i R{dz_i[k]} a_i[k−1]ᵀ (and Σ_i R{dz_i[k]} for the biases).
    """
    for i in range(RA_r.shape[0]):
        for j in range(RA_r.shape[1]):
            h = seed_curvature(out_kind, loss_param, A_r[i, j] - Y[i, j])
            RdZ_r[i, j] = scale * h * RA_r[i, j]


@jit
def r_forward_row(X, Y, v, params, ipack, Z, A, RZ, RA):
    """The checks and the fused forward and R-forward pass of the single row (X[0], Y[0]).

    The batch-1 fast path of H v and G v (the gradient's one-row kernels check the same way,
    :mod:`fastbp.row_kernels`): x finite and y valid for the loss are checked before anything is
    written (BAD_X, BAD_Y); then the U entries of z and R{z} are checked instead of the N
    parameters and the N entries of v: a NaN or inf in W[k], b[k], V[k] or Vb[k] reaches z[k]
    or R{z[k]} (x is finite and every entry of W[k], V[k] multiplies into the sums), so BAD_Z
    means non-finite parameters, a non-finite v, or an overflow.  Returns 0 or the status.
    """
    x = X[0]
    if not finite_sum_check(x, 0, x.shape[0]):
        return BAD_X
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    if not target_row_ok(Y[0], out_kind):
        return BAD_Y
    forward_and_r_forward(X, params, v, widths, acts, out_kind, w_off, b_off, u_off, Z, A, RZ, RA)
    n_units = u_off[widths.shape[0] - 1]
    if not (finite_sum_check(Z, 0, n_units) and finite_sum_check(RZ, 0, n_units)):
        return BAD_Z
    return 0


@jit
def hvp_row(X, Y, v, params, ipack, Z, A, dZ, dA, RZ, RA, RdZ, RdA, out):
    """H v of the single row (X[0], Y[0]) into ``out``, checks inside (:func:`r_forward_row`).

    Returns 0, or a nonzero status and ``out`` must not be used (the caller's checked path then
    says what is wrong).
    """
    status = r_forward_row(X, Y, v, params, ipack, Z, A, RZ, RA)
    if status != 0:
        return status
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    hvp_backward_loops(X, Y, params, v, widths, acts, out_kind, loss_param_of(ipack), w_off,
                       b_off, u_off, Z, A, dZ, dA, RZ, RA, RdZ, RdA, out, 1.0)  # fmt: skip
    return 0


@jit
def gnvp_row(X, Y, v, params, ipack, Z, A, RZ, RA, RdZ, RdA, out):
    """G v of the single row (X[0], Y[0]) into ``out``, checks inside (:func:`r_forward_row`).

    Returns 0, or a nonzero status and ``out`` must not be used.
    """
    status = r_forward_row(X, Y, v, params, ipack, Z, A, RZ, RA)
    if status != 0:
        return status
    out_kind, widths, acts, w_off, b_off, u_off, _ = unpack_plan(ipack)
    r = widths.shape[0] - 1
    gnvp_seed(Y, block(A, u_off, widths, r, 1), block(RA, u_off, widths, r, 1),
              block(RdZ, u_off, widths, r, 1), out_kind, loss_param_of(ipack), 1.0)  # fmt: skip
    backprop_layers_loops(X, params, widths, acts, w_off, b_off, u_off, Z, A, RdZ, RdA, out, 1.0)
    return 0
