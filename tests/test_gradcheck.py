"""Backprop against central finite differences (fb.gradcheck) on random architectures."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_targets, random_case, random_network

import fastbp as fb


@pytest.mark.parametrize("case", range(0, 60, 2))
def test_backprop_matches_finite_differences(case: int) -> None:
    spec, m = random_case(case)
    spec = fb.NetworkSpec(spec.widths, spec.activations, spec.loss, "float64")
    rng = np.random.default_rng(case)
    net = random_network(spec, rng)
    X = rng.normal(size=(m, spec.n_inputs))
    Y, _ = make_targets(spec, m, rng)
    rep = fb.gradcheck(net, X, Y, max_params=300, seed=case)
    assert rep.passed, str(rep)
    assert rep.n_checked == min(300, net.n_params)
    assert 0 <= rep.worst_ratio <= 1  # the criterion applied, as the report prints it


@pytest.mark.parametrize("act", sorted(fb.ACTIVATIONS))
@pytest.mark.parametrize("loss", sorted(fb.LOSSES))
def test_every_activation_and_loss_passes_in_float32(act: str, loss: str) -> None:
    """float32 backprop against float64 finite differences (looser TOLERANCES['float32'])."""
    spec = fb.NetworkSpec([4, 7, 5, 3], [act, act], loss, "float32")
    rng = np.random.default_rng(7)
    net = random_network(spec, rng)
    X = rng.normal(size=(12, 4))
    Y, _ = make_targets(spec, 12, rng)
    rep = fb.gradcheck(net, X, Y)
    assert rep.passed, str(rep)


def test_gradcheck_detects_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: corrupt one gradient entry and it must report it."""
    spec = fb.NetworkSpec([3, 4, 1], ["tanh"], "squared")
    net = fb.Network(spec, seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=5)
    from fastbp.lowered import LoweredNetwork

    original = LoweredNetwork.loss_and_gradient

    def wrong(self, X, Y, buffers=None, params=None, sw=None):
        J = original(self, X, Y, buffers, params, sw)
        (self.grad if buffers is None else buffers.grad)[2] += 1e-3
        return J

    monkeypatch.setattr(LoweredNetwork, "loss_and_gradient", wrong)
    rep = fb.gradcheck(net, X, Y)
    assert not rep.passed
    assert rep.worst_index == 2 and rep.worst_ratio > 1
    assert "FAILED" in str(rep) and "not all within" in str(rep)


def test_report_states_the_criterion_it_applied() -> None:
    """A pass whose relative error exceeds rtol (a small entry within atol) reads as a pass."""
    rep = fb.GradcheckReport(
        passed=True, max_abs_error=3e-10, max_rel_error=1.584e-05, n_checked=10, n_params=10,
        eps=1e-6, rtol=1e-5, atol=1e-7, worst_index=3, worst_ratio=0.42,
    )  # fmt: skip
    text = str(rep)
    assert text.startswith("gradcheck PASSED: 10/10 parameters, all within ")
    assert "|g_bp - g_fd| <= atol + rtol*|g_fd| (atol 1e-07, rtol 1e-05)" in text
    assert "worst entry at 0.42 x its bound (pass: <= 1)" in text


def test_relu_kink_is_a_legitimate_disagreement() -> None:
    """With zero biases a dead layer puts z exactly at ReLU's kink: documented, not a bug."""
    spec = fb.NetworkSpec([2, 3, 3, 1], ["relu", "relu"], "squared")
    net = fb.Network(spec, init="zeros")
    W1, _ = net.layer(1)
    W1[...] = -1.0  # every hidden unit of layer 1 is dead for positive inputs -> z[2] = 0 exactly
    W3, _ = net.layer(3)
    W3[...] = 1.0
    rep = fb.gradcheck(net, np.ones((1, 2)), np.ones(1))
    assert not rep.passed


def test_gradcheck_arguments_are_validated() -> None:
    net = fb.Network(fb.NetworkSpec([2, 1]), seed=0)
    X, Y = np.ones((2, 2)), np.ones(2)
    with pytest.raises(TypeError, match="net must be a fastbp.Network"):
        fb.gradcheck("net", X, Y)
    with pytest.raises(ValueError, match="eps"):
        fb.gradcheck(net, X, Y, eps=0.0)
    with pytest.raises(ValueError, match="max_params"):
        fb.gradcheck(net, X, Y, max_params=0)
