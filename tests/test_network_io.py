"""Network.save / Network.load: bit-exact round trips, resumable training, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fastbp as fb
from fastbp.io import ModelFileError


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_bit_exact_and_keeps_history_and_optimizer(tmp_path: Path, dtype) -> None:
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 4)), rng.integers(0, 3, size=40)
    net = fb.Network(fb.NetworkSpec([4, 8, 3], ["relu"], "softmax_cross_entropy", dtype), seed=1)
    net.fit(X, Y, epochs=3, batch_size=4, optimizer="adam", lr=0.01, progress=False)
    path = tmp_path / "model.fastbp"
    net.save(path, arrays={"x_mean": np.arange(4.0)}, metadata={"note": "hi"})
    back = fb.Network.load(path)
    assert back.spec == net.spec and back.params.dtype == np.dtype(dtype)
    assert np.array_equal(back.params, net.params)
    assert back.history == net.history
    assert back.optimizer.settings() == net.optimizer.settings()
    assert np.array_equal(back.optimizer.s2, net.optimizer.s2)
    assert back.optimizer.step[0] == net.optimizer.step[0]
    assert np.array_equal(back.extras["x_mean"], np.arange(4.0))
    assert back.metadata == {"note": "hi"}
    assert np.array_equal(back.forward(X), net.forward(X))


def test_resuming_from_a_file_equals_training_straight_through(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=30)
    spec = fb.NetworkSpec([3, 6, 1], ["tanh"], "squared")
    straight = fb.Network(spec, seed=0)
    straight.fit(X, Y, epochs=4, batch_size=5, optimizer="momentum", lr=0.05, shuffle=False,
                 progress=False)  # fmt: skip
    first = fb.Network(spec, seed=0)
    first.fit(X, Y, epochs=2, batch_size=5, optimizer="momentum", lr=0.05, shuffle=False,
              progress=False)  # fmt: skip
    first.save(tmp_path / "half.fastbp")
    resumed = fb.Network.load(tmp_path / "half.fastbp")
    resumed.fit(X, Y, epochs=2, batch_size=5, optimizer="momentum", lr=0.05, shuffle=False,
                progress=False, warm_start=True)  # fmt: skip
    np.testing.assert_allclose(resumed.params, straight.params, rtol=1e-13)


def test_untrained_network_round_trips(tmp_path: Path) -> None:
    net = fb.Network(fb.NetworkSpec([2, 1]), seed=3)
    net.save(tmp_path / "n.fastbp")
    back = fb.Network.load(tmp_path / "n.fastbp")
    assert back.optimizer is None and back.history is None
    assert np.array_equal(back.params, net.params) and back.seed == 3


def test_refusals_surface_as_model_file_errors(tmp_path: Path) -> None:
    net = fb.Network(fb.NetworkSpec([2, 1]), seed=3)
    path = tmp_path / "n.fastbp"
    net.save(path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ModelFileError, match=str(path.name)):
        fb.Network.load(path)
    net.params[0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        net.save(tmp_path / "nan.fastbp")
    assert not (tmp_path / "nan.fastbp").exists()
