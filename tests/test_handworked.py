"""One 3-2-1 network worked out by hand, with the arithmetic in the comments."""

from __future__ import annotations

import numpy as np
import pytest

import fastbp as fb
from fastbp import reference


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("source", ["compiled", "reference"])
def test_three_two_one_by_hand(dtype: str, source: str) -> None:
    # W[1] = [[0.1, 0.2, 0.3], [-0.1, 0.0, 0.2]], b[1] = [0.0, 0.1], ReLU
    # W[2] = [[0.5, -0.4]],                        b[2] = [0.2],      identity, squared loss
    spec = fb.NetworkSpec([3, 2, 1], ["relu"], "squared", dtype)
    net = fb.Network(spec, init="zeros")
    net.params = np.array([0.1, 0.2, 0.3, -0.1, 0.0, 0.2, 0.0, 0.1, 0.5, -0.4, 0.2])
    x = np.array([[1.0, 2.0, 3.0]])
    y = np.array([1.0])

    # Forward:
    # z[1] = W[1] x + b[1] = [0.1 + 0.4 + 0.9 + 0.0, -0.1 + 0.0 + 0.6 + 0.1] = [1.4, 0.6]
    # a[1] = relu(z[1]) = [1.4, 0.6]
    # z[2] = 0.5 * 1.4 - 0.4 * 0.6 + 0.2 = 0.7 - 0.24 + 0.2 = 0.66 = a[2]
    # J = ½ (0.66 - 1)² = ½ · 0.1156 = 0.0578
    # Backward:
    # dJ/dz[2] = -(y - z[2]) = 0.66 - 1 = -0.34
    # dJ/dW[2] = dJ/dz[2] a[1]ᵀ = -0.34 · [1.4, 0.6] = [-0.476, -0.204];  dJ/db[2] = -0.34
    # dJ/da[1] = W[2]ᵀ dJ/dz[2] = [0.5 · -0.34, -0.4 · -0.34] = [-0.17, 0.136]
    # dJ/dz[1] = dJ/da[1] ⊙ relu'(z[1]) = [-0.17, 0.136] ⊙ [1, 1] = [-0.17, 0.136]
    # dJ/dW[1] = dJ/dz[1] xᵀ = [[-0.17, -0.34, -0.51], [0.136, 0.272, 0.408]]
    # dJ/db[1] = [-0.17, 0.136]
    # fmt: off
    expected_grad = [-0.17, -0.34, -0.51, 0.136, 0.272, 0.408,  # W[1]
                     -0.17, 0.136,                              # b[1]
                     -0.476, -0.204,                            # W[2]
                     -0.34]                                     # b[2]
    # fmt: on
    if source == "compiled":
        t = net.trace(x, y)
        J, g, z1, z2, dz1 = t.loss, t.grad, t.z[1][0], t.z[2][0], t.dJ_dz[1][0]
        da1 = t.dJ_da[1][0]
    else:
        ref = reference.loss_and_gradient(
            net.params.tolist(), spec.widths, spec.activations, "squared", x.tolist(), [[1.0]]
        )
        J, g, z1, z2, dz1 = ref.loss, ref.grad, ref.z[0][1], ref.z[0][2], ref.dJ_dz[0][1]
        da1 = ref.dJ_da[0][1]
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(z1, [1.4, 0.6], atol=tol)
    np.testing.assert_allclose(z2, [0.66], atol=tol)
    assert J == pytest.approx(0.0578, abs=tol)
    np.testing.assert_allclose(da1, [-0.17, 0.136], atol=tol)
    np.testing.assert_allclose(dz1, [-0.17, 0.136], atol=tol)
    np.testing.assert_allclose(g, expected_grad, atol=tol)
