"""fastbp.datasets: bundled data, CSV/.npz loading and its refusals, splits, standardisation."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pathlib
import pickle
import re

import numpy as np
import pytest

from fastbp.datasets import (
    Dataset,
    Standardizer,
    _bundled,
    load_diabetes,
    load_digits,
    load_file,
    train_test_split,
)

DTYPES = ["float32", "float64"]


# ---------------------------------------------------------------------------- bundled data


@pytest.mark.parametrize("dtype", DTYPES)
def test_load_digits_shapes_dtypes_labels(dtype):
    ds = load_digits(dtype=dtype)
    assert ds.X.shape == (1797, 64) and ds.X.dtype == np.dtype(dtype)
    assert ds.X.flags.c_contiguous
    assert ds.y.shape == (1797,) and ds.y.dtype == np.int64
    assert ds.y.min() == 0 and ds.y.max() == 9
    counts = np.bincount(ds.y, minlength=10)
    assert counts.sum() == 1797
    assert counts.min() >= 174 and counts.max() <= 183
    assert ds.X.min() == 0 and ds.X.max() == 16
    assert np.array_equal(ds.X, np.round(ds.X))
    assert ds.task == "classification" and ds.name == "digits"
    assert ds.target_names == tuple(str(k) for k in range(10))
    assert len(ds.feature_names) == 64 and ds.feature_names[9] == "pixel_1_1"
    assert "10.24432/C50P49" in ds.description


@pytest.mark.parametrize("dtype", DTYPES)
def test_load_diabetes_shapes_dtypes_target(dtype):
    ds = load_diabetes(dtype=dtype)
    assert ds.X.shape == (442, 10) and ds.X.dtype == np.dtype(dtype)
    assert ds.y.shape == (442,) and ds.y.dtype == np.dtype(dtype)
    assert ds.X.flags.c_contiguous and ds.y.flags.c_contiguous
    assert float(ds.y.mean()) == pytest.approx(152.133, abs=0.01)
    assert ds.y.min() == 25 and ds.y.max() == 346
    assert ds.feature_names == ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
    assert set(np.unique(ds.X[:, 1])) == {1.0, 2.0}  # raw sex codes, not scaled
    assert ds.task == "regression" and ds.target_names == ("progression",)
    assert "Least Angle Regression" in ds.description


def test_dataset_repr_shows_shapes_not_arrays():
    text = repr(load_digits(dtype="float32"))
    assert text == (
        "Dataset(name='digits', task='classification', X=(1797, 64) float32, "
        "y=(1797,) int64, 10 classes)"
    )
    assert "target 'progression'" in repr(load_diabetes())


def test_dataset_is_frozen_and_validated():
    ds = load_diabetes()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.task = "classification"
    with pytest.raises(ValueError, match="task = 'clustering' is unknown"):
        dataclasses.replace(ds, task="clustering")
    with pytest.raises(ValueError, match="feature_names has 2 names for 10 columns"):
        dataclasses.replace(ds, feature_names=("a", "b"))


@pytest.mark.parametrize("loader", [load_digits, load_diabetes])
def test_bundled_loaders_refuse_other_dtypes(loader):
    with pytest.raises(ValueError, match="dtype = 'int64' is not supported"):
        loader(dtype="int64")


def test_damaged_bundled_file_is_refused(tmp_path, monkeypatch):
    raw = (_bundled._DATA_DIR / "digits.csv.gz").read_bytes()
    (tmp_path / "digits.csv.gz").write_bytes(raw[: len(raw) // 2])
    monkeypatch.setattr(_bundled, "_DATA_DIR", tmp_path)
    with pytest.raises(OSError, match=r"digits\.csv\.gz is damaged \(SHA-256 mismatch\)"):
        load_digits()
    with pytest.raises(OSError, match=r"diabetes_data_raw\.csv\.gz cannot be read"):
        load_diabetes()


def test_bundled_file_with_wrong_shape_is_refused(tmp_path, monkeypatch):
    # A well-formed file with a matching digest but the wrong shape still fails the shape check.
    raw = gzip.compress(b"1,2,3\n4,5,6\n")
    (tmp_path / "digits.csv.gz").write_bytes(raw)
    monkeypatch.setattr(_bundled, "_DATA_DIR", tmp_path)
    monkeypatch.setitem(_bundled._SHA256, "digits.csv.gz", hashlib.sha256(raw).hexdigest())
    with pytest.raises(OSError, match=r"shape \(2, 3\), expected \(1797, 65\)"):
        load_digits()


# ---------------------------------------------------------------------------- CSV


def _rng_table(n=12, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_csv_round_trip_without_header(tmp_path, dtype):
    X, y = _rng_table()
    path = tmp_path / "plain.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",")
    ds = load_file(path, dtype=dtype)
    assert ds.task == "regression" and ds.name == "plain"
    assert ds.X.dtype == np.dtype(dtype) and ds.y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ds.X, X.astype(dtype))
    np.testing.assert_array_equal(ds.y, y.astype(dtype))
    assert ds.feature_names == ("x0", "x1", "x2") and ds.target_names == ("y",)


def test_csv_round_trip_with_header_and_labels(tmp_path):
    X, _ = _rng_table(n=9)
    labels = np.array([3, 7, 10, 3, 7, 10, 10, 3, 7])
    path = tmp_path / "labelled.csv"
    np.savetxt(path, np.column_stack([labels, X]), delimiter=",", header="kind,a,b,c", comments="")
    for target in (0, -4, "kind"):
        ds = load_file(path, target_column=target)
        assert ds.task == "classification"
        assert ds.feature_names == ("a", "b", "c")
        assert ds.target_names == ("3", "7", "10")
        assert ds.y.dtype == np.int64
        np.testing.assert_array_equal(ds.y, np.searchsorted([3, 7, 10], labels))
        np.testing.assert_array_equal(ds.X, X)


def test_csv_slow_path_matches_fast_path(tmp_path):
    # Quoted cells, spaces and a whitespace-only line defeat np.loadtxt; the scan reads them.
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    fast.write_text("a,b,t\n1,2.5,0.5\n3,4,1.25\n")
    slow.write_text('\ufeff"a","b","t"\n"1", 2.5 ,0.5\n   \n3,4,"1.25"\n')
    a, b = load_file(fast), load_file(slow)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.feature_names == b.feature_names == ("a", "b")


def test_csv_whitespace_delimiter(tmp_path):
    path = tmp_path / "spaces.csv"
    path.write_text("1  2\t0\n3 4 1\n")
    ds = load_file(path, delimiter=None)
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(ds.y, [0, 1])


def test_task_inference_rule_and_override(tmp_path):
    X = np.zeros((60, 1))
    path = tmp_path / "ints.npz"
    np.savez(path, X=X, y=np.arange(60) % 50)
    assert load_file(path).task == "classification"  # 50 distinct whole numbers
    np.savez(path, X=X, y=np.arange(60) % 51)
    assert load_file(path).task == "regression"  # 51 distinct values
    ds = load_file(path, task="classification")
    assert ds.task == "classification" and len(ds.target_names) == 51
    np.savez(path, X=X, y=np.arange(60) % 2 + 0.5)
    assert load_file(path).task == "regression"
    with pytest.raises(ValueError, match=r"ints\.npz: task='classification' needs whole-number"):
        load_file(path, task="classification")
    np.savez(path, X=X, y=np.arange(60) % 2)
    ds = load_file(path, task="regression")
    assert ds.task == "regression" and ds.y.dtype == np.float64
    with pytest.raises(ValueError, match="task = 'ranking' is unknown"):
        load_file(path, task="ranking")


# ---------------------------------------------------------------------------- npz


@pytest.mark.parametrize("y_key", ["y", "Y"])
def test_npz_round_trip(tmp_path, y_key):
    X, y = _rng_table(n=7, d=4)
    path = tmp_path / "arrays.npz"
    np.savez(path, **{"X": X, y_key: y.reshape(-1, 1)}, extra=np.arange(3))
    ds = load_file(path, dtype="float32")
    assert ds.task == "regression" and ds.name == "arrays"
    np.testing.assert_array_equal(ds.X, X.astype(np.float32))
    np.testing.assert_array_equal(ds.y, y.astype(np.float32))
    assert ds.X.flags.c_contiguous and ds.feature_names == ("x0", "x1", "x2", "x3")


# ---------------------------------------------------------------------------- refusals

BAD_CSV = {
    "ragged": ("1,2,0\n3,4\n", r"line 2 has 2 cells, expected 3"),
    "text": ("a,b,t\n1,2,0\n3,oops,1\n", r"line 3, column 2: 'oops' is not a number"),
    "nan": ("1,2,0\n3,nan,1\n", r"line 2, column 2: 'nan' is NaN"),
    "inf": ("1,2,0\n3,4,-inf\n", r"line 2, column 3: '-inf' is infinite"),
    "empty_cell": ("1,2,0\n3,,1\n", r"line 2, column 2: empty cell"),
    "empty_file": ("", r"the file is empty"),
    "blank_lines_only": ("\n \n", r"the file is empty"),
    "header_only": ("a,b,t\n", r"the file has a header row but no data rows"),
    "one_column": ("1\n2\n", r"line 1 has a single column"),
    "unclosed_quote": ('1,2,"3\n', r"line 1: unexpected end of data"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_is_refused_naming_file_and_place(tmp_path, case):
    text, message = BAD_CSV[case]
    path = tmp_path / f"bad_{case}.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": " + message):
        load_file(path)


def test_non_utf8_csv_is_refused(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x01\x80abc")
    with pytest.raises(ValueError, match=r"binary\.csv: not a UTF-8 text file"):
        load_file(path)


def test_csv_bad_target_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"t\.csv: target_column=3 is out of range for 3"):
        load_file(path, target_column=3)
    with pytest.raises(ValueError, match=r"t\.csv: target_column='c' names a column, but"):
        load_file(path, target_column="c")


def test_value_overflowing_float32_is_refused(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("1,1e39,0\n2,3,1\n")
    with pytest.raises(ValueError, match=r"huge\.csv: X has a value too large for float32"):
        load_file(path, dtype="float32")
    assert load_file(path, dtype="float64").X[0, 1] == 1e39


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _write_npy(path):
    with open(path, "wb") as f:  # np.save(path) would append ".npy" to the name
        np.save(f, np.ones(3))


def _write_truncated_zip(path):
    whole = _write_npz(path.with_suffix(".whole.npz"), X=np.ones((2, 2)), y=np.ones(2))
    path.write_bytes(whole.read_bytes()[:80])


BAD_NPZ = {
    "object_array": (
        lambda p: _write_npz(p, X=np.ones((2, 2)), y=np.array([1, None], dtype=object)),
        r"array 'y' holds Python objects \(dtype=object\)",
    ),
    "missing_y": (
        lambda p: _write_npz(p, X=np.ones((2, 2)), target=np.ones(2)),
        r"missing array\(s\) \['y'\]",
    ),
    "missing_X": (lambda p: _write_npz(p, y=np.ones(2)), r"missing array\(s\) \['X'\]"),
    "row_mismatch": (
        lambda p: _write_npz(p, X=np.ones((3, 2)), y=np.ones(4)),
        r"X has 3 rows but y has 4",
    ),
    "nan": (
        lambda p: _write_npz(p, X=np.array([[1.0, np.nan]]), y=np.ones(1)),
        r"X contains NaN or inf \(first at index \(0, 1\)\)",
    ),
    "strings": (
        lambda p: _write_npz(p, X=np.array([["a", "b"]]), y=np.ones(1)),
        r"array 'X' has dtype <U1",
    ),
    "X_1d": (lambda p: _write_npz(p, X=np.ones(3), y=np.ones(3)), r"X must be 2-D"),
    "random_bytes": (
        lambda p: p.write_bytes(np.random.default_rng(0).bytes(64)),
        r"not an \.npz archive \(not a zip archive\)",
    ),
    "npy_file": (
        _write_npy,
        r"not an \.npz archive \(a single-array \.npy file\)",
    ),
    "truncated_zip": (_write_truncated_zip, r"damaged \.npz archive"),
    "empty_file": (lambda p: p.write_bytes(b""), r"the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPZ))
def test_bad_npz_is_refused_naming_file(tmp_path, case):
    write, message = BAD_NPZ[case]
    path = tmp_path / f"bad_{case}.npz"
    write(path)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": " + message):
        load_file(path)


class _TouchOnUnpickle:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickle_renamed_npz_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "unpickled.marker"
    payload = pickle.dumps({"X": _TouchOnUnpickle(marker), "y": [0, 1]})
    pickle.loads(payload)  # the payload is live: unpickling it creates the marker
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "evil.npz"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=r"evil\.npz: not an \.npz archive \(a pickle"):
        load_file(path)
    assert not marker.exists()


def test_unknown_extension_lists_supported(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    message = r"data\.parquet: unsupported file extension '\.parquet'; supported: \.csv, \.npz"
    with pytest.raises(ValueError, match=message):
        load_file(path)


# ---------------------------------------------------------------------------- train_test_split


def test_split_is_reproducible_disjoint_and_complete():
    n = 101
    X = np.arange(n, dtype=np.float64).reshape(n, 1) * np.ones((1, 3))
    y = np.arange(n)
    a = train_test_split(X, y, test_fraction=0.25, seed=7)
    b = train_test_split(X, y, test_fraction=0.25, seed=7)
    c = train_test_split(X, y, test_fraction=0.25, seed=8)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])
    X_train, X_test, y_train, y_test = a
    assert len(y_test) == 25 and len(y_train) == 76  # round(0.25 * 101) = 25
    assert set(y_train).isdisjoint(y_test)
    assert sorted(np.concatenate([y_train, y_test])) == list(range(n))
    np.testing.assert_array_equal(X_train[:, 0], y_train)  # rows stay paired
    np.testing.assert_array_equal(X_test[:, 2], y_test)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, True, "0.2", float("nan")])
def test_split_refuses_bad_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction must be a number in"):
        train_test_split(np.ones((10, 2)), np.ones(10), test_fraction=bad)


def test_split_refuses_empty_parts_and_mismatched_rows():
    with pytest.raises(ValueError, match="leaves no test rows"):
        train_test_split(np.ones((3, 2)), np.ones(3), test_fraction=0.1)
    with pytest.raises(ValueError, match="leaves no training rows"):
        train_test_split(np.ones((3, 2)), np.ones(3), test_fraction=0.9)
    with pytest.raises(ValueError, match="X has 3 rows but y has 4"):
        train_test_split(np.ones((3, 2)), np.ones(4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_split_keeps_class_proportions(seed):
    ds = load_digits()
    y_sets = [ds.y, np.repeat([0, 1, 2, 5], [50, 7, 3, 1])]
    for y in y_sets:
        X = np.arange(len(y), dtype=np.float64).reshape(-1, 1)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_fraction=0.3, seed=seed, stratify=True
        )
        n, n_test = len(y), len(y_test)
        assert n_test == round(0.3 * n) and len(y_train) == n - n_test
        assert set(X_train[:, 0]).isdisjoint(X_test[:, 0])
        for c in np.unique(y):
            n_c = np.count_nonzero(y == c)
            assert abs(np.count_nonzero(y_test == c) - n_c * n_test / n) < 1
            assert abs(np.count_nonzero(y_train == c) - n_c * (n - n_test) / n) < 1


def test_stratified_split_needs_labels():
    with pytest.raises(ValueError, match="stratify=True needs class labels"):
        train_test_split(np.ones((10, 1)), np.linspace(0, 1, 10), stratify=True)


# ---------------------------------------------------------------------------- Standardizer


@pytest.mark.parametrize("dtype", DTYPES)
def test_standardizer_round_trip_and_constant_column(dtype):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(40, 3)) * [1.0, 50.0, 1.0] + [0.0, 7.0, 0.0]).astype(dtype)
    X[:, 2] = 0.1  # constant column: scale 1, maps to zero
    s = Standardizer()
    Z = s.fit_transform(X)
    assert Z.dtype == np.dtype(dtype) and Z.shape == X.shape and Z.flags.c_contiguous
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0, atol=tol)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1, rtol=tol)
    assert s.scale_[2] == 1.0 and np.all(Z[:, 2] == 0)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=tol, atol=tol)
    assert repr(s) == "Standardizer(n_features=3)"


def test_standardizer_keeps_1d_targets_1d():
    y = np.array([1.0, 2.0, 3.0, 6.0])
    s = Standardizer().fit(y)
    z = s.transform(y)
    assert z.shape == (4,) and s.mean_.shape == (1,)
    np.testing.assert_allclose(s.inverse_transform(z), y)
    assert s.transform(y.reshape(-1, 1)).shape == (4, 1)


def test_standardizer_errors():
    s = Standardizer()
    assert repr(s) == "Standardizer(not fitted)"
    with pytest.raises(RuntimeError, match="not fitted yet"):
        s.transform(np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="not fitted yet"):
        s.to_arrays()
    s.fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"X has 3 column\(s\) but this Standardizer was fitted"):
        s.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        Standardizer().fit(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="X is empty"):
        Standardizer().fit(np.ones((0, 2)))


def test_standardizer_arrays_round_trip_through_npz(tmp_path):
    X = load_diabetes().X
    s = Standardizer().fit(X)
    path = tmp_path / "scaler.npz"
    np.savez(path, **s.to_arrays())
    with np.load(path, allow_pickle=False) as stored:
        t = Standardizer.from_arrays(stored)
    np.testing.assert_array_equal(t.mean_, s.mean_)
    np.testing.assert_array_equal(t.scale_, s.scale_)
    np.testing.assert_array_equal(t.transform(X), s.transform(X))
    with pytest.raises(ValueError, match="must hold 'mean' and 'scale'"):
        Standardizer.from_arrays({"mean": s.mean_})
    with pytest.raises(ValueError, match="'scale' must be positive"):
        Standardizer.from_arrays({"mean": s.mean_, "scale": -s.scale_})


def test_public_names():
    import fastbp.datasets as datasets

    assert sorted(datasets.__all__) == sorted(
        [
            "Dataset",
            "Standardizer",
            "load_diabetes",
            "load_digits",
            "load_file",
            "load_npy",
            "train_test_split",
        ]
    )
    assert isinstance(load_digits(), Dataset)
