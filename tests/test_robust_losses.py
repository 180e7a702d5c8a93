"""The robust losses (huber, absolute_error, quantile) against PyTorch, the reference and finite
differences; their kinks; the fit paths; the estimator; the spec, the model file and the paths
that refuse them.

Kept small for CI: one architecture ([3, 5, 2], tanh), so every kernel compiles once per dtype.
The targets keep every residual r = a − y at least :data:`GAP` from the kinks (r = 0, and
|r| = δ for Huber's second derivative), except in the tests of the kinks themselves.
"""

from __future__ import annotations

import json
import math
import warnings
import zipfile

import numpy as np
import pytest

import fastbp as fb
from fastbp import per_example, reference
from fastbp.losses import RECORDS

torch = pytest.importorskip("torch")

#: The robust losses, from the records (the identity-output losses beyond squared error).
ROBUST = [r.name for r in RECORDS.values() if r.output == "identity" and r.name != "squared"]
#: A parameter for each that is not the default, so that it is seen to travel.
PARAM = {"huber": 0.8, "absolute_error": None, "quantile": 0.3}
WIDTHS = [3, 5, 2]
M = 6
#: The smallest distance of a residual from a kink in the smooth tests.
GAP = 0.05
#: Relative tolerance against PyTorch per dtype (the task's: 1e-12 and 1e-5).
RTOL = {"float64": 1e-12, "float32": 1e-5}


def make_spec(loss: str, dtype: str = "float64") -> fb.NetworkSpec:
    record = RECORDS[loss]
    kw = {} if record.param is None else {record.param: PARAM[loss]}
    return fb.NetworkSpec(WIDTHS, "tanh", loss, dtype, **kw)


def make_case(loss: str, dtype: str = "float64", seed: int = 0):
    """(net, X, Y) with every residual at least GAP away from the loss's kinks."""
    net = fb.Network(make_spec(loss, dtype), seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(M, WIDTHS[0])).astype(dtype)
    A = net.forward(X).astype(np.float64)
    delta = PARAM["huber"]
    for _ in range(100):
        Y = (A + rng.uniform(-2.5, 2.5, size=A.shape)).astype(dtype)
        r = np.abs(A - Y.astype(np.float64))
        if r.min() > GAP and (loss != "huber" or np.abs(r - delta).min() > GAP):
            if loss != "huber" or ((r < delta).any() and (r > delta).any()):
                return net, X, Y
    raise AssertionError("no targets away from the kinks")  # pragma: no cover


def torch_loss(loss: str, out, y, m: int):
    """The per-example-sum, mean-over-examples loss in PyTorch's own terms."""
    if loss == "huber":
        return torch.nn.HuberLoss(delta=PARAM["huber"], reduction="sum")(out, y) / m
    if loss == "absolute_error":
        return torch.nn.L1Loss(reduction="sum")(out, y) / m
    tau = PARAM["quantile"]
    e = y - out
    return torch.maximum(tau * e, (tau - 1.0) * e).sum() / m


def torch_loss_and_gradient(net: fb.Network, X, Y):
    """J and ∇J (fastbp's parameter layout) of ``net``'s torch module."""
    module = net.to_torch()
    out = module(torch.from_numpy(np.ascontiguousarray(X)))
    J = torch_loss(net.spec.loss, out, torch.from_numpy(np.ascontiguousarray(Y)), X.shape[0])
    module.zero_grad()
    J.backward()
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    flat = [t for lin in linears for t in (lin.weight.grad.reshape(-1), lin.bias.grad)]
    return float(J.detach()), torch.cat(flat).detach().numpy().astype(np.float64)


def close(actual, desired, rtol: float, what: str) -> None:
    desired = np.asarray(desired, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(desired))))
    np.testing.assert_allclose(np.asarray(actual, np.float64), desired, rtol=rtol,
                               atol=rtol * scale, err_msg=what)  # fmt: skip


# ------------------------------------------------------------------------------ the numbers
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", ROBUST)
def test_loss_gradient_and_sgd_step_match_torch(loss: str, dtype: str) -> None:
    net, X, Y = make_case(loss, dtype)
    J, g = net.loss_and_gradient(X, Y)
    J_t, g_t = torch_loss_and_gradient(net, X, Y)
    rtol = RTOL[dtype]
    close(J, J_t, rtol, f"loss {loss} {dtype}")
    close(g, g_t, rtol, f"gradient {loss} {dtype}")
    # One SGD step on the whole batch (the minibatch kernel) against torch.optim.SGD's.
    lr = 0.1
    module = net.to_torch()
    step = torch.optim.SGD(module.parameters(), lr=lr)
    out = module(torch.from_numpy(X))
    torch_loss(loss, out, torch.from_numpy(Y), M).backward()
    step.step()
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    theta_t = torch.cat([t.detach().reshape(-1) for lin in linears
                         for t in (lin.weight, lin.bias)]).numpy()  # fmt: skip
    net.fit(X, Y, epochs=1, batch_size=M, lr=lr, shuffle=False, progress=False)
    close(net.params, theta_t, rtol, f"SGD step {loss} {dtype}")


@pytest.mark.parametrize("loss", ROBUST)
def test_compiled_matches_reference_and_finite_differences(loss: str) -> None:
    net, X, Y = make_case(loss, seed=1)
    spec = net.spec
    for rows in (slice(0, M), slice(0, 1)):  # the batch kernels and the one-row fast path
        J, g = net.loss_and_gradient(X[rows], Y[rows])
        ref = reference.loss_and_gradient(
            net.params.tolist(), spec.widths, spec.activations, loss, X[rows].tolist(),
            Y[rows].tolist(), spec.loss_param if spec.loss_record.param else None,
        )  # fmt: skip
        close(J, ref.loss, 1e-12, f"loss {loss} rows {rows}")
        close(g, ref.grad, 1e-12, f"gradient {loss} rows {rows}")
    report = fb.gradcheck(net, X, Y)
    assert report.passed, report


@pytest.mark.parametrize("loss", ["absolute_error", "quantile", "huber"])
def test_the_kink_subgradient_is_torchs(loss: str) -> None:
    """The seed dJ_i/dz[r] at r = 0 exactly (absolute error: torch's sign(0) = 0; quantile:
    ½ − τ, autograd's for the pinball written with torch.maximum) and at |r| = δ (Huber) is
    PyTorch autograd's gradient with respect to the output at the same a and y."""
    net = fb.Network(make_spec(loss), seed=2)
    X = np.random.default_rng(2).normal(size=(M, WIDTHS[0]))
    A = net.forward(X)
    Y = A.copy()
    if loss == "huber":
        Y[:3] -= PARAM["huber"]
        Y[3:] += PARAM["huber"]
    seed = net.trace(X, Y).dJ_dz[-1]  # dJ_i/dz[r] per example, at fastbp's own a
    a = torch.tensor(A, requires_grad=True)
    torch_loss(loss, a, torch.from_numpy(Y), 1).backward()
    np.testing.assert_allclose(seed, a.grad.numpy(), rtol=1e-15, atol=1e-16)
    expected = {"absolute_error": 0.0, "quantile": 0.5 - PARAM["quantile"]}.get(loss)
    if expected is not None:
        np.testing.assert_array_equal(seed, np.full_like(seed, expected))
    assert all(np.isfinite(net.loss_and_gradient(X, Y)[1]))


def test_gauss_newton_diagonal_of_the_robust_losses() -> None:
    """Huber's H_loss is 1[|r| ≤ δ]: diag(G) is that of the squared loss over those residuals;
    the absolute error's and the pinball's H_loss is 0, and so is their G."""
    net, X, Y = make_case("huber", seed=7)
    G = np.column_stack([net.gnvp(X, Y, e) for e in np.eye(net.n_params)])
    close(per_example.gauss_newton_diagonal(net, X, Y), np.diag(G), 1e-12, "diag G huber")
    net, X, Y = make_case("quantile", seed=7)
    assert not per_example.gauss_newton_diagonal(net, X, Y).any()
    assert not net.gnvp(X, Y, np.ones(net.n_params)).any()


def test_hvp_of_huber_matches_finite_differences_of_the_gradient() -> None:
    net, X, Y = make_case("huber", seed=3)
    v = np.random.default_rng(3).normal(size=net.n_params)
    Hv = net.hvp(X, Y, v)
    h = 1e-5
    theta = net.params.copy()
    net.params = theta + h * v
    g_plus = net.gradient(X, Y)
    net.params = theta - h * v
    g_minus = net.gradient(X, Y)
    net.params = theta
    close(Hv, (g_plus - g_minus) / (2 * h), 1e-6, "H v against differences of ∇J")
    spec = net.spec
    args = (net.params.tolist(), spec.widths, spec.activations, "huber", X.tolist(), Y.tolist())
    close(Hv, reference.hvp(*args, v.tolist(), PARAM["huber"]), 1e-12, "H v against reference")
    Gv = net.gnvp(X, Y, v)
    close(Gv, reference.gnvp(*args, v.tolist(), PARAM["huber"]), 1e-12, "G v against reference")
    close(net.hvp(X[:1], Y[:1], v), reference.hvp(*args[:4], X[:1].tolist(), Y[:1].tolist(),
          v.tolist(), PARAM["huber"]), 1e-12, "H v of one row")  # fmt: skip


# ------------------------------------------------------------------------------ the fit paths
@pytest.mark.parametrize("loss", ROBUST)
def test_per_example_and_minibatch_fits_and_partial_fit(loss: str) -> None:
    net, X, Y = make_case(loss, seed=4)
    spec, theta0, lr = net.spec, net.params.copy(), 0.05
    param = spec.loss_param if spec.loss_record.param else None
    expected = reference.sgd_epoch(theta0.tolist(), spec.widths, spec.activations, loss,
                                   X.tolist(), Y.tolist(), lr, loss_param=param)  # fmt: skip
    net.fit(X, Y, epochs=1, batch_size=1, lr=lr, shuffle=False, progress=False)
    close(net.params, expected, 1e-12, f"per-example SGD {loss}")
    online = fb.Network(spec, seed=4)
    for i in range(M):
        online.partial_fit(X[i : i + 1], Y[i : i + 1], optimizer="sgd", lr=lr)
    np.testing.assert_array_equal(online.params, net.params)
    g = fb.Network(spec, seed=4).gradient(X[:3], Y[:3])
    batched = fb.Network(spec, seed=4)
    batched.partial_fit(X[:3], Y[:3], optimizer="sgd", lr=lr, batch_size=3)
    close(batched.params, theta0 - lr * g, 1e-12, f"one minibatch step {loss}")


def test_quantile_sgd_finds_the_quantile() -> None:
    """A bias alone (no input signal) trained on the pinball loss settles at the τ-quantile."""
    rng = np.random.default_rng(5)
    y = rng.uniform(0.0, 1.0, size=(2000, 1))
    X = np.zeros((2000, 1))
    for tau in (0.2, 0.8):
        net = fb.Network(fb.NetworkSpec([1, 1], [], "quantile", quantile=tau), seed=0)
        net.fit(X, y, epochs=3, lr=0.01, progress=False)
        assert abs(net.layer(1)[1][0] - tau) < 0.05


def test_regressor_fit_predict_score_and_parameters() -> None:
    from sklearn.base import clone

    from fastbp.sklearn import MLPRegressor

    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.standard_t(2, size=60)
    for loss, kw in (("huber", {"huber_delta": 2.0}), ("absolute_error", {}),
                     ("quantile", {"quantile": 0.7})):  # fmt: skip
        est = MLPRegressor((5,), activation="tanh", loss=loss, max_iter=20, random_state=0, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: 20 epochs
            est.fit(X, y)
        spec = est.network_.spec
        assert spec.loss == loss and est.out_activation_ == "identity"
        assert spec.to_dict() == {**spec.to_dict(), **kw}
        assert est.predict(X).shape == (60,) and math.isfinite(est.score(X, y))
        assert clone(est).get_params()["huber_delta"] == kw.get("huber_delta", 1.0)
        est.partial_fit(X, y)
        assert np.isfinite(est.loss_)
    with pytest.raises(ValueError, match="huber_delta"):
        MLPRegressor((5,), loss="huber", huber_delta=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="quantile"):
        MLPRegressor((5,), loss="quantile", quantile=1.0).fit(X, y)


# ------------------------------------------------------------------------------ spec and files
def test_spec_validation_repr_dict_and_equality() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan, True, "1"):
        with pytest.raises(ValueError, match="huber_delta"):
            fb.NetworkSpec([2, 1], [], "huber", huber_delta=bad)
    for bad in (0.0, 1.0, -0.5, 1.5, math.nan):
        with pytest.raises(ValueError, match="quantile"):
            fb.NetworkSpec([2, 1], [], "quantile", quantile=bad)
    with pytest.raises(ValueError, match="applies to loss='huber' only"):
        fb.NetworkSpec([2, 1], [], "squared", huber_delta=2.0)
    spec = fb.NetworkSpec([2, 3, 1], "relu", "huber", huber_delta=2.5)
    assert repr(spec).endswith("loss='huber', dtype='float64', huber_delta=2.5)")
    assert spec.to_dict()["huber_delta"] == 2.5
    assert fb.NetworkSpec.from_dict(spec.to_dict()) == spec
    assert spec != fb.NetworkSpec([2, 3, 1], "relu", "huber")
    assert spec.loss_param == 2.5 and math.isnan(fb.NetworkSpec([2, 1]).loss_param)
    assert "huber_delta" not in fb.NetworkSpec([2, 1]).to_dict()
    q = fb.NetworkSpec([2, 1], [], "quantile", quantile=0.9)
    assert fb.NetworkSpec.from_dict(q.to_dict()) == q and q.loss_param == 0.9


def test_model_file_round_trip_and_versions(tmp_path) -> None:
    from fastbp.io import read_header

    net, X, _ = make_case("huber")
    path = tmp_path / "huber.fastbp"
    net.save(path)
    assert read_header(path)["format_version"] == 3
    back = fb.Network.load(path)
    assert back.spec == net.spec and back.spec.huber_delta == PARAM["huber"]
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    plain = tmp_path / "abs.fastbp"
    fb.Network(make_spec("absolute_error"), seed=0).save(plain)
    assert read_header(plain)["format_version"] == 1  # no loss parameter: no new version
    # A loss parameter in a file that claims an older version is refused.
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    header = json.loads(np.load(path)["header"].tobytes())
    header["format_version"] = 2
    raw = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    old = tmp_path / "old.fastbp"
    with zipfile.ZipFile(old, "w") as z:
        for name, data in members.items():
            if name != "header.npy":
                z.writestr(name, data)
        with z.open("header.npy", "w") as f:
            np.lib.format.write_array(f, raw)
    from fastbp.io import ModelFileError

    with pytest.raises(ModelFileError, match="needs format_version 3"):
        fb.Network.load(old)


# ------------------------------------------------------------------------------ refusals
def test_paths_without_the_robust_losses_refuse_clearly() -> None:
    from fastbp import specialise
    from fastbp.circuit import from_network

    net, X, Y = make_case("quantile")
    with pytest.raises(ValueError, match="loss='quantile' has no circuit"):
        from_network(net, X[0], Y[0])
    with pytest.raises(ValueError, match="loss='quantile' has no specialised kernel"):
        specialise.generate_source(net.spec)
    assert not specialise.specialises(net.spec)
    from fastbp.sklearn import MLPRegressor

    # to_torch then from_torch: the module holds no loss; its parameter is given again.
    back = fb.Network.from_torch(net.to_torch(), loss="quantile", quantile=PARAM["quantile"])
    assert back.spec == net.spec
    np.testing.assert_array_equal(back.params, net.params)
    est = MLPRegressor((3,), loss="quantile", max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 2 epochs
        est.fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="loss 'quantile' has no scikit-learn MLP counterpart"):
        est.to_sklearn()
