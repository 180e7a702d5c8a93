"""Dropout (fastbp.dropout, fastbp.dropout_kernels): spec, masks, kernels, training, files, export.

Yardsticks: the pure-Python :func:`fastbp.reference.loss_and_gradient` with the same mask scales;
PyTorch with the same masks (activations multiplied by mask/(1 − p)) for the gradient and one
optimizer step (rtol 1e-12 in float64, 1e-5 in float32, as the issue asks; floors for entries
near 0); central differences with a fixed mask (:func:`fastbp.gradcheck.gradcheck_dropout`).
Networks are small and share shapes, so the compiled kernels are built once per dtype.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastbp as fb
from fastbp import reference as ref
from fastbp.dropout import loss_and_gradient_with_masks, masks
from fastbp.gradcheck import gradcheck_dropout
from fastbp.io import ModelFileError, read_header

WIDTHS = [5, 7, 6, 2]
RATES = [0.3, 0.5]
STEP_TOL = {"float64": (1e-12, 1e-14), "float32": (1e-5, 1e-6)}


def make(dtype: str = "float64", act: str = "tanh", rates=RATES, seed: int = 0) -> fb.Network:
    return fb.Network(fb.NetworkSpec(WIDTHS, act, "squared", dtype, dropout=rates), seed=seed)


def data(m: int, dtype: str = "float64", seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, WIDTHS[0])).astype(dtype)
    return X, rng.normal(size=(m, WIDTHS[-1])).astype(dtype)


def assert_rel(actual, desired, dtype: str) -> None:
    rtol, floor = STEP_TOL[dtype]
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=floor * np.abs(desired).max())


# ---------------------------------------------------------------- spec


def test_spec_normalises_validates_and_round_trips() -> None:
    spec = fb.NetworkSpec(WIDTHS, "relu", dropout=0.25)
    assert spec.dropout == (0.25, 0.25) and spec.has_dropout
    assert "dropout=[0.25, 0.25]" in repr(spec)
    assert fb.NetworkSpec.from_dict(spec.to_dict()) == spec
    plain = fb.NetworkSpec(WIDTHS, "relu")
    assert plain.dropout == (0.0, 0.0) and "dropout" not in repr(plain)
    assert "dropout" not in plain.to_dict() and plain == fb.NetworkSpec(WIDTHS, "relu", dropout=0)
    assert hash(spec) != hash(plain) and spec != plain
    for bad, words in [
        (1.0, r"in \[0, 1\)"), (-0.1, r"in \[0, 1\)"), (math.nan, r"in \[0, 1\)"),
        ("0.1", "rate or a list"), (True, "must be a number"), ([0.1], "one rate per hidden"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=words):
            fb.NetworkSpec(WIDTHS, "relu", dropout=bad)
    with pytest.raises(ValueError, match="needs a hidden layer"):
        fb.NetworkSpec([3, 1], dropout=0.5)


# ---------------------------------------------------------------- masks


def test_drop_rate_matches_p_within_sampling_error() -> None:
    spec = fb.NetworkSpec([3, 300, 200, 1], "relu", dropout=[0.2, 0.6])
    first = masks(spec, 50, seed=3, step=1)
    for keep, p in zip(first, spec.dropout, strict=True):
        n = keep.size
        dropped = 1.0 - keep.mean()
        assert abs(dropped - p) <= 4 * math.sqrt(p * (1 - p) / n), (dropped, p)
        assert set(np.unique(keep)) <= {0.0, 1.0}
        # rows and units are not copies of each other
        assert not np.array_equal(keep[0], keep[1]) and not np.array_equal(keep[:, 0], keep[:, 1])
    again = masks(spec, 50, seed=3, step=1)
    later = masks(spec, 50, seed=3, step=2)
    other = masks(spec, 50, seed=4, step=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], later[0]) and not np.array_equal(first[0], other[0])


# ---------------------------------------------------------------- gradients with a given mask


@pytest.mark.parametrize("blas", [False, True])
def test_compiled_pass_matches_reference_with_mask(blas: bool) -> None:
    net = make(act="sigmoid")  # σ' from a: the undropped activations must be kept
    m = 6
    X, Y = data(m)
    keep = masks(net.spec, m, seed=0, step=5)
    net.lowered.blas_min_rows = 1 if blas else 10**6
    J, g = loss_and_gradient_with_masks(net, X, Y, keep)
    scales = [[list(keep[k][i] / (1 - RATES[k])) for k in range(2)] for i in range(m)]
    want = ref.loss_and_gradient(list(net.params), WIDTHS, net.spec.activations, "squared",
                                 X.tolist(), Y.tolist(), scales=scales)  # fmt: skip
    np.testing.assert_allclose(J, want.loss, rtol=1e-12)
    np.testing.assert_allclose(g, want.grad, rtol=1e-10, atol=1e-13)
    # a zero rate ignores its mask; all-ones masks with rates give a^T s = a / (1 - p) != plain
    plain = fb.Network(fb.NetworkSpec(WIDTHS, "sigmoid"), seed=0)
    ones = [np.ones_like(k) for k in keep]
    assert loss_and_gradient_with_masks(plain, X, Y, keep)[0] == pytest.approx(plain.loss(X, Y))
    assert loss_and_gradient_with_masks(net, X, Y, ones)[0] != pytest.approx(net.loss(X, Y))


def test_gradcheck_with_a_fixed_mask() -> None:
    net = make()
    X, Y = data(4)
    report = gradcheck_dropout(net, X, Y, masks(net.spec, 4, seed=0, step=1))
    assert report.passed and report.n_checked == net.n_params, report


torch = pytest.importorskip("torch")


def torch_pass(net: fb.Network, X, Y, keep):
    """The torch module of ``net`` with the masks applied at its Dropout modules, and its loss."""
    module = net.to_torch().train()
    x = torch.from_numpy(X)
    k = 0
    for layer in module:
        if isinstance(layer, torch.nn.Dropout):
            scale = (keep[k] * (1.0 / (1.0 - layer.p))).astype(X.dtype)
            x = x * torch.from_numpy(scale)
            k += 1
        else:
            x = layer(x)
    loss = 0.5 * ((x - torch.from_numpy(Y)) ** 2).sum() / X.shape[0]
    return module, loss


def flat_grad(module) -> np.ndarray:
    return np.concatenate([p.grad.detach().numpy().ravel() for p in module.parameters()])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_gradient_and_one_step_equal_torch_with_the_same_mask(dtype: str, optimizer: str) -> None:
    net = make(dtype, act="relu")
    m = 8
    X, Y = data(m, dtype)
    keep = masks(net.spec, m, seed=7, step=1)  # what fit(seed=7)'s first step draws
    J, g = loss_and_gradient_with_masks(net, X, Y, keep)
    module, loss = torch_pass(net, X, Y, keep)
    loss.backward()
    assert_rel(J, loss.item(), dtype)
    assert_rel(g, flat_grad(module), dtype)
    before = net.params.copy()
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(module.parameters(), lr=0.1)
    opt.step()
    net.fit(X, Y, epochs=1, batch_size=m, shuffle=False, seed=7, optimizer=optimizer, lr=0.1,
            progress=False)  # fmt: skip
    after = np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])
    assert_rel(net.params - before, after - before, dtype)


# ---------------------------------------------------------------- training


def test_fit_is_reproducible_and_inference_deterministic() -> None:
    X, Y = data(40)
    nets = [make(seed=0) for _ in range(3)]
    for net, seed in zip(nets, [5, 5, 6], strict=True):
        net.fit(X, Y, epochs=2, batch_size=4, seed=seed, progress=False)
    assert np.array_equal(nets[0].params, nets[1].params)
    assert not np.array_equal(nets[0].params, nets[2].params)
    net = nets[0]
    twin = fb.Network(fb.NetworkSpec(WIDTHS, "tanh"), init="zeros")
    twin.params = net.params
    out = net.forward(X)
    assert np.array_equal(out, net.forward(X)) and np.array_equal(out, twin.forward(X))
    assert net.loss(X, Y) == twin.loss(X, Y) and net.score(X, Y) == twin.score(X, Y)
    assert np.array_equal(net.gradient(X, Y), twin.gradient(X, Y))
    # dropout changes training: the same fit without it ends elsewhere
    plain = fb.Network(fb.NetworkSpec(WIDTHS, "tanh"), seed=0)
    plain.fit(X, Y, epochs=2, batch_size=4, seed=5, progress=False)
    assert not np.allclose(plain.params, net.params)


def test_blas_and_loop_batches_agree() -> None:
    X, Y = data(40)
    nets = [make() for _ in range(2)]
    for net, rows in zip(nets, [1, 10**6], strict=True):
        net.lowered.blas_min_rows = rows
        net.fit(X, Y, epochs=2, batch_size=8, seed=1, optimizer="momentum", progress=False)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_specialised_per_example_kernel_matches_batches_of_one_row(act: str) -> None:
    X, Y = data(30)
    fast, generic = make(act=act), make(act=act)
    fast.fit(X, Y, epochs=2, batch_size=1, seed=3, l2=1e-3, progress=False)
    # warmup=1 changes no step but takes the generic kernel (batches of one row, loops)
    generic.fit(X, Y, epochs=2, batch_size=1, seed=3, l2=1e-3, warmup=1, progress=False)
    np.testing.assert_allclose(fast.params, generic.params, rtol=1e-10, atol=1e-13)
    assert fast.optimizer.step[0] == generic.optimizer.step[0] == 60


def test_per_example_partial_fit_continues_the_mask_counter() -> None:
    X, Y = data(12)
    whole, rows = make(), make()
    whole.fit(X, Y, epochs=1, batch_size=1, shuffle=False, seed=0, progress=False)
    for i in range(12):  # seed 0 by default; the optimizer's step count moves the masks on
        rows.partial_fit(X[i : i + 1], Y[i : i + 1], lr=0.01)
    assert np.array_equal(whole.params, rows.params)
    # the same row twice takes two different masks (the counter moved): two different steps
    a, b = make(), make()
    a.partial_fit(X[:1], Y[:1], lr=0.01)
    b.partial_fit(X[:1], Y[:1], lr=0.01)
    b.partial_fit(X[:1], Y[:1], lr=0.01)
    keep1, keep2 = (masks(a.spec, 1, seed=0, step=t) for t in (1, 2))
    assert not all(np.array_equal(u, v) for u, v in zip(keep1, keep2, strict=True))


def test_unsupported_combinations_are_refused_before_training() -> None:
    net = make()
    X, Y = data(8)
    before = net.params.copy()
    with pytest.raises(ValueError, match="DP-SGD"):
        net.fit(X, Y, epochs=1, max_grad_norm=1.0, noise_multiplier=1.0, progress=False)
    with pytest.raises(ValueError, match="sample_weight"):
        net.fit(X, Y, epochs=1, sample_weight=np.ones(8), progress=False)
    with pytest.raises(ValueError, match="DP-SGD"):
        net.partial_fit(X, Y, max_grad_norm=1.0, noise_multiplier=1.0)
    with pytest.raises(ValueError, match="Ensemble does not support dropout"):
        fb.Ensemble(net.spec, 2)
    assert np.array_equal(net.params, before) and net.optimizer is None


# ---------------------------------------------------------------- files and export


def test_model_file_version_3_only_with_dropout(tmp_path, monkeypatch) -> None:
    import fastbp.io as fio

    net = make()
    net.save(tmp_path / "d.fastbp")
    assert read_header(tmp_path / "d.fastbp")["format_version"] == 3
    back = fb.Network.load(tmp_path / "d.fastbp")
    assert back.spec == net.spec and np.array_equal(back.params, net.params)
    plain = fb.Network(fb.NetworkSpec(WIDTHS, "tanh"), seed=0)
    plain.save(tmp_path / "p.fastbp")
    assert read_header(tmp_path / "p.fastbp")["format_version"] == 1
    assert fb.Network.load(tmp_path / "p.fastbp").spec == plain.spec
    # fastbp that knows only version 2 refuses the file with a clear message
    monkeypatch.setattr(fio, "FORMAT_VERSION", 2)
    monkeypatch.setattr(fio, "SUPPORTED_VERSIONS", (1, 2))
    with pytest.raises(ModelFileError, match="format_version 3 is newer"):
        fb.Network.load(tmp_path / "d.fastbp")


def test_torch_round_trip_and_misplaced_dropout() -> None:
    nn = torch.nn
    net = make(act="relu", rates=[0.0, 0.4])
    module = net.to_torch()
    drops = [m for m in module if isinstance(m, nn.Dropout)]
    assert [d.p for d in drops] == [0.4] and isinstance(module[4], nn.Dropout)
    back = fb.Network.from_torch(module)
    assert back.spec == net.spec and np.array_equal(back.params, net.params)
    X, _ = data(5)
    np.testing.assert_allclose(back.forward(X), module(torch.from_numpy(X)).detach().numpy(), 1e-12)
    for mods, words in [
        ([nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Dropout(0.1)], "never drops"),
        ([nn.Linear(2, 3), nn.Dropout(0.1), nn.ReLU(), nn.Linear(3, 1)], "after a layer's"),
        ([nn.Linear(2, 3), nn.Dropout(0.1), nn.Dropout(0.1), nn.Linear(3, 1)], "once per"),
        ([nn.Dropout(0.1), nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)], "once per"),
        ([nn.Linear(2, 3), nn.ReLU(), nn.Dropout(1.0), nn.Linear(3, 1)], r"\[0, 1\)"),
    ]:
        with pytest.raises(ValueError, match=words):
            fb.Network.from_torch(nn.Sequential(*mods))


def test_onnx_exports_inference_without_dropout() -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from fastbp.interop.onnx_export import onnx_model

    net = make()
    model = onnx_model(net)
    assert not any(node.op_type == "Dropout" for node in model.graph.node)
    X, _ = data(5)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"X": X})[0], net.forward(X), rtol=1e-12)


# ---------------------------------------------------------------- estimators


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimators_train_with_dropout() -> None:
    pytest.importorskip("sklearn")
    import scipy.sparse as sp

    from fastbp.sklearn import MLPClassifier, MLPRegressor

    X, Y = data(60)
    y = Y[:, 0]
    kw = dict(hidden_layer_sizes=(7, 6), random_state=0, max_iter=3, batch_size=8)
    reg = MLPRegressor(dropout=RATES, **kw).fit(X, y)
    assert reg.network_.spec.dropout == tuple(RATES)
    again = MLPRegressor(dropout=RATES, **kw).fit(X, y)
    plain = MLPRegressor(**kw).fit(X, y)
    assert np.array_equal(reg.network_.params, again.network_.params)
    assert not np.allclose(reg.network_.params, plain.network_.params)
    assert np.array_equal(reg.predict(X), reg.predict(X))
    np.testing.assert_allclose(reg.to_sklearn().predict(X), reg.predict(X), rtol=1e-10)
    dense_then_sparse = MLPRegressor(dropout=RATES, **kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(dense_then_sparse.network_.params, reg.network_.params,
                               rtol=1e-10, atol=1e-13)  # fmt: skip
    before = reg.network_.params.copy()
    reg.partial_fit(X, y)  # the lean path, too, trains with dropout
    reg.partial_fit(X, y)
    assert not np.array_equal(before, reg.network_.params)
    # batches of 60 rows: the compiled epoch loop's size, which dropout must not take
    big = dict(kw, batch_size=60)
    looped = MLPRegressor(dropout=RATES, **big).fit(X, y)
    assert not np.allclose(looped.network_.params, MLPRegressor(**big).fit(X, y).network_.params)
    clf = MLPClassifier(dropout=0.2, **kw).fit(X, y > 0)
    assert clf.score(X, y > 0) > 0.4
    with pytest.raises(ValueError, match="stochastic solver"):
        MLPRegressor(dropout=0.2, solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        MLPRegressor(dropout=0.2, **kw).fit(X, y, sample_weight=np.ones(60))
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        MLPRegressor(dropout=1.5, **kw).fit(X, y)
