"""fastbp.sparse_kernels: the CSR minibatch epoch against the dense one on the densified rows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import ACTIVATION_NAMES, assert_close, make_targets, random_case, random_network

import fastbp as fb
from fastbp import epochs, sparse_kernels
from fastbp.optim import Optimizer


@pytest.mark.parametrize("case", range(len(ACTIVATION_NAMES)))  # every activation once
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_csr_epoch_matches_dense_epoch(case, optimizer):
    spec, _ = random_case(case)
    rng = np.random.default_rng(case)
    n, bs = 23, 4
    X = rng.normal(size=(n, spec.n_inputs)) * (rng.uniform(size=(n, spec.n_inputs)) < 0.3)
    X = X.astype(spec.dtype)
    _, Yd = make_targets(spec, n, rng)
    Y = np.ascontiguousarray(Yd, dtype=spec.dtype)
    order = rng.permutation(n).astype(np.int64)
    results = []
    for sparse in (False, True):
        net = random_network(spec, np.random.default_rng(100 + case))
        opt = Optimizer(optimizer, momentum=0.8)
        opt.reset(net.n_params, spec.np_dtype)
        p, ws = net.plan, net.lowered.ws
        ws.ensure(bs)
        Xb = np.zeros((bs, spec.n_inputs), dtype=spec.dtype)
        Yb = np.zeros((bs, spec.n_outputs), dtype=spec.dtype)
        info = np.zeros(3)
        common = (p.w_off, p.b_off, p.u_off)
        tail = (net.lowered.grad, p.weight_mask, 0.01, net.lowered.blas_min_rows, opt.code, 0.01,
                opt.momentum, opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step,
                info)  # fmt: skip
        if sparse:
            C = sp.csr_matrix(X)
            sparse_kernels.minibatch_epoch_csr(
                C.indptr, C.indices, C.data, Y, order, bs, net.params, p.widths, p.acts,
                p.out_kind, p.loss_param, *common, Yb, ws.Z, ws.A, ws.dZ, ws.dA, *tail,
            )  # fmt: skip
        else:
            epochs.minibatch_epoch(
                X, Y, order, bs, net.params, p.widths, p.acts, p.out_kind, p.loss_param, *common,
                Xb, Yb,
                ws.Z, ws.A, ws.dZ, ws.dA, *tail,
            )  # fmt: skip
        results.append((net.params.copy(), info.copy()))
    (dense_params, dense_info), (csr_params, csr_info) = results
    assert csr_info[1] == dense_info[1] == n and csr_info[2] == dense_info[2] == 0
    assert_close(csr_params, dense_params, spec.dtype, "parameters after one epoch")
    assert_close(csr_info[0], dense_info[0], spec.dtype, "Σ J")


def test_csr_epoch_stops_on_a_nonfinite_loss():
    spec = fb.NetworkSpec([3, 4, 1], ["tanh"], "squared")
    net = fb.Network(spec, seed=0)
    X = sp.csr_matrix(np.array([[1e200, 0, 0], [0, 1, 0]]))
    Y = np.zeros((2, 1))
    net.lowered.ws.ensure(2)
    opt = Optimizer("sgd")
    opt.reset(net.n_params, spec.np_dtype)
    info = np.zeros(3)
    net.params[: net.n_params] = 1e200
    with np.errstate(over="ignore", invalid="ignore"):  # as the compiled kernel: no warnings
        _epoch_on_huge_weights(net, X, Y, opt, info)
    assert info[2] == 1.0 and info[1] == 0


def _epoch_on_huge_weights(net, X, Y, opt, info):
    p, ws = net.plan, net.lowered.ws
    sparse_kernels.minibatch_epoch_csr(
        X.indptr, X.indices, X.data, Y, np.arange(2), 2, net.params, p.widths, p.acts, p.out_kind,
        p.loss_param, p.w_off, p.b_off, p.u_off, np.zeros((2, 1)), ws.Z, ws.A, ws.dZ, ws.dA,
        net.lowered.grad, p.weight_mask, 0.0, net.lowered.blas_min_rows, opt.code, 0.1, 0.0, 0.9,
        0.999, 1e-8, opt.s1, opt.s2, opt.step, info,
    )  # fmt: skip


def test_malformed_csr_is_refused_before_the_kernel_runs():
    """Indices past the last column would make the CSR kernel read out of bounds."""
    import scipy.sparse as sps

    from fastbp.sklearn import MLPClassifier

    X = sps.random(40, 6, density=0.3, format="csr", random_state=0, dtype=np.float64)
    X.indices[3] = 99  # hand-corrupted: scipy does not check this on its own
    y = np.arange(40) % 2
    with pytest.raises(ValueError, match="malformed sparse matrix|column index"):
        MLPClassifier(hidden_layer_sizes=(4,), solver="adam", max_iter=2).fit(X, y)
