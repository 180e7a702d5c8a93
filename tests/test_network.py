"""Network construction, initialisation, parameters, repr and boundary checks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import fastbp as fb


def small(loss: str = "squared", dtype: str = "float64", nr: int = 1) -> fb.Network:
    return fb.Network(fb.NetworkSpec([3, 5, nr], ["tanh"], loss, dtype), seed=0)


def test_repr_and_basic_properties() -> None:
    net = small()
    assert repr(net) == (
        "Network(NetworkSpec(widths=[3, 5, 1], activations=['tanh'], loss='squared', "
        "dtype='float64'), n_params=26, init='xavier_normal', seed=0)"
    )
    assert net.params.shape == (26,)


@pytest.mark.parametrize("init", sorted(fb.INITIALISERS))
def test_same_seed_gives_bit_identical_parameters(init: str) -> None:
    spec = fb.NetworkSpec([20, 30, 10], ["relu"], "squared")
    a, b = fb.Network(spec, init=init, seed=5), fb.Network(spec, init=init, seed=5)
    assert np.array_equal(a.params, b.params)
    for k in (1, 2):
        assert not net_layer_bias(a, k).any()  # biases start at 0


def net_layer_bias(net: fb.Network, k: int) -> np.ndarray:
    return net.layer(k)[1]


@pytest.mark.parametrize(
    ("init", "variance"),
    [
        ("xavier_normal", lambda i, o: 2 / (i + o)),
        ("xavier_uniform", lambda i, o: 2 / (i + o)),
        ("he_normal", lambda i, o: 2 / i),
        ("he_uniform", lambda i, o: 2 / i),
        ("normal", lambda i, o: 1.0),
    ],
)
def test_initialisers_have_their_stated_variance(init: str, variance) -> None:
    spec = fb.NetworkSpec([300, 500, 200], ["relu"], "squared")
    net = fb.Network(spec, init=init, seed=1)
    for k in (1, 2):
        W, _ = net.layer(k)
        n_in, n_out = spec.widths[k - 1], spec.widths[k]
        # 60k-150k samples: the sample variance is within ~3% of the truth at 5 sigma.
        assert W.var() == pytest.approx(variance(n_in, n_out), rel=0.03)
        assert abs(W.mean()) < 0.02 * np.sqrt(variance(n_in, n_out)) * 10


def test_zeros_init_and_different_seeds_differ() -> None:
    spec = fb.NetworkSpec([4, 4, 1], ["relu"])
    assert not fb.Network(spec, init="zeros").params.any()
    assert not np.array_equal(fb.Network(spec, seed=1).params, fb.Network(spec, seed=2).params)
    gen = np.random.default_rng(3)
    assert np.array_equal(fb.Network(spec, seed=gen).params, fb.Network(spec, seed=3).params)


def test_constructor_errors() -> None:
    with pytest.raises(TypeError, match="spec must be a NetworkSpec"):
        fb.Network([3, 1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="init = 'glorot' is unknown"):
        fb.Network(fb.NetworkSpec([3, 1]), init="glorot")


def test_params_setter_copies_into_the_buffer_and_validates() -> None:
    net = small()
    buf = net.params
    net.params = np.ones(26, dtype=np.float32)
    assert net.params is buf and (buf == 1).all()
    with pytest.raises(ValueError, match="flat array of 26"):
        net.params = np.ones(25)
    with pytest.raises(ValueError, match="NaN or inf"):
        net.params = np.full(26, np.nan)
    with pytest.raises(TypeError, match="params has dtype int64"):
        net.params = np.ones(26, dtype=np.int64)


def test_copy_is_independent() -> None:
    net = small()
    other = net.copy()
    other.params[0] += 1
    assert net.params[0] != other.params[0]
    assert other.spec == net.spec


def test_non_finite_parameters_are_refused_before_any_kernel_runs() -> None:
    net = small()
    net.params[3] = np.inf
    with pytest.raises(ValueError, match="parameters contain NaN or inf"):
        net.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="parameters contain NaN or inf"):
        net.loss_and_gradient(np.ones((2, 3)), np.ones(2))


def test_concurrent_use_of_one_network_raises_clearly() -> None:
    net = small()
    X = np.ones((2, 3))
    results = []
    with net.lowered.exclusive():  # another thread holds the network's workspaces
        t = threading.Thread(target=lambda: results.append(_try(net.forward, X)))
        t.start()
        t.join()
    assert isinstance(results[0], RuntimeError) and "another thread" in str(results[0])
    assert net.forward(X).shape == (2, 1)


def _try(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - returned to the test for inspection
        return exc


def test_softmax_outputs_are_probabilities_and_logistic_in_unit_interval() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3)) * 50
    p = small("softmax_cross_entropy", nr=4).forward(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p >= 0).all()
    q = small("logistic", nr=2).forward(X)
    assert ((q >= 0) & (q <= 1)).all()


def test_losses_are_stable_for_huge_logits() -> None:
    net = fb.Network(fb.NetworkSpec([1, 2], [], "softmax_cross_entropy"), init="zeros")
    net.params = np.array([1000.0, -1000.0, 0.0, 0.0])
    # z = [1000, -1000]; label 1 -> J = logsumexp(z) - z_1 = 2000 exactly, no overflow.
    assert net.loss(np.ones((1, 1)), np.array([1])) == pytest.approx(2000.0)
    lnet = fb.Network(fb.NetworkSpec([1, 1], [], "logistic"), init="zeros")
    lnet.params = np.array([800.0, 0.0])
    assert lnet.loss(np.ones((1, 1)), np.array([0.0])) == pytest.approx(800.0)


def test_networks_that_cannot_fit_in_memory_are_refused_before_allocating(monkeypatch) -> None:
    from fastbp import lowered

    monkeypatch.setattr(lowered, "physical_memory_bytes", lambda: 2**20)  # a 1 MiB machine
    spec = fb.NetworkSpec([256, 256, 1], ["relu"])  # 66,049 parameters × 4 arrays × 8 bytes ≈ 2 MiB
    with pytest.raises(ValueError, match=r"need 0.0 GiB .*more than this machine's"):
        fb.Network(spec)
    monkeypatch.setattr(lowered, "physical_memory_bytes", lambda: None)  # unknown: allowed
    assert fb.Network(spec).n_params == 66_049


def test_save_checks_include_optimizer_state(tmp_path) -> None:
    with pytest.raises(TypeError, match="include_optimizer_state must be True or False"):
        small().save(tmp_path / "n.fastbp", include_optimizer_state="yes")


def test_python_children_import_the_checkout_under_test(tmp_path):
    """A child started from another folder (even a script's own folder) imports this checkout."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "where.py"
    script.write_text("import fastbp, pathlib; print(pathlib.Path(fastbp.__file__).resolve())\n")
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout.strip()
    assert Path(out) == Path(fb.__file__).resolve()
