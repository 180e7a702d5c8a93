"""Cold start: the compile watch, fit's compile notice and timing, and ``fastbp warmup``.

The end-to-end tests run ``fastbp`` in fresh processes on an empty kernel cache (their own
``FASTBP_CACHE_DIR``), as a newcomer's first run does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import fastbp as fb
from fastbp.compiling import COMPILING_MESSAGE, CompileWatch
from fastbp.progress import Progress

HERE = Path(__file__).resolve().parent
FASTBP = shutil.which("fastbp")

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing compiles with the JIT disabled"
)


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["FASTBP_CACHE_DIR"] = str(cache)
    return env


def test_compile_watch_counts_a_compilation_once_and_names_it() -> None:
    calls = []

    @numba.njit(cache=False)
    def fresh(x):
        return x + 1.0

    with CompileWatch(on_compile=lambda: calls.append(1)) as watch:
        fresh(1.0)
        fresh(2.0)  # compiled already: no event
    assert calls == [1]
    assert watch.compilations == 1
    assert watch.compiled == [f"{__name__}.{fresh.py_func.__qualname__}"]
    assert watch.compile_seconds > 0
    assert watch.seconds >= watch.compile_seconds
    with CompileWatch() as idle:
        fresh(3.0)
    assert idle.compilations == 0 and idle.compile_seconds == 0.0
    assert "compilations=0" in repr(idle)


def test_compile_watch_ignores_other_threads() -> None:
    import threading

    @numba.njit(cache=False)
    def other(x):
        return x * 3.0

    with CompileWatch() as watch:
        t = threading.Thread(target=other, args=(1.0,))
        t.start()
        t.join()
    assert watch.compilations == 0


def test_compile_watch_unregisters_on_exit() -> None:
    from numba.core import event

    before = len(event._registered["numba:compile"])
    with CompileWatch():
        assert len(event._registered["numba:compile"]) == before + 1
    assert len(event._registered["numba:compile"]) == before


def test_progress_exclude_shifts_the_bar_clock() -> None:
    pytest.importorskip("tqdm")
    bar = Progress(10, True)
    start, last = bar.bar.start_t, bar.bar.last_print_t
    bar.exclude(2.5)
    assert bar.bar.start_t == pytest.approx(start + 2.5)
    assert bar.bar.last_print_t == pytest.approx(last + 2.5)
    bar.close()


def test_fit_history_keeps_compile_time_out_of_epoch_seconds() -> None:
    """A kernel compiled inside an epoch is counted in compile_seconds, not in the epoch."""
    net = fb.Network(fb.NetworkSpec([3, 4, 1], "relu", "squared"), seed=0)
    X = np.random.default_rng(0).normal(size=(32, 3))
    hist = net.fit(X, X[:, :1], epochs=2, batch_size=8, progress=False)
    assert hist.compile_seconds >= 0.0
    assert len(hist.seconds) == 2 and all(s >= 0 for s in hist.seconds)
    again = fb.History.from_dict(hist.to_dict())
    assert again.compile_seconds == hist.compile_seconds
    with pytest.raises(ValueError, match="compile_seconds"):
        fb.History.from_dict({"compile_seconds": "soon"})


@pytest.mark.skipif(FASTBP is None, reason="the fastbp command is not installed")
def test_train_says_once_that_it_compiles_and_times_it_apart(tmp_path: Path) -> None:
    """A fresh cache: the notice once, compile seconds reported apart from the wall time; a
    second run loads from the cache: no notice, no compile seconds."""
    cache = tmp_path / "cache"
    cmd = [FASTBP, "train", "--epochs", "2", "--no-progress", "--json"]
    first = subprocess.run(cmd, env=_env(cache), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count(COMPILING_MESSAGE) == 1
    s1 = json.loads(first.stdout.strip().splitlines()[-1])
    assert s1["compile_seconds"] > 0.2
    assert s1["seconds"] >= s1["compile_seconds"] + s1["train_seconds"]
    second = subprocess.run(cmd, env=_env(cache), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert COMPILING_MESSAGE not in second.stderr
    s2 = json.loads(second.stdout.strip().splitlines()[-1])
    assert s2["compile_seconds"] == 0.0
    text = subprocess.run(
        [FASTBP, "train", "--epochs", "1", "--no-progress"],
        env=_env(cache), capture_output=True, text=True, timeout=600,
    ).stdout  # fmt: skip
    assert "wall time" in text and "compiling kernels" in text and "loading kernels" in text


@pytest.mark.slow
@pytest.mark.skipif(FASTBP is None, reason="the fastbp command is not installed")
def test_after_warmup_no_public_call_compiles(tmp_path: Path) -> None:
    """``fastbp warmup`` on an empty cache, then a user's calls (tests/warm_battery.py, written
    apart from warmup's list) in a new process: nothing compiles."""
    pytest.importorskip("sklearn")
    cache = tmp_path / "cache"
    warm = subprocess.run(
        [FASTBP, "warmup", "--no-progress"], env=_env(cache), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert warm.returncode == 0, warm.stderr
    assert "warmup:" in warm.stdout and "compiling" in warm.stdout
    run = subprocess.run(
        [sys.executable, str(HERE / "warm_battery.py")], env=_env(cache), capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["compiled"] == [], f"compiled after warmup: {report['compiled']}"


def test_warmup_refuses_an_unknown_dtype() -> None:
    with pytest.raises(ValueError, match="float16"):
        fb.warmup(("float16",))


def test_warmup_default_specs_cover_every_specialised_loss() -> None:
    from fastbp.specialise import SPECIALISED_LOSSES
    from fastbp.warmup import default_specs

    specs = default_specs("float32", ("relu", "tanh"), (1, 3))
    assert {s.loss for s in specs} == set(SPECIALISED_LOSSES)
    assert {len(s.widths) - 2 for s in specs} == {1, 3}
    assert len(specs) == 2 * 2 * len(SPECIALISED_LOSSES)
    assert all(s.dtype == "float32" for s in specs)
