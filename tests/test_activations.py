"""The activation records (fastbp.activations): what is derived from them, the compiled switches,
the one ReLU rule on every path, and equality with PyTorch for every activation and loss.

Tolerances: the compiled rules against the hand-written reference formulas, 1e-12 relative in
float64 (the kernels' transcendental functions are fastbp.fastmath's, within 4 ulp of libm's,
and the two sides group their arithmetic differently), plus 4e-16 |z| absolute, because GELU is
z (1 + erf(z/√2)) / 2 on both sides, as in PyTorch and JAX: for z ≪ 0, 1 + erf cancels, and an
ulp of erf becomes an error of ~1e-16 |z| in a tiny result; against PyTorch, the issue's 1e-12
relative in float64 (both libraries sum the same products in different orders, and their libm
calls round differently by an ulp or two) and 1e-5 in float32 (the same, at float32's 6e-8 per
rounding, accumulated over layer sums of a few terms).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import DTYPES

import fastbp as fb
from fastbp import activations, kernels, reference, rop_kernels
from fastbp.activations import ACTIVATIONS, RECORDS, act, act_prime, act_second

torch = pytest.importorskip("torch", reason="the torch comparisons need the torch extra")

UNKNOWN = max(ACTIVATIONS.values()) + 1
GRID = [-30.0, -8.0, -2.5, -1.0, -0.3, -1e-3, 0.0, 1e-3, 0.3, 1.0, 2.5, 8.0, 30.0]


def test_records_are_the_registry() -> None:
    assert list(ACTIVATIONS) == list(RECORDS)
    assert sorted(ACTIVATIONS.values()) == list(range(len(RECORDS)))  # unique codes, no gaps
    assert {"gelu", "silu", "elu", "selu", "mish"} <= set(ACTIVATIONS)
    assert fb.ACTIVATIONS is ACTIVATIONS
    for name, rec in RECORDS.items():
        assert activations.EXPRESSIONS[name] == (rec.value_source, rec.grad_source)
        assert ("{z}" in rec.grad_source) == rec.needs_z, name  # needs_z says what it reads
        assert bool(activations.piecewise_linear(rec.code)) == (not rec.curved), name


def test_every_switch_has_a_branch_per_record_and_nan_for_an_unknown_code() -> None:
    source = activations._switch_source()
    for rec in RECORDS.values():
        assert source.count(f"if code == {rec.code}:  # {rec.name}\n") == 5
    for z in (0.5, -0.5):
        assert math.isnan(act(UNKNOWN, z))
        assert math.isnan(act_prime(UNKNOWN, z, z))
        assert math.isnan(act_second(UNKNOWN, z, z))
    assert not activations.piecewise_linear(UNKNOWN)
    zs, out = np.array([0.5, -0.5]), np.zeros(2)
    activations.act_vec(UNKNOWN, zs, out)
    assert np.isnan(out).all()
    out[:] = 0.0
    activations.act_prime_vec(UNKNOWN, zs, zs, zs, out)
    assert np.isnan(out).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_switches_equal_the_scalar_ones(dtype: str) -> None:
    """act_vec and act_prime_vec (one loop per activation, what the generic kernels call) store
    what a per-unit call of act / act_prime gives, non-finite inputs included: σ(z) rounded to
    the dtype, and dJ/da · σ'(z) formed in float64 and then rounded (relu: the one ReLU rule,
    dJ/da where z > 0 and 0 elsewhere).  To 2 ulp of the dtype, not bit for bit: inlined into
    the loop, the kernels' fastmath flags (arcp, reassoc) may regroup the product, e.g.
    g · (1 / (1 + e^−z)) as g / (1 + e^−z) for softplus."""
    t = np.dtype(dtype).type
    zs = np.array([*GRID, np.nan, np.inf, -np.inf, -0.0], dtype=dtype)
    g = np.random.default_rng(0).normal(size=zs.size).astype(dtype)
    g[[1, 7]] = np.inf, np.nan
    for name, code in ACTIVATIONS.items():
        with np.errstate(invalid="ignore", over="ignore"):
            a = np.empty_like(zs)
            activations.act_vec(code, zs, a)
            want_a = np.array([act(code, z) for z in zs]).astype(dtype)
            dz = np.empty_like(zs)
            activations.act_prime_vec(code, zs, a, g, dz)
            if name == "relu":
                want_dz = np.where(zs > 0, g, t(0.0))
            else:
                slopes = [act_prime(code, z, aj) for z, aj in zip(zs, a, strict=True)]
                want_dz = (g.astype(np.float64) * np.array(slopes)).astype(dtype)
        ulp2 = 2 * np.finfo(dtype).eps
        np.testing.assert_allclose(a, want_a, rtol=ulp2, atol=0, err_msg=name)
        np.testing.assert_allclose(dz, want_dz, rtol=ulp2, atol=0, err_msg=name)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_switches_equal_the_reference_formulas(name: str) -> None:
    code = ACTIVATIONS[name]
    for z in GRID:
        a = act(code, z)
        tail = 4e-16 * abs(z)
        assert a == pytest.approx(reference.sigma(name, z), rel=1e-12, abs=tail)
        assert act_prime(code, z, a) == pytest.approx(
            reference.sigma_prime(name, z), rel=1e-12, abs=tail
        )
        assert act_second(code, z, a) == pytest.approx(
            reference.sigma_second(name, z), rel=1e-12, abs=1e-15
        )


@pytest.mark.parametrize("name", sorted(n for n, r in RECORDS.items() if r.pair is not None))
def test_pairs_equal_the_switches(name: str) -> None:
    """(σ, σ') of the generated kernels' pair helpers: the switches' values to 1e-14 relative
    (they share sub-expressions, grouped differently) plus 4e-16 |z| absolute (GELU's tail, as
    in test_switches_equal_the_reference_formulas; there ``reassoc`` may also regroup 1 + erf
    with the terms around it)."""
    pair = getattr(activations, RECORDS[name].pair)
    code = ACTIVATIONS[name]
    for z in GRID:
        a, d = pair(z)
        tail = 4e-16 * abs(z)
        assert a == pytest.approx(act(code, z), rel=1e-14, abs=tail)
        assert d == pytest.approx(act_prime(code, z, act(code, z)), rel=1e-14, abs=tail)
    assert RECORDS[name].needs_z  # only activations whose σ' reads z have one


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivatives_are_the_derivatives_of_the_value(name: str) -> None:
    """Central differences of σ and σ' (away from kinks) against σ' and σ'': step 1e-6, so the
    truncation error is ~1e-12 · σ''' and the rounding error ~1e-10: 1e-7 absolute."""
    code, h = ACTIVATIONS[name], 1e-6
    for z in GRID:
        if abs(z) < 1e-2 and (RECORDS[name].kink or " if z > 0" in RECORDS[name].formula):
            continue  # a branch at 0: σ' or σ'' jumps there
        a = act(code, z)
        fd1 = (act(code, z + h) - act(code, z - h)) / (2 * h)
        up, down = z + h, z - h
        fd2 = (act_prime(code, up, act(code, up)) - act_prime(code, down, act(code, down))) / (
            2 * h
        )
        assert fd1 == pytest.approx(act_prime(code, z, a), abs=1e-7), z
        assert fd2 == pytest.approx(act_second(code, z, a), abs=1e-7), z


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_relu_rule_on_every_path(dtype: str) -> None:
    """relu(NaN) = NaN, relu(±inf) = (inf, 0); backward: g where z > 0, 0 elsewhere."""
    code = ACTIVATIONS["relu"]
    zs = np.array([np.nan, -np.inf, np.inf, -1.0, -0.0, 2.0], dtype=dtype)
    g = np.array([1.0, 1.0, 1.0, np.inf, np.nan, 3.0], dtype=dtype)
    want_a = np.array([np.nan, 0.0, np.inf, 0.0, 0.0, 2.0])
    want_dz = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 3.0])
    with np.errstate(invalid="ignore"):
        scalar_a = [act(code, float(z)) for z in zs]
        scalar_dz = [g[j] * act_prime(code, float(z), 0.0) if z > 0 else 0.0
                     for j, z in enumerate(zs)]  # fmt: skip
        Z, A = zs.reshape(1, -1).copy(), np.empty((1, zs.size), dtype)
        kernels.bias_activate(code, np.zeros(zs.size, dtype), Z, A)
        A2 = np.empty_like(A)
        kernels.activate(code, zs.reshape(1, -1), A2)
        a_vec = np.empty_like(zs)
        kernels.activate_vec(code, zs, a_vec)
        dZ = np.empty((1, zs.size), dtype)
        kernels.backprop_activation(code, zs.reshape(1, -1), A, g.reshape(1, -1), dZ)
        dz_vec = np.empty_like(zs)
        kernels.backprop_activation_vec(code, zs, a_vec, g, dz_vec)
        # The R-operator's ReLU branches (H v): R{a} = relu'(z) R{z}, R{dz} = relu'(z) R{da}.
        RZ, RA = np.zeros((1, zs.size), dtype), np.empty((1, zs.size), dtype)
        rop_kernels.r_bias_activate(code, g, zs.reshape(1, -1), A, RZ, RA)
        RdZ, dZ2 = np.empty_like(RZ), np.empty_like(RZ)
        rop_kernels.backprop_pair_activation(
            code, zs.reshape(1, -1), A, g.reshape(1, -1), RZ, g.reshape(1, -1), dZ2, RdZ,
            True, False,
        )  # fmt: skip
        # The generated kernels' expressions (fastbp.specialise, fastbp.lanes), evaluated.
        value, grad = activations.EXPRESSIONS["relu"]
        names = {"ZERO": np.dtype(dtype).type(0.0)}
        gen_a = [eval(value.format(z="z"), names, {"z": z}) for z in zs]  # noqa: S307
        gen_dz = [eval(grad.format(g="g", a="a"), names, {"g": gj, "a": aj})  # noqa: S307
                  for gj, aj in zip(g, want_a, strict=True)]  # fmt: skip
    for got in (scalar_a, A[0], A2[0], a_vec, gen_a):
        np.testing.assert_array_equal(np.asarray(got, dtype=float), want_a)
    for got in (scalar_dz, dZ[0], dz_vec, RA[0], RdZ[0], dZ2[0], gen_dz):
        np.testing.assert_array_equal(np.asarray(got, dtype=float), want_dz)


def _torch_loss(loss: str, out, Y):
    """fastbp's mean-over-rows objective, written with torch on the logits."""
    if loss == "squared":
        return 0.5 * ((out - Y) ** 2).sum(dim=1).mean()
    if loss == "softmax_cross_entropy":
        return -(Y * torch.log_softmax(out, dim=1)).sum(dim=1).mean()
    if loss == "logistic":
        bce = torch.nn.functional.binary_cross_entropy_with_logits(out, Y, reduction="none")
        return bce.sum(dim=1).mean()
    if loss == "huber":  # δ = 1, the spec's default
        return torch.nn.functional.huber_loss(out, Y, reduction="none", delta=1.0).sum(1).mean()
    if loss == "absolute_error":
        return (out - Y).abs().sum(dim=1).mean()
    if loss == "quantile":  # τ = 0.5, the spec's default
        return torch.maximum(0.5 * (Y - out), -0.5 * (Y - out)).sum(dim=1).mean()
    assert loss == "poisson"
    return (torch.exp(out) - Y * out).sum(dim=1).mean()


def _targets(loss: str, rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    if loss == "softmax_cross_entropy":
        return np.eye(n)[rng.integers(n, size=m)]
    if loss == "logistic":
        return rng.integers(0, 2, size=(m, n)).astype(float)
    if loss == "poisson":
        return rng.poisson(1.0, size=(m, n)).astype(float)
    if fb.losses.RECORDS[loss].kink:  # residuals away from the kink at 0
        return rng.choice([-1.0, 1.0], size=(m, n)) * rng.uniform(4.0, 6.0, size=(m, n))
    return rng.normal(size=(m, n))


TORCH_TOL = {"float64": 1e-12, "float32": 1e-5}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", sorted(fb.LOSSES))
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradient_and_one_step_equal_pytorch(name: str, loss: str, dtype: str) -> None:
    """On a random network, fastbp's loss, gradient and one SGD step equal PyTorch's autograd on
    the exported module (to_torch, logits) with the same loss."""
    rng = np.random.default_rng(len(name) * 31 + len(loss) * 7 + len(dtype))
    widths = [int(w) for w in rng.integers(2, 7, size=4)]
    spec = fb.NetworkSpec(widths, [name, name], loss, dtype)
    net = fb.Network(spec, seed=int(rng.integers(1000)))
    net.params = (net.params + rng.normal(scale=0.3, size=net.n_params)).astype(dtype)
    m = 9
    X = rng.normal(scale=1.5, size=(m, widths[0])).astype(dtype)
    Y = _targets(loss, rng, m, widths[-1]).astype(dtype)
    module = net.to_torch(logits=True)
    J_t = _torch_loss(loss, module(torch.from_numpy(X)), torch.from_numpy(Y))
    J_t.backward()
    g_t = np.concatenate(
        [t for lin in module if isinstance(lin, torch.nn.Linear)
         for t in (lin.weight.grad.numpy().ravel(), lin.bias.grad.numpy())]
    )  # fmt: skip
    J, g = net.loss_and_gradient(X, Y.argmax(1) if loss == "softmax_cross_entropy" else Y)
    tol = TORCH_TOL[dtype]
    scale = np.abs(g_t).max()
    assert J == pytest.approx(J_t.item(), rel=tol)
    np.testing.assert_allclose(g, g_t, rtol=tol, atol=tol * scale)
    # One SGD step on the whole batch: θ − α g, as torch.optim.SGD.
    lr = 0.05
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    opt.step()
    net.fit(X, Y.argmax(1) if loss == "softmax_cross_entropy" else Y, epochs=1,
           batch_size=m, lr=lr, shuffle=False, progress=False)  # fmt: skip
    stepped = np.concatenate(
        [t for lin in module if isinstance(lin, torch.nn.Linear)
         for t in (lin.weight.detach().numpy().ravel(), lin.bias.detach().numpy())]
    )  # fmt: skip
    np.testing.assert_allclose(net.params, stepped, rtol=tol, atol=tol * np.abs(stepped).max())
