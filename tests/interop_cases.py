"""Networks and tolerances shared by the interop tests (ONNX, PyTorch, scikit-learn).

Tolerances (the issue's targets)
--------------------------------
* float64: another runtime (onnxruntime, PyTorch, NumPy in scikit-learn) computes the same float64
  operations in another summation order -> rtol 1e-10, with conftest's absolute floor of 1e-12
  times the largest |output| for entries that cancel to ~0.
* float32: both sides compute in float32 (eps 6e-8) over at most 5 layers of up to 64 terms, and
  onnxruntime's float32 exp/tanh/sigmoid are vectorised approximations of a few ulps -> rtol 1e-5,
  absolute floor 1e-6 times the largest |output|.
"""

from __future__ import annotations

import itertools

import numpy as np
from conftest import ACTIVATION_NAMES, DTYPES, random_case, random_network

import fastbp as fb

EXPORT_TOL = {"float64": (1e-10, 1e-12), "float32": (1e-5, 1e-6)}

#: One loss per output activation (the first record of each): what the exporters see is the
#: output activation, so the robust losses (identity output, like squared) add no new case here;
#: conftest's random architectures cover them.
EXPORT_LOSSES = sorted(
    {r.output: r.name for r in sorted(fb.losses.RECORDS.values(), key=lambda r: -r.code)}.values()
)
#: Every hidden activation × output loss × dtype, each with its own random architecture.
ALL_COMBINATIONS = list(itertools.product(ACTIVATION_NAMES, EXPORT_LOSSES, DTYPES))
#: conftest's random architectures (mixed activations per network), as a second family.
RANDOM_CASES = list(range(18))


def assert_export_close(actual, desired, dtype: str, what: str = "") -> None:
    """Compare another runtime's outputs with net.forward at the interop tolerance."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, (actual.shape, desired.shape, what)
    rtol, atol = EXPORT_TOL[dtype]
    scale = max(1.0, float(np.max(np.abs(desired)))) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol * scale, err_msg=what)


def combination_network(act: str, loss: str, dtype: str, seed: int) -> fb.Network:
    """1 to 4 hidden layers of ``act`` (widths 1..64), random nonzero biases."""
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(2, 6))
    widths = [int(rng.choice([1, 2, 3, 5, 8, 13, 21, 64])) for _ in range(depth + 1)]
    if loss == "softmax_cross_entropy":
        widths[-1] = max(widths[-1], 2)
    spec = fb.NetworkSpec(widths, act, loss, dtype)
    return random_network(spec, rng)


def case_network(case: int) -> fb.Network:
    spec, _ = random_case(case)
    return random_network(spec, np.random.default_rng(case))


def inputs(net: fb.Network, m: int, seed: int, scale: float = 2.0) -> np.ndarray:
    """m random rows in the network's dtype; ``scale`` 2 keeps z in the curved part of σ."""
    rng = np.random.default_rng(seed)
    return (scale * rng.normal(size=(m, net.spec.n_inputs))).astype(net.spec.np_dtype)
