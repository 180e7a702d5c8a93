"""scripts/examples: each example runs end to end in its --quick form."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "scripts" / "examples"


def test_online_drift_example_tracks_the_drift_and_plots(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="the plot needs the plot extra (in dev)")
    out = tmp_path / "drift.png"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "online_drift.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    match = re.search(r"online ([0-9.]+), frozen ([0-9.]+)", proc.stdout)
    assert match, proc.stdout
    online, frozen = map(float, match.groups())
    # The target has turned a quarter period away from where the frozen copy learned it.
    assert online < 0.05 and frozen > 5 * online


def test_online_drift_stream_is_reproducible() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import online_drift
    finally:
        sys.path.remove(str(EXAMPLES))
    a, b = online_drift.run(200, 40, seed=3), online_drift.run(200, 40, seed=3)
    assert (a["online"] == b["online"]).all() and a["freeze_at"] == 10


def _dqn():
    pytest.importorskip("gymnasium", reason="the DQN example needs the rl extra (in dev)")
    sys.path.insert(0, str(EXAMPLES))
    try:
        import dqn_cartpole
    finally:
        sys.path.remove(str(EXAMPLES))
    return dqn_cartpole


def test_dqn_cartpole_fastbp_learns_steps_and_is_reproducible() -> None:
    dqn = _dqn()
    short = dqn.Settings(steps=400, learning_starts=100, target_every=50, eps_steps=200, last=5)
    a, b = dqn.run("fastbp", short, seed=3), dqn.run("fastbp", short, seed=3)
    assert a["episodes"] >= 2 and a["ends"][-1] <= short.steps
    assert np.array_equal(a["returns"], b["returns"]) and a["final"] == b["final"]
    assert np.isfinite(a["final"]) and a["steps_per_s"] > 0


def test_dqn_cartpole_agents_take_the_same_adam_steps() -> None:
    """fastbp's all-outputs squared loss with Y = Q(s, ·) except the taken action gives the
    gradient of PyTorch's gather + mse_loss, so three Adam steps agree to float32 rounding."""
    dqn = _dqn()
    pytest.importorskip("torch", reason="the PyTorch agent needs torch (in dev)")
    import fastbp as fb

    settings = dqn.Settings()
    rng = np.random.default_rng(0)
    replay = dqn.Replay(200, settings.batch)
    for _ in range(200):
        s, s2 = rng.normal(size=(2, 4)).astype(np.float32)
        replay.add(s, int(rng.integers(2)), 1.0, float(rng.choice([0.0, 0.99])), s2)
    net = fb.Network(dqn.q_spec(), seed=5)
    mine = dqn.FastbpAgent(net.copy(), replay, settings)
    theirs = dqn.TorchAgent(net, replay, settings)
    for _ in range(3):
        replay.sample(rng)
        mine.learn()
        theirs.learn()
    after = fb.Network.from_torch(theirs.model, loss="squared")
    assert not np.allclose(mine.net.params, net.params)  # it moved ...
    np.testing.assert_allclose(after.params, mine.net.params, rtol=1e-4, atol=1e-6)  # ... alike


def test_dqn_cartpole_script_prints_the_speeds(capsys) -> None:
    dqn = _dqn()
    dqn.main(["--agent", "fastbp", "--steps", "300", "--seeds", "2"])
    out = capsys.readouterr().out
    assert re.search(r"fastbp: median \d+ steps/s over 2 runs", out), out
