"""Training: compiled epochs against plain reference implementations of each update rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_targets, random_network

import fastbp as fb
from fastbp import reference
from fastbp import train as train_mod


def _problem(loss: str, act: str, dtype: str = "float64", n: int = 11, seed: int = 0):
    nr = 3 if loss == "softmax_cross_entropy" else 2
    spec = fb.NetworkSpec([4, 6, 5, nr], [act, act], loss, dtype)
    rng = np.random.default_rng(seed)
    net = random_network(spec, rng)
    X = rng.normal(size=(n, 4))
    Y, Y_dense = make_targets(spec, n, rng)
    return net, X, Y, Y_dense


# Every activation × loss without L2, and the L2 kernel (the generated ``sgd_epoch_l2``, whose
# step differs from ``sgd_epoch``'s only in the λ W term) with every loss for a piecewise-linear,
# a saturating and a curved activation: each pair compiles its own kernel, and the full product
# with both λ cost CI minutes without covering more code.
LECTURE_CASES = [(act, loss, 0.0) for act in sorted(fb.ACTIVATIONS) for loss in sorted(fb.LOSSES)]
LECTURE_CASES += [
    (act, loss, 0.05) for act in ("relu", "tanh", "gelu") for loss in sorted(fb.LOSSES)
]


@pytest.mark.parametrize(("act", "loss", "l2"), LECTURE_CASES)
def test_per_example_sgd_epoch_is_the_lectures_update(act: str, loss: str, l2: float) -> None:
    net, X, Y, Y_dense = _problem(loss, act)
    theta0 = net.params.tolist()
    net.fit(X, Y, epochs=1, batch_size=1, optimizer="sgd", lr=0.05, l2=l2, shuffle=False,
            progress=False)  # fmt: skip
    expected = reference.sgd_epoch(
        theta0, net.spec.widths, net.spec.activations, loss, X.tolist(), Y_dense.tolist(),
        lr=0.05, l2=l2,
    )  # fmt: skip
    np.testing.assert_allclose(net.params, expected, rtol=1e-12, atol=1e-14)


def test_per_example_sgd_with_shuffle_follows_the_seeded_order() -> None:
    net, X, Y, Y_dense = _problem("squared", "tanh")
    theta0 = net.params.tolist()
    net.fit(X, Y, epochs=2, batch_size=1, lr=0.05, shuffle=True, seed=4, progress=False)
    rng = np.random.default_rng(4)
    theta = theta0
    for _ in range(2):
        order = rng.permutation(np.arange(len(X))).tolist()
        theta = reference.sgd_epoch(theta, net.spec.widths, net.spec.activations, "squared",
                                    X.tolist(), Y_dense.tolist(), lr=0.05, order=order)  # fmt: skip
    np.testing.assert_allclose(net.params, theta, rtol=1e-12, atol=1e-14)


def _reference_minibatch(net, X, Y_dense, epochs, batch_size, name, lr, mu, l2,
                         beta1=0.9, beta2=0.999, eps=1e-8):  # fmt: skip
    """Plain-Python minibatch training with the update formulas written out."""
    spec = net.spec
    theta = net.params.tolist()
    mask = reference.weight_mask(spec.widths)
    v = [0.0] * len(theta)
    s = [0.0] * len(theta)
    t = 0
    for _ in range(epochs):
        for lo in range(0, len(X), batch_size):
            xb, yb = X[lo : lo + batch_size].tolist(), Y_dense[lo : lo + batch_size].tolist()
            g = reference.loss_and_gradient(theta, spec.widths, spec.activations, spec.loss,
                                            xb, yb).grad  # fmt: skip
            g = [g[q] + l2 * mask[q] * theta[q] for q in range(len(g))]
            t += 1
            for q in range(len(theta)):
                if name == "sgd":
                    theta[q] -= lr * g[q]
                elif name == "momentum":
                    v[q] = mu * v[q] - lr * g[q]
                    theta[q] += v[q]
                elif name == "nesterov":
                    v[q] = mu * v[q] - lr * g[q]
                    theta[q] += mu * v[q] - lr * g[q]
                else:
                    v[q] = beta1 * v[q] + (1 - beta1) * g[q]
                    s[q] = beta2 * s[q] + (1 - beta2) * g[q] ** 2
                    m_hat = v[q] / (1 - beta1**t)
                    s_hat = s[q] / (1 - beta2**t)
                    theta[q] -= lr * m_hat / (math.sqrt(s_hat) + eps)
    return theta


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("batch_size", [1, 4, 20])
@pytest.mark.parametrize("loss", sorted(fb.LOSSES))
def test_optimizers_match_their_formulas(name: str, batch_size: int, loss: str) -> None:
    net, X, Y, Y_dense = _problem(loss, "tanh", n=23)  # 23 = 5 batches of 4 + a short one of 3
    if batch_size == 20:
        net.lowered.blas_min_rows = 1  # the BLAS path inside the epoch kernel
    lr = 0.01 if name == "adam" or loss == "poisson" else 0.05  # poisson: exp output, steeper
    expected = _reference_minibatch(net, X, Y_dense, 3, batch_size, name, lr, 0.8, 0.01)
    h = net.fit(X, Y, epochs=3, batch_size=batch_size, optimizer=name, lr=lr, momentum=0.8,
                l2=0.01, shuffle=False, progress=False)  # fmt: skip
    np.testing.assert_allclose(net.params, expected, rtol=1e-10, atol=1e-12)
    assert net.optimizer.step[0] == (0 if name == "sgd" and batch_size == 1 else
                                     3 * math.ceil(23 / batch_size))  # fmt: skip
    assert len(h) == 3 and all(np.isfinite(h.loss))


def test_minibatch_sgd_with_batch_one_equals_per_example_kernel() -> None:
    net, X, Y, _ = _problem("softmax_cross_entropy", "relu")
    other = net.copy()
    net.fit(X, Y, epochs=2, batch_size=1, optimizer="sgd", lr=0.1, progress=False)
    opt = fb.optim.Optimizer("sgd")
    # Force the general kernel by giving a momentum optimizer with mu = 0 (same update).
    other.fit(X, Y, epochs=2, batch_size=1, optimizer=fb.optim.Optimizer("momentum", momentum=0),
              lr=0.1, progress=False)  # fmt: skip
    np.testing.assert_allclose(net.params, other.params, rtol=1e-12, atol=1e-14)
    assert opt.name == "sgd"


def test_float32_training_tracks_float64() -> None:
    net64, X, Y, _ = _problem("squared", "sigmoid")
    spec32 = fb.NetworkSpec(net64.spec.widths, net64.spec.activations, "squared", "float32")
    net32 = fb.Network(spec32, init="zeros")
    net32.params = net64.params
    for net in (net32, net64):
        net.fit(X, Y, epochs=3, batch_size=2, optimizer="momentum", lr=0.05, progress=False)
    np.testing.assert_allclose(net32.params, net64.params, rtol=1e-3, atol=1e-4)
    assert net32.params.dtype == np.float32


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("constant", [0.1] * 6),
        ("invscaling", [0.1 / (e + 1) ** 0.5 for e in range(6)]),
        (fb.optim.Schedule("step", step_size=2, gamma=0.5), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
        ("cosine", [0.05 * (1 + math.cos(math.pi * e / 6)) for e in range(6)]),
    ],
)
def test_schedules_produce_the_documented_rates(schedule, expected) -> None:
    net, X, Y, _ = _problem("squared", "tanh")
    h = net.fit(X, Y, epochs=6, lr=0.1, schedule=schedule, progress=False)
    np.testing.assert_allclose(h.lr, expected, rtol=1e-15)


def test_early_stopping_restores_the_best_parameters() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    Y = rng.normal(size=60)  # pure noise: the validation loss soon stops improving
    spec = fb.NetworkSpec([4, 32, 1], ["tanh"], "squared")
    net = fb.Network(spec, seed=0)
    h = net.fit(X, Y, epochs=200, lr=0.05, validation_fraction=0.25, early_stopping=True,
                patience=3, progress=False)  # fmt: skip
    assert h.stopped_early and h.best_epoch is not None
    assert len(h) == h.best_epoch + 3
    assert h.val_loss[h.best_epoch - 1] == min(h.val_loss)
    replay = fb.Network(spec, seed=0)
    replay.fit(X, Y, epochs=h.best_epoch, lr=0.05, validation_fraction=0.25, progress=False)
    assert np.array_equal(net.params, replay.params)


def test_divergence_restores_the_last_good_epoch() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    Y = rng.normal(size=40) * 10
    spec = fb.NetworkSpec([3, 8, 1], ["relu"], "squared")
    # lr 0.001 for epochs 1-2, then x 1e8: epoch 3 diverges.
    blowup = fb.optim.Schedule("step", step_size=2, gamma=1e8)
    net = fb.Network(spec, seed=0)
    with pytest.raises(
        fb.FitDivergedError, match="diverged in epoch 3.*smaller learning rate"
    ) as e:
        net.fit(X, Y, epochs=5, lr=0.001, schedule=blowup, progress=False)
    assert e.value.epoch == 3 and len(e.value.history) == 2 and e.value.history.diverged
    assert np.isfinite(net.params).all()
    good = fb.Network(spec, seed=0)
    good.fit(X, Y, epochs=2, lr=0.001, schedule=blowup, progress=False)
    assert np.array_equal(net.params, good.params)


@pytest.mark.parametrize("batch_size", [1, 8])
def test_keyboard_interrupt_keeps_the_last_completed_epoch(monkeypatch, batch_size) -> None:
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=30)
    spec = fb.NetworkSpec([3, 8, 1], ["tanh"], "squared")
    calls = {"n": 0}

    def interrupting(real):
        def kernel(*args):
            real(*args)  # the epoch's updates happen ...
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt  # ... and Ctrl-C arrives right after, in epoch 3

        return kernel

    monkeypatch.setattr(train_mod.ek, "sgd_example_epoch",
                        interrupting(train_mod.ek.sgd_example_epoch))  # fmt: skip
    # Minibatch epochs run the compiled variant minibatch_kernel picks for the fit.
    pick = train_mod.ek.minibatch_kernel
    monkeypatch.setattr(train_mod.ek, "minibatch_kernel", lambda *a: interrupting(pick(*a)))
    # Per-example SGD runs the spec-specialised kernel through this dispatch function.
    monkeypatch.setattr(train_mod, "sgd_example_epoch_dispatch",
                        interrupting(train_mod.sgd_example_epoch_dispatch))  # fmt: skip
    net = fb.Network(spec, seed=0)
    h = net.fit(X, Y, epochs=10, batch_size=batch_size, optimizer="adam", lr=0.01, progress=False)
    monkeypatch.undo()
    assert h.interrupted and len(h) == 2
    reference_net = fb.Network(spec, seed=0)
    reference_net.fit(X, Y, epochs=2, batch_size=batch_size, optimizer="adam", lr=0.01,
                      progress=False)  # fmt: skip
    assert np.array_equal(net.params, reference_net.params)
    assert np.array_equal(net.optimizer.s1, reference_net.optimizer.s1)


def test_seeded_fits_are_bit_identical() -> None:
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(50, 5)), rng.integers(0, 3, size=50)
    spec = fb.NetworkSpec([5, 16, 3], ["relu"], "softmax_cross_entropy", "float32")
    runs = []
    for seed in (7, 7, 8):
        net = fb.Network(spec, seed=1)
        net.fit(X, Y, epochs=3, batch_size=4, optimizer="adam", lr=0.01, seed=seed,
                validation_fraction=0.2, progress=False)  # fmt: skip
        runs.append(net.params.copy())
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_warm_start_continues_the_optimizer_state() -> None:
    net, X, Y, _ = _problem("squared", "tanh")
    once = net.copy()
    once.fit(X, Y, epochs=4, batch_size=3, optimizer="adam", lr=0.01, shuffle=False,
             progress=False)  # fmt: skip
    twice = net.copy()
    for _ in range(2):
        twice.fit(X, Y, epochs=2, batch_size=3, optimizer="adam", lr=0.01, shuffle=False,
                  progress=False, warm_start=True)  # fmt: skip
    np.testing.assert_allclose(twice.params, once.params, rtol=1e-12)
    cold = net.copy()
    for _ in range(2):
        cold.fit(X, Y, epochs=2, batch_size=3, optimizer="adam", lr=0.01, shuffle=False,
                 progress=False)  # fmt: skip
    assert not np.allclose(cold.params, once.params, rtol=1e-12)


def test_history_records_every_epoch_and_progress_output(capsys) -> None:
    net, X, Y, _ = _problem("softmax_cross_entropy", "relu", n=40)
    h = net.fit(X, Y, epochs=3, validation_fraction=0.25, progress=True)
    assert h.epoch == [1, 2, 3] and len(h.loss) == len(h.val_loss) == len(h.val_score) == 3
    assert all(v > 0 for v in h.examples_per_s) and all(0 <= s <= 1 for s in h.val_score)
    assert "3/3" in capsys.readouterr().err
    assert net.history is h and "3 epochs" in repr(h)
    assert fb.train.History.from_dict(h.to_dict()) == h


def test_predict_score_and_proba() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 2))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    clf = fb.Network(fb.NetworkSpec([2, 16, 3], ["tanh"], "softmax_cross_entropy"), seed=0)
    clf.fit(X, labels, epochs=30, batch_size=8, optimizer="adam", lr=0.01, progress=False)
    assert clf.predict(X).shape == (200,) and clf.predict(X).dtype == np.int64
    assert clf.score(X, labels) == np.mean(clf.predict(X) == labels) > 0.9
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
    reg = fb.Network(fb.NetworkSpec([2, 16, 1], ["tanh"], "squared"), seed=0)
    y = X[:, 0] - 2 * X[:, 1]
    reg.fit(X, y, epochs=30, batch_size=8, optimizer="adam", lr=0.01, progress=False)
    assert reg.score(X, y) > 0.9 and reg.predict(X).shape == (200, 1)
    with pytest.raises(ValueError, match="predict_proba needs a classification loss"):
        reg.predict_proba(X)
    log = fb.Network(fb.NetworkSpec([2, 8, 1], ["tanh"], "logistic"), seed=0)
    log.fit(X, X[:, 0] > 0, epochs=20, batch_size=8, optimizer="adam", lr=0.02, progress=False)
    assert log.predict(X).shape == (200,) and log.score(X, X[:, 0] > 0) > 0.9


def test_r2_score_matches_its_definition() -> None:
    Y = np.array([[1.0, 2.0], [2.0, 0.0], [3.0, 1.0]])
    P = np.array([[1.5, 2.0], [2.0, 0.5], [2.0, 1.0]])
    r2_0 = 1 - (0.25 + 0 + 1) / 2.0
    r2_1 = 1 - (0 + 0.25 + 0) / 2.0
    assert train_mod.score("squared", P, Y) == pytest.approx((r2_0 + r2_1) / 2)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"lr": 0.0}, ValueError, "lr must be a finite number > 0"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"lr": "fast"}, TypeError, "lr must be a number"),
        ({"epochs": -1}, ValueError, "epochs must be >= 0"),
        ({"epochs": 2.5}, TypeError, "epochs must be an integer"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"batch_size": 11}, ValueError, r"batch_size must be between 1 and .* \(10\)"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer = 'rmsprop' is unknown"),
        ({"optimizer": 3}, TypeError, "optimizer must be a name"),
        ({"schedule": "linear"}, ValueError, "schedule = 'linear' is unknown"),
        ({"momentum": 1.0, "optimizer": "momentum"}, ValueError, r"momentum must be in \[0, 1\)"),
        ({"l2": -0.1}, ValueError, "l2"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"early_stopping": True}, ValueError, "needs validation_fraction > 0"),
        ({"patience": 0}, ValueError, "patience"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be True or False"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ],
)
def test_bad_hyper_parameters_are_refused(kwargs, exc, match) -> None:
    net = fb.Network(fb.NetworkSpec([3, 4, 1], ["relu"]), seed=0)
    before = net.params.copy()
    with pytest.raises(exc, match=match):
        net.fit(np.ones((10, 3)), np.ones(10), progress=False, **kwargs)
    assert np.array_equal(net.params, before)


def test_zero_epochs_is_a_no_op() -> None:
    net = fb.Network(fb.NetworkSpec([3, 4, 1], ["relu"]), seed=0)
    before = net.params.copy()
    h = net.fit(np.ones((10, 3)), np.ones(10), epochs=0, progress=False)
    assert len(h) == 0 and np.array_equal(net.params, before)
