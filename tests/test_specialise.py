"""Spec-specialised kernels (fastbp.specialise): generated source against the reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import DTYPES, TOL, assert_close, make_targets, random_case, random_network

import fastbp as fb
from fastbp import epochs as ek
from fastbp import reference
from fastbp import specialise as sp
from fastbp.lowering import Workspace

#: Random architectures: depth 1–5, widths 1–64, every activation × loss, both dtypes.
CASES = range(24)


def _data(spec: fb.NetworkSpec, m: int, rng: np.random.Generator):
    X = rng.normal(size=(m, spec.n_inputs))
    _, Y_dense = make_targets(spec, m, rng)
    dtype = spec.np_dtype
    return np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(Y_dense, dtype=dtype)


def _run_epoch(kind: str, net: fb.Network, X, Y, order, lr: float, l2: float) -> np.ndarray:
    p = net.plan
    ws = Workspace(p.n_units, 1, net.spec.np_dtype)
    info = np.zeros(3)
    if kind == "specialised":  # through the dispatcher: losses without generated code fall back
        sp.sgd_example_epoch_dispatch(net.spec, X, Y, order, net.params, p, ws, lr, l2, info)
    else:
        ek.sgd_example_epoch(X, Y, order, net.params, p.widths, p.acts, p.out_kind, p.loss_param,
                             p.w_off, p.b_off, p.u_off, ws.Z, ws.A, ws.dZ, ws.dA, lr, l2,
                             info)  # fmt: skip
    return info


@pytest.mark.parametrize("kind", ["specialised", "generic"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("l2", [0.0, 0.03])
def test_sgd_example_epoch_matches_reference(kind: str, case: int, l2: float, rng) -> None:
    spec, m = random_case(case)
    m = max(m, 5)
    net = random_network(spec, rng)
    X, Y = _data(spec, m, rng)
    order = rng.permutation(m).astype(np.int64)
    theta0 = net.params.astype(np.float64).tolist()
    lr = 0.02
    info = _run_epoch(kind, net, X, Y, order, lr, l2)
    expected = reference.sgd_epoch(
        theta0, spec.widths, spec.activations, spec.loss, X.astype(np.float64).tolist(),
        Y.astype(np.float64).tolist(), lr=lr, order=order.tolist(), l2=l2,
    )  # fmt: skip
    assert_close(net.params, expected, spec.dtype, f"{kind} {spec}")
    # info: Σ J_i over the examples at the parameters each example saw, and the count.
    theta, losses = theta0, []
    for i in order.tolist():
        p = reference.loss_and_gradient(theta, spec.widths, spec.activations, spec.loss,
                                        [X[i].tolist()], [Y[i].tolist()])  # fmt: skip
        losses.append(p.loss)
        theta = reference.sgd_epoch(theta, spec.widths, spec.activations, spec.loss,
                                    X.tolist(), Y.tolist(), lr=lr, order=[i], l2=l2)  # fmt: skip
    assert info[1] == m and info[2] == 0
    rtol = TOL[spec.dtype][0] * 10
    assert info[0] == pytest.approx(sum(losses), rel=rtol, abs=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(fb.ACTIVATIONS))
@pytest.mark.parametrize("loss", sorted(fb.LOSSES))
def test_fit_per_example_uses_specialised_kernel_and_matches_reference(dtype, act, loss) -> None:
    rng = np.random.default_rng(3)
    nr = 3 if loss == "softmax_cross_entropy" else 2
    spec = fb.NetworkSpec([5, 7, 6, nr], [act, act], loss, dtype)
    net = random_network(spec, rng)
    X = rng.normal(size=(13, 5))
    Y, Y_dense = make_targets(spec, 13, rng)
    theta0 = net.params.astype(np.float64).tolist()
    lr = 0.01 if loss == "poisson" else 0.05  # exp outputs: a smaller step keeps them finite
    net.fit(X, Y, epochs=2, batch_size=1, lr=lr, shuffle=False, progress=False)
    Xd = X.astype(spec.np_dtype).astype(np.float64).tolist()
    Yd = Y_dense.astype(spec.np_dtype).astype(np.float64).tolist()
    theta = theta0
    for _ in range(2):
        theta = reference.sgd_epoch(theta, spec.widths, spec.activations, loss, Xd, Yd, lr=lr)
    assert_close(net.params, theta, dtype)


def test_fit_dispatches_to_specialised_kernel_unless_disabled(monkeypatch) -> None:
    calls = {"special": 0, "generic": 0}
    real_special, real_generic = sp.sgd_example_epoch, ek.sgd_example_epoch

    def special(*args):
        calls["special"] += 1
        real_special(*args)

    def generic(*args):
        calls["generic"] += 1
        real_generic(*args)

    monkeypatch.setattr(sp, "sgd_example_epoch", special)
    monkeypatch.setattr(ek, "sgd_example_epoch", generic)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=20)
    spec = fb.NetworkSpec([3, 4, 1], ["tanh"], "squared")
    a, b = fb.Network(spec, seed=1), fb.Network(spec, seed=1)
    a.fit(X, Y, epochs=2, lr=0.01, progress=False)
    assert calls == {"special": 2, "generic": 0}
    monkeypatch.setenv(sp.SPECIALISE_ENV, "0")
    assert not sp.enabled()
    b.fit(X, Y, epochs=2, lr=0.01, progress=False)
    assert calls == {"special": 2, "generic": 2}
    assert_close(a.params, b.params, "float64")


@pytest.mark.parametrize("dtype", DTYPES)
def test_divergence_is_detected_and_the_last_good_epoch_kept(dtype) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4)) * 10
    Y = rng.normal(size=300) * 1e3
    spec = fb.NetworkSpec([4, 16, 1], ["relu"], "squared", dtype)
    net = fb.Network(spec, seed=0)
    before = net.params.copy()
    with np.errstate(all="ignore"), pytest.raises(fb.FitDivergedError) as e:  # no-JIT overflows
        net.fit(X, Y, epochs=3, lr=10.0, progress=False)
    assert e.value.epoch == 1 and e.value.history.diverged
    np.testing.assert_array_equal(net.params, before)


def test_kernel_info_flags_a_nonfinite_loss() -> None:
    spec = fb.NetworkSpec([2, 3, 1], ["identity"], "squared")
    net = fb.Network(spec, seed=0)
    X = np.ones((200, 2))
    Y = np.zeros((200, 1))
    Y[70, 0] = np.inf  # the loss of example 70 is inf: the block 64..127 is the last run
    info = np.zeros(3)
    p = net.plan
    with np.errstate(all="ignore"):
        sp.sgd_example_epoch(spec, X, Y, np.arange(200), net.params, p,
                             Workspace(p.n_units, 1, "float64"), 1e-3, 0.0, info)  # fmt: skip
    assert info[2] == 1 and info[1] == 2 * sp.CHECK_EVERY


def test_kernel_source_is_readable_python_keyed_on_everything_but_widths() -> None:
    net = fb.Network(fb.NetworkSpec([8, 32, 32, 1], "relu", "squared"))
    src = net.kernel_source()
    assert src == sp.generate_source(net.spec)
    compile(src, "<kernel_source>", "exec")
    assert "def sgd_epoch(" in src and "def sgd_epoch_l2(" in src and "def rows" not in src
    assert "[relu, relu], loss squared, dtype float64" in src
    # Widths are run-time values: any widths with the same depth/activations/loss/dtype share it.
    assert fb.Network(fb.NetworkSpec([3, 5, 9, 2], "relu", "squared")).kernel_source() == src
    for other in (
        fb.NetworkSpec([8, 32, 32, 1], "tanh", "squared"),
        fb.NetworkSpec([8, 32, 32, 1], "relu", "logistic"),
        fb.NetworkSpec([8, 32, 32, 1], "relu", "squared", "float32"),
        fb.NetworkSpec([8, 32, 1], "relu", "squared"),
    ):
        assert sp.generate_source(other) != src
    with pytest.raises(TypeError, match="NetworkSpec"):
        sp.generate_source([8, 1])


def _fresh_loader(monkeypatch, cache_dir) -> None:
    monkeypatch.setenv("FASTBP_CACHE_DIR", str(cache_dir))
    monkeypatch.setattr(sp, "_LOADED", {})


def _one_epoch_case(seed: int = 5):
    spec = fb.NetworkSpec([6, 9, 4, 2], ["softplus", "leaky_relu"], "logistic")
    rng = np.random.default_rng(seed)
    net = random_network(spec, rng)
    X, Y = _data(spec, 17, rng)
    expected = reference.sgd_epoch(net.params.tolist(), spec.widths, spec.activations, spec.loss,
                                   X.tolist(), Y.tolist(), lr=0.05)  # fmt: skip
    return spec, net, X, Y, expected


def test_generated_file_is_written_once_under_the_cache_dir(monkeypatch, tmp_path) -> None:
    _fresh_loader(monkeypatch, tmp_path)
    spec, net, X, Y, expected = _one_epoch_case()
    module = sp.kernel_module(spec)
    path = tmp_path / "generated" / sp.source_key(sp.generate_source(spec))
    files = sorted(f.name for f in path.glob("*.py"))
    assert files == [f"fastbp_generated_{path.name}.py"]
    assert module.__file__ == str(path / files[0])
    assert (path / files[0]).read_text(encoding="utf-8") == sp.generate_source(spec)
    net.fit(X, Y, epochs=1, lr=0.05, shuffle=False, progress=False)
    assert_close(net.params, expected, "float64")
    assert not list(path.glob(".tmp-*"))  # no temporary file left behind


def test_edited_generated_file_is_replaced(monkeypatch, tmp_path) -> None:
    _fresh_loader(monkeypatch, tmp_path)
    spec, net, X, Y, expected = _one_epoch_case()
    src = sp.generate_source(spec)
    key = sp.source_key(src)
    path = tmp_path / "generated" / key / f"fastbp_generated_{key}.py"
    path.parent.mkdir(parents=True)
    path.write_text(src.replace("ONE - ", "ONE + "), encoding="utf-8")  # a wrong kernel
    net.fit(X, Y, epochs=1, lr=0.05, shuffle=False, progress=False)
    assert path.read_text(encoding="utf-8") == src
    assert_close(net.params, expected, "float64")


def test_unwritable_cache_dir_compiles_in_memory(monkeypatch, tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    _fresh_loader(monkeypatch, blocker)  # mkdir below a file fails
    spec, net, X, Y, expected = _one_epoch_case()
    net.fit(X, Y, epochs=1, lr=0.05, shuffle=False, progress=False)
    assert_close(net.params, expected, "float64")
    assert blocker.read_text() == "x"


CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import fastbp as fb
    spec = fb.NetworkSpec([6, 9, 4, 2], ["softplus", "leaky_relu"], "logistic")
    net = fb.Network(spec, seed=3)
    data = np.load(sys.argv[1])
    net.fit(data["X"], data["Y"], epochs=1, lr=0.05, shuffle=False, progress=False)
    print(json.dumps(net.params.tolist()))
    """
)


def test_two_processes_compiling_the_same_spec_at_once(tmp_path) -> None:
    spec = fb.NetworkSpec([6, 9, 4, 2], ["softplus", "leaky_relu"], "logistic")
    rng = np.random.default_rng(8)
    X, Y = _data(spec, 25, rng)
    np.savez(tmp_path / "data.npz", X=X, Y=Y)
    theta0 = fb.Network(spec, seed=3).params.tolist()
    expected = reference.sgd_epoch(theta0, spec.widths, spec.activations, spec.loss,
                                   X.tolist(), Y.tolist(), lr=0.05)  # fmt: skip
    cache = tmp_path / "cache"  # empty: both children generate and compile the kernel
    env = {**os.environ, "FASTBP_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CACHE_DIR", None)
    for _ in range(2):  # the second round loads what the first one cached
        procs = [
            subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "data.npz")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]  # fmt: skip
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            assert_close(json.loads(out), expected, "float64")
    generated = list((cache / "generated").rglob("*.py"))
    assert len(generated) == 1
    assert generated[0].read_text(encoding="utf-8") == sp.generate_source(spec)


@pytest.mark.parametrize("case", [6, 8, 42, 1, 4])
def test_results_do_not_depend_on_where_the_arrays_lie(case):
    """Bit-identical parameters whatever the addresses of X, Y and the network's buffers.

    LLVM guards vectorised loops with run-time alias checks on the addresses; a loop that both
    stored and reduced (softmax's exp and its sum) took the vector or the scalar path depending on
    where the arrays lay, and the two summation orders rounded differently.  Seen as fit and
    partial_fit disagreeing in the last bit, and runs of one seed differing.
    """
    spec, _ = random_case(case)
    rng = np.random.default_rng(case)
    X = rng.normal(size=(40, spec.n_inputs)).astype(spec.dtype)
    _, Y = make_targets(spec, 40, rng)
    Y = np.asarray(Y, dtype=spec.dtype)
    results, keep = [], []
    for shift in range(5):
        keep.append(np.empty(7 * shift + 3))  # moves the next allocations
        net = random_network(spec, np.random.default_rng(case))
        net.fit(X.copy(), Y.copy(), epochs=2, batch_size=1, progress=False, lr=0.03,
                l2=0.01 * (case % 2))  # fmt: skip
        results.append(net.params.copy())
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


def test_losses_without_a_generated_kernel_train_with_the_generic_one():
    """poisson has no generated output code: fit runs the generic kernel, exactly."""
    spec = fb.NetworkSpec([3, 5, 2], ["tanh"], "poisson", "float64")
    assert not sp.specialises(spec)
    with pytest.raises(ValueError, match="no specialised kernel"):
        fb.Network(spec).kernel_source()
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 3)), rng.poisson(1.0, size=(30, 2)).astype(np.float64)
    a, b = fb.Network(spec, seed=1), fb.Network(spec, seed=1)
    a.fit(X, Y, epochs=2, batch_size=1, lr=0.01, shuffle=False, progress=False)
    p = b.plan
    order = np.arange(30, dtype=np.int64)
    ws = Workspace(p.n_units, 1, b.spec.np_dtype)
    for _ in range(2):
        info = np.zeros(3)
        ek.sgd_example_epoch(
            X, Y, order, b.params, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off, p.b_off,
            p.u_off,
            ws.Z, ws.A, ws.dZ, ws.dA, 0.01, 0.0, info,
        )  # fmt: skip
    np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("name", sorted(fb.ACTIVATIONS))
def test_generated_activation_rules_are_the_registry_rules(name: str) -> None:
    """The source expressions the generator writes compute the kernels' σ and σ'.

    The generated kernels use fastbp.fastmath (≤ 3 ulp), the run-time switches libm: 1e-12
    relative, because GELU's 1 + erf(z/√2) cancels (at z = −3 an ulp of erf is ~4e-14 of the
    result).
    """
    import math

    from fastbp import activations

    value, grad = activations.EXPRESSIONS[name]
    scope = {
        "math": math,
        "ZERO": 0.0,
        "ONE": 1.0,
        "SLOPE": activations.LEAKY_SLOPE,
        "DT": float,
        **{name: getattr(activations, name) for name in activations.GENERATED_HELPERS},
    }
    for z in (-3.0, -0.5, 0.25, 2.0):
        a = eval(value.format(z="z"), scope, {"z": z})  # noqa: S307 - our own expression table
        g = eval(grad.format(g="g", z="z", a="a"), scope, {"g": 1.5, "z": z, "a": a})  # noqa: S307
        code = fb.ACTIVATIONS[name]
        assert a == pytest.approx(activations.act(code, z), rel=1e-12, abs=0)
        assert g == pytest.approx(1.5 * activations.act_prime(code, z, a), rel=1e-12, abs=0)
