"""Compiled kernels against the pure-Python reference: loss, gradient and every per-layer
quantity, on 60 random architectures, both dtypes, both matrix-product paths (loops and BLAS)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, make_targets, random_case, random_network

from fastbp import reference

N_CASES = 60


@pytest.mark.parametrize("path", ["loops", "blas"])
@pytest.mark.parametrize("case", range(N_CASES))
def test_loss_and_gradient_matches_reference(case: int, path: str) -> None:
    spec, m = random_case(case)
    rng = np.random.default_rng(case)
    net = random_network(spec, rng)
    net.lowered.blas_min_rows = 1 if path == "blas" else 10**9
    X = rng.normal(size=(m, spec.n_inputs))
    Y, Y_dense = make_targets(spec, m, rng)
    J, g = net.loss_and_gradient(X, Y)
    ref = reference.loss_and_gradient(
        net.params.tolist(), spec.widths, spec.activations, spec.loss,
        X.astype(spec.dtype).tolist(), Y_dense.astype(spec.dtype).tolist(),
    )  # fmt: skip
    label = f"{spec} m={m} {path}"
    assert_close(J, ref.loss, spec.dtype, f"loss {label}")
    assert_close(g, ref.grad, spec.dtype, f"gradient {label}")
    assert_close(net.loss(X, Y), ref.loss, spec.dtype, f"loss() {label}")


@pytest.mark.parametrize("path", ["loops", "blas"])
@pytest.mark.parametrize("case", range(0, N_CASES, 2))
def test_trace_matches_reference_per_layer(case: int, path: str) -> None:
    spec, m = random_case(case)
    rng = np.random.default_rng(case)
    net = random_network(spec, rng)
    net.lowered.blas_min_rows = 1 if path == "blas" else 10**9
    X = rng.normal(size=(m, spec.n_inputs))
    Y, Y_dense = make_targets(spec, m, rng)
    t = net.trace(X, Y)
    ref = reference.loss_and_gradient(
        net.params.tolist(), spec.widths, spec.activations, spec.loss,
        X.astype(spec.dtype).tolist(), Y_dense.astype(spec.dtype).tolist(),
    )  # fmt: skip
    r = spec.n_layers
    for k in range(1, r + 1):
        label = f"layer {k} of {spec} m={m} {path}"
        assert_close(t.z[k], [ref.z[i][k] for i in range(m)], spec.dtype, f"z {label}")
        assert_close(t.a[k], [ref.a[i][k] for i in range(m)], spec.dtype, f"a {label}")
        assert_close(t.dJ_dz[k], [ref.dJ_dz[i][k] for i in range(m)], spec.dtype, f"dJ/dz {label}")
        if k < r:
            assert_close(
                t.dJ_da[k], [ref.dJ_da[i][k] for i in range(m)], spec.dtype, f"dJ/da {label}"
            )
    assert t.dJ_da[r] is None and t.z[0] is None
    assert_close(t.loss, ref.loss, spec.dtype)
    assert_close(t.grad, ref.grad, spec.dtype)


@pytest.mark.parametrize("case", range(0, N_CASES, 3))
def test_forward_matches_reference(case: int) -> None:
    spec, m = random_case(case)
    rng = np.random.default_rng(case)
    net = random_network(spec, rng)
    X = rng.normal(size=(m, spec.n_inputs))
    W, b = reference.unpack(net.params.tolist(), spec.widths)
    expected = []
    for x in X.astype(spec.dtype).tolist():
        a = x
        for k in range(1, spec.n_layers + 1):
            z = [b[k][j] + sum(W[k][j][p] * a[p] for p in range(len(a))) for j in range(len(b[k]))]
            if k < spec.n_layers:
                a = [reference.sigma(spec.activations[k - 1], v) for v in z]
            else:
                a = reference.output(spec.loss, z)
        expected.append(a)
    out = net.forward(X)
    assert out.shape == (m, spec.n_outputs) and out.dtype == spec.np_dtype
    assert_close(out, expected, spec.dtype, f"forward {spec}")


def test_chunked_gradient_equals_single_chunk(rng: np.random.Generator) -> None:
    from fastbp import Network, NetworkSpec

    spec = NetworkSpec([6, 9, 4], ["tanh"], "softmax_cross_entropy", "float64")
    net = Network(spec, seed=3)
    X = rng.normal(size=(50, 6))
    Y = rng.integers(0, 4, size=50)
    J1, g1 = net.loss_and_gradient(X, Y)
    net.lowered.chunk_rows = 7  # 8 chunks, the last one short
    J2, g2 = net.loss_and_gradient(X, Y)
    assert_close(J2, J1, "float64")
    assert_close(g2, g1, "float64")
    np.testing.assert_allclose(net.forward(X), Network.forward(net, X))


def test_all_paths_cover_every_activation_and_loss() -> None:
    """The random cases really do iterate over the whole registry (guards the generator): every
    hidden activation before every output activation, and every loss in both dtypes."""
    from fastbp.losses import RECORDS

    seen, losses = set(), set()
    for case in range(N_CASES):
        spec, m = random_case(case)
        losses.add((spec.loss, spec.dtype))
        for act in spec.activations:
            seen.add((act, spec.output_activation))
    from conftest import ACTIVATION_NAMES, DTYPES, LOSS_NAMES

    outputs = {r.output for r in RECORDS.values()}
    assert {(a, o) for a in ACTIVATION_NAMES for o in outputs} <= seen
    assert {(name, d) for name in LOSS_NAMES for d in DTYPES} <= losses


@pytest.mark.parametrize("case", range(0, N_CASES, 3))
def test_batch_kernels_with_one_row_match_the_example_path(case: int) -> None:
    """Network routes m = 1 to forward_example/backward_example; the batch kernels must agree
    on a single row too (the minibatch epoch can end with a batch of one)."""
    from fastbp import kernels

    spec, _ = random_case(case)
    rng = np.random.default_rng(case)
    net = random_network(spec, rng)
    X = rng.normal(size=(1, spec.n_inputs)).astype(spec.dtype)
    _, Y = make_targets(spec, 1, rng)
    Y = Y.astype(spec.dtype)
    J_example, g_example = net.loss_and_gradient(X, Y)
    p, ws = net.plan, net.lowered.ws
    grad = np.zeros_like(net.params)
    kernels.forward(X, net.params, p.widths, p.acts, p.out_kind, p.w_off, p.b_off, p.u_off,
                    ws.Z, ws.A, False)  # fmt: skip
    kernels.backward(X, Y, net.params, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off,
                     p.b_off, p.u_off, ws.Z, ws.A, ws.dZ, ws.dA, grad, 1.0, False)  # fmt: skip
    assert_close(grad, g_example, spec.dtype, f"{spec}")


def test_all_finite_kernel() -> None:
    from fastbp.kernels import all_finite

    a = np.linspace(-1e300, 1e300, 1001)
    assert all_finite(a) and all_finite(np.zeros(0, dtype=np.float32))
    for bad in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b[517] = bad
        with np.errstate(invalid="ignore"):
            assert not all_finite(b)
