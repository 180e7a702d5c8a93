"""Ensemble members in SIMD lanes (fastbp.lanes) against the solo specialised kernel.

Tolerances (max |Δθ| / max |θ| after one epoch, lanes against the solo kernel run member by
member): every lane performs the solo kernel's operations on its own member in the same order,
so the two differ only where LLVM may round differently, under the kernels' fast-math flags:
the solo kernel vectorises its dot products over the units (``reassoc``: partial sums in
another order) and either kernel may fuse a product with the following add (``contract``).
Each such difference is a few ulps per step; SGD with a small step does not amplify it much over
one short epoch.  float64 (eps 1.1e-16): 1e-10 leaves six orders of magnitude of room; float32
(eps 6e-8, and float32 steps feed back into the next example): 1e-4.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastbp as fb
from fastbp import lanes
from fastbp import specialise as sp
from fastbp.lowering import Workspace

#: max |Δθ| / max |θ| allowed, lanes against solo, per dtype (see the module docstring).
LANES_TOL = {"float64": 1e-10, "float32": 1e-4}

ACTIVATION_NAMES = sorted(fb.ACTIVATIONS)
LOSSES = sorted(sp.SPECIALISED_LOSSES)
DTYPES = ["float64", "float32"]

#: Random architectures: depth 1–3, widths 1–6, activations from the registry, every
#: specialised loss, both dtypes, λ zero and not, shared and per-member data.
CASES = range(12)


def _case(case: int):
    """Spec, member count, rows, visits, l2 and data sharing of random case ``case``."""
    rng = np.random.default_rng(2000 + case)
    loss = LOSSES[case % len(LOSSES)]
    dtype = DTYPES[(case // 3) % 2]
    r = (1, 2, 3, 3, 1, 2, 2, 3, 1, 2, 3, 2)[case]  # each loss at every depth
    widths = [int(rng.integers(1, 7)) for _ in range(r + 1)]
    if loss == "softmax_cross_entropy":
        widths[-1] = max(widths[-1], 2)
    # The registry in turn: every activation appears across the cases.
    acts = [ACTIVATION_NAMES[(2 * case + k) % len(ACTIVATION_NAMES)] for k in range(r - 1)]
    spec = fb.NetworkSpec(widths, acts, loss, dtype)
    M = (37, 3, 11, 19, 37, 1)[case % 6]  # 37: several blocks of lanes
    l2 = 0.0 if case % 2 else 0.02
    shared = case % 4 < 2
    return spec, M, 17, 40, l2, shared


def _data(spec: fb.NetworkSpec, S: int, n: int, rng: np.random.Generator):
    dtype = spec.np_dtype
    nr = spec.n_outputs
    X = rng.normal(size=(S, n, spec.n_inputs))
    if spec.loss == "softmax_cross_entropy":
        Y = np.eye(nr)[rng.integers(0, nr, size=(S, n))]
    elif spec.loss == "logistic":
        Y = rng.uniform(size=(S, n, nr))
    else:
        Y = rng.normal(size=(S, n, nr))
    return np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(Y, dtype=dtype)


def _members(spec: fb.NetworkSpec, M: int, rng: np.random.Generator) -> np.ndarray:
    """Members built by Network(spec, seed=s), with random nonzero biases (ReLU off its kink)."""
    P = np.stack([fb.Network(spec, seed=s).params for s in range(M)])
    plan = fb.Network(spec).plan
    for k in range(spec.n_layers):
        lo, hi = int(plan.b_off[k]), int(plan.b_off[k]) + spec.widths[k + 1]
        P[:, lo:hi] = rng.uniform(0.05, 0.3, size=(M, hi - lo)) * rng.choice([-1, 1], (M, hi - lo))
    return np.ascontiguousarray(P)


def _solo(spec, X3, Y3, orders, P, lrs, l2s):
    """Each member by itself through fastbp.specialise.sgd_example_epoch."""
    P = P.copy()
    M = P.shape[0]
    net = fb.Network(spec)
    ws = Workspace(net.plan.n_units, 1, spec.np_dtype)
    info = np.zeros((M, 3))
    for m in range(M):
        x, y = X3[min(m, X3.shape[0] - 1)], Y3[min(m, Y3.shape[0] - 1)]
        sp.sgd_example_epoch(spec, x, y, orders[m], P[m], net.plan, ws, lrs[m], l2s[m], info[m])
    return P, info


def _lanes(spec, X3, Y3, orders, P, lrs, l2s, n_threads: int):
    P = P.copy()
    info = np.zeros((P.shape[0], 3))
    lanes.lanes_epoch(spec, X3, Y3, orders, P, lrs, l2s, info, n_threads)
    return P, info


def _rel_err(actual: np.ndarray, desired: np.ndarray) -> float:
    a, d = actual.astype(np.float64), desired.astype(np.float64)
    return float(np.max(np.abs(a - d)) / max(np.max(np.abs(d)), 1e-300))


@pytest.mark.parametrize("case", CASES)
def test_lanes_epoch_matches_solo_kernel(case: int) -> None:
    spec, M, n, T, l2, shared = _case(case)
    rng = np.random.default_rng(case)
    X3, Y3 = _data(spec, 1 if shared else M, n, rng)
    orders = rng.integers(0, n, size=(M, T)).astype(np.int64)
    P = _members(spec, M, rng)
    lrs = rng.uniform(0.01, 0.05, size=M)
    l2s = np.full(M, l2)
    P_solo, info_solo = _solo(spec, X3, Y3, orders, P, lrs, l2s)
    P1, info1 = _lanes(spec, X3, Y3, orders, P, lrs, l2s, n_threads=1)
    P2, info2 = _lanes(spec, X3, Y3, orders, P, lrs, l2s, n_threads=2)
    assert np.array_equal(P1, P2) and np.array_equal(info1, info2), "depends on n_threads"
    assert _rel_err(P1, P_solo) <= LANES_TOL[spec.dtype], f"{spec} M={M}"
    np.testing.assert_allclose(info1[:, 0], info_solo[:, 0], rtol=LANES_TOL[spec.dtype])
    np.testing.assert_array_equal(info1[:, 1:], info_solo[:, 1:])


def test_lanes_epoch_per_member_targets_with_shared_features() -> None:
    """X shared (leading size 1), Y one slab per member: the two are indexed independently."""
    spec = fb.NetworkSpec([3, 4, 2], ["tanh"], "squared", "float64")
    rng = np.random.default_rng(7)
    M, n = 10, 12
    X3, _ = _data(spec, 1, n, rng)
    _, Y3 = _data(spec, M, n, rng)
    orders = np.stack([rng.permutation(n) for _ in range(M)]).astype(np.int64)
    P = _members(spec, M, rng)
    lrs, l2s = np.full(M, 0.03), np.zeros(M)
    P_solo, _ = _solo(spec, X3, Y3, orders, P, lrs, l2s)
    P_lanes, _ = _lanes(spec, X3, Y3, orders, P, lrs, l2s, n_threads=1)
    assert _rel_err(P_lanes, P_solo) <= LANES_TOL["float64"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_lanes_epoch_isolates_a_diverging_member(dtype: str) -> None:
    """One member with a huge step goes NaN and is flagged; the others equal their solo runs."""
    spec = fb.NetworkSpec([3, 5, 1], ["relu"], "squared", dtype)
    rng = np.random.default_rng(3)
    M, n, T, bad = 37, 20, 3 * sp.CHECK_EVERY + 5, 4  # two blocks
    X3, Y3 = _data(spec, 1, n, rng)
    Y3 *= 100
    orders = rng.integers(0, n, size=(M, T)).astype(np.int64)
    P = _members(spec, M, rng)
    lrs = np.full(M, 0.001)
    lrs[bad] = 1e6
    l2s = np.zeros(M)
    # Overflow is the point here; under NUMBA_DISABLE_JIT numpy scalars would warn about it.
    with np.errstate(over="ignore", invalid="ignore"):
        P_solo, info_solo = _solo(spec, X3, Y3, orders, P, lrs, l2s)
        P_lanes, info = _lanes(spec, X3, Y3, orders, P, lrs, l2s, n_threads=2)
    assert info[bad, 2] == 1.0 and info_solo[bad, 2] == 1.0
    assert info[bad, 1] == info_solo[bad, 1] < T  # stopped counting at the same check
    good = np.arange(M) != bad
    assert np.all(info[good, 2] == 0.0) and np.all(info[good, 1] == T)
    assert np.all(np.isfinite(P_lanes[good]))
    assert _rel_err(P_lanes[good], P_solo[good]) <= LANES_TOL[dtype]


def test_block_shape_depends_on_members_and_dtype_only() -> None:
    spec64 = fb.NetworkSpec([4, 16, 1], ["relu"], "squared", "float64")
    spec32 = fb.NetworkSpec([4, 16, 1], ["relu"], "squared", "float32")
    assert lanes.block_shape(spec64, 1) == (1, 8)
    assert lanes.block_shape(spec64, 19) == (1, 24)
    assert lanes.block_shape(spec64, 64) == (2, 32)
    assert lanes.block_shape(spec64, 65) == (3, 24)
    assert lanes.block_shape(spec32, 17) == (1, 32)
    assert lanes.block_shape(spec32, 33) == (2, 32)


def test_supported_and_recommended(monkeypatch: pytest.MonkeyPatch) -> None:
    w9 = fb.NetworkSpec([4, 16, 1], ["relu"], "squared", "float64")
    assert lanes.supported(w9)
    assert not lanes.supported(fb.NetworkSpec([4, 16, 1], ["relu"], "poisson", "float64"))
    assert lanes.recommended(w9, 64)
    assert not lanes.recommended(w9, 2)
    assert not lanes.recommended(fb.NetworkSpec([8, 32, 32, 1], ["relu"] * 2), 16)
    monkeypatch.setenv(sp.SPECIALISE_ENV, "0")
    assert not lanes.supported(w9) and not lanes.recommended(w9, 64)
