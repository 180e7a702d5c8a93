"""Faults with real processes, signals and threads: nothing half-written, nothing NaN, no mix-ups.

* SIGKILL in the middle of ``save``: the previous file stays intact and loads.
* SIGINT in the middle of ``fit``: a clean exit with ``interrupted=True`` and exactly the
  parameters of the last completed epoch (compared bit for bit with a replay).
* Divergence at any epoch: the last good parameters and optimizer state come back.
* Threads: two networks trained at once equal the same runs one after the other; one network
  used from two threads either works or raises the documented RuntimeError, and a refused call
  changes nothing.

Set ``FASTBP_FAULT_RECORD=path`` to append one JSON line per scenario (used by
scripts/fuzz_report.py for the reliability table).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import fuzz_cases as fc
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbp as fb

WORKERS = Path(__file__).with_name("fault_workers.py")
POSIX = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")


def _record(scenario: str, **counts) -> None:
    path = os.environ.get("FASTBP_FAULT_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"scenario": scenario, **counts}) + "\n")


# ---------------------------------------------------------------------- SIGKILL during save
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork and SIGKILL")
def test_sigkill_during_save_never_leaves_a_broken_file(tmp_path: Path) -> None:
    trials = 20
    proc = subprocess.run(
        [sys.executable, str(WORKERS), "save-kill", str(tmp_path), str(trials), "0"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = json.loads(proc.stdout.splitlines()[-1])
    failures = counts["corrupted"] + counts["stale"]
    detail = f"{counts['mid_save']} kills landed inside a save"
    _record("SIGKILL during save", trials=counts["trials"], failures=failures, detail=detail)
    assert counts["errors"] == [], counts["errors"]
    assert counts["intact"] == trials
    assert counts["mid_save"] >= trials // 4  # the kills did land inside save, not between saves


# ---------------------------------------------------------------------- SIGINT during fit
def _check_against_replay(saved) -> None:
    """The interrupted network equals a fresh network trained for len(history) epochs."""
    assert np.isfinite(saved["params"]).all()
    np.testing.assert_array_equal(saved["params"], saved["replay_params"])
    for key in ("s1", "s2", "step"):
        np.testing.assert_array_equal(saved[f"state_{key}"], saved[f"replay_state_{key}"])


def _interrupt_fit(tmp_path: Path, batch_size: int, optimizer: str, wait_epochs: int, delay: float):
    out = tmp_path / f"fit-{batch_size}-{optimizer}.npz"
    proc = subprocess.Popen(
        [sys.executable, str(WORKERS), "fit-until-sigint", str(out), str(batch_size), optimizer],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for line in proc.stdout:
            if line.strip() == f"epoch {wait_epochs}":
                break
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stdout, stderr, out


@POSIX
@pytest.mark.parametrize(("batch_size", "optimizer"), [(1, "sgd"), (8, "adam")])
def test_sigint_during_fit_keeps_the_last_completed_epoch(tmp_path, batch_size, optimizer) -> None:
    rng = np.random.default_rng(batch_size)
    code, stdout, stderr, out = _interrupt_fit(
        tmp_path, batch_size, optimizer, wait_epochs=2, delay=float(rng.uniform(0, 0.05))
    )
    assert code == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] is True and summary["epochs"] >= 2
    _check_against_replay(np.load(out))
    _record(f"SIGINT during fit ({optimizer}, batch {batch_size})", trials=1, failures=0,
            detail=f"stopped after {summary['epochs']} epochs")  # fmt: skip


@POSIX
def test_ctrl_c_during_bookkeeping_is_deferred(monkeypatch) -> None:
    """A SIGINT that lands while fit records a finished epoch waits for the next safe point."""
    X, Y = np.random.default_rng(0).normal(size=(20, 3)), np.random.default_rng(1).normal(size=20)
    net = fb.Network(fb.NetworkSpec([3, 4, 1], ["tanh"]), seed=0)
    real_append = list.append
    fired = []

    class SignallingList(list):
        def append(self, value) -> None:  # history.loss.append, mid-bookkeeping
            if not fired:
                fired.append(True)
                os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler right away
            real_append(self, value)

    monkeypatch.setattr(fb.train, "History", _history_with(SignallingList))
    hist = net.fit(X, Y, epochs=5, progress=False)
    assert hist.interrupted and len(hist.loss) == len(hist.epoch) == len(hist.lr) == 1
    replay = fb.Network(fb.NetworkSpec([3, 4, 1], ["tanh"]), seed=0)
    replay.fit(X, Y, epochs=1, progress=False)
    np.testing.assert_array_equal(net.params, replay.params)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _history_with(list_type):
    class PatchedHistory(fb.History):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.loss = list_type()

    return PatchedHistory


@POSIX
@pytest.mark.slow
@pytest.mark.parametrize("repeat", range(4))
@pytest.mark.parametrize(("batch_size", "optimizer"), [(1, "sgd"), (16, "nesterov")])
def test_sigint_at_random_moments_of_fit(tmp_path, batch_size, optimizer, repeat) -> None:
    """More SIGINTs at random moments (16 rows per batch: the BLAS path)."""
    rng = np.random.default_rng(100 + repeat)
    code, stdout, stderr, out = _interrupt_fit(
        tmp_path, batch_size, optimizer, wait_epochs=1, delay=float(rng.uniform(0, 0.2))
    )
    assert code == 0 and "Traceback" not in stderr, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    _check_against_replay(np.load(out))
    _record(f"SIGINT at a random moment of fit ({optimizer}, batch {batch_size})", trials=1,
            failures=0, detail=f"{summary['epochs']}")  # fmt: skip


@POSIX
@pytest.mark.slow
def test_cli_train_interrupted_saves_the_last_epoch_and_exits_130(tmp_path: Path) -> None:
    model = tmp_path / "m.fastbp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastbp.cli", "train", "--dataset", "digits", "--epochs", "100000",
         "--no-progress", "--out", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for line in proc.stderr:
            if line.startswith("fastbp: Network("):
                break
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    net = fb.Network.load(model)
    assert net.history.interrupted and np.isfinite(net.params).all()
    _record("SIGINT during `fastbp train --out`", trials=1, failures=0,
            detail=f"exit 130, saved {len(net.history)} epochs")  # fmt: skip


# ---------------------------------------------------------------------- divergence
@dataclass(frozen=True)
class BlowUp(fb.optim.Schedule):
    """The base rate until epoch ``at``, then the rate times ``factor`` (1e300, inf or NaN)."""

    at: int = 0
    factor: float = 1e300

    def rate(self, lr: float, epoch: int, epochs: int) -> float:
        return lr * self.factor if epoch >= self.at else lr


_DIVERGENCE_RUNS = {"runs": 0, "diverged": 0}


@settings(fc.PROFILES[fc.profile_name()], max_examples=40)
@given(
    at=st.integers(0, 4),
    factor=st.sampled_from([1e300, 1e30, float("inf"), float("nan")]),
    optimizer=st.sampled_from(["sgd", "momentum", "nesterov", "adam"]),
    batch_size=st.sampled_from([1, 4, 16]),
    dtype=st.sampled_from(["float32", "float64"]),
    loss=st.sampled_from(["squared", "softmax_cross_entropy", "logistic"]),
)
def test_divergence_at_any_epoch_restores_the_last_good_epoch(
    at, factor, optimizer, batch_size, dtype, loss
) -> None:
    nr = 3 if loss == "softmax_cross_entropy" else 2
    spec = fb.NetworkSpec([4, 6, nr], ["tanh"], loss, dtype)
    X, Y, _ = fc.clean_data(spec, 32, at)
    kwargs = {"batch_size": batch_size, "optimizer": optimizer, "lr": 0.05, "seed": 1,
              "progress": False}  # fmt: skip
    net = fb.Network(spec, seed=0)
    _DIVERGENCE_RUNS["runs"] += 1
    schedule = BlowUp(at=at, factor=factor)
    try:
        hist = net.fit(X, Y, epochs=at + 3, schedule=schedule, **kwargs)
    except fb.FitDivergedError as exc:
        _DIVERGENCE_RUNS["diverged"] += 1
        assert exc.epoch >= at + 1 and len(exc.history) == exc.epoch - 1 and exc.history.diverged
        if not np.isfinite(factor):  # a non-finite rate is caught before the epoch runs
            assert exc.epoch == at + 1
        replay = fb.Network(spec, seed=0)
        replay.fit(X, Y, epochs=exc.epoch - 1, schedule=schedule, **kwargs)
        np.testing.assert_array_equal(net.params, replay.params)
        for key, value in replay.optimizer.state_arrays().items():
            np.testing.assert_array_equal(getattr(net.optimizer, key), value)
    else:  # the blow-up happened not to diverge (e.g. a zero gradient): still all finite
        assert not hist.diverged
    assert np.isfinite(net.params).all()
    assert all(np.isfinite(v).all() for v in net.optimizer.state_arrays().values())


def test_divergence_property_diverges_most_of_the_time() -> None:
    """The property above is not vacuous: the blow-ups do diverge."""
    if _DIVERGENCE_RUNS["runs"] == 0:
        test_divergence_at_any_epoch_restores_the_last_good_epoch()
    _record("divergence at any epoch (lr x 1e30, 1e300, inf, NaN)",
            trials=_DIVERGENCE_RUNS["runs"], failures=0,
            detail=f"{_DIVERGENCE_RUNS['diverged']} diverged and were restored")  # fmt: skip
    assert _DIVERGENCE_RUNS["diverged"] >= _DIVERGENCE_RUNS["runs"] // 2


# ---------------------------------------------------------------------- threads
def _job(seed: int, batch_size: int):
    rng = np.random.default_rng(seed)
    spec = fb.NetworkSpec([16, 64, 64, 4], ["relu", "tanh"], "squared")
    X = rng.normal(size=(3000, 16))
    return spec, X, np.tanh(X[:, :4]), {"epochs": 4, "batch_size": batch_size, "seed": seed,
                                        "optimizer": "adam", "progress": False}  # fmt: skip


def _train_concurrently(jobs: list) -> list:
    """Train one fresh network per job, all at once, one thread each."""
    nets = [fb.Network(spec, seed=0) for spec, *_ in jobs]
    results: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def train(i: int) -> None:
        _, X, Y, kw = jobs[i]
        barrier.wait()
        results[i] = (nets[i].fit(X, Y, **kw).loss, nets[i].params.copy())

    threads = [threading.Thread(target=train, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_threads_training_two_networks_equal_sequential_runs() -> None:
    jobs = [_job(1, 1), _job(2, 32)]  # per-example loops beside BLAS minibatches
    sequential = []
    for spec, X, Y, kw in jobs:
        net = fb.Network(spec, seed=0)
        sequential.append((net.fit(X, Y, **kw).loss, net.params.copy()))
    for _ in range(3):
        results = _train_concurrently(jobs)
        for (loss, params), (want_loss, want_params) in zip(results, sequential, strict=True):
            assert loss == want_loss
            np.testing.assert_array_equal(params, want_params)
    _record("two threads, two networks (bit-identical to sequential)", trials=3, failures=0,
            detail="batch-1 Adam beside 32-row (BLAS) Adam minibatches")  # fmt: skip


class _Pause(fb.optim.Schedule):
    """Holds the fit inside its epoch loop (the network locked) until released."""

    def __init__(self, inside: threading.Event, release: threading.Event) -> None:
        super().__init__("constant")
        object.__setattr__(self, "events", (inside, release))

    def rate(self, lr: float, epoch: int, epochs: int) -> float:
        if epoch == 1:
            self.events[0].set()
            self.events[1].wait(30)
        return lr


def test_calls_refused_during_another_threads_fit_change_nothing(tmp_path: Path) -> None:
    spec, X, Y, kw = _job(3, 8)
    net, twin = fb.Network(spec, seed=0), fb.Network(spec, seed=0)
    twin.fit(X, Y, **kw)
    inside, release = threading.Event(), threading.Event()
    worker = threading.Thread(target=lambda: net.fit(X, Y, schedule=_Pause(inside, release), **kw))
    worker.start()
    assert inside.wait(60)
    optimizer, history = net.optimizer, net.history
    attempts = {
        "forward": lambda: net.forward(X),
        "loss_and_gradient": lambda: net.loss_and_gradient(X, Y),
        "hvp": lambda: net.hvp(X[:4], Y[:4], np.ones(net.n_params)),
        "fit": lambda: net.fit(X, Y, epochs=1, optimizer="sgd", progress=False),
        "params setter": lambda: setattr(net, "params", np.zeros(net.n_params)),
        "save": lambda: net.save(tmp_path / "during-fit.fastbp"),
        "copy": net.copy,
    }
    refused = []
    try:
        for name, attempt in attempts.items():
            with pytest.raises(RuntimeError, match="already running a pass in another thread"):
                attempt()
            refused.append(name)
            assert net.optimizer is optimizer and net.history is history
    finally:
        release.set()
        worker.join(60)
    assert not (tmp_path / "during-fit.fastbp").exists() and list(tmp_path.iterdir()) == []
    np.testing.assert_array_equal(net.params, twin.params)
    _record("calls on a network another thread is training", trials=len(attempts),
            failures=len(attempts) - len(refused),
            detail="each refused with RuntimeError")  # fmt: skip


class _LogStart(fb.optim.Schedule):
    """Records, inside the locked fit, which fit started (so the winners can be replayed)."""

    def __init__(self, tag: int, log: list) -> None:
        super().__init__("constant")
        object.__setattr__(self, "log", (tag, log))

    def rate(self, lr: float, epoch: int, epochs: int) -> float:
        if epoch == 0:
            self.log[1].append(self.log[0])
        return lr


def test_one_network_raced_from_threads_works_or_refuses_never_corrupts() -> None:
    spec = fb.NetworkSpec([8, 32, 2], ["tanh"], "squared")
    rng = np.random.default_rng(5)
    data = [(rng.normal(size=(1000, 8)), rng.normal(size=(1000, 2))) for _ in range(4)]
    net = fb.Network(spec, seed=0)
    reference_forward = net.forward(data[0][0])
    started: list[int] = []
    outcomes = {"ok": 0, "refused": 0, "other": []}
    lock = threading.Lock()
    barrier = threading.Barrier(4)
    trainers_finished, done = [0], threading.Event()

    def worker(i: int) -> None:
        barrier.wait()
        fits = attempts = 0
        while attempts < 400 and (fits < 3 if i < 2 else not done.is_set()):
            attempts += 1
            tag = 1000 * i + attempts
            try:
                if i < 2:  # two trainers
                    X, Y = data[tag % 4]
                    net.fit(X, Y, epochs=2, batch_size=4, schedule=_LogStart(tag, started),
                            seed=tag, progress=False)  # fmt: skip
                    fits += 1
                else:  # two readers
                    out = net.forward(data[0][0])
                    assert out.shape == reference_forward.shape and np.isfinite(out).all()
                with lock:
                    outcomes["ok"] += 1
            except RuntimeError as exc:
                with lock:
                    if "already running a pass in another thread" in str(exc):
                        outcomes["refused"] += 1
                    else:
                        outcomes["other"].append(repr(exc))
            except Exception as exc:  # noqa: BLE001 - any other failure is reported
                with lock:
                    outcomes["other"].append(repr(exc))
            time.sleep(0.001 * (i + 1))  # uneven pauses, so every kind of call gets its turns
        if i < 2:
            with lock:
                trainers_finished[0] += 1
                if trainers_finished[0] == 2:
                    done.set()  # both trainers are done: stop the readers

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert outcomes["other"] == []
    replay = fb.Network(spec, seed=0)
    for tag in started:  # the fits that ran, in the order they held the network
        X, Y = data[tag % 4]
        replay.fit(X, Y, epochs=2, batch_size=4, seed=tag, progress=False)
    np.testing.assert_array_equal(net.params, replay.params)
    _record("one network raced from 4 threads", trials=outcomes["ok"] + outcomes["refused"],
            failures=0, detail=f"{outcomes['refused']} calls refused with RuntimeError, "
            f"{outcomes['ok']} ran; parameters equal a replay of the fits that ran")  # fmt: skip
