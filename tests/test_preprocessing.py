"""Models carry their preprocessing (fastbp.preprocessing): a model saved by ``fastbp train``
predicts in the user's units wherever it is loaded: Python, ``fastbp predict``, ONNX, torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from interop_cases import assert_export_close

import fastbp as fb
from fastbp.datasets import Standardizer
from fastbp.preprocessing import Preprocessing

ROOT = Path(__file__).resolve().parents[1]


def fastbp_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "fastbp.cli", *args],
        capture_output=True, text=True, timeout=300, env=env, cwd=cwd,
    )  # fmt: skip


def regression_rows(n: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features and a target far from zero mean and unit scale, so that units matter."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * np.array([100.0, 0.01, 5.0, 1.0]) + np.array([50, 3, -20, 0])
    y = 300.0 + 2.0 * X[:, 0] - 4000.0 * X[:, 1] + 10 * X[:, 2] + rng.normal(size=n)
    return X, y


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory) -> tuple[Path, Path]:
    """A regression model trained and saved by ``fastbp train`` on a CSV file, and the file."""
    folder = tmp_path_factory.mktemp("pre")
    X, y = regression_rows()
    csv = folder / "data.csv"
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,y", comments="")
    proc = fastbp_cli(
        "train", "--dataset", str(csv), "--task", "regression", "--hidden", "8",
        "--activation", "tanh", "--epochs", "5", "--lr", "0.01", "--no-progress",
        "--out", "m.fastbp", cwd=folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return folder / "m.fastbp", csv


def test_cli_model_predicts_in_user_units_in_python_and_the_cli(cli_model) -> None:
    model, csv = cli_model
    X, y = regression_rows()
    net = fb.Network.load(model)
    assert isinstance(net.preprocessing, Preprocessing)
    assert net.preprocessing.x is not None and net.preprocessing.y is not None
    proc = fastbp_cli("predict", "--model", str(model), "--data", str(csv), cwd=model.parent)
    assert proc.returncode == 0, proc.stderr
    cli = np.array([float(line) for line in proc.stdout.split()]).reshape(-1, 1)
    python = net.predict(X)
    np.testing.assert_allclose(python, cli, rtol=1e-12, atol=0)
    # User units: the predictions track y (hundreds), not its standardised form (about ±2).
    assert abs(float(np.mean(python)) - float(np.mean(y))) < 0.5 * float(np.std(y))
    # predict = de-standardised forward of standardised rows; score in user units too.
    xs, ys = net.preprocessing.x, net.preprocessing.y
    expected = ys.inverse_transform(net.forward(xs.transform(X)))
    np.testing.assert_allclose(python, expected, rtol=1e-12, atol=1e-9)
    r2 = net.score(X, y)
    assert r2 == pytest.approx(fb.train.score("squared", python, y.reshape(-1, 1)), rel=1e-12)
    assert r2 > 0.5
    # One row takes the same path.
    np.testing.assert_allclose(net.predict(X[:1]), python[:1], rtol=1e-12)


def test_cli_model_exports_to_onnx_and_torch_in_user_units(cli_model, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch = pytest.importorskip("torch")
    model, _ = cli_model
    net = fb.Network.load(model)
    X, _ = regression_rows(40, seed=1)
    expected = net.predict(X)
    path = net.to_onnx(tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert_export_close(sess.run(["Y"], {"X": X})[0], expected, "float64", "onnx")
    # The module-level converters use net.preprocessing too; preprocessing=False leaves it out.
    from fastbp.interop import to_onnx, to_torch

    sess = ort.InferenceSession(str(to_onnx(net, tmp_path / "f.onnx")),
                                providers=["CPUExecutionProvider"])  # fmt: skip
    assert_export_close(sess.run(["Y"], {"X": X})[0], expected, "float64", "interop.to_onnx")
    raw = to_onnx(net, tmp_path / "r.onnx", preprocessing=False)
    sess = ort.InferenceSession(str(raw), providers=["CPUExecutionProvider"])
    assert_export_close(sess.run(["Y"], {"X": X})[0], net.forward(X), "float64", "raw onnx")
    with torch.no_grad():
        out = to_torch(net)(torch.from_numpy(X)).numpy()
    assert_export_close(out, expected, "float64", "interop.to_torch")
    with torch.no_grad():
        out = net.to_torch()(torch.from_numpy(X)).numpy()
    assert_export_close(out, expected, "float64", "torch")
    # preprocessing=False exports the bare network: forward, in the network's units.
    with torch.no_grad():
        bare = net.to_torch(preprocessing=False)(torch.from_numpy(X)).numpy()
    assert_export_close(bare, net.forward(X), "float64", "bare torch")
    # The CLI's export writes the same (ONNX graph, and a state_dict with the folded weights).
    proc = fastbp_cli("export", str(model), "--onnx", "c.onnx", "--torch", "c.pt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sess = ort.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    assert_export_close(sess.run(["Y"], {"X": X})[0], expected, "float64", "cli onnx")
    module = net.to_torch(preprocessing=False)
    module.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))
    with torch.no_grad():
        assert_export_close(module(torch.from_numpy(X)).numpy(), expected, "float64", "cli pt")


def test_a_network_without_preprocessing_is_unchanged(tmp_path) -> None:
    X, y = regression_rows(30)
    net = fb.Network(fb.NetworkSpec([4, 5, 1], ["tanh"], "squared"), seed=0)
    assert net.preprocessing is None
    assert np.array_equal(net.predict(X), net.forward(X))
    back = fb.Network.load(net.save(tmp_path / "plain.fastbp"))
    assert back.preprocessing is None and back.extras == {}
    assert np.array_equal(back.predict(X), net.forward(X))
    # A lone x_mean is an ordinary extra array, not preprocessing.
    back = fb.Network.load(net.save(tmp_path / "lone.fastbp", arrays={"x_mean": np.zeros(4)}))
    assert back.preprocessing is None and set(back.extras) == {"x_mean"}


def test_classifier_preprocessing_standardises_inputs_only(tmp_path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3)) * 30 + 7
    labels = rng.integers(0, 3, size=50)
    net = fb.Network(fb.NetworkSpec([3, 6, 3], ["relu"], "softmax_cross_entropy"), seed=1)
    xs = Standardizer().fit(X)
    net.preprocessing = Preprocessing(xs)
    Xs = xs.transform(X)
    np.testing.assert_allclose(net.predict_proba(X), net.forward(Xs), rtol=1e-12)
    assert np.array_equal(net.predict(X), net.forward(Xs).argmax(axis=1))
    assert net.score(X, labels) == pytest.approx(float(np.mean(net.predict(X) == labels)))
    back = fb.Network.load(net.save(tmp_path / "c.fastbp"))
    assert back.preprocessing is not None and back.preprocessing.y is None
    assert np.array_equal(back.predict(X), net.predict(X))
    assert np.array_equal(net.copy().predict(X), net.predict(X))
    with pytest.raises(ValueError, match="reserved"):
        net.save(tmp_path / "x.fastbp", arrays={"x_mean": np.ones(3)})
    net.preprocessing = Preprocessing(xs, Standardizer().fit(np.arange(5.0)))
    with pytest.raises(ValueError, match="need a loss whose targets may be"):
        net.preprocessing.check(net.spec)


def test_fit_works_in_the_network_units_with_the_helpers() -> None:
    X, y = regression_rows(60)
    net = fb.Network(fb.NetworkSpec([4, 6, 1], ["tanh"], "squared"), seed=0)
    pre = Preprocessing(Standardizer().fit(X), Standardizer().fit(y))
    net.preprocessing = pre
    net.fit(pre.to_network_inputs(X, net.spec), pre.to_network_targets(y), epochs=20,
            batch_size=4, lr=0.01, progress=False)  # fmt: skip
    assert net.score(X, y) > 0.5
