"""ONNX export: onnxruntime runs the file and matches net.forward (see tests/interop_cases.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from interop_cases import (
    ALL_COMBINATIONS,
    RANDOM_CASES,
    assert_export_close,
    case_network,
    combination_network,
    inputs,
)

import fastbp as fb
from fastbp.datasets import Standardizer
from fastbp.interop import DEFAULT_OPSET, MIN_OPSET, onnx_model, to_onnx

onnx = pytest.importorskip("onnx", reason="needs the onnx extra (pip install 'fastbp[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra (pip install 'fastbp[onnx]')")


def load_checked(path: Path):
    """The file as onnx loads it, after the full checker (with shape inference) passed."""
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    return model


def run(path: Path, X: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["Y"], {"X": X})[0]


def export_and_compare(net: fb.Network, path: Path, X: np.ndarray, what: str) -> None:
    assert net.to_onnx(path) == path
    model = load_checked(path)
    assert model.opset_import[0].version == DEFAULT_OPSET
    out = run(path, X)
    assert out.dtype == net.spec.np_dtype
    assert_export_close(out, net.forward(X), net.spec.dtype, what)


@pytest.mark.parametrize(("act", "loss", "dtype"), ALL_COMBINATIONS)
def test_onnx_matches_forward_for_every_activation_loss_and_dtype(act, loss, dtype, tmp_path):
    net = combination_network(act, loss, dtype, seed=ALL_COMBINATIONS.index((act, loss, dtype)))
    for scale in (2.0, 30.0):  # 30: saturated σ/tanh, softplus far out on both sides
        X = inputs(net, 23, seed=1, scale=scale)
        export_and_compare(net, tmp_path / "m.onnx", X, f"{net.spec!r}, |X| ~ {scale}")


@pytest.mark.parametrize("case", RANDOM_CASES)
def test_onnx_matches_forward_on_random_architectures(case, tmp_path):
    net = case_network(case)
    export_and_compare(net, tmp_path / "m.onnx", inputs(net, 9, seed=case), repr(net.spec))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batch_dimension_is_dynamic(dtype, tmp_path):
    net = combination_network("tanh", "softmax_cross_entropy", dtype, seed=3)
    path = net.to_onnx(tmp_path / "m.onnx")
    model = load_checked(path)
    (x_info,), (y_info,) = model.graph.input, model.graph.output
    assert x_info.name == "X" and y_info.name == "Y"
    x_dims = x_info.type.tensor_type.shape.dim
    assert x_dims[0].dim_param == "batch" and x_dims[1].dim_value == net.spec.n_inputs
    assert y_info.type.tensor_type.shape.dim[1].dim_value == net.spec.n_outputs
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for m in (1, 2, 17, 3000):  # 3000 > fastbp's chunk of 2048 rows
        X = inputs(net, m, seed=m)
        assert_export_close(sess.run(["Y"], {"X": X})[0], net.forward(X), dtype, f"batch {m}")


def single_unit(act: str, dtype: str) -> fb.Network:
    """1-1-1 network: z1 = x, a1 = act(x), output a1 (identity, squared loss)."""
    net = fb.Network(fb.NetworkSpec([1, 1, 1], [act], "squared", dtype), init="zeros")
    net.layer(1)[0][...] = 1.0
    net.layer(2)[0][...] = 1.0
    return net


def test_leaky_relu_slope_is_exactly_fastbps_in_float64(tmp_path):
    # ONNX's LeakyRelu takes alpha as a 32-bit float (0.00999999977...); the exporter's
    # Max(z, 0.01 z) keeps the float64 slope, so the outputs are bit-identical here.
    net = single_unit("leaky_relu", "float64")
    X = np.array([[-1.0], [-3.0], [-1e300], [0.0], [2.5]])
    out = run(net.to_onnx(tmp_path / "m.onnx"), X)
    np.testing.assert_array_equal(out, net.forward(X))
    assert out[0, 0] == -0.01


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softplus_is_stable_far_from_zero(dtype, tmp_path):
    net = single_unit("softplus", dtype)
    X = np.array([[-1000.0], [-40.0], [0.0], [40.0], [80.0], [1000.0]], dtype=dtype)
    out = run(net.to_onnx(tmp_path / "m.onnx"), X)
    assert np.isfinite(out).all()
    assert_export_close(out, net.forward(X), dtype)
    assert out[-1, 0] == 1000.0 and out[0, 0] == 0.0


@pytest.mark.parametrize("opset", [MIN_OPSET, DEFAULT_OPSET, None])
def test_opsets(opset, tmp_path):
    net = combination_network("softplus", "logistic", "float64", seed=5)
    path = to_onnx(net, tmp_path / "m.onnx", opset=opset)
    model = load_checked(path)
    assert model.opset_import[0].version == (DEFAULT_OPSET if opset is None else opset)
    X = inputs(net, 5, seed=0)
    assert_export_close(run(path, X), net.forward(X), "float64")


@pytest.mark.parametrize(
    ("opset", "error"),
    [(MIN_OPSET - 1, ValueError), (10**6, ValueError), ("17", TypeError), (True, TypeError)],
)
def test_bad_opset_is_refused(opset, error, tmp_path):
    net = combination_network("relu", "squared", "float64", seed=0)
    with pytest.raises(error, match="opset"):
        net.to_onnx(tmp_path / "m.onnx", opset=opset)
    assert not (tmp_path / "m.onnx").exists()


def test_non_finite_parameters_are_refused_and_nothing_is_written(tmp_path):
    net = combination_network("relu", "squared", "float64", seed=0)
    net.params[0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        net.to_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_path_errors(tmp_path):
    net = combination_network("relu", "squared", "float32", seed=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        net.to_onnx(tmp_path / "missing" / "m.onnx")
    with pytest.raises(IsADirectoryError):
        net.to_onnx(tmp_path)
    with pytest.raises(TypeError, match="path"):
        net.to_onnx(42)
    with pytest.raises(TypeError, match="fastbp.Network"):
        to_onnx("not a network", tmp_path / "m.onnx")


def test_model_records_the_spec():
    net = combination_network("sigmoid", "softmax_cross_entropy", "float32", seed=2)
    model = onnx_model(net)
    props = {p.key: p.value for p in model.metadata_props}
    assert fb.NetworkSpec.from_dict(json.loads(props["fastbp.spec"])) == net.spec
    assert model.producer_name == "fastbp" and model.producer_version == fb.__version__


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_standardisation_built_into_the_graph(dtype, tmp_path):
    rng = np.random.default_rng(0)
    net = combination_network("tanh", "squared", dtype, seed=7)
    raw = (rng.normal(size=(40, net.spec.n_inputs)) * 5 + 3).astype(dtype)
    xs = Standardizer().fit(raw)
    ys = Standardizer().fit(rng.normal(size=(40, net.spec.n_outputs)) * 7 - 2)
    path = to_onnx(net, tmp_path / "m.onnx", x_scaler=xs, y_scaler=ys)
    load_checked(path)
    expected = ys.inverse_transform(net.forward(xs.transform(raw)))
    assert_export_close(run(path, raw), expected, dtype)


@pytest.mark.parametrize("loss", ["squared", "softmax_cross_entropy"])
def test_float32_graph_of_a_float64_network(loss, tmp_path):
    """net.to_onnx(..., dtype="float32"): float32 input, output and weights from float64."""
    net = combination_network("softplus", loss, "float64", seed=3)
    X = inputs(net, 30, seed=0)
    path = net.to_onnx(tmp_path / "m32.onnx", dtype="float32")
    model = load_checked(path)
    f32 = onnx.TensorProto.FLOAT
    assert model.graph.input[0].type.tensor_type.elem_type == f32
    assert model.graph.output[0].type.tensor_type.elem_type == f32
    assert {t.data_type for t in model.graph.initializer} == {f32}
    out = run(path, X.astype(np.float32))
    assert out.dtype == np.float32
    assert_export_close(out, net.forward(X), "float32")
    # With preprocessing, the standardisation is built in around the float32 graph.
    xs = Standardizer().fit(X * 3 + 1)
    net.preprocessing = fb.preprocessing.Preprocessing(xs)
    out = run(net.to_onnx(tmp_path / "p32.onnx", dtype="float32"), (X * 3 + 1).astype(np.float32))
    assert_export_close(out, net._user_outputs(X * 3 + 1), "float32")
    with pytest.raises(ValueError, match="dtype"):
        net.to_onnx(tmp_path / "bad.onnx", dtype="float16")


def test_bad_standardisers_are_refused(tmp_path):
    net = combination_network("relu", "softmax_cross_entropy", "float64", seed=1)
    good = Standardizer().fit(np.ones((3, net.spec.n_inputs)))
    with pytest.raises(ValueError, match="standardised targets"):
        onnx_model(net, x_scaler=good, y_scaler=Standardizer().fit(np.ones((3, 1))))
    with pytest.raises(ValueError, match="column"):
        onnx_model(net, x_scaler=Standardizer().fit(np.ones((3, net.spec.n_inputs + 1))))
    with pytest.raises(ValueError, match="not fitted"):
        onnx_model(net, x_scaler=Standardizer())
    with pytest.raises(TypeError, match="Standardizer"):
        onnx_model(net, x_scaler={"mean": 0})


def test_missing_onnx_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    net = combination_network("relu", "squared", "float64", seed=0)
    with pytest.raises(ImportError, match=r"fastbp\[onnx\]"):
        net.to_onnx(tmp_path / "m.onnx")
