"""Network.partial_fit and the one-row fast paths.

* partial_fit row by row (and block by block) equals ``fit(epochs=1, shuffle=False)`` to the bit,
  parameters and optimizer state, for every optimizer, on random architectures, both dtypes;
* the optimizer state survives calls, save/load, and is reset by another optimizer;
* bad rows, aliasing and divergence leave the parameters and optimizer state unchanged;
* the packed one-row kernels (forward, loss and gradient, SGD step) against the pure-Python
  reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, assert_close, make_targets, random_case, random_network

import fastbp as fb
from fastbp import reference, row_kernels

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam"]


def _data(spec: fb.NetworkSpec, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, spec.n_inputs)).astype(spec.dtype)
    Y, Y_dense = make_targets(spec, n, rng)
    if spec.loss != "softmax_cross_entropy":
        Y = np.asarray(Y, dtype=spec.dtype)
    return X, Y, np.asarray(Y_dense, dtype=spec.dtype)


def _state(net: fb.Network) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in net.optimizer.state_arrays().items()}


def _assert_same_state(a: fb.Network, b: fb.Network) -> None:
    np.testing.assert_array_equal(a.params, b.params)
    assert a.optimizer.settings() == b.optimizer.settings()
    for key, value in a.optimizer.state_arrays().items():
        np.testing.assert_array_equal(value, b.optimizer.state_arrays()[key], err_msg=key)


@pytest.mark.parametrize("case", range(12))
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_partial_fit_row_by_row_equals_one_epoch_of_fit_to_the_bit(case, optimizer) -> None:
    spec, _ = random_case(case)
    X, Y, Y_dense = _data(spec, 23, seed=case)
    lr = 0.01 if spec.loss == "poisson" else 0.03  # poisson: exp output, steeper
    kw = dict(optimizer=optimizer, lr=lr, l2=0.01 * (case % 2))
    fitted = random_network(spec, np.random.default_rng(case))
    online = fitted.copy()
    hist = fitted.fit(X, Y, epochs=1, batch_size=1, shuffle=False, progress=False, **kw)
    losses = [online.partial_fit(X[i : i + 1], Y[i : i + 1], **kw) for i in range(X.shape[0])]
    _assert_same_state(fitted, online)
    # The mean of the returned losses is fit's epoch loss up to the summation order (and, with
    # NUMBA_DISABLE_JIT=1, the float32 accumulator NumPy scalars give in plain Python).
    assert_close(np.mean(losses), hist.loss[0], spec.dtype, "mean loss")
    # The dense (n, nr) form of the targets takes the same path and gives the same bits.
    dense = random_network(spec, np.random.default_rng(case))
    for i in range(X.shape[0]):
        dense.partial_fit(X[i : i + 1], Y_dense[i : i + 1], **kw)
    _assert_same_state(fitted, dense)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("batch_size", [3, 8])
def test_partial_fit_in_blocks_equals_fit_with_that_batch_size(dtype, optimizer, batch_size):
    spec = fb.NetworkSpec([6, 9, 5, 3], ["tanh", "relu"], "softmax_cross_entropy", dtype)
    X, Y, _ = _data(spec, 30)
    kw = dict(optimizer=optimizer, lr=0.05, l2=0.001, batch_size=batch_size)
    fitted, online = fb.Network(spec, seed=1), fb.Network(spec, seed=1)
    hist = fitted.fit(X, Y, epochs=1, shuffle=False, progress=False, **kw)
    total = 0.0
    for lo in range(0, 30, batch_size):
        total += online.partial_fit(X[lo : lo + batch_size], Y[lo : lo + batch_size], **kw) * len(
            X[lo : lo + batch_size]
        )
    _assert_same_state(fitted, online)
    assert_close(total / 30, hist.loss[0], dtype, "mean loss")
    # One call on all the rows is the same pass.
    whole = fb.Network(spec, seed=1)
    whole.partial_fit(X, Y, **kw)
    _assert_same_state(fitted, whole)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_optimizer_state_survives_save_and_load(tmp_path, dtype, optimizer) -> None:
    spec = fb.NetworkSpec([4, 8, 2], ["relu"], "squared", dtype)
    X, Y, _ = _data(spec, 20)
    fitted = fb.Network(spec, seed=2)
    fitted.fit(X, Y, epochs=1, batch_size=1, shuffle=False, optimizer=optimizer, lr=0.02,
               progress=False)  # fmt: skip
    online = fb.Network(spec, seed=2)
    for i in range(10):
        online.partial_fit(X[i : i + 1], Y[i : i + 1], optimizer=optimizer, lr=0.02)
    online.save(tmp_path / "half.fastbp")
    resumed = fb.Network.load(tmp_path / "half.fastbp")
    assert resumed.optimizer.step[0] == (10 if optimizer == "adam" else online.optimizer.step[0])
    for i in range(10, 20):
        resumed.partial_fit(X[i : i + 1], Y[i : i + 1], optimizer=optimizer, lr=0.02)
    _assert_same_state(fitted, resumed)
    # Without the state, the moments restart from zero and the result differs.
    online.save(tmp_path / "no-state.fastbp", include_optimizer_state=False)
    fresh = fb.Network.load(tmp_path / "no-state.fastbp")
    for i in range(10, 20):
        fresh.partial_fit(X[i : i + 1], Y[i : i + 1], optimizer=optimizer, lr=0.02)
    assert not np.array_equal(fresh.params, fitted.params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 4])
def test_partial_fit_with_defaults_continues_a_loaded_adam_model(tmp_path, dtype, batch_size):
    """Issue 25: after load, partial_fit(x, y) continues Adam (moments, step, β's, rate)."""
    spec = fb.NetworkSpec([4, 8, 2], ["relu"], "squared", dtype)
    X, Y, _ = _data(spec, 24)
    adam = fb.optim.Optimizer("adam", beta1=0.8, beta2=0.99)  # not the defaults
    whole = fb.Network(spec, seed=5)
    whole.fit(X, Y, epochs=1, batch_size=batch_size, shuffle=False, optimizer=adam, lr=0.003,
              progress=False)  # fmt: skip
    half = fb.Network(spec, seed=5)
    half.fit(X[:12], Y[:12], epochs=1, batch_size=batch_size, shuffle=False,
             optimizer=fb.optim.Optimizer("adam", beta1=0.8, beta2=0.99), lr=0.003,
             progress=False)  # fmt: skip
    half.save(tmp_path / "adam.fastbp")
    resumed = fb.Network.load(tmp_path / "adam.fastbp")
    assert resumed.lowered.last_lr == 0.003
    for i in range(12, 24, batch_size):  # the defaults: optimizer, lr and momentum of the file
        resumed.partial_fit(X[i : i + batch_size], Y[i : i + batch_size], batch_size=batch_size)
    assert resumed.optimizer.name == "adam" and resumed.optimizer.beta1 == 0.8
    assert resumed.optimizer.step[0] == whole.optimizer.step[0]
    _assert_same_state(whole, resumed)


def test_partial_fit_defaults_follow_the_network() -> None:
    spec = fb.NetworkSpec([3, 5, 1], ["tanh"], "squared")
    X, Y, _ = _data(spec, 8)
    net = fb.Network(spec, seed=0)
    assert net.optimizer is None and net.lowered.last_lr is None
    net.partial_fit(X[:1], Y[:1])  # nothing yet: SGD at 0.01
    assert net.optimizer.name == "sgd" and net.lowered.last_lr == 0.01
    net.partial_fit(X[:2], Y[:2], optimizer="nesterov", momentum=0.6, lr=0.02)
    velocity_steps = net.optimizer.step[0]
    net.partial_fit(X[2:4], Y[2:4])  # continues Nesterov, μ = 0.6, α = 0.02
    assert net.optimizer.name == "nesterov" and net.optimizer.momentum == 0.6
    assert net.optimizer.step[0] == velocity_steps + 2 and net.lowered.last_lr == 0.02
    same = fb.Network(spec, seed=0)
    same.partial_fit(X[:1], Y[:1], optimizer="sgd", lr=0.01)
    same.partial_fit(X[:2], Y[:2], optimizer="nesterov", momentum=0.6, lr=0.02)
    same.partial_fit(X[2:4], Y[2:4], optimizer="nesterov", momentum=0.6, lr=0.02)
    _assert_same_state(same, net)
    net.partial_fit(X[4:5], Y[4:5], momentum=0.3)  # another μ: still Nesterov, a fresh state
    assert net.optimizer.name == "nesterov" and net.optimizer.momentum == 0.3
    assert net.optimizer.step[0] == 1
    net.fit(X, Y, epochs=2, lr=0.05, optimizer="adam", progress=False)
    assert net.lowered.last_lr == 0.05
    steps = net.optimizer.step[0]
    net.partial_fit(X[:1], Y[:1])  # continues fit's Adam at fit's last rate
    assert net.optimizer.name == "adam" and net.optimizer.step[0] == steps + 1
    net.partial_fit(X[:1], Y[:1], optimizer="sgd")  # an explicit choice switches
    assert net.optimizer.name == "sgd"
    with pytest.raises(TypeError, match="optimizer"):
        net.partial_fit(X[:1], Y[:1], optimizer=3)


def test_changing_the_optimizer_resets_its_state_and_same_settings_continue() -> None:
    spec = fb.NetworkSpec([3, 5, 1], ["tanh"], "squared")
    X, Y, _ = _data(spec, 6)
    net = fb.Network(spec, seed=0)
    net.partial_fit(X[:3], Y[:3], optimizer="adam", lr=0.01)
    assert net.optimizer.name == "adam" and net.optimizer.step[0] == 3
    net.partial_fit(X[3:], Y[3:], optimizer="adam", lr=0.001)  # a new rate keeps the state
    assert net.optimizer.step[0] == 6
    before = net.params.copy()
    net.partial_fit(X[:1], Y[:1], optimizer="momentum", momentum=0.5, lr=0.01)
    assert net.optimizer.name == "momentum" and net.optimizer.momentum == 0.5
    # A fresh velocity: after one step v = −α g, so θ moved by exactly −α g.
    _, g = fb.Network(spec, init="zeros").loss_and_gradient(X[:1], Y[:1])
    ref = fb.Network(spec, init="zeros")
    ref.params = before
    _, g = ref.loss_and_gradient(X[:1], Y[:1])
    np.testing.assert_allclose(net.params, before - 0.01 * g, rtol=1e-12, atol=1e-15)
    velocity = net.optimizer.s1.copy()
    net.partial_fit(X[1:2], Y[1:2], optimizer="momentum", momentum=0.9, lr=0.01)
    assert not np.allclose(net.optimizer.s1, 0.9 * velocity)  # μ changed: state restarted
    adam = fb.optim.Optimizer("adam", beta1=0.8)
    net.partial_fit(X[:2], Y[:2], optimizer=adam, lr=0.01)
    net.partial_fit(X[2:4], Y[2:4], optimizer=fb.optim.Optimizer("adam", beta1=0.8), lr=0.01)
    assert net.optimizer.beta1 == 0.8 and net.optimizer.step[0] == 4
    net.partial_fit(X[:1], Y[:1], optimizer="adam", lr=0.01)  # default β1: a new state
    assert net.optimizer.beta1 == 0.9 and net.optimizer.step[0] == 1


def _bad_inputs(spec: fb.NetworkSpec):
    x = np.zeros((1, spec.n_inputs), dtype=spec.dtype)
    y = np.zeros((1, spec.n_outputs), dtype=spec.dtype)
    nan_x, inf_y = x.copy(), y.copy()
    nan_x[0, -1] = np.nan
    inf_y[0, 0] = np.inf
    yield "NaN in x", nan_x, y, ValueError
    yield "inf in y", x, inf_y, ValueError
    yield "x of the wrong width", np.zeros((1, spec.n_inputs + 1), dtype=spec.dtype), y, ValueError
    yield "1-D x", x[0], y, ValueError
    yield "integer x", x.astype(np.int64), y, TypeError
    yield "y of the wrong width", x, np.zeros((1, spec.n_outputs + 1), spec.dtype), ValueError
    yield "two y rows for one x", x, np.zeros((2, spec.n_outputs), spec.dtype), ValueError


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_bad_rows_are_refused_and_change_nothing(dtype, optimizer, batch_size) -> None:
    spec = fb.NetworkSpec([3, 4, 2], ["relu"], "squared", dtype)
    X, Y, _ = _data(spec, 4)
    net = fb.Network(spec, seed=0)
    net.partial_fit(X, Y, optimizer=optimizer, batch_size=batch_size)  # the state now exists
    params, state = net.params.copy(), _state(net)
    for what, x, y, error in _bad_inputs(spec):
        for call in (
            lambda x=x, y=y: net.partial_fit(x, y, optimizer=optimizer, batch_size=batch_size),
            lambda x=x, y=y: net.loss_and_gradient(x, y),
        ):
            with pytest.raises(error):
                call()
            np.testing.assert_array_equal(net.params, params, err_msg=what)
            assert all(np.array_equal(v, state[k]) for k, v in _state(net).items()), what
        if "y" not in what:
            with pytest.raises(error):
                net.forward(x)
    bad_settings = [
        dict(lr=-1.0), dict(lr=float("nan")), dict(l2=-0.1), dict(batch_size=0),
        dict(optimizer="lbfgs"), dict(optimizer=3), dict(momentum=1.5, optimizer="momentum"),
    ]  # fmt: skip
    for kw in bad_settings:
        with pytest.raises((ValueError, TypeError)):
            net.partial_fit(X[:1], Y[:1], **{"optimizer": optimizer, **kw})
        np.testing.assert_array_equal(net.params, params, err_msg=str(kw))
    assert net.optimizer.name == optimizer


@pytest.mark.parametrize("loss", ["logistic", "softmax_cross_entropy"])
def test_invalid_classification_targets_are_refused_on_the_fast_path(loss) -> None:
    spec = fb.NetworkSpec([3, 4, 3], ["tanh"], loss)
    net = fb.Network(spec, seed=0)
    x = np.ones((1, 3))
    good = np.array([[0.0, 1.0, 0.0]])
    net.partial_fit(x, good)
    params = net.params.copy()
    bad = [np.array([[0.0, 1.5, 0.0]]), np.array([[-0.5, 1.0, 0.5]])]
    if loss == "softmax_cross_entropy":
        bad += [np.array([[0.2, 0.2, 0.2]]), np.array([3]), np.array([-1])]
    for y in bad:
        for call in (lambda y=y: net.partial_fit(x, y), lambda y=y: net.loss_and_gradient(x, y)):
            with pytest.raises(ValueError):
                call()
        np.testing.assert_array_equal(net.params, params)
    if loss == "softmax_cross_entropy":  # an integer label is one-hot
        a, b = net.copy(), net.copy()
        assert a.partial_fit(x, np.array([1])) == b.partial_fit(x, good)
        np.testing.assert_array_equal(a.params, b.params)
        J, g = net.loss_and_gradient(x, np.array([2]))
        J2, g2 = net.loss_and_gradient(x, np.array([[0.0, 0.0, 1.0]]))
        assert J == J2 and np.array_equal(g, g2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_finite_parameters_are_refused_on_the_fast_paths(dtype) -> None:
    spec = fb.NetworkSpec([3, 4, 1], ["relu"], "squared", dtype)
    net = fb.Network(spec, seed=0)
    x, y = np.ones((1, 3), dtype=dtype), np.ones((1, 1), dtype=dtype)
    net.partial_fit(x, y)
    W1, _ = net.layer(1)
    W1[0, 0] = np.nan  # feeds z[1][0]; with ReLU it could be hidden from the output
    for call in (
        lambda: net.forward(x),
        lambda: net.loss_and_gradient(x, y),
        lambda: net.partial_fit(x, y),
        lambda: net.partial_fit(np.ones((4, 3), dtype), np.ones(4, dtype), optimizer="sgd",
                                batch_size=2),
    ):  # fmt: skip
        with pytest.raises(ValueError, match="parameters contain NaN or inf"):
            call()
    assert np.isnan(W1[0, 0]) and np.isfinite(np.delete(net.params, 0)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer,batch_size", [("sgd", 1), ("momentum", 2), ("sgd", 3)])
def test_divergence_restores_parameters_and_state_of_before_the_call(dtype, optimizer, batch_size):
    spec = fb.NetworkSpec([3, 8, 1], ["identity"], "squared", dtype)
    net = fb.Network(spec, seed=0)
    X = np.full((3, 3), 10.0, dtype=dtype)
    Y = np.full((3, 1), 1e3, dtype=dtype)
    net.partial_fit(X[:1] * 0.01, Y[:1] * 1e-3, optimizer=optimizer, batch_size=batch_size)
    params, state = net.params.copy(), _state(net)
    with pytest.raises(fb.FitDivergedError, match="partial_fit diverged"):
        for _ in range(50):  # the step grows without bound until it overflows
            params, state = net.params.copy(), _state(net)
            net.partial_fit(X, Y, optimizer=optimizer, lr=1e3, batch_size=batch_size)
    np.testing.assert_array_equal(net.params, params)
    assert all(np.array_equal(v, state[k]) for k, v in _state(net).items())
    assert np.isfinite(net.params).all()


def test_rows_that_alias_the_parameters_are_copied_first() -> None:
    spec = fb.NetworkSpec([4, 3, 4], ["tanh"], "squared")
    net, twin = fb.Network(spec, seed=0), fb.Network(spec, seed=0)
    for nets in ((net, twin), (net, twin)):  # the second round takes the fast path
        for opt, bs in (("sgd", 1), ("adam", 1)):
            n = nets[0]
            X = n.params[:4].reshape(1, 4)  # a view of W[1]: the step changes it
            Y = n.params[4:8].reshape(1, 4)
            Xc, Yc = X.copy(), Y.copy()
            nets[0].partial_fit(X, Y, optimizer=opt, batch_size=bs)
            nets[1].partial_fit(Xc, Yc, optimizer=opt, batch_size=bs)
            np.testing.assert_array_equal(nets[0].params, nets[1].params)


@pytest.mark.parametrize("case", range(18))
def test_one_row_kernels_match_the_reference(case) -> None:
    spec, _ = random_case(case)
    rng = np.random.default_rng(case)
    net = random_network(spec, rng)
    X, Y, Y_dense = _data(spec, 1, seed=case)
    ref = reference.loss_and_gradient(
        net.params.astype(np.float64).tolist(), spec.widths, spec.activations, spec.loss,
        X.astype(np.float64).tolist(), Y_dense.astype(np.float64).tolist(),
    )  # fmt: skip
    out = net.forward(X)  # the packed forward_row kernel
    assert out.shape == (1, spec.n_outputs) and out.dtype == spec.np_dtype
    assert_close(out[0], ref.a[0][-1], spec.dtype, "forward")
    J, g = net.loss_and_gradient(X, Y_dense)  # the packed loss_grad_row kernel
    assert g.dtype == spec.np_dtype and g.shape == (net.n_params,)
    assert_close(J, ref.loss, spec.dtype, "loss")
    assert_close(g, ref.grad, spec.dtype, "gradient")
    # The checked path on the same row (a read-only X is copied there, not sent to the kernel).
    X_readonly = X.copy()
    X_readonly.setflags(write=False)
    assert_close(net.forward(X_readonly), out, spec.dtype, "checked path")
    J2, g2 = net.loss_and_gradient(X_readonly, Y_dense)
    assert_close(g2, g, spec.dtype, "checked path gradient")
    # One SGD step (the packed sgd_row kernel from the second call on) against the lecture's.
    lr, l2 = 0.05, 0.01 * (case % 2)
    net.partial_fit(X, Y_dense, lr=lr, l2=l2)  # the first call sets up the sgd state
    before = net.params.astype(np.float64).tolist()
    net.partial_fit(X, Y_dense, lr=lr, l2=l2)
    theta = reference.sgd_epoch(
        before, spec.widths, spec.activations, spec.loss, X.astype(np.float64).tolist(),
        Y_dense.astype(np.float64).tolist(), lr, l2=l2,
    )  # fmt: skip
    assert_close(net.params, theta, spec.dtype, "sgd step")


def test_the_fast_paths_are_the_ones_taken() -> None:
    spec = fb.NetworkSpec([3, 4, 2], ["relu"], "squared")
    net = fb.Network(spec, seed=0)
    calls = net._fast  # the network's own fast paths (a private detail this test spies on)
    seen: list[str] = []
    names = ("check", "forward", "loss_grad", "minibatch", "settle")

    class Spy:  # stands in for a direct kernel entry: ``spy(*args)`` or ``spy.call(*args)``
        def __init__(self, name: str, real: object = None) -> None:
            self.name, self.real = name, getattr(calls, name) if real is None else real

        def __call__(self, *args):
            return self.call(*args)

        def call(self, *args):
            result = self.real(*args)
            refused = self.name == "forward" and result == row_kernels.LAYOUT
            seen.append(self.name + (" refused" if refused else ""))
            return result

    for name in names:
        setattr(calls, name, Spy(name))
    calls.forward_rows = tuple(Spy("forward_rows", real) for real in calls.forward_rows)
    x, y = np.ones((1, 3)), np.ones((1, 2))
    net.forward(np.ones((2, 3)))  # two rows: the small-batch kernel
    net.forward(np.ones((1, 3), dtype=np.float32))  # another dtype: refused, checked path
    assert seen == ["forward_rows", "forward refused"]
    del seen[:]
    net.partial_fit(x, y)  # first call: the checked path sets up the optimizer
    assert seen == []
    net.forward(x)
    net.loss_and_gradient(x, y)
    assert seen == ["forward", "loss_grad"]
    net.partial_fit(x, y)  # the SGD step itself is fit's (specialised) kernel, between checks
    assert seen[2:] == ["check", "settle"]
    net.partial_fit(np.ones((8, 3)), np.ones((8, 2)), optimizer="adam", batch_size=4)
    net.partial_fit(np.ones((8, 3)), np.ones((8, 2)), optimizer="adam", batch_size=4)
    assert seen[4:] == ["check", "minibatch", "settle"]


def test_partial_fit_leaves_the_history_and_returns_a_float() -> None:
    spec = fb.NetworkSpec([2, 3, 1], ["relu"], "squared")
    net = fb.Network(spec, seed=0)
    hist = net.fit(np.ones((4, 2)), np.ones(4), epochs=2, progress=False)
    loss = net.partial_fit(np.ones((1, 2)), np.ones(1))
    loss2 = net.partial_fit(np.ones((1, 2)), np.ones(1))
    assert type(loss) is float and type(loss2) is float and loss2 <= loss
    assert net.history is hist and len(hist) == 2
