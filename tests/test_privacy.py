"""DP-SGD (``fit``/``partial_fit(..., max_grad_norm=C, noise_multiplier=σ)``, fastbp.privacy).

Every compiled DP step is checked against :func:`fastbp.reference.dp_sgd_epoch` (per-example
gradients by the pure-Python backward pass, clipped by Opacus's factor, summed, noised with the
same standard normals, averaged) on random architectures in both dtypes, at the suite's
tolerances (conftest.TOL: 1e-10 in float64, summation order only; 2e-4 in float32, a few steps'
rounding).  The clipping norm is set between the examples' gradient norms, so that some are
clipped and some are not.  Opacus itself is compared in tests/test_opacus_peer.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_close, make_targets, random_case, random_network

import fastbp as fb
from fastbp import privacy, reference
from fastbp.history import History
from fastbp.per_example import per_example_norms


def _dp_case(case: int):
    spec, m = random_case(case)
    m = max(m, 3)
    rng = np.random.default_rng(case)
    net = random_network(spec, rng)
    X = rng.normal(size=(m, spec.n_inputs))
    Y, Y_dense = make_targets(spec, m, rng)
    norms = per_example_norms(net, X.astype(spec.np_dtype), Y)
    C = float(np.median(norms))  # about half the examples clipped
    return spec, net, X, Y, Y_dense, C if C > 0 else 1.0, norms


@pytest.mark.parametrize("case", range(12))
def test_dp_epoch_matches_the_reference(case):
    spec, net, X, Y, Y_dense, C, norms = _dp_case(case)
    m = X.shape[0]
    batch_size = min(m, (1, 5, 24, 40)[case % 4])
    sigma = (0.0, 0.7)[case % 2 == 0]
    lr, l2, seed = 0.05, (0.0, 1e-2)[case % 4 == 1], 100 + case
    theta0 = net.params.astype(np.float64).tolist()
    batches = -(-m // batch_size)
    noise = privacy.noise_rows(privacy.DPSettings(C, sigma), privacy.noise_generator(seed),
                               batches, net.n_params, spec.np_dtype)  # fmt: skip
    history = net.fit(X, Y, epochs=1, batch_size=batch_size, lr=lr, l2=l2, shuffle=False,
                      seed=seed, progress=False, max_grad_norm=C,
                      noise_multiplier=sigma)  # fmt: skip
    want = reference.dp_sgd_epoch(
        theta0, spec.widths, spec.activations, spec.loss, X.tolist(), Y_dense.tolist(), lr,
        batch_size, C, privacy.opacus_rate(m, batch_size)[1], sigma,
        noise.astype(np.float64).tolist(), l2,
    )  # fmt: skip
    assert_close(net.params, want, spec.dtype, f"case {case}: {spec}")
    assert history.privacy["steps"] == batches
    assert history.privacy["sample_rate"] == 1 / batches
    if batches == 1:  # the norms at the initial parameters are the ones clipped
        assert history.privacy["clipped"] == np.sum(norms + 1e-6 > C)
    assert 0 <= history.privacy["clipped"] <= m


def test_a_large_clipping_norm_is_ordinary_minibatch_sgd():
    """C above every gradient norm clips nothing: the DP kernel is then the plain minibatch
    step (compared to 1e-12: the two kernels sum in other orders)."""
    spec = fb.NetworkSpec([6, 10, 3], ["tanh"], "softmax_cross_entropy")
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(64, 6)), rng.integers(0, 3, size=64)
    a, b = fb.Network(spec, seed=2), fb.Network(spec, seed=2)
    kw = dict(epochs=3, batch_size=16, lr=0.1, optimizer="adam", seed=4, progress=False)
    ha = a.fit(X, y, **kw)
    hb = b.fit(X, y, max_grad_norm=1e6, **kw)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-12)
    assert hb.privacy["clipped"] == 0 and hb.privacy["steps"] == 12


def test_every_gradient_is_clipped_to_the_norm():
    """With C far below every norm and one row per batch, each SGD step moves θ by exactly α C
    (σ = 0, no L2): the clipped gradient has norm C (up to the 1e-6 guard)."""
    spec = fb.NetworkSpec([4, 7, 2], ["relu"], "squared")
    rng = np.random.default_rng(3)
    net = fb.Network(spec, seed=0)
    X, Y = rng.normal(size=(1, 4)), rng.normal(size=(1, 2)) + 5.0
    before = net.params.copy()
    C, lr = 1e-3, 0.5
    net.fit(X, Y, epochs=1, batch_size=1, lr=lr, max_grad_norm=C, progress=False)
    assert per_example_norms(fb.Network(spec, seed=0), X, Y)[0] > 1e3 * C
    g = np.linalg.norm(net.params - before) / lr
    assert math.isclose(g, C, rel_tol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_partial_fit_with_dp_is_one_fit_epoch(dtype):
    spec = fb.NetworkSpec([5, 9, 2], ["sigmoid"], "squared", dtype)
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(40, 5)), rng.normal(size=(40, 2))
    a, b = fb.Network(spec, seed=1), fb.Network(spec, seed=1)
    dp = dict(max_grad_norm=0.3, noise_multiplier=1.1)
    a.fit(X, Y, epochs=1, batch_size=8, lr=0.05, shuffle=False, seed=7, progress=False, **dp)
    loss = b.partial_fit(X, Y, lr=0.05, batch_size=8, seed=7, **dp)
    np.testing.assert_array_equal(b.params, a.params)  # the same kernel and noise: to the bit
    assert loss == a.history.loss[0]


def test_noise_is_seeded_and_fresh_without_a_seed():
    spec = fb.NetworkSpec([3, 4, 1], ["tanh"], "squared")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(32, 3)), rng.normal(size=(32, 1))
    runs = []
    for seed in (0, 0, None, None):
        net = fb.Network(spec, seed=1)
        net.fit(X, Y, epochs=2, batch_size=8, lr=0.05, seed=seed, progress=False,
                max_grad_norm=1.0, noise_multiplier=1.0)  # fmt: skip
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[2], runs[3])
    # partial_fit's default draws fresh noise on every call
    a, b = fb.Network(spec, seed=1), fb.Network(spec, seed=1)
    for net in (a, b):
        net.partial_fit(X, Y, lr=0.05, batch_size=8, max_grad_norm=1.0, noise_multiplier=1.0)
    assert not np.array_equal(a.params, b.params)
    # the noise has the standard deviation σ C / m: one step of lr 1 from a zero gradient
    zero = fb.Network(fb.NetworkSpec([3, 200], [], "squared"), init="zeros")
    Xz, Yz = np.zeros((4, 3)), np.zeros((4, 200))
    zero.fit(Xz, Yz, epochs=1, batch_size=4, lr=1.0, max_grad_norm=2.0, noise_multiplier=3.0,
             shuffle=False, progress=False)  # fmt: skip
    step = zero.params  # 600 weights and 200 biases, all pure noise
    assert abs(float(np.std(step)) / (3.0 * 2.0 / 4) - 1) < 0.1


def test_bad_settings_are_refused_before_anything_changes():
    spec = fb.NetworkSpec([3, 4, 1], ["tanh"], "squared")
    net = fb.Network(spec, seed=1)
    X, Y = np.ones((8, 3)), np.ones((8, 1))
    before = net.params.copy()
    for kwargs, err, match in [
        ({"noise_multiplier": 1.0}, ValueError, "needs max_grad_norm"),
        ({"max_grad_norm": 0.0}, ValueError, "max_grad_norm"),
        ({"max_grad_norm": -1.0}, ValueError, "max_grad_norm"),
        ({"max_grad_norm": math.nan}, ValueError, "max_grad_norm"),
        ({"max_grad_norm": "1"}, TypeError, "max_grad_norm"),
        ({"max_grad_norm": 1.0, "noise_multiplier": math.inf}, ValueError, "noise_multiplier"),
        ({"max_grad_norm": 1.0, "sample_weight": np.ones(8)}, ValueError, "sample_weight"),
    ]:
        with pytest.raises(err, match=match):
            net.fit(X, Y, epochs=1, progress=False, **kwargs)
        assert net.history is None
    with pytest.raises(ValueError, match="needs max_grad_norm"):
        net.partial_fit(X, Y, noise_multiplier=0.5)
    with pytest.raises(TypeError, match="seed"):
        net.partial_fit(X, Y, max_grad_norm=1.0, seed="x")
    np.testing.assert_array_equal(net.params, before)


def test_a_diverging_dp_fit_keeps_the_last_good_parameters():
    spec = fb.NetworkSpec([3, 8, 1], ["relu"], "squared")
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(64, 3)), rng.normal(size=(64, 1))
    net = fb.Network(spec, seed=0)
    net.fit(X, Y, epochs=1, batch_size=8, lr=0.01, max_grad_norm=1.0, progress=False)
    good = net.params.copy()
    with pytest.raises(fb.FitDivergedError, match="diverged"):
        net.fit(X, Y, epochs=3, batch_size=8, lr=1e150, max_grad_norm=1.0, noise_multiplier=1e150,
                warm_start=True, progress=False)  # fmt: skip
    np.testing.assert_array_equal(net.params, good)


def test_epsilon_is_opacus_rdp_accountant():
    from opacus.accountants import RDPAccountant

    spec = fb.NetworkSpec([3, 4, 1], ["tanh"], "squared")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(100, 3)), rng.normal(size=(100, 1))
    net = fb.Network(spec, seed=1)
    history = net.fit(X, Y, epochs=3, batch_size=10, lr=0.05, max_grad_norm=1.0,
                      noise_multiplier=1.3, progress=False)  # fmt: skip
    accountant = RDPAccountant()
    for _ in range(30):
        accountant.step(noise_multiplier=1.3, sample_rate=0.1)
    assert history.privacy["steps"] == 30
    assert math.isclose(history.epsilon(1e-5), accountant.get_epsilon(1e-5), rel_tol=1e-12)
    assert privacy.epsilon(1.3, 0.1, 30, 1e-5) == history.epsilon(1e-5)
    assert privacy.epsilon(0.0, 0.1, 30, 1e-5) == math.inf  # no noise, no privacy
    assert privacy.epsilon(1.0, 0.1, 0, 1e-5) == 0.0
    # the record survives the model file
    back = History.from_dict(history.to_dict())
    assert back.privacy == history.privacy and back.epsilon(1e-5) == history.epsilon(1e-5)
    with pytest.raises(ValueError, match="not of a DP-SGD fit"):
        History().epsilon(1e-5)
    with pytest.raises(ValueError, match="lacks"):
        History(privacy={"steps": 3}).epsilon(1e-5)
    with pytest.raises(ValueError, match="history field 'privacy'"):
        History.from_dict({"privacy": [1, 2]})
    for args in [(1.0, 1.5, 3, 1e-5), (1.0, 0.1, 3, 1.0), (1.0, 0.1, -1, 1e-5)]:
        with pytest.raises(ValueError):
            privacy.epsilon(*args)


def test_noise_blocks_do_not_depend_on_the_chunking(monkeypatch):
    """Several compiled calls per epoch (a small noise block) give the same run to the bit as
    one call per epoch: the noise thread draws each call's rows in order from one stream."""
    spec = fb.NetworkSpec([4, 6, 2], ["tanh"], "squared")
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(45, 4)), rng.normal(size=(45, 2))  # 7 batches of 7, the last short
    kw = dict(epochs=3, batch_size=7, lr=0.05, seed=3, progress=False, max_grad_norm=0.5,
              noise_multiplier=0.8, optimizer="momentum")  # fmt: skip
    one = fb.Network(spec, seed=1)
    h1 = one.fit(X, Y, **kw)
    monkeypatch.setattr(privacy, "NOISE_BLOCK_ELEMENTS", 2 * one.n_params)  # 2 batches a call
    many = fb.Network(spec, seed=1)
    h2 = many.fit(X, Y, **kw)
    np.testing.assert_array_equal(many.params, one.params)
    assert h1.privacy == h2.privacy and h2.privacy["steps"] == 21


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_estimators_train_by_dp_sgd(kind, monkeypatch):
    """An estimator's DP epoch (plain SGD, no shuffling, α = 0) is the reference's, from the
    parameters it starts with; settings the DP path cannot take are refused."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from fastbp.sklearn import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 4))
    if kind == "regressor":
        y = rng.normal(size=(50, 2))
        est = MLPRegressor((6,), activation="tanh", solver="sgd", momentum=0.0, alpha=0.0,
                           batch_size=8, learning_rate_init=0.05, shuffle=False, max_iter=1,
                           warm_start=True, random_state=0)  # fmt: skip
        Y_dense = y
    else:
        y = rng.integers(0, 3, size=50)
        est = MLPClassifier((6,), activation="tanh", solver="sgd", momentum=0.0, alpha=0.0,
                            batch_size=8, learning_rate_init=0.05, shuffle=False, max_iter=1,
                            warm_start=True, random_state=0)  # fmt: skip
        Y_dense = np.eye(3)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)  # one ordinary epoch: the starting point
        spec = est.network_.spec
        theta0 = est.network_.params.tolist()
        C = float(np.median(per_example_norms(est.network_, X, Y_dense if kind == "regressor"
                                              else y)))  # fmt: skip
        est.set_params(max_grad_norm=C)
        est.fit(X, y)  # warm start: one DP epoch
    want = reference.dp_sgd_epoch(
        theta0,
        spec.widths,
        spec.activations,
        spec.loss,
        X.tolist(),
        Y_dense.tolist(),
        0.05,
        8,
        C,
        privacy.opacus_rate(50, 8)[1],
    )
    assert_close(est.network_.params, want, spec.dtype, kind)
    # noise: seeded by random_state, and partial_fit does not repeat it call after call
    est.set_params(noise_multiplier=1.0, warm_start=False, max_iter=2)
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        runs.extend(est.fit(X, y).network_.params.copy() for _ in range(2))
        np.testing.assert_array_equal(runs[0], runs[1])
        import fastbp.sklearn._base as base

        seeds = []

        def spy(seed, *keys):
            seeds.append((seed, *keys))
            return privacy.noise_generator(seed, *keys)

        monkeypatch.setattr(base, "noise_generator", spy)
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    # the same random_state on each call, but the samples seen so far differ: other noise
    assert seeds[0][0] == seeds[1][0] and seeds[0] != seeds[1]
    with pytest.raises(ValueError, match="stochastic solver"):
        est.set_params(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="needs max_grad_norm"):
        est.set_params(solver="sgd", max_grad_norm=None).fit(X, y)
    est.set_params(max_grad_norm=1.0)
    assert est.to_sklearn().get_params()["solver"] == "sgd"  # conversion drops the DP settings
