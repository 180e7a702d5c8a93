"""Concurrent reads on one network, and the clear refusal of writers that overlap anything.

Reads (forward, predict, predict_proba, loss, score, loss_and_gradient) from many threads at once
must give exactly the single-threaded results (each thread has its own workspaces).  fit,
partial_fit and params assignment are refused with RuntimeError while a read runs, and reads
are refused while they run; a refused call changes nothing.  No timing is asserted here: the
scaling of two threads is measured by ``scripts/bench_overhead.py --concurrency``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import DTYPES

import fastbp as fb

BUSY = "already running a pass in another thread"


def _network(dtype: str, loss: str = "softmax_cross_entropy") -> fb.Network:
    return fb.Network(fb.NetworkSpec([16, 64, 64, 5], ["relu", "tanh"], loss, dtype), seed=0)


def _run_threads(n_threads: int, target) -> list:
    barrier = threading.Barrier(n_threads)
    results: list = [None] * n_threads

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - returned to the test for inspection
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


@pytest.mark.parametrize("dtype", DTYPES)
def test_many_threads_read_one_network_and_get_the_single_threaded_results(dtype) -> None:
    net = _network(dtype)
    rng = np.random.default_rng(0)
    # Different batch sizes per thread: one row (the packed kernel), small loops, BLAS, and
    # more than one chunk, so the threads' workspaces have different shapes.
    sizes = [1, 3, 17, 300, 2049, 1, 64, 5]
    data = [(rng.normal(size=(m, 16)).astype(dtype), rng.integers(0, 5, size=m)) for m in sizes]

    def one_round(X, y):
        net.predict_proba(X)
        return (net.forward(X), net.predict(X), net.loss(X, y), net.score(X, y),
                net.loss_and_gradient(X, y))  # fmt: skip

    expected = [one_round(X, y) for X, y in data]

    def reads(i: int):
        return [one_round(*data[i]) for _ in range(20)]

    results = _run_threads(len(data), reads)
    for i, got in enumerate(results):
        assert not isinstance(got, Exception), got
        want = expected[i]
        for rep in got:
            np.testing.assert_array_equal(rep[0], want[0])
            np.testing.assert_array_equal(rep[1], want[1])
            assert rep[2] == want[2] and rep[3] == want[3]
            assert rep[4][0] == want[4][0]
            np.testing.assert_array_equal(rep[4][1], want[4][1])


def test_writers_are_refused_while_a_read_runs_and_change_nothing(tmp_path) -> None:
    net = _network("float64")
    X, y = np.ones((4, 16)), np.array([0, 1, 2, 3])
    net.partial_fit(X, y)
    params, optimizer, state = net.params.copy(), net.optimizer, net.optimizer.s1.copy()
    with net.lowered.shared():  # a read in progress (as if another thread were inside forward)
        attempts = {
            "fit": lambda: net.fit(X, y, epochs=1, progress=False),
            "partial_fit": lambda: net.partial_fit(X, y),
            "partial_fit one row": lambda: net.partial_fit(X[:1], y[:1]),
            "params": lambda: setattr(net, "params", np.zeros(net.n_params)),
            "trace": lambda: net.trace(X, y),
            "hvp": lambda: net.hvp(X, y, np.ones(net.n_params)),
        }
        for name, attempt in attempts.items():
            result = _run_threads(1, lambda i, a=attempt: a())[0]
            assert isinstance(result, RuntimeError), name
            assert BUSY in str(result) and "1 read(s)" in str(result), name
        # Other reads still run alongside.
        assert _run_threads(2, lambda i: net.forward(X).shape) == [(4, 5), (4, 5)]
        net.save(tmp_path / "during-read.fastbp")
    np.testing.assert_array_equal(net.params, params)
    assert net.optimizer is optimizer and np.array_equal(net.optimizer.s1, state)
    net.partial_fit(X, y)  # and once the read is over, writes work again
    assert not np.array_equal(net.params, params)


def test_reads_are_refused_while_a_writer_runs() -> None:
    net = _network("float64")
    X, y = np.ones((3, 16)), np.array([0, 1, 2])
    net.partial_fit(X[:1], y[:1])
    with net.lowered.exclusive("partial_fit"):
        calls = {
            "forward one row": lambda: net.forward(X[:1]),
            "forward": lambda: net.forward(X),
            "predict": lambda: net.predict(X),
            "predict_proba": lambda: net.predict_proba(X),
            "loss": lambda: net.loss(X, y),
            "score": lambda: net.score(X, y),
            "loss_and_gradient one row": lambda: net.loss_and_gradient(X[:1], y[:1]),
            "copy": net.copy,
            "partial_fit one row": lambda: net.partial_fit(X[:1], y[:1]),
        }
        for name, call in calls.items():
            result = _run_threads(1, lambda i, c=call: c())[0]
            assert isinstance(result, RuntimeError) and BUSY in str(result), name
            assert "partial_fit" in str(result), name
    assert net.lowered.guard.readers == [] and net.lowered.guard.writer is None


def test_a_racing_reader_never_sees_half_updated_parameters() -> None:
    """A trainer streams partial_fit steps while readers call forward: every forward either
    is refused or returns exactly the output of one of the parameter vectors the trainer went
    through (never a mixture)."""
    spec = fb.NetworkSpec([8, 32, 32, 1], ["relu", "relu"], "squared")
    net = fb.Network(spec, seed=0)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(300, 8)), rng.normal(size=(300, 1))
    probe = rng.normal(size=(64, 8))
    snapshots = [net.params.copy()]
    seen: list[np.ndarray] = []
    done = threading.Event()
    outcomes = {"refused": 0, "other": []}
    lock = threading.Lock()

    first_read = threading.Event()

    def trainer() -> None:
        try:
            # Start once a reader got through, so reads and writes do overlap even where one
            # thread runs much slower (a bounds-checked build, a loaded machine).
            first_read.wait(120)
            for i in range(X.shape[0]):
                while True:
                    try:
                        net.partial_fit(X[i : i + 1], Y[i : i + 1], lr=0.05)
                        break
                    except RuntimeError:  # a reader holds the network: try again
                        continue
                snapshots.append(net.params.copy())
        finally:
            done.set()

    def reader() -> None:
        while not done.is_set():
            try:
                out = net.forward(probe)
            except RuntimeError as exc:
                with lock:
                    if BUSY in str(exc):
                        outcomes["refused"] += 1
                    else:
                        outcomes["other"].append(repr(exc))
                continue
            with lock:
                seen.append(out)
            first_read.set()

    net.forward(probe)  # compiled before the race starts
    threads = [threading.Thread(target=trainer)] + [
        threading.Thread(target=reader) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert outcomes["other"] == [] and seen
    check = fb.Network(spec, seed=0)
    valid = set()
    for theta in snapshots:
        check.params = theta
        valid.add(check.forward(probe).tobytes())
    assert all(out.tobytes() in valid for out in seen)
