"""``fastbp export`` and ``python -m fastbp``, through subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from interop_cases import assert_export_close

import fastbp as fb
from fastbp.datasets import Standardizer

onnx = pytest.importorskip("onnx", reason="needs the onnx extra (pip install 'fastbp[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra (pip install 'fastbp[onnx]')")
torch = pytest.importorskip("torch", reason="needs the torch extra (pip install 'fastbp[torch]')")

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def python_m(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "fastbp", *args], cwd)


def onnx_out(path: Path, X: np.ndarray) -> np.ndarray:
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["Y"], {"X": X})[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small regression model saved by ``fastbp train`` (with its standardisers)."""
    folder = tmp_path_factory.mktemp("export")
    proc = python_m(
        "train", "--dataset", "diabetes", "--hidden", "8", "--activation", "softplus",
        "--epochs", "2", "--no-progress", "--out", "model.fastbp", cwd=folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return folder / "model.fastbp"


def test_python_m_fastbp_is_the_fastbp_command(tmp_path):
    proc = python_m("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fastbp {fb.__version__}"
    proc = python_m("export", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "--onnx" in proc.stdout
    proc = python_m(cwd=tmp_path)  # no command: help and the usage status, as `fastbp`
    assert proc.returncode == 2 and "export" in proc.stdout


def test_export_onnx_and_torch(trained, tmp_path):
    proc = python_m("export", str(trained), "--onnx", "m.onnx", "--torch", "m.pt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "standardisation of the features and targets built in" in proc.stdout
    assert "standardisation folded into the Linear layers" in proc.stdout
    net = fb.Network.load(trained)
    xs = Standardizer.from_arrays({"mean": net.extras["x_mean"], "scale": net.extras["x_scale"]})
    ys = Standardizer.from_arrays({"mean": net.extras["y_mean"], "scale": net.extras["y_scale"]})
    X = fb.datasets.load_diabetes().X[:50]
    # The ONNX file computes what `fastbp predict` prints: raw features in, original units out.
    expected = ys.inverse_transform(net.forward(xs.transform(X)))
    assert_export_close(net.predict(X), expected, "float64")  # the loaded model applies them
    assert_export_close(onnx_out(tmp_path / "m.onnx", X), expected, "float64")
    # The state_dict loads into the architecture to_torch builds and, with the standardisation
    # folded into its first and last Linear layers, computes what `fastbp predict` prints too.
    module = net.to_torch()
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    module.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    with torch.no_grad():
        out = module(torch.from_numpy(X)).numpy()
    assert_export_close(out, expected, "float64")


def test_export_raw_is_net_forward(trained, tmp_path):
    proc = python_m("export", str(trained), "--onnx", "raw.onnx", "--raw", "--opset", "13",
                    cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "standardisation" not in proc.stdout
    net = fb.Network.load(trained)
    X = np.random.default_rng(0).normal(size=(20, net.spec.n_inputs))
    assert onnx.load(str(tmp_path / "raw.onnx")).opset_import[0].version == 13
    assert_export_close(onnx_out(tmp_path / "raw.onnx", X), net.forward(X), "float64")


def test_export_classifier_with_the_console_script(tmp_path):
    exe = shutil.which("fastbp")
    if exe is None:
        pytest.skip("the fastbp console script is not on PATH (pip install -e .)")
    net = fb.Network(fb.NetworkSpec([4, 6, 3], "leaky_relu", "softmax_cross_entropy", "float32"))
    net.save(tmp_path / "c.fastbp")
    proc = run([exe, "export", "c.fastbp", "--onnx", "c.onnx"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "softmax probabilities" in proc.stdout and "float32" in proc.stdout
    X = np.random.default_rng(1).normal(size=(9, 4)).astype(np.float32)
    assert_export_close(onnx_out(tmp_path / "c.onnx", X), net.forward(X), "float32")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --onnx OUT.onnx and/or --torch OUT.pt"),
        (["--onnx", "no/such/dir/m.onnx"], "does not exist"),
        (["--onnx", "m.onnx", "--opset", "12"], "opset must be in"),
        (["--onnx", "m.onnx", "--opset", "x"], "expected an integer"),
    ],
)
def test_export_errors_are_one_line_with_status_2(trained, tmp_path, args, message):
    proc = python_m("export", str(trained), *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_export_of_a_missing_model(tmp_path):
    proc = python_m("export", "missing.fastbp", "--onnx", "m.onnx", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_export_without_torch_names_the_extra(trained, tmp_path, monkeypatch, capsys):
    from fastbp.cli import main

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert main(["export", str(trained), "--torch", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "fastbp[torch]" in err and "Traceback" not in err
    assert not (tmp_path / "m.pt").exists()


def test_importing_fastbp_imports_no_optional_package(tmp_path):
    code = (
        "import sys, fastbp, fastbp.interop, fastbp.cli\n"
        "loaded = {'onnx', 'onnxruntime', 'torch', 'sklearn'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    proc = run([sys.executable, "-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
