"""ONNX export of an Ensemble's mean: onnxruntime runs the file and matches predict/predict_proba.

Tolerances are tests/interop_cases.py's (another runtime, another summation order).  The mean's
own rounding is ONNX ``Sum`` and ``Div`` against numpy's ``mean(axis=0)``: both add M terms
and divide by M.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from interop_cases import assert_export_close

import fastbp as fb
from fastbp.datasets import Standardizer
from fastbp.interop import DEFAULT_OPSET, ensemble_onnx_model, ensemble_to_onnx
from fastbp.preprocessing import Preprocessing

onnx = pytest.importorskip("onnx", reason="needs the onnx extra (pip install 'fastbp[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra (pip install 'fastbp[onnx]')")

#: loss -> (hidden activation, outputs): one regression and both classification outputs.
CASES = {
    "squared": ("tanh", 2),
    "softmax_cross_entropy": ("relu", 3),
    "logistic": ("softplus", 1),
}


def run(path: Path, X: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["Y"], {"X": X})[0]


def make_ensemble(loss: str, dtype: str, M: int = 4) -> fb.Ensemble:
    """M members of a 3-5-4-nr network, trained briefly so that they differ beyond their init."""
    act, n_out = CASES[loss]
    spec = fb.NetworkSpec([3, 5, 4, n_out], act, loss, dtype)
    ens = fb.Ensemble(spec, M, seed=1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    if loss == "squared":
        Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])
    elif loss == "softmax_cross_entropy":
        Y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    else:
        Y = (X[:, 0] + X[:, 1] > 0).astype(int)
    ens.fit(X, Y, epochs=2, lr=0.05, progress=False, n_jobs=1)
    return ens


def expected(ens: fb.Ensemble, X: np.ndarray) -> np.ndarray:
    if ens.spec.loss == "squared":
        return ens.predict(X)
    return ens.predict_proba(X)


@pytest.mark.parametrize("loss", list(CASES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_onnx_mean_matches_predict(loss, dtype, tmp_path):
    ens = make_ensemble(loss, dtype)
    X = np.random.default_rng(2).normal(size=(17, 3)).astype(dtype)
    path = ens.to_onnx(tmp_path / "e.onnx")
    assert path == tmp_path / "e.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == DEFAULT_OPSET
    assert [n.op_type for n in model.graph.node].count("Sum") == 1
    props = {p.key: p.value for p in model.metadata_props}
    assert props["fastbp.n_members"] == "4"
    assert fb.NetworkSpec.from_dict(json.loads(props["fastbp.spec"])) == ens.spec
    out = run(path, X)
    assert out.dtype == np.dtype(dtype) and out.shape == (17, ens.spec.n_outputs)
    assert_export_close(out, expected(ens, X), dtype, f"{loss} {dtype}")
    # The mean is not any one member's output: the export really averages.
    assert not np.allclose(out, ens.forward(X)[0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_preprocessing_is_built_in_unless_refused(dtype, tmp_path):
    ens = make_ensemble("squared", dtype)
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(50, 3)) * 4 + 7
    ens.preprocessing = Preprocessing(
        Standardizer().fit(raw), Standardizer().fit(rng.normal(size=(50, 2)) * 3 - 1)
    )
    X = raw[:13].astype(dtype)
    out = run(ens.to_onnx(tmp_path / "p.onnx"), X)
    assert_export_close(out, ens.predict(X), dtype, "with preprocessing")
    bare = run(ens.to_onnx(tmp_path / "b.onnx", preprocessing=False), X)
    assert_export_close(bare, ens.forward(X).mean(axis=0), dtype, "preprocessing=False")


def test_float32_graph_of_a_float64_ensemble(tmp_path):
    ens = make_ensemble("softmax_cross_entropy", "float64")
    X = np.random.default_rng(4).normal(size=(9, 3))
    path = ensemble_to_onnx(ens, tmp_path / "e32.onnx", dtype="float32")
    model = onnx.load(str(path))
    assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.FLOAT}
    out = run(path, X.astype(np.float32))
    assert out.dtype == np.float32
    assert_export_close(out, ens.predict_proba(X), "float32")


def test_saved_and_loaded_ensemble_exports_the_same_graph(tmp_path):
    ens = make_ensemble("logistic", "float64", M=3)
    loaded = fb.Ensemble.load(ens.save(tmp_path / "e.fastbp"))
    a = ensemble_onnx_model(ens).SerializeToString()
    assert ensemble_onnx_model(loaded).SerializeToString() == a


def test_refusals(tmp_path):
    ens = make_ensemble("squared", "float64", M=2)
    with pytest.raises(TypeError, match="fastbp.Ensemble"):
        ensemble_to_onnx(ens.member(0), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="opset"):
        ens.to_onnx(tmp_path / "m.onnx", opset=3)
    with pytest.raises(ValueError, match="dtype"):
        ens.to_onnx(tmp_path / "m.onnx", dtype="float16")
    with pytest.raises(TypeError, match="preprocessing"):
        ens.to_onnx(tmp_path / "m.onnx", preprocessing="yes")
    ens.params[1, 0] = np.nan  # the array itself: the setter would refuse it
    with pytest.raises(ValueError, match="NaN or inf"):
        ens.to_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_an_ensemble_file_as_its_mean(tmp_path, capsys):
    from fastbp.cli import main

    ens = make_ensemble("softmax_cross_entropy", "float32", M=3)
    saved = ens.save(tmp_path / "e.fastbp")
    out_path = tmp_path / "e.onnx"
    assert main(["export", str(saved), "--onnx", str(out_path), "--opset", "13"]) == 0
    assert "mean of 3 members' softmax probabilities" in capsys.readouterr().out
    assert onnx.load(str(out_path)).opset_import[0].version == 13
    X = np.random.default_rng(5).normal(size=(8, 3)).astype(np.float32)
    assert_export_close(run(out_path, X), ens.predict_proba(X), "float32")
    # --torch has no ensemble form: refused in one line, nothing written.
    assert main(["export", str(saved), "--torch", str(tmp_path / "e.pt")]) == 2
    err = capsys.readouterr().err
    assert "ensemble file" in err and "Traceback" not in err
    assert not (tmp_path / "e.pt").exists()
