"""fastbp.per_example against BackPACK 1.7.1 (``BatchGrad``, ``BatchL2Grad``, ``Variance``,
``DiagGGNExact``) on the same float64 network in torch (``fastbp.interop.to_torch``).

BackPACK's individual gradients are those of the loss it is given, reduction included, so each
comparison rescales fastbp's quantities by s, the factor between ∇J_i (fastbp) and BackPACK's
individual gradient:

* ``CrossEntropyLoss(reduction="mean")`` = (1/n) Σ_i J_i: s = 1/n.
* ``MSELoss(reduction="mean")`` = (1/(n d)) Σ_i ‖f_i − y_i‖² = (2/(n d)) Σ_i ½‖f_i − y_i‖² with d
  outputs: s = 2/(n d).

Then ``BatchGrad`` = s ∇J_i, ``BatchL2Grad`` (summed over the parameter tensors) = s² ‖∇J_i‖²,
``Variance`` = s² × fastbp's variance (the population variance of s ∇J_i), and
``DiagGGNExact`` = n s × fastbp's diag(G) (fastbp's G carries the 1/n of the mean, and the MSE
Hessian carries the 2/d).  Agreement to 1e-10 relative (float64: summation order only); the
variance, E[g²] − E[g]² on both sides, gets an absolute floor of 1e-12 × max s² E[g²].
The hidden activations are those BackPACK 1.7.1 differentiates (it has no ``Softplus`` module
for ``DiagGGNExact``); every activation is covered against the reference in test_per_example.
"""

from __future__ import annotations

# Torch and BackPACK are in the dev extra: this module fails, never skips, without them.
import backpack
import numpy as np
import pytest
import torch
from backpack import extensions
from conftest import random_network

import fastbp as fb
from fastbp.interop import to_torch
from fastbp.per_example import (
    gauss_newton_diagonal,
    gradient_variance,
    per_example_gradients,
    per_example_norms,
)

RTOL, ATOL = 1e-10, 1e-12

CASES = {
    "mse": (fb.NetworkSpec([5, 8, 6, 3], ["tanh", "relu"], "squared"), 11),
    "cross_entropy": (
        fb.NetworkSpec([4, 7, 6, 3], ["sigmoid", "leaky_relu"], "softmax_cross_entropy"),
        13,
    ),
    "mse_one_output": (fb.NetworkSpec([3, 9, 1], ["tanh"], "squared"), 1),
}


def backpack_quantities(net: fb.Network, X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """BackPACK's four quantities, flattened to fastbp's parameter layout (W[k] then b[k])."""
    model = backpack.extend(to_torch(net, logits=True))
    if net.spec.loss == "squared":
        lossfunc = backpack.extend(torch.nn.MSELoss(reduction="mean"))
        target = torch.from_numpy(Y.reshape(X.shape[0], -1))
    else:
        lossfunc = backpack.extend(torch.nn.CrossEntropyLoss(reduction="mean"))
        target = torch.from_numpy(Y.astype(np.int64))
    params = list(model.parameters())  # Linear k: weight (n_k, n_{k−1}) row-major, then bias
    out = {}
    for name, ext, field in (
        ("grad", extensions.BatchGrad, "grad_batch"),
        ("l2", extensions.BatchL2Grad, "batch_l2"),
        ("var", extensions.Variance, "variance"),
        ("ggn", extensions.DiagGGNExact, "diag_ggn_exact"),
    ):
        model.zero_grad()
        # An input that requires grad keeps torch's full backward hooks from warning.
        loss = lossfunc(model(torch.tensor(X, requires_grad=True)), target)
        with backpack.backpack(ext()):
            loss.backward()
        values = [getattr(p, field).detach().numpy() for p in params]
        if name == "grad":
            out[name] = np.concatenate([v.reshape(X.shape[0], -1) for v in values], axis=1)
        elif name == "l2":
            out[name] = np.sum(values, axis=0)
        else:
            out[name] = np.concatenate([v.reshape(-1) for v in values])
    return out


def close(actual, desired, what: str, floor: float | None = None) -> None:
    scale = float(np.max(np.abs(desired))) if floor is None else floor
    np.testing.assert_allclose(actual, desired, rtol=RTOL, atol=ATOL * scale, err_msg=what)


@pytest.mark.parametrize("case", sorted(CASES))
def test_per_example_quantities_match_backpack(case: str) -> None:
    spec, n = CASES[case]
    rng = np.random.default_rng(len(case))
    net = random_network(spec, rng)
    X = rng.normal(size=(n, spec.n_inputs))
    if spec.loss == "squared":
        Y = rng.normal(size=(n, spec.n_outputs))
        s = 2.0 / (n * spec.n_outputs)
    else:
        Y = rng.integers(0, spec.n_outputs, size=n)
        s = 1.0 / n
    ref = backpack_quantities(net, X, Y)
    G = per_example_gradients(net, X, Y)
    close(s * G, ref["grad"], f"BatchGrad {case}")
    close(s * s * per_example_norms(net, X, Y) ** 2, ref["l2"], f"BatchL2Grad {case}")
    floor = s * s * float(np.max(np.mean(G * G, axis=0)))
    close(s * s * gradient_variance(net, X, Y), ref["var"], f"Variance {case}", floor)
    close(n * s * gauss_newton_diagonal(net, X, Y), ref["ggn"], f"DiagGGNExact {case}")
