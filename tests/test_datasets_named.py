"""fastbp.datasets.load_named: what a dataset name or path means, for the CLI and sweeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastbp import datasets
from fastbp.datasets import load_named


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bundled_names(dtype: str) -> None:
    for name, loader in (("digits", datasets.load_digits), ("diabetes", datasets.load_diabetes)):
        got, expected = load_named(name, dtype=dtype), loader(dtype)
        assert got.name == expected.name and got.X.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got.X, expected.X)
        np.testing.assert_array_equal(got.y, expected.y)


def test_csv_and_npz_paths_as_str_or_pathlike(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, size=30)
    csv = tmp_path / "d.csv"
    np.savetxt(csv, np.column_stack([y, X]), delimiter=",")
    for name in (csv, str(csv)):
        d = load_named(name, target_column=0, task="classification")
        np.testing.assert_allclose(d.X, X)
        assert d.task == "classification" and d.n_features == 3
    npz = tmp_path / "d.npz"
    np.savez(npz, X=X, y=X[:, 0] * 2.0)
    d = load_named(npz, dtype="float32")
    assert d.task == "regression" and d.X.dtype == np.float32


def test_npy_needs_its_target_and_is_memory_mapped(tmp_path: Path) -> None:
    X = np.arange(40.0).reshape(20, 2)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.arange(20) % 2)
    d = load_named(tmp_path / "X.npy", target=tmp_path / "y.npy")
    assert isinstance(d.X, np.memmap) and d.task == "classification"
    np.testing.assert_array_equal(d.X, X)
    with pytest.raises(ValueError, match="needs a .npy file of targets"):
        load_named(tmp_path / "X.npy")
    with pytest.raises(ValueError, match="target= needs a .npy dataset"):
        load_named("digits", target=tmp_path / "y.npy")
    with pytest.raises(ValueError, match="is not an existing file"):
        load_named(tmp_path / "X.npy", target=tmp_path / "missing.npy")


def test_unknown_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'iris' is neither 'digits', 'diabetes' nor an existing"):
        load_named("iris")
