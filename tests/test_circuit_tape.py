"""fastbp.circuit tapes: recording, validation of malformed tapes, and the file format."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest

from fastbp import circuit as fc
from fastbp.circuit import files
from fastbp.circuit import ops as O
from fastbp.circuit import reference as ref
from fastbp.circuit.tape import FORMAT_NAME


def small_tape():
    """x0, x1, 2.5, x0·x1, sin(.), (.) + 2.5: a valid tape to break one field at a time."""
    return {
        "ops": [O.INPUT, O.INPUT, O.CONST, O.MUL, O.SIN, O.ADD],
        "arg0": [-1, -1, -1, 0, 3, 4],
        "arg1": [-1, -1, -1, 1, -1, 2],
        "consts": [0.0, 0.0, 2.5, 0.0, 0.0, 0.0],
        "inputs": [0, 1],
        "outputs": [5],
    }


def with_change(field, index, value):
    tape = small_tape()
    tape[field] = list(tape[field])
    tape[field][index] = value
    return tape


# ----------------------------------------------------------------------------- recording


def test_from_arrays_builds_the_same_circuit_as_record():
    recorded = fc.record(lambda a, b: 2.5 + fc.sin(a * b), 2)  # records a, b, a·b, sin, 2.5, +
    built = fc.Circuit.from_arrays(
        ops=[O.INPUT, O.INPUT, O.MUL, O.SIN, O.CONST, O.ADD],
        arg0=[-1, -1, 0, 2, -1, 4],
        arg1=[-1, -1, 1, -1, -1, 3],
        consts=[0, 0, 0, 0, 2.5, 0],
        inputs=[0, 1],
        outputs=[5],
    )
    for name in ("ops", "arg0", "arg1", "consts", "inputs", "outputs"):
        np.testing.assert_array_equal(getattr(recorded, name), getattr(built, name))
    assert built.ops.dtype == np.int8 and built.arg0.dtype == np.int64
    assert built.consts.dtype == np.float64
    assert not built.ops.flags.writeable  # validated once, so the tape cannot change after
    with pytest.raises(AttributeError):
        built.arg0 = np.zeros(6, dtype=np.int64)


def test_operators_with_numbers_on_either_side():
    def f(x, y):
        return (
            2 - x,
            x - 2,
            3 * x,
            x * 3,
            1 / x,
            x / 4,
            -x,
            +x,
            x**2,
            2**x,
            x + y,
            5 + y,
            np.float64(2.0) * x,
            x**0,
            x**1,
        )

    c = fc.record(f, 2)
    x, y = 0.7, -0.2
    expected = [
        2 - x,
        x - 2,
        3 * x,
        x * 3,
        1 / x,
        x / 4,
        -x,
        x,
        x**2,
        2**x,
        x + y,
        5 + y,
        2 * x,
        1.0,
        x,
    ]
    np.testing.assert_allclose(c.forward([x, y]), expected, rtol=1e-15)
    assert f(x, y)[9] == pytest.approx(2**x)  # the function also runs on floats


def test_constants_are_shared_and_outputs_may_be_constants():
    c = fc.record(lambda x: (x * 2.0 + 2.0, 3.0, x), 1)
    assert c.op_counts()["const"] == 2  # 2.0 once, 3.0 once
    np.testing.assert_allclose(c.forward([1.5]), [5.0, 3.0, 1.5])
    np.testing.assert_allclose(c.gradient([1.5], output=1), [0.0])
    constant = fc.record(lambda: 4.0, 0)
    assert constant.forward(np.zeros(0)).tolist() == [4.0]
    assert constant.gradient(np.zeros(0)).shape == (0,)


def test_outputs_may_come_as_a_numpy_object_array():
    c = fc.record(lambda xs: np.array(xs, dtype=object) * 2.0, 3, as_list=True)
    np.testing.assert_allclose(c.forward([1.0, 2.0, 3.0]), [2.0, 4.0, 6.0])


def test_every_module_function_records_its_op():
    names = ("sin", "cos", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "softplus")
    c = fc.record(lambda x: tuple(getattr(fc, name)(x) for name in names), 1)
    assert set(c.op_counts()) == {"input", *names}
    x = 0.8
    np.testing.assert_allclose(
        c.forward([x]),
        [
            math.sin(x),
            math.cos(x),
            math.exp(x),
            math.log(x),
            math.sqrt(x),
            math.tanh(x),
            1 / (1 + math.exp(-x)),
            x,
            math.log1p(math.exp(x)),
        ],
        rtol=1e-15,
    )
    for name in names:  # plain numbers give floats
        assert isinstance(getattr(fc, name)(0.5), float)


def test_recording_errors():
    with pytest.raises(TypeError, match="exponent"):
        fc.record(lambda x, y: x**y, 2)
    with pytest.raises(TypeError):
        fc.record(lambda x: x * 1j, 1)
    with pytest.raises(TypeError, match="real numbers"):
        fc.record(lambda x: x ** (1 + 1j), 1)
    with pytest.raises(TypeError):
        fc.record(lambda x: x + True, 1)
    with pytest.raises(ValueError, match="finite"):
        fc.record(lambda x: x * math.inf, 1)
    with pytest.raises(TypeError, match="if/while"):
        fc.record(lambda x: x if x else -x, 1)
    with pytest.raises(ValueError, match="no outputs"):
        fc.record(lambda x: (), 1)
    with pytest.raises(TypeError, match="output 0"):
        fc.record(lambda x: "x", 1)
    with pytest.raises(TypeError):
        fc.record(lambda x: x, 1.5)
    with pytest.raises(ValueError):
        fc.record(lambda x: x, -1)
    with pytest.raises(ValueError, match="base"):
        fc.record(lambda x: (-2.0) ** x, 1)
    kept = []
    fc.record(lambda x: kept.append(x) or x, 1)
    with pytest.raises(RuntimeError, match="finished"):
        kept[0] + 1.0
    other = []
    with pytest.raises(ValueError, match="two different recordings"):
        fc.record(lambda x: other.append(x) or x, 1)
        fc.record(lambda y: y + other[0], 1)


# ----------------------------------------------------------------------------- malformed tapes


@pytest.mark.parametrize(
    ("tape", "message"),
    [
        (with_change("arg0", 3, 4), r"node 3 \(mul.*arg0 = 4 is not an earlier node"),
        (with_change("arg1", 3, 3), r"node 3 \(mul.*arg1 = 3 is not an earlier node"),
        (with_change("arg0", 4, 99), r"node 4 \(sin.*arg0 = 99 is out of range"),
        (with_change("arg1", 5, -1), r"node 5 \(add.*arg1 = -1 is missing"),
        (with_change("arg1", 4, 0), r"node 4 \(sin, 1 argument\): arg1 must be -1"),
        (with_change("arg0", 2, 0), r"node 2 \(const, 0 arguments\): arg0 must be -1"),
        (with_change("ops", 4, 42), r"node 4: op code 42 is not a known op"),
        (with_change("ops", 4, -3), r"node 4: op code -3 is not a known op"),
        (with_change("ops", 4, 256 + O.SIN), r"op code 263 is not a known op"),
        (with_change("ops", 4, O.ADD), r"node 4 \(add.*arg1 = -1 is missing"),
        (with_change("ops", 3, O.SIN), r"node 3 \(sin, 1 argument\): arg1 must be -1"),
        (with_change("consts", 2, math.nan), r"node 2 \(const\): constant nan is not finite"),
        (with_change("outputs", 0, 6), r"outputs\[0\] = 6 is out of range"),
        (with_change("outputs", 0, -1), r"outputs\[0\] = -1 is out of range"),
        (with_change("inputs", 1, 7), r"inputs\[1\] = 7 is out of range"),
        (with_change("inputs", 1, 3), r"inputs\[1\] = 3 is node 3 \(mul\), not an input node"),
        (with_change("inputs", 1, 0), r"node 0 is listed more than once"),
        ({**small_tape(), "inputs": [0]}, r"node 1 is an input node but is not listed"),
        ({**small_tape(), "outputs": []}, r"at least one output"),
        ({**small_tape(), "consts": [0.0] * 5}, r"consts has 5 entries but ops has 6"),
        ({k: [] for k in small_tape()}, r"at least one node"),
    ],
)
def test_malformed_tapes_are_refused(tape, message):
    with pytest.raises(ValueError, match=message):
        fc.Circuit.from_arrays(**tape)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("ops", np.array([0.0, 0, 1, 4, 7, 2]), TypeError),  # float codes
        ("arg0", np.array([True] * 6), TypeError),
        ("inputs", np.array([[0, 1]]), ValueError),
        ("consts", np.array(["a"] * 6), TypeError),
        ("outputs", None, TypeError),
    ],
)
def test_tape_arrays_must_have_integer_or_real_dtypes(field, value, error):
    with pytest.raises(error):
        fc.Circuit.from_arrays(**{**small_tape(), field: value})


def test_random_tapes_with_one_corruption_never_reach_a_kernel():
    rng = np.random.default_rng(0)
    c = fc.random_circuit(200, 3, seed=0)
    arrays = c.to_arrays()
    refused = 0
    for _ in range(200):
        broken = {k: v.copy() for k, v in arrays.items()}
        field = ("arg0", "arg1", "ops")[rng.integers(3)]
        i = int(rng.integers(3, 200))
        broken[field][i] = rng.integers(-5, 260) if field != "ops" else rng.integers(-3, 40)
        try:
            d = fc.Circuit.from_arrays(**broken)
        except ValueError:
            refused += 1
            continue
        d.forward(np.zeros(3))  # accepted tapes are valid: the sweeps run in bounds
        d.gradient(np.zeros(3))
    assert refused > 100


# ----------------------------------------------------------------------------- files


def test_save_load_round_trip(tmp_path):
    c = fc.random_circuit(500, 4, n_outputs=3, seed=2)
    path = tmp_path / "c.npz"
    c.save(path)
    d = fc.Circuit.load(path)
    for name, arr in c.to_arrays().items():
        np.testing.assert_array_equal(getattr(d, name), arr)
        assert getattr(d, name).dtype == arr.dtype
    x = np.linspace(-1, 1, 4)
    np.testing.assert_array_equal(d.gradient(x, output=2), c.gradient(x, output=2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left behind
    c.save(path)  # overwriting goes through os.replace as well
    assert fc.Circuit.load(str(path)).n_nodes == 500


def test_save_goes_through_the_one_atomic_writer(tmp_path, monkeypatch):
    calls = []
    real = files.write_atomically

    def spy(path, write, what):
        calls.append((path, what))
        return real(path, write, what)

    monkeypatch.setattr(files, "write_atomically", spy)
    c = fc.record(lambda a: fc.sin(a), 1)
    c.save(tmp_path / "c.npz")
    assert calls == [(tmp_path / "c.npz", "circuit")]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        c.save(tmp_path / "missing" / "c.npz")
    with pytest.raises(IsADirectoryError):
        c.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_files_module_round_trip_and_validation(tmp_path):
    c = fc.record(lambda a, b: (a * b, fc.log(b)), 2)
    files.write_tape(tmp_path / "c.npz", c.to_arrays())
    arrays = files.read_tape(tmp_path / "c.npz")
    assert sorted(arrays) == sorted(c.to_arrays())
    for name, arr in c.to_arrays().items():
        np.testing.assert_array_equal(arrays[name], arr)
        assert arrays[name].dtype == arr.dtype
    rewrite(tmp_path / "c.npz", arg0=np.array([-1, -1, 3, 1]))  # a forward reference
    with pytest.raises(ValueError, match="forward reference"):
        files.read_tape(tmp_path / "c.npz")


def test_record_is_the_function_and_recording_the_module():
    import fastbp.circuit.recording as recording

    assert fc.record is recording.record and callable(fc.record)
    assert fc.FORMAT_VERSION == files.FORMAT_VERSION


def test_saved_file_has_a_json_header(tmp_path):
    path = tmp_path / "c.npz"
    fc.record(lambda x: fc.exp(x), 1).save(path)
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(data["header"].tobytes())
    assert header["format"] == FORMAT_NAME and header["version"] == fc.FORMAT_VERSION
    assert header["op_names"][O.EXP] == "exp"


def rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays["header"].tobytes())
    for key, value in changes.items():
        if key.startswith("header_"):
            header[key[len("header_") :]] = value
        else:
            arrays[key] = value
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"header_version": 2}, "version 2 is not supported"),
        ({"header_version": True}, "version True is not supported"),
        ({"header_format": "something.else"}, "format 'something.else'"),
        ({"header_n_nodes": 4}, "header says n_nodes = 4"),
        ({"header_op_names": ["input", "const", "sub", "add"]}, "op code 2 means 'sub'"),
        ({"arg0": np.array([-1, 5])}, "arg0 has 2 entries"),
    ],
)
def test_load_refuses_other_versions_and_mismatches(tmp_path, changes, message):
    path = tmp_path / "c.npz"
    fc.record(lambda a, b: a + b, 2).save(path)
    rewrite(path, **changes)
    with pytest.raises(ValueError, match=message):
        fc.Circuit.load(path)


def test_load_refuses_random_bytes_and_other_files(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="not a fastbp circuit file"):
        fc.Circuit.load(junk)
    bare = tmp_path / "bare.npy"
    np.save(bare, np.arange(3))
    with pytest.raises(ValueError, match="not a fastbp circuit file"):
        fc.Circuit.load(bare)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(ValueError, match="its arrays are"):
        fc.Circuit.load(other)
    truncated = tmp_path / "truncated.npz"
    fc.record(lambda a: a, 1).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a fastbp circuit file"):
        fc.Circuit.load(truncated)
    with pytest.raises(FileNotFoundError):
        fc.Circuit.load(tmp_path / "missing.npz")


class _Trap:
    """Unpickling this would create the folder named by ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_load_never_unpickles(tmp_path):
    marker = str(tmp_path / "unpickled")
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps(_Trap(marker)))
    with pytest.raises(ValueError, match="not a fastbp circuit file"):
        fc.Circuit.load(raw)
    # An npz whose 'ops' member is a pickled object array.
    path = tmp_path / "c.npz"
    fc.record(lambda a: a, 1).save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["ops"] = np.array([_Trap(marker)], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    with zipfile.ZipFile(path) as zf:
        assert "ops.npy" in zf.namelist()
    with pytest.raises(ValueError, match="not a fastbp circuit file"):
        fc.Circuit.load(path)
    assert not os.path.exists(marker)


def test_circuits_pickle_by_their_arrays():
    c = fc.random_circuit(50, 2, seed=1)
    d = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(d.forward(np.ones(2)), c.forward(np.ones(2)))


# ----------------------------------------------------------------------------- registry


def test_registry_is_dense_and_consistent():
    assert [op.code for op in O.BY_CODE] == list(range(O.N_OPS))
    assert O.N_OPS <= np.iinfo(O.OP_DTYPE).max
    for op in O.BY_CODE:
        assert O.OPS[op.name] is op and O.ARITY[op.code] == op.arity and op.derivative


@pytest.mark.parametrize("name", [op.name for op in O.BY_CODE if op.arity == 1])
def test_reference_local_derivatives_match_differences(name):
    op = O.OPS[name]
    c = 2.0 if op.code == O.POWC else 0.0
    for a in (0.3, 1.7):
        y = ref.value(op.code, a, 0.0, c)
        h = 1e-6
        fd = (ref.value(op.code, a + h, 0.0, c) - ref.value(op.code, a - h, 0.0, c)) / (2 * h)
        assert ref.local(op.code, a, 0.0, c, y)[0] == pytest.approx(fd, rel=1e-7)
        slope_plus = ref.local(op.code, a + h, 0.0, c, ref.value(op.code, a + h, 0.0, c))[0]
        slope_minus = ref.local(op.code, a - h, 0.0, c, ref.value(op.code, a - h, 0.0, c))[0]
        dfd = (slope_plus - slope_minus) / (2 * h)
        assert ref.second(op.code, a, 0.0, c, y)[0] == pytest.approx(dfd, rel=1e-6, abs=1e-9)
