"""float32 .npy data trains at default settings in every entry point, and the network's dtype
follows the data's unless one is asked for (issue 24, item 2)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import fastbp as fb
from fastbp import sweep
from fastbp.cli import main
from fastbp.datasets import load_named


@pytest.fixture
def npy32(tmp_path: Path) -> tuple[Path, Path]:
    """float32 features and float32 regression targets, as np.save writes them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 5)).astype(np.float32)
    y = (X @ np.arange(1.0, 6.0) + 0.1 * rng.normal(size=240)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "X.npy", tmp_path / "y.npy"


def test_load_named_keeps_float32_memory_mapped(npy32) -> None:
    X_path, y_path = npy32
    d = load_named(X_path, target=y_path)
    assert isinstance(d.X, np.memmap) and d.X.dtype == np.float32 and d.y.dtype == np.float32
    assert d.task == "regression"
    # Asking for float64 converts nothing here: X stays a float32 memory map (a float64 network
    # converts it chunk by chunk), and the targets follow it.
    d64 = load_named(X_path, target=y_path, dtype="float64")
    assert isinstance(d64.X, np.memmap) and d64.X.dtype == d64.y.dtype == np.float32
    with pytest.raises(ValueError, match="not supported"):
        load_named(X_path, target=y_path, dtype="float16")


@pytest.mark.parametrize(("flag", "dtype"), [([], "float32"), (["--dtype", "float64"], "float64")])
def test_train_on_float32_npy(npy32, tmp_path, capsys, flag, dtype) -> None:
    X_path, y_path = npy32
    model = tmp_path / f"m{dtype}.fastbp"
    argv = ["train", "--dataset", str(X_path), "--target", str(y_path), "--hidden", "8",
            "--epochs", "3", "--no-progress", "--json", "--out", str(model), *flag]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "regression" and summary["test_score"] > 0.9
    net = fb.Network.load(model)
    assert net.spec.dtype == dtype
    X = np.load(X_path)
    assert fb.train.score("squared", net.predict(X), np.load(y_path).reshape(-1, 1)) > 0.9


@pytest.mark.parametrize(("dtype", "want"), [(None, "float32"), ("float64", "float64")])
def test_sweep_run_on_float32_npy(npy32, dtype, want) -> None:
    X_path, y_path = npy32
    result = sweep.run({"hidden": [[8]], "epochs": 3}, X_path, target=y_path, dtype=dtype,
                       progress=False)  # fmt: skip
    row = result.best
    assert row is not None and row["config"]["dtype"] == want and row["params"].dtype == want
    assert result.data.dtype == want and row["val_score"] > 0.9
    # A configuration's own dtype wins over the data's.
    other = sweep.run({"hidden": [[8]], "epochs": 1, "dtype": "float64"}, X_path, target=y_path,
                      progress=False)  # fmt: skip
    assert other.rows[0]["config"]["dtype"] == "float64"


def test_sweep_command_on_float32_npy(npy32, tmp_path, capsys) -> None:
    X_path, y_path = npy32
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"hidden": [[8]], "epochs": 2}), encoding="utf-8")
    for flag, want in (([], "float32"), (["--dtype", "float64"], "float64")):
        out = tmp_path / f"out{want}"
        argv = ["sweep", "--grid", str(grid), "--dataset", str(X_path), "--target", str(y_path),
                "--no-progress", "--json", "--out", str(out), *flag]  # fmt: skip
        assert main(argv) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["best_config"]["dtype"] == want
        with open(out / "results.csv", encoding="utf-8") as f:
            assert next(csv.DictReader(f))["dtype"] == want
        assert fb.Network.load(out / "best.fastbp").spec.dtype == want
