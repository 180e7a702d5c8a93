"""Property-based fuzzing of every public entry point (the cases live in tests/fuzz_cases.py).

Bad input must end in a documented exception that names the offending argument; valid-but-odd
input must give the result of its clean equivalent; hostile files load identically or are refused.
The properties that reach compiled code with odd arrays run in a child process, so that a
segfault fails the test and names the case instead of killing the test run.

``HYPOTHESIS_PROFILE`` picks the profile (``ci`` by default: deterministic and about a minute in
all once the kernels are compiled; ``dev``: random, same size).  ``scripts/fuzz_report.py`` runs
the same properties with thousands of examples.
"""

from __future__ import annotations

import fuzz_cases as fc
import numpy as np
import pytest

import fastbp as fb

IN_PROCESS = [name for name, p in fc.PROPERTIES.items() if not p.isolated]
ISOLATED = [name for name, p in fc.PROPERTIES.items() if p.isolated]


@pytest.mark.parametrize("name", IN_PROCESS)
def test_property(name: str) -> None:
    """One property, in this process (its cases are refused before any compiled code runs)."""
    assert fc.run_property(name) >= 5


@pytest.mark.parametrize("name", ISOLATED)
def test_isolated_property(name: str, tmp_path) -> None:
    """One property in a child process: a crash is reported with the case that caused it."""
    result = fc.run_in_child(name, tmp_path / "cases.log")
    assert result.ok, result.describe()
    assert result.examples >= 5


def test_a_crash_in_the_child_is_reported_naming_the_case(tmp_path) -> None:
    result = fc.run_in_child("segfault_canary", tmp_path / "cases.log", timeout=120)
    assert result.crashed and not result.ok
    assert "canary 3" in result.describe()  # the case that crashed, not the last one that passed


# ---------------------------------------------------------------- the contract checker itself
def test_check_refusal_rejects_vague_or_foreign_errors() -> None:
    fc.check_refusal(ValueError("X must be 2-D, got shape (3,)"), ("X",))
    with pytest.raises(fc.ContractError, match="does not name"):
        fc.check_refusal(ValueError("must be 2-D"), ("X",))
    with pytest.raises(fc.ContractError, match="what was expected"):
        fc.check_refusal(ValueError("X is odd"), ("X",))
    with pytest.raises(fc.ContractError, match="expected"):
        fc.check_refusal(IndexError("X index 3 must be < 2"), ("X",))
    numba_error = type("TypingError", (Exception,), {"__module__": "numba.core.errors"})
    with pytest.raises(fc.ContractError, match="Numba"):
        fc.check_refusal(numba_error("X must be typed"), ("X",))
    with pytest.raises(fc.ContractError, match="accepted"):
        fc.expect_refusal(lambda: 1, ("X",))


# ---------------------------------------------------------------- regressions found by fuzzing
def _net(loss: str = "squared", dtype: str = "float64") -> fb.Network:
    nr = 3 if loss == "softmax_cross_entropy" else 2
    return fb.Network(fb.NetworkSpec([3, 4, nr], ["tanh"], loss, dtype), seed=0)


def test_read_only_and_misaligned_inputs_are_copied_once() -> None:
    net = _net()
    X = np.random.default_rng(0).normal(size=(5, 3))
    ro = X.copy()
    ro.setflags(write=False)
    out = fb.validate.as_features(ro, net.spec)
    assert out.flags.writeable and out is not ro
    mis = fc.make_odd(X, "misaligned")
    assert not mis.flags.aligned and fb.validate.as_features(mis, net.spec).flags.aligned
    np.testing.assert_array_equal(net.forward(ro), net.forward(X))


def test_values_too_large_for_float32_are_refused_without_a_warning() -> None:
    net = _net(dtype="float32")
    with pytest.raises(ValueError, match=r"X has 1 value\(s\) too large for float32"):
        net.forward(np.array([[1e300, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="Y has 2 value"):
        net.loss(np.zeros((1, 3)), np.array([[1e39, -1e39]]))


def test_fit_copies_data_that_aliases_the_parameters() -> None:
    net, twin = _net(), _net()
    X = net.params[:12].reshape(4, 3)  # training would otherwise move its own data
    Y = np.random.default_rng(1).normal(size=(4, 2))
    X_copy = X.copy()
    net.fit(X, Y, epochs=3, progress=False)
    twin.fit(X_copy, Y, epochs=3, progress=False)
    np.testing.assert_array_equal(net.params, twin.params)


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda s: fb.Network(s, seed=-1), ValueError, "seed must be an integer >= 0"),
        (lambda s: fb.Network(s, seed=1.5), TypeError, "seed must be an integer"),
        (lambda s: fb.Network(s, init=["zeros"]), ValueError, "init"),
        (lambda s: fb.NetworkSpec([3, 1], [], ["squared"]), ValueError, "loss"),
        (lambda s: fb.NetworkSpec([3, 4, 1], [["relu"]]), ValueError, r"activations\[0\]"),
        (lambda s: fb.NetworkSpec([3, 1], [], "squared", (np.float64, -1)), ValueError, "dtype"),
        (lambda s: fb.NetworkSpec({3: 1, 1: 1}), ValueError, "widths"),
        (
            lambda s: fb.datasets.train_test_split(np.ones((4, 1)), np.ones(4), seed=-1),
            ValueError,
            "seed",
        ),  # fmt: skip
        (lambda s: fb.Network(s).save(3), TypeError, "path must be a str"),
        (lambda s: fb.Network.load("a\0b"), ValueError, "path must not contain a NUL"),
        (lambda s: fb.datasets.load_file("x.csv", dtype=(np.float64, -1)), ValueError, "dtype"),
    ],
)
def test_bad_arguments_found_by_fuzzing_name_themselves(make, exc, match) -> None:
    spec = fb.NetworkSpec([3, 2], [], "squared")
    with pytest.raises(exc, match=match):
        make(spec)


def test_fit_refusals_leave_optimizer_and_history_alone() -> None:
    net = _net()
    X, Y = np.ones((4, 3)), np.ones((4, 2))
    net.fit(X, Y, epochs=1, optimizer="adam", progress=False)
    opt, hist = net.optimizer, net.history
    net.params[0] = np.nan
    with pytest.raises(ValueError, match="parameters contain NaN"):
        net.fit(X, Y, epochs=1, optimizer="sgd", progress=False)
    assert net.optimizer is opt and net.history is hist
    with pytest.raises(TypeError, match="warm_start must be True or False"):
        net.fit(X, Y, warm_start="yes", progress=False)


def test_schedule_overflow_is_divergence_not_overflow_error() -> None:
    net = _net()
    before = net.params.copy()
    sched = fb.optim.Schedule("invscaling", power_t=1e300)  # (e + 1) ** 1e300 overflows
    with pytest.raises(fb.FitDivergedError, match="schedule 'invscaling' gave") as e:
        net.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=3, schedule=sched, progress=False)
    assert e.value.epoch == 2 and len(e.value.history) == 1
    assert np.isfinite(net.params).all() and not np.array_equal(net.params, before)


def test_npz_member_claiming_terabytes_is_refused_before_allocating(tmp_path) -> None:
    import io
    import zipfile

    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (10**12, 3)  # 24 TB announced in a few bytes
    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, header)
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("X.npy", raw.getvalue() + bytes(16))
        z.writestr("y.npy", raw.getvalue())
    with pytest.raises(ValueError, match=r"array 'X' announces shape \(1000000000000, 3\)"):
        fb.datasets.load_file(path)


def test_npz_member_that_is_not_npy_is_refused(tmp_path) -> None:
    import zipfile

    path = tmp_path / "raw.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("X", b"not an array")
        z.writestr("y", b"neither")
    with pytest.raises(ValueError, match="'X' is not a .npy array"):
        fb.datasets.load_file(path)


def test_model_file_with_bad_history_or_optimizer_record_is_refused(tmp_path) -> None:
    import json

    fx = fc.model_fixture("reg")
    with np.load(fx.path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    header = json.loads(members["header"].tobytes())
    for field, value, match in (
        ("history", {"epoch": None}, "history field 'epoch' must be a list"),
        ("optimizer", {"name": "sgd", "\r": 1}, "bad optimizer record"),
        ("optimizer", {"name": []}, "bad optimizer record"),
    ):
        bad = dict(header, **{field: value})
        members["header"] = np.frombuffer(json.dumps(bad).encode(), dtype=np.uint8)
        path = tmp_path / "bad.fastbp"
        with open(path, "wb") as f:
            np.savez(f, **members)
        with pytest.raises(fb.io.ModelFileError, match=match):
            fb.Network.load(path)


@pytest.mark.parametrize(
    ("metadata", "arrays", "match"),
    [
        ({"target_names": ["a"]}, None, "target_names must be a list of 3 class names"),
        ({"target_names": "abc"}, None, "target_names must be a list"),
        (None, {"x_mean": np.zeros(4)}, "bad x_mean/x_scale"),
        (None, {"x_mean": np.zeros(2), "x_scale": np.ones(2)}, "hold 2 column"),
    ],
)
def test_cli_predict_refuses_inconsistent_model_records(tmp_path, metadata, arrays, match) -> None:
    net = fb.Network(fb.NetworkSpec([4, 3], [], "softmax_cross_entropy"), seed=0)
    model = tmp_path / "m.fastbp"
    net.save(model, arrays=arrays, metadata=metadata)
    data = tmp_path / "rows.csv"
    data.write_text("1,2,3,4\n5,6,7,8\n")
    code, _, err = fc._capture(["predict", "--model", str(model), "--data", str(data)])
    assert code == 2 and match in err and "Traceback" not in err


def test_cli_info_survives_a_free_form_history(tmp_path) -> None:
    import json

    fx = fc.model_fixture("reg")
    with np.load(fx.path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    header = json.loads(members["header"].tobytes())
    header["history"] = {"epoch": [1, 2], "loss": "not a list"}
    members["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = tmp_path / "odd-history.fastbp"
    with open(path, "wb") as f:
        np.savez(f, **members)
    code, out, err = fc._capture(["info", str(path)])
    assert code == 0 and "trained      2 epochs\n" in out, err


def test_cli_gradcheck_refuses_a_batch_too_large_to_allocate() -> None:
    code, _, err = fc._capture(["gradcheck", "--batch", "10000000000"])
    assert code == 2 and "--batch 10000000000" in err and "GiB" in err


def test_absurd_workspaces_are_refused_naming_the_argument_and_the_size() -> None:
    net = fb.Network(fb.NetworkSpec([1, 100_000, 1], ["relu"]), seed=0)  # 100,001 units
    X, Y = np.zeros((3000, 1)), np.zeros(3000)  # 3,000 rows of them need 9 GiB at once
    with pytest.raises(ValueError, match=r"X has 3000 rows and trace\(\).*8\.9 GiB"):
        net.trace(X, Y)
    with pytest.raises(ValueError, match=r"batch_size=3000 is too large.*8\.9 GiB"):
        net.fit(X, Y, epochs=1, batch_size=3000, progress=False)
    with pytest.raises(ValueError, match=r"widths \[1000000, 1000000\] need 7450\.6 GiB"):
        fb.NetworkSpec([10**6, 10**6])
