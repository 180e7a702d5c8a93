"""PyTorch conversion: to_torch / from_torch round trips and refusals (tests/interop_cases.py)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from interop_cases import (
    ALL_COMBINATIONS,
    RANDOM_CASES,
    assert_export_close,
    case_network,
    combination_network,
    inputs,
)

import fastbp as fb

torch = pytest.importorskip("torch", reason="needs the torch extra (pip install 'fastbp[torch]')")
nn = torch.nn


def torch_forward(module, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


def check_round_trip(net: fb.Network, X: np.ndarray) -> None:
    module = net.to_torch()
    for p in module.parameters():
        assert p.dtype == getattr(torch, net.spec.dtype)
    out = torch_forward(module, X)
    assert out.dtype == net.spec.np_dtype
    assert_export_close(out, net.forward(X), net.spec.dtype, repr(net.spec))
    back = fb.Network.from_torch(module, loss=net.spec.loss)
    assert back.spec == net.spec
    np.testing.assert_array_equal(back.params, net.params)  # parameters copied bit for bit


@pytest.mark.parametrize(("act", "loss", "dtype"), ALL_COMBINATIONS)
def test_round_trip_for_every_activation_loss_and_dtype(act, loss, dtype):
    net = combination_network(act, loss, dtype, seed=ALL_COMBINATIONS.index((act, loss, dtype)))
    for scale in (2.0, 30.0):  # 30: softplus above torch's default threshold of 20
        check_round_trip(net, inputs(net, 19, seed=2, scale=scale))


@pytest.mark.parametrize("case", RANDOM_CASES)
def test_round_trip_on_random_architectures(case):
    net = case_network(case)
    check_round_trip(net, inputs(net, 7, seed=case))


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "logistic"])
def test_logits_leave_the_output_activation_out(loss):
    net = combination_network("tanh", loss, "float64", seed=4)
    X = inputs(net, 11, seed=0)
    module = net.to_torch(logits=True)
    assert not isinstance(module[-1], (nn.Softmax, nn.Sigmoid))
    Y = np.full((11, net.spec.n_outputs), 1.0 / net.spec.n_outputs)  # any valid target
    assert_export_close(torch_forward(module, X), net.trace(X, Y).z[-1], "float64")
    back = fb.Network.from_torch(module, loss=loss)  # logits are accepted for these losses
    np.testing.assert_array_equal(back.params, net.params)


@pytest.mark.parametrize("act", sorted(fb.ACTIVATIONS))
def test_torch_gradient_equals_fastbps(act):
    # The exported module trains on: autograd's gradient of fastbp's loss is fastbp's gradient.
    net = combination_network(act, "squared", "float64", seed=8)
    X = inputs(net, 13, seed=1)
    Y = np.random.default_rng(2).normal(size=(13, net.spec.n_outputs))
    module = net.to_torch()
    out = module(torch.from_numpy(X))
    J = 0.5 * ((out - torch.from_numpy(Y)) ** 2).sum(dim=1).mean()
    J.backward()
    J_fb, grad = net.loss_and_gradient(X, Y)
    torch_grad = np.concatenate(
        [t for lin in module if isinstance(lin, nn.Linear)
         for t in (lin.weight.grad.numpy().ravel(), lin.bias.grad.numpy())]
    )  # fmt: skip
    assert_export_close(J.item(), J_fb, "float64")
    assert_export_close(torch_grad, grad, "float64")


def test_from_torch_reads_a_hand_built_sequential():
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(3, 5), nn.LeakyReLU(0.01), nn.Linear(5, 4), nn.Softplus(), nn.Linear(4, 4),
        nn.Identity(), nn.Linear(4, 6), nn.Linear(6, 2), nn.Softmax(dim=1),
    ).double()  # fmt: skip
    net = fb.Network.from_torch(module, loss="softmax_cross_entropy")
    assert net.spec.widths == (3, 5, 4, 4, 6, 2)
    assert net.spec.activations == ("leaky_relu", "softplus", "identity", "identity")
    X = inputs(net, 10, seed=0)
    assert_export_close(net.forward(X), torch_forward(module, X), "float64")
    W, b = net.layer(2)
    np.testing.assert_array_equal(W, module[2].weight.detach().numpy())
    np.testing.assert_array_equal(b, module[2].bias.detach().numpy())


def test_single_linear_and_sigmoid_output():
    module = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid())
    net = fb.Network.from_torch(module, loss="logistic")
    assert net.spec.widths == (4, 3) and net.spec.dtype == "float32"
    X = inputs(net, 6, seed=0)
    assert_export_close(net.forward(X), torch_forward(module, X), "float32")


def refused(module, loss="squared"):
    with pytest.raises(ValueError) as info:
        fb.Network.from_torch(module, loss=loss)
    return str(info.value)


@pytest.mark.parametrize(
    ("modules", "index", "words"),
    [
        ([nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Linear(3, 1)], 1, "negative_slope=0.01"),
        ([nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False)], 2, "no bias"),
        ([nn.Linear(2, 3), nn.AlphaDropout(0.1), nn.Linear(3, 1)], 1, "not supported"),
        ([nn.Linear(2, 3), nn.Hardswish(), nn.Linear(3, 1)], 1, "not supported"),
        ([nn.Linear(2, 3), nn.GELU(approximate="tanh"), nn.Linear(3, 1)], 1, "approximate='none'"),
        ([nn.Linear(2, 3), nn.ELU(alpha=0.5), nn.Linear(3, 1)], 1, "alpha=1.0"),
        ([nn.Sequential(nn.Linear(2, 3)), nn.Linear(3, 1)], 0, "not supported"),
        ([nn.Linear(2, 3), nn.Softplus(beta=2.0), nn.Linear(3, 1)], 1, "beta=1"),
        ([nn.Linear(2, 3), nn.Softplus(threshold=10.0), nn.Linear(3, 1)], 1, "threshold"),
        ([nn.Linear(2, 3), nn.ReLU(), nn.Tanh(), nn.Linear(3, 1)], 2, "one activation per layer"),
        ([nn.ReLU(), nn.Linear(2, 3)], 0, "before the first Linear"),
        ([nn.Linear(2, 3), nn.Linear(4, 1)], 1, "takes 4 inputs"),
        ([nn.Linear(2, 3), nn.ReLU()], 1, "after the last Linear"),
        ([nn.Linear(2, 3), nn.Sigmoid()], 1, "loss='logistic'"),
        ([nn.Linear(2, 3), nn.Softmax(dim=-1)], 1, "softmax_cross_entropy"),
        ([nn.Linear(2, 3), nn.Softmax(dim=0)], 1, "dim=-1"),
        ([nn.Linear(2, 3), nn.Softmax(dim=1), nn.Linear(3, 2)], 1, "output activation"),
    ],
)
def test_unsupported_modules_are_refused_by_name(modules, index, words):
    message = refused(nn.Sequential(*modules))
    assert f"module [{index}] {modules[index]!r}".split("\n")[0] in message
    assert words in message


def test_other_refusals():
    assert "mix dtypes" in refused(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1).double()))
    assert "float32 or float64" in refused(nn.Sequential(nn.Linear(2, 3).half()))
    assert "no Linear" in refused(nn.Sequential())
    bad = nn.Linear(2, 1)
    with torch.no_grad():
        bad.weight[0, 0] = float("nan")
    assert "NaN" in refused(nn.Sequential(bad))
    with pytest.raises(TypeError, match="Sequential"):
        fb.Network.from_torch(nn.Linear(2, 1))
    with pytest.raises(ValueError, match="loss"):
        fb.Network.from_torch(nn.Sequential(nn.Linear(2, 1)), loss="hinge")
    net = combination_network("relu", "squared", "float64", seed=0)
    net.params[-1] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        net.to_torch()
    with pytest.raises(TypeError, match="logits"):
        combination_network("relu", "squared", "float64", seed=0).to_torch(logits="yes")


def test_messages_name_the_module_and_its_index():
    message = refused(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.LeakyReLU(0.1)))
    assert re.search(r"module \[2\] LeakyReLU\(negative_slope=0\.1\)", message), message


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    net = combination_network("relu", "squared", "float64", seed=0)
    with pytest.raises(ImportError, match=r"fastbp\[torch\]"):
        net.to_torch()


def test_function_and_classmethod_agree_and_the_class_is_kept():
    # fastbp.interop.from_torch and Network.from_torch run the same converter, which is handed
    # the class (so the converters never import fastbp.network); a subclass gets a subclass.
    from fastbp import interop

    class Tagged(fb.Network):
        pass

    net = combination_network("tanh", "logistic", "float32", seed=3)
    module = net.to_torch()
    a, b = interop.from_torch(module, loss="logistic"), Tagged.from_torch(module, loss="logistic")
    assert type(a) is fb.Network and type(b) is Tagged
    assert a.spec == b.spec == net.spec and a.init == "zeros" and a.seed is None
    np.testing.assert_array_equal(a.params, b.params)


def test_converters_refuse_what_is_not_a_network():
    from fastbp import interop

    class Lookalike:  # has params but no NetworkSpec
        params = np.zeros(3)

        def layer(self, k):
            raise AssertionError("never called")

    for bad in (Lookalike(), "net", None):
        with pytest.raises(TypeError, match="needs a fastbp.Network"):
            interop.to_torch(bad)
