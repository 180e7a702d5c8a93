"""The model file: bit-exact round trips, atomic writes, and refusal of damaged or hostile files."""

from __future__ import annotations

import io
import json
import pickle
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastbp
import fastbp.io as fio
from fastbp.io import ModelFileError, load_model, read_header, save_model

#: A refusal must not allocate anything like the size a hostile file claims (gigabytes).
MAX_REFUSAL_PEAK_BYTES = 32 * 2**20


# ---------------------------------------------------------------------------------- helpers
def _net(dtype: str = "float64", seed: int = 0) -> fastbp.Network:
    spec = fastbp.NetworkSpec([3, 5, 4, 2], ["tanh", "relu"], "softmax_cross_entropy", dtype)
    return fastbp.Network(spec, seed=seed)


def _save(path: Path, net: fastbp.Network, **kwargs) -> Path:
    return save_model(path, net.spec, net.params, init=net.init, seed=net.seed, **kwargs)


def _members(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The decoded header and every other member of a (valid) model file, read raw."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    return header, arrays


def _header_array(header: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)


def _write_npz(path: Path, members: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **members)


def _rewrite(path: Path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    _write_npz(path, {"header": _header_array(header), **arrays})


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, fastbp.Network]:
    net = _net()
    return _save(tmp_path / "model.fastbp", net), net


class _Evil:
    """Unpickling this creates the marker file: proof that a payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ---------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_bit_exact(tmp_path: Path, dtype: str) -> None:
    net = _net(dtype, seed=3)
    net.params[0] = np.finfo(dtype).tiny  # subnormal-adjacent values survive too
    history = {
        "loss": [np.float32(1.5), 0.75, float("nan"), np.inf],
        "val_loss": np.array([2.0, -np.inf]),
        "epoch_seconds": [0.1, 0.2, 0.3, 0.4],
    }
    optimizer = {"name": "momentum", "lr": np.float64(0.05), "momentum": 0.9, "batch": 32}
    arrays = {"mean": np.arange(3, dtype=np.float64), "scale": np.full(3, 2.5, dtype=dtype)}
    state = {"velocity": np.linspace(-1, 1, net.n_params).astype(dtype), "step": np.int64(7)}
    path = _save(
        tmp_path / "net.fastbp",
        net,
        history=history,
        optimizer=optimizer,
        arrays=arrays,
        optimizer_state=state,
        metadata={"data": "moons", "n_train": 200},
    )
    assert path == tmp_path / "net.fastbp"

    m = load_model(path)
    assert m.spec == net.spec
    assert m.params.dtype == net.params.dtype
    assert np.array_equal(m.params, net.params)
    assert m.params.tobytes() == net.params.tobytes()
    assert m.init == "xavier_normal"
    assert m.seed == 3
    assert m.optimizer == {"name": "momentum", "lr": 0.05, "momentum": 0.9, "batch": 32}
    assert m.history["loss"][:2] == [1.5, 0.75]
    assert np.isnan(m.history["loss"][2]) and m.history["loss"][3] == np.inf
    assert m.history["val_loss"] == [2.0, -np.inf]
    assert m.metadata == {"data": "moons", "n_train": 200}
    assert set(m.arrays) == {"mean", "scale"}
    for name, arr in arrays.items():
        assert m.arrays[name].dtype == arr.dtype and np.array_equal(m.arrays[name], arr)
    assert set(m.optimizer_state) == {"velocity", "step"}
    assert np.array_equal(m.optimizer_state["velocity"], state["velocity"])
    assert m.optimizer_state["velocity"].dtype == np.dtype(dtype)
    assert m.optimizer_state["step"].shape == () and m.optimizer_state["step"] == 7

    # The parameters drive an equivalent network.
    other = fastbp.Network(m.spec, init="zeros")
    other.params = m.params
    assert np.array_equal(other.params, net.params)


def test_header_is_strict_json_of_documented_fields(saved) -> None:
    path, net = saved
    with np.load(path, allow_pickle=False) as npz:
        raw = npz["header"]
        assert sorted(npz.files) == ["header", "params"]
    assert raw.dtype == np.uint8 and raw.ndim == 1
    text = raw.tobytes().decode("utf-8")
    header = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert header["format"] == fio.FORMAT_NAME == "fastbp-model"
    # Version 2 added optimizer settings (weight_decay, adamw), version 3 spec fields (the loss
    # parameters huber_delta and quantile, dropout); files without them stay at 1.
    assert header["format_version"] == 1 and fio.FORMAT_VERSION == 3
    assert header["fastbp_version"] == fastbp.__version__
    assert header["spec"] == net.spec.to_dict()
    assert header["dtype"] == "float64" and header["n_params"] == net.n_params
    assert header["arrays"] == [] and header["optimizer_state"] is None
    assert header["history"] is None and header["optimizer"] is None
    assert header["created"].endswith("Z")
    assert zipfile.ZipFile(path).getinfo("params.npy").compress_type == zipfile.ZIP_STORED


def test_minimal_round_trip_and_unrecorded_seed(tmp_path: Path) -> None:
    net = _net("float32")
    path = save_model(tmp_path / "m", net.spec, net.params, seed=np.random.default_rng(1))
    m = load_model(path)
    assert path.name == "m" and not (tmp_path / "m.npz").exists()
    assert m.seed is None and m.init is None
    assert m.arrays == {} and m.optimizer_state is None
    assert np.array_equal(m.params, net.params)


def test_read_header_does_not_read_the_parameters(saved) -> None:
    path, net = saved
    header, arrays = _members(path)
    arrays["params"] = arrays["params"].copy()
    arrays["params"][4] = np.nan  # load_model refuses this file; read_header never sees the data
    _rewrite(path, header, arrays)
    got = read_header(path)
    assert got["spec"] == net.spec.to_dict() and got["n_params"] == net.n_params
    with pytest.raises(ModelFileError, match="NaN or inf"):
        load_model(path)


def test_overwrite_replaces_and_keeps_permissions(saved) -> None:
    path, net = saved
    path.chmod(0o640)
    net.params[...] = 1.0
    _save(path, net)
    assert np.all(load_model(path).params == 1.0)
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# ---------------------------------------------------------------------------------- atomic save
def test_interrupted_replace_leaves_old_file_intact(saved, monkeypatch) -> None:
    path, net = saved
    old = net.params.copy()

    def boom(src, dst):
        raise OSError("disk unplugged")

    monkeypatch.setattr(fio.os, "replace", boom)
    net.params[...] = 0.5
    with pytest.raises(OSError, match="disk unplugged"):
        _save(path, net)
    monkeypatch.undo()
    assert np.array_equal(load_model(path).params, old)
    assert list(path.parent.glob("*.tmp")) == [] and list(path.parent.glob(".*.tmp")) == []
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_interrupted_write_leaves_old_file_intact(saved, monkeypatch) -> None:
    path, net = saved
    old = net.params.copy()

    def half_savez(f, **members):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(fio.np, "savez", half_savez)
    with pytest.raises(KeyboardInterrupt):
        _save(path, net)
    monkeypatch.undo()
    assert np.array_equal(load_model(path).params, old)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# ---------------------------------------------------------------------------------- save refusals
def test_save_refuses_non_finite_params_and_writes_nothing(tmp_path: Path) -> None:
    net = _net()
    net.lowered.params[2] = np.inf  # bypass the setter, as a diverged training run would
    with pytest.raises(ValueError, match="1 NaN or inf"):
        _save(tmp_path / "m.fastbp", net)
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_bad_arguments(tmp_path: Path) -> None:
    net = _net()
    p = tmp_path / "m.fastbp"
    with pytest.raises(ValueError, match="dtype float32 but the spec says float64"):
        save_model(p, net.spec, net.params.astype(np.float32))
    with pytest.raises(ValueError, match=f"flat array of {net.n_params} values"):
        save_model(p, net.spec, net.params[:-1])
    with pytest.raises(TypeError, match="dtype object"):
        save_model(p, net.spec, net.params.astype(object))
    with pytest.raises(TypeError, match="never objects"):
        save_model(p, net.spec, net.params, arrays={"x": np.array([{}], dtype=object)})
    with pytest.raises(TypeError, match="never objects"):
        save_model(p, net.spec, net.params, optimizer_state={"s": np.array(["a"])})
    with pytest.raises(ValueError, match="name 'a/b' is not allowed"):
        save_model(p, net.spec, net.params, arrays={"a/b": np.zeros(1)})
    with pytest.raises(TypeError, match=r"history\['loss'\]\[0\] holds a complex"):
        save_model(p, net.spec, net.params, history={"loss": [1j]})
    with pytest.raises(TypeError, match="NetworkSpec"):
        save_model(p, net.spec.to_dict(), net.params)
    assert list(tmp_path.iterdir()) == []


def test_save_into_missing_directory_names_it(tmp_path: Path) -> None:
    net = _net()
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        _save(tmp_path / "no_such_dir" / "m.fastbp", net)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        _save(tmp_path, net)


def test_load_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.fastbp")


# ---------------------------------------------------------------------------------- load refusals
@pytest.mark.parametrize("keep", [0.0, 0.3, 0.7, 0.95, -1])
def test_truncated_file_is_refused(saved, keep: float) -> None:
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[:-1] if keep == -1 else data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match="truncated|empty|damaged"):
        load_model(path)
    with pytest.raises(ModelFileError):
        read_header(path)


def test_corrupted_params_data_is_refused(saved) -> None:
    path, _ = saved
    info = zipfile.ZipFile(path).getinfo("params.npy")
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    last = info.header_offset + 30 + name_len + extra_len + info.compress_size - 1
    data[last] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="member 'params' is damaged.*CRC"):
        load_model(path)


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.fastbp"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match=r"noise\.fastbp: not a fastbp model file"):
        load_model(path)


def test_pickle_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.fastbp"
    path.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(path)
    with pytest.raises(ModelFileError, match="pickle"):
        read_header(path)
    assert not marker.exists()


def test_bare_npy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "params.fastbp"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ModelFileError, match="bare .npy"):
        load_model(path)


def test_object_array_member_is_refused_and_never_unpickled(saved) -> None:
    path, _ = saved
    marker = path.parent / "pwned"
    header, arrays = _members(path)
    header["arrays"] = ["evil"]
    arrays["extra/evil"] = np.array([_Evil(marker)], dtype=object)
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match="'extra/evil' holds an object array"):
        load_model(path)
    assert not marker.exists()


def test_object_params_are_refused(saved) -> None:
    path, _ = saved
    header, arrays = _members(path)
    arrays["params"] = arrays["params"].astype(object)
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match="'params' holds an object array"):
        load_model(path)
    with pytest.raises(ModelFileError, match="'params' holds an object array"):
        read_header(path)


@pytest.mark.parametrize("member", ["header", "params"])
def test_missing_member_is_refused(saved, member: str) -> None:
    path, _ = saved
    header, arrays = _members(path)
    members = {"header": _header_array(header), **arrays}
    del members[member]
    _write_npz(path, members)
    match = "no 'header' member" if member == "header" else r"missing member\(s\) \['params'\]"
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_listed_extra_array_missing_is_refused(saved) -> None:
    path, _ = saved
    header, arrays = _members(path)
    header["arrays"] = ["mean"]
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match=r"missing member\(s\) \['extra/mean'\]"):
        load_model(path)


@pytest.mark.parametrize("key", ["weights", "extra/unlisted", "optim/velocity"])
def test_unknown_member_is_refused(saved, key: str) -> None:
    path, _ = saved
    header, arrays = _members(path)
    arrays[key] = np.zeros(3)
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match=rf"unknown member\(s\) \['{key}'\]"):
        load_model(path)


def test_non_npy_member_is_refused(saved) -> None:
    path, _ = saved
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("run.py", "print('hello')")
    with pytest.raises(ModelFileError, match=r"unknown member\(s\) \['run.py'\]"):
        load_model(path)


def test_wrong_params_shape_is_refused(saved) -> None:
    path, net = saved
    header, arrays = _members(path)
    arrays["params"] = arrays["params"][:-1]
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match=rf"params has shape \({net.n_params - 1},\)"):
        load_model(path)
    arrays["params"] = np.zeros((1, net.n_params))
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match=r"params has shape \(1, "):
        load_model(path)


def test_params_dtype_disagreeing_with_spec_is_refused(saved) -> None:
    path, _ = saved
    header, arrays = _members(path)
    arrays["params"] = arrays["params"].astype(np.float32)
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match="params has dtype float32 but the spec says float64"):
        load_model(path)


def test_big_endian_params_are_converted_exactly(saved) -> None:
    path, net = saved
    header, arrays = _members(path)
    arrays["params"] = arrays["params"].astype(">f8")
    _rewrite(path, header, arrays)
    m = load_model(path)
    assert m.params.dtype == np.float64 and np.array_equal(m.params, net.params)


def test_newer_format_version_is_refused(saved) -> None:
    path, _ = saved
    header, arrays = _members(path)
    header["format_version"] = 99
    _rewrite(path, header, arrays)
    with pytest.raises(
        ModelFileError, match=r"format_version 99 is newer.*supported versions: \[1, 2, 3\]"
    ):
        load_model(path)
    with pytest.raises(ModelFileError, match="format_version 99"):
        read_header(path)


@pytest.mark.parametrize("version", ["1", 0, None, True, 1.0])
def test_unknown_format_version_is_refused(saved, version) -> None:
    path, _ = saved
    header, arrays = _members(path)
    header["format_version"] = version
    _rewrite(path, header, arrays)
    match = r"unknown format_version .*supported versions: \[1, 2, 3\]"
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_wrong_format_name_is_refused(saved) -> None:
    path, _ = saved
    header, arrays = _members(path)
    header["format"] = "keras-model"
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match="not a fastbp model file.*'keras-model'"):
        load_model(path)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\xff\xfe{}", "not valid UTF-8 JSON"),
        (b'{"format": ', "not valid UTF-8 JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 100_000, "not valid UTF-8 JSON"),
    ],
)
def test_bad_header_json_is_refused(saved, raw: bytes, match: str) -> None:
    path, _ = saved
    _, arrays = _members(path)
    _write_npz(path, {"header": np.frombuffer(raw, dtype=np.uint8), **arrays})
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_header_stored_as_wrong_dtype_is_refused(saved) -> None:
    path, _ = saved
    header, arrays = _members(path)
    _write_npz(path, {"header": np.array(json.dumps(header)), **arrays})
    with pytest.raises(ModelFileError, match="header must be a 1-D uint8 array"):
        load_model(path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n_params": 5}, "n_params = 5 disagrees with the spec"),
        ({"dtype": "float32"}, "dtype 'float32' disagrees"),
        ({"spec": {"widths": [3, 2], "activations": [], "loss": "hinge", "dtype": "float64"}},
         "invalid spec: loss = 'hinge' is unknown"),
        ({"spec": {"widths": 3}}, "invalid spec: spec is missing field"),
        ({"spec": "3-5-4-2"}, "invalid spec: spec must be a mapping"),
        ({"seed": "zero"}, "'seed' must be int or null"),
        ({"arrays": ["../x"]}, "invalid name"),
        ({"history": [1, 2]}, "'history' must be dict or null"),
        ({"script": "import os"}, r"unknown field\(s\) \['script'\]"),
    ],
)  # fmt: skip
def test_inconsistent_header_is_refused(saved, change: dict, match: str) -> None:
    path, _ = saved
    header, arrays = _members(path)
    header.update(change)
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_header_missing_field_is_refused(saved) -> None:
    path, _ = saved
    header, arrays = _members(path)
    del header["n_params"]
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match=r"missing field\(s\) \['n_params'\]"):
        load_model(path)


def test_absurd_spec_is_refused_without_allocating(saved) -> None:
    path, _ = saved
    header, arrays = _members(path)
    header["spec"]["widths"] = [10**6, 10**6, 10**6]
    header["spec"]["activations"] = ["tanh"]
    header["spec"]["loss"] = "squared"
    header["n_params"] = 2 * 10**12 + 2 * 10**6
    _rewrite(path, header, arrays)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match="invalid spec.*GiB"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5.0
    assert peak < MAX_REFUSAL_PEAK_BYTES


def test_params_claiming_more_data_than_stored_is_refused_without_allocating(tmp_path) -> None:
    # A valid 3.2 GB spec, but the params member announces 400 M values and holds 64 bytes.
    spec = fastbp.NetworkSpec([20_000, 20_000, 1], ["tanh"], "squared", "float64")
    header = json.loads(json.dumps(_members(_save(tmp_path / "ok", _net()))[0]))
    header.update(spec=spec.to_dict(), dtype="float64", n_params=spec.n_params)
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        npy, {"descr": "<f8", "fortran_order": False, "shape": (spec.n_params,)}
    )
    npy.write(bytes(64))
    hdr = io.BytesIO()
    np.lib.format.write_array(hdr, _header_array(header))
    path = tmp_path / "liar.fastbp"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("header.npy", hdr.getvalue())
        zf.writestr("params.npy", npy.getvalue())
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="announces shape.*holds 64 bytes"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_REFUSAL_PEAK_BYTES


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_non_finite_params_in_crafted_file_are_refused(tmp_path: Path, dtype: str) -> None:
    path = _save(tmp_path / "m.fastbp", _net(dtype))
    header, arrays = _members(path)
    arrays["params"] = arrays["params"].copy()
    arrays["params"][[0, 5]] = [np.nan, -np.inf]
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match="2 NaN or inf value"):
        load_model(path)


def test_compressed_archive_is_accepted(saved) -> None:
    path, net = saved
    header, arrays = _members(path)
    with open(path, "wb") as f:
        np.savez_compressed(f, header=_header_array(header), **arrays)
    assert np.array_equal(load_model(path).params, net.params)
