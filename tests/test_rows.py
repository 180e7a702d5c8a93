"""Data larger than memory: memory maps and huge or virtual arrays at the boundary.

Every path that reads data lazily (:class:`fastbp.rows.LazyRows`) is paired with the in-memory
path it replaces: the same rows reach the same kernels in the same order, so parameters, losses
and predictions must agree to the bit.  The memory test measures the peak resident size of a
child process that trains one epoch on a memory-mapped file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastbp as fb
from fastbp import rows
from fastbp.validate import as_features, as_targets

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"


@pytest.fixture
def always_lazy(monkeypatch):
    """Make every array that would need a copy lazy, so small test data takes the lazy path."""
    monkeypatch.setattr(rows, "COPY_LIMIT_BYTES", 0)
    monkeypatch.setattr("fastbp.validate.COPY_LIMIT_BYTES", 0)


def _saved(tmp_path, name, arr):
    path = tmp_path / f"{name}.npy"
    np.save(path, arr)
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "loss,optimizer,batch_size",
    [("squared", "sgd", 1), ("softmax_cross_entropy", "adam", 16), ("logistic", "momentum", 7)],
)
def test_fit_on_memmap_matches_in_memory(tmp_path, always_lazy, dtype, loss, optimizer, batch_size):
    rng = np.random.default_rng(0)
    n, n0 = 300, 5
    nr = 3 if loss == "softmax_cross_entropy" else 1
    X = rng.normal(size=(n, n0))  # float64 file: the float32 network converts chunk by chunk
    if loss == "softmax_cross_entropy":
        Y = rng.integers(0, nr, size=n)
    elif loss == "logistic":
        Y = rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    else:
        Y = rng.normal(size=(n, 1))
    Xm, Ym = _saved(tmp_path, "X", X), _saved(tmp_path, "Y", Y)
    spec = fb.NetworkSpec([n0, 8, nr], ["tanh"], loss, dtype)
    assert isinstance(as_features(Xm, spec), rows.LazyRows)
    kw = dict(epochs=2, batch_size=batch_size, optimizer=optimizer, lr=0.05, progress=False,
              validation_fraction=0.2, seed=3)  # fmt: skip
    a, b = fb.Network(spec, seed=1), fb.Network(spec, seed=1)
    ha, hb = a.fit(X, Y, **kw), b.fit(Xm, Ym, **kw)
    np.testing.assert_array_equal(a.params, b.params)
    assert ha.loss == hb.loss and ha.val_loss == hb.val_loss and ha.val_score == hb.val_score
    np.testing.assert_array_equal(a.forward(X), a.forward(Xm))
    assert a.loss(X, Y) == a.loss(Xm, Ym)
    assert a.score(X, Y) == a.score(Xm, Ym)
    np.testing.assert_array_equal(a.predict(X), a.predict(Xm))
    J, g = a.loss_and_gradient(X, Y)
    Jm, gm = a.loss_and_gradient(Xm, Ym)
    assert J == Jm
    np.testing.assert_array_equal(g, gm)


def test_lazy_rows_read_like_the_converted_array(tmp_path, always_lazy):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    spec = fb.NetworkSpec([4, 3, 2], ["relu"], "softmax_cross_entropy", "float32")
    lazy = as_features(_saved(tmp_path, "X", X), spec)
    dense = X.astype(np.float32)
    assert isinstance(lazy, rows.LazyRows) and lazy.shape == (50, 4)
    np.testing.assert_array_equal(lazy[5:17], dense[5:17])
    idx = np.array([7, 3, 3, 49, 0])
    np.testing.assert_array_equal(lazy[idx], dense[idx])
    sub = lazy.subset(np.array([10, 2, 30]))
    np.testing.assert_array_equal(sub[0:3], dense[[10, 2, 30]])
    out = np.empty((8, 4), np.float32)
    np.testing.assert_array_equal(lazy.take(np.array([4, 1, 9]), out), dense[[4, 1, 9]])
    labels = as_targets(_saved(tmp_path, "y", np.array([1, 0, 1] * 10)), spec, 30)
    assert isinstance(labels, rows.LazyRows)
    np.testing.assert_array_equal(labels[0:3], np.eye(2, dtype=np.float32)[[1, 0, 1]])
    # A strided view (every other column) is lazy too, and reads the right columns.
    wide = rng.normal(size=(20, 8))
    view = as_features(wide[:, ::2], spec)
    np.testing.assert_array_equal(view[0:20], wide[:, ::2].astype(np.float32))


def test_bad_values_in_a_memmap_are_found_block_by_block(tmp_path, monkeypatch):
    monkeypatch.setattr(rows, "BLOCK_BYTES", 64)  # many blocks
    X = np.zeros((200, 4))
    X[150, 2] = np.nan
    X[3, 1] = np.inf
    spec = fb.NetworkSpec([4, 1], [], "squared", "float64")
    net = fb.Network(spec)
    with pytest.raises(ValueError, match="2 NaN or inf"):
        net.forward(_saved(tmp_path, "X", X))
    big = np.full((200, 4), 1e300)
    with pytest.raises(ValueError, match="too large for float32"):
        fb.Network(fb.NetworkSpec([4, 1], [], "squared", "float32")).forward(big)
    labels = np.arange(200) % 3
    labels[120] = 5
    spec3 = fb.NetworkSpec([4, 3], [], "softmax_cross_entropy", "float64")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        fb.Network(spec3).loss(np.zeros((200, 4)), _saved(tmp_path, "y", labels))
    probs = np.full((200, 1), 0.5)
    probs[199] = 1.5
    spec_l = fb.NetworkSpec([4, 1], [], "logistic", "float64")
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        fb.Network(spec_l).loss(np.zeros((200, 4)), probs)


def test_virtual_arrays_get_a_size_error_not_a_memory_error():
    spec = fb.NetworkSpec([4, 3, 1], ["relu"], "squared", "float64")
    net = fb.Network(spec)
    huge = np.broadcast_to(np.zeros(4), (10**12, 4))
    with pytest.raises(ValueError, match="GiB"):
        net.forward(huge)
    with pytest.raises(ValueError, match="GiB"):
        net.fit(huge, np.broadcast_to(np.zeros(1), (10**12, 1)), epochs=1, progress=False)
    with pytest.raises(ValueError, match="NaN or inf"):  # one value, checked once
        net.forward(np.broadcast_to(np.array([0.0, np.nan, 0.0, 0.0]), (10**12, 4)))
    # A large virtual array that fits the work: handled chunk by chunk, no full-size temporary.
    n = 20_000 if NO_JIT else 400_000
    X = np.broadcast_to(np.ones(4, dtype=np.float32), (n, 4))
    assert net.loss(X, np.broadcast_to(np.zeros(1), (n, 1))) == pytest.approx(
        net.loss(np.ones((1, 4)), np.zeros((1, 1)))
    )


def test_training_memory_check_counts_fit_copies(monkeypatch):
    """The network's memory check counts fit's snapshot, best copy and optimizer state too."""
    from fastbp import lowered

    spec = fb.NetworkSpec([100, 100, 1], ["relu"], "squared", "float64")
    per_array = spec.n_params * 8
    monkeypatch.setattr(lowered, "physical_memory_bytes", lambda: 6 * per_array)
    with pytest.raises(ValueError, match="optimizer state"):
        fb.Network(spec)
    monkeypatch.setattr(lowered, "physical_memory_bytes", lambda: 9 * per_array)
    fb.Network(spec)


MEMORY_CHILD = r"""
import json, resource, sys, time
import numpy as np
import fastbp as fb

path_x, path_y = sys.argv[1], sys.argv[2]
X = np.load(path_x, mmap_mode="r")
y = np.load(path_y, mmap_mode="r")
spec = fb.NetworkSpec([X.shape[1], 16, 1], ["relu"], "squared", "float32")
net = fb.Network(spec, seed=0)
# Compile first, on a few rows, so compilation does not count as data memory.
net.fit(np.asarray(X[:512]), np.asarray(y[:512]), epochs=1, batch_size=64, optimizer="adam",
        progress=False)

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM (the peak) to the current RSS
    f.write("5")
t0 = time.perf_counter()
hist = net.fit(X, y, epochs=1, batch_size=256, optimizer="adam", lr=1e-3, progress=False,
               validation_fraction=0.05)
print(json.dumps({"before": before, "peak": status("VmHWM"), "seconds": time.perf_counter() - t0,
                  "loss": hist.loss[-1], "file": X.nbytes}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")
def test_memmap_epoch_peak_memory(tmp_path):
    """One epoch of minibatch Adam on a memory-mapped float32 file: the process grows by far less
    than the file (bound: half the file, and never more than 300 MiB)."""
    cols = 64
    n = 256 * 2**20 // (cols * 4)  # a 256 MiB file
    rng = np.random.default_rng(0)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(n, cols))
    for s in range(0, n, 65536):
        X[s : s + 65536] = rng.normal(size=(min(65536, n - s), cols))
    y = np.asarray(X[:, :1] * 0.5 + X[:, 1:2], dtype=np.float32)
    np.save(tmp_path / "y.npy", y)
    X.flush()
    del X, y
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(tmp_path / "X.npy"), str(tmp_path / "y.npy")],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = r["peak"] - r["before"]
    assert np.isfinite(r["loss"])
    limit = min(300 * 2**20, r["file"] // 2)
    assert growth <= limit, (
        f"training on a {r['file'] / 2**20:.0f} MiB memory map grew the process by "
        f"{growth / 2**20:.0f} MiB (limit {limit / 2**20:.0f} MiB)"
    )


def test_cli_trains_on_npy_files_memory_mapped(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", (X[:, 0] - X[:, 1] > 0).astype(np.int64))
    np.save(tmp_path / "r.npy", X[:, :1] * 3.0 + 1.0)
    base = [sys.executable, "-m", "fastbp.cli", "train", "--dataset", str(tmp_path / "X.npy")]
    opts = ["--epochs", "5", "--no-progress", "--json", "--dtype", "float32"]
    out = subprocess.run(
        [*base, "--target", str(tmp_path / "y.npy"), *opts, "--out", str(tmp_path / "m.fastbp")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["task"] == "classification" and summary["test_score"] > 0.9
    assert (tmp_path / "m.fastbp").is_file()
    reg = subprocess.run(
        [*base, "--target", str(tmp_path / "r.npy"), *opts], capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert reg.returncode == 0, reg.stderr
    assert json.loads(reg.stdout)["test_score"] > 0.9  # R² of a linear target
    missing = subprocess.run([*base, *opts], capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "needs --target" in missing.stderr


def test_load_npy_refuses_pickles_and_bad_shapes(tmp_path):
    from fastbp.datasets import load_npy

    np.save(tmp_path / "X.npy", np.zeros((4, 2)))
    np.save(tmp_path / "y.npy", np.arange(4) % 2)  # 2 classes: one is refused (test_task_inference)
    np.save(tmp_path / "obj.npy", np.array([{}, {}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "y3.npy", np.zeros(3))
    data = load_npy(tmp_path / "X.npy", tmp_path / "y.npy")
    assert isinstance(data.X, np.memmap) and data.task == "classification"
    with pytest.raises(ValueError, match="not a readable .npy"):
        load_npy(tmp_path / "X.npy", tmp_path / "obj.npy")
    with pytest.raises(ValueError, match="3 rows but X has 4"):
        load_npy(tmp_path / "X.npy", tmp_path / "y3.npy")
    bad = np.zeros((4, 2))
    bad[2, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(2, 1\)\)"):
        load_npy(tmp_path / "bad.npy", tmp_path / "y.npy")


def test_standardizer_partial_fit_matches_fit():
    from fastbp.datasets import Standardizer

    X = np.random.default_rng(2).normal(size=(1000, 4)) * 5 + 2
    X[:, 1] = 7.0
    whole = Standardizer().fit(X)
    blocks = Standardizer()
    for s in range(0, 1000, 137):
        blocks.partial_fit(X[s : s + 137])
    np.testing.assert_allclose(blocks.mean_, whole.mean_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(blocks.scale_, whole.scale_, rtol=1e-12)
    assert blocks.mean_[1] == 7.0 and blocks.scale_[1] == 1.0
