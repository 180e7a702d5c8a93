"""Shared fixtures, tolerances and random architectures for the fastbp test suite.

Tolerances (stated once, per dtype, with the reason)
----------------------------------------------------
* ``TOL["float64"]``: compiled float64 kernels against the float64 pure-Python reference differ
  only by summation order (BLAS blocking, fastmath reassociation) -> rtol 1e-10, with an absolute
  floor of 1e-12 times the magnitude of the compared quantity for entries that cancel to ~0.
* ``TOL["float32"]``: float32 kernels against the float64 reference carry float32 rounding
  (eps 6e-8) accumulated over sums of up to 64 terms and up to 5 layers -> rtol 2e-4, with an
  absolute floor of 2e-5 times the magnitude of the compared quantity.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import fastbp as fb

#: The checkout under test.  Every Python child a test starts (``python script.py``, ``-c``,
#: ``-m``, joblib/Dask workers) inherits this PYTHONPATH, so it imports this checkout's fastbp
#: whatever its working directory, and never another copy installed in site-packages.
ROOT = Path(__file__).resolve().parents[1]

#: ``FASTBP_TEST_INSTALLED=1``: the suite tests an installed fastbp (CI's build-and-install job
#: installs the wheel, then runs ``pytest`` in a copy of the checkout without ``fastbp/``, so the
#: README, scripts and docs the tests read are there and no process can import the source tree).
INSTALLED = os.environ.get("FASTBP_TEST_INSTALLED") == "1"


def pytest_configure(config: pytest.Config) -> None:
    if INSTALLED:
        where = Path(fb.__file__).resolve()
        assert not where.is_relative_to(ROOT), f"fastbp imported from the tree: {where}"
        assert "site-packages" in where.parts, f"fastbp is not an installed copy: {where}"
        assert not (ROOT / "fastbp").exists(), f"{ROOT} holds fastbp/: children could import it"
        return
    parts = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))


TOL = {"float64": (1e-10, 1e-12), "float32": (2e-4, 2e-5)}

ACTIVATION_NAMES = sorted(fb.ACTIVATIONS)
LOSS_NAMES = sorted(fb.LOSSES)
#: The output activations of the losses, in the order of their first loss in LOSS_NAMES.
OUTPUT_NAMES = list(dict.fromkeys(fb.losses.RECORDS[name].output for name in LOSS_NAMES))
DTYPES = ["float64", "float32"]


def assert_close(actual, desired, dtype: str, what: str = "") -> None:
    """Compare with the per-dtype tolerance; the absolute floor scales with max |desired|."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    rtol, atol = TOL[dtype]
    scale = max(1.0, float(np.max(np.abs(desired)))) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol * scale, err_msg=what)


@pytest.fixture
def seed() -> int:
    """The one seed the suite draws its random data from (change it to explore)."""
    return 0


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def make_targets(spec: fb.NetworkSpec, m: int, rng: np.random.Generator):
    """Targets in the form each loss accepts: (public Y, dense (m, nr) Y for the reference)."""
    nr = spec.n_outputs
    if spec.loss == "softmax_cross_entropy":
        labels = rng.integers(0, nr, size=m)
        return labels, np.eye(nr)[labels]
    if spec.loss == "logistic":
        Y = rng.uniform(size=(m, nr))
        return Y, Y
    if spec.loss == "poisson":
        Y = rng.poisson(1.5, size=(m, nr)).astype(np.float64)
        return Y, Y
    if spec.loss_record.kink:  # residuals a − y away from the kink at 0 (|y| ≥ 0.5 > |a| mostly)
        Y = rng.choice([-1.0, 1.0], size=(m, nr)) * rng.uniform(2.0, 3.0, size=(m, nr))
        return Y, Y
    Y = rng.normal(size=(m, nr))
    return Y, Y


def random_case(case: int):
    """Architecture number ``case``: depth 1–5, widths 1–64, cycling every activation × output
    activation (each block of cases one output), and the losses of that output in both dtypes.

    Returns (spec, m).  Widths lean small so that the pure-Python reference stays fast, but every
    case set includes 64-wide layers.
    """
    rng = np.random.default_rng(1000 + case)
    act = ACTIVATION_NAMES[case % len(ACTIVATION_NAMES)]
    output = OUTPUT_NAMES[(case // len(ACTIVATION_NAMES)) % len(OUTPUT_NAMES)]
    family = [name for name in LOSS_NAMES if fb.losses.RECORDS[name].output == output]
    loss = family[(case // 2) % len(family)]
    dtype = DTYPES[case % 2]
    r = int(rng.integers(1, 6))
    if r == 1 and case < len(ACTIVATION_NAMES) * len(LOSS_NAMES):
        r = 2  # the first cycle has a hidden layer, so that it covers every activation × loss
    choices = [1, 2, 3, 5, 8, 13, 21, 64]
    widths = [int(rng.choice(choices)) for _ in range(r + 1)]
    if loss == "softmax_cross_entropy":
        widths[-1] = max(widths[-1], 2)
    if case % 5 == 0 and r > 1:
        widths[int(rng.integers(1, r))] = 64
    # Mixed activations on some cases, so per-layer codes are exercised (layer 1 keeps the case's).
    n_acts = len(ACTIVATION_NAMES)
    acts = [act if k == 0 or (k + case) % 3 else ACTIVATION_NAMES[(case + k) % n_acts]
            for k in range(r - 1)]  # fmt: skip
    m = 1 if case % 3 == 0 else int(rng.integers(2, 40))
    return fb.NetworkSpec(widths, acts, loss, dtype), m


def random_network(spec: fb.NetworkSpec, rng: np.random.Generator) -> fb.Network:
    """A network with Xavier weights and random nonzero biases (keeps ReLU inputs off 0)."""
    net = fb.Network(spec, seed=int(rng.integers(2**31)))
    for k in range(1, spec.n_layers + 1):
        _, b = net.layer(k)
        b[...] = rng.uniform(0.05, 0.3, size=b.shape) * rng.choice([-1, 1], size=b.shape)
    return net
