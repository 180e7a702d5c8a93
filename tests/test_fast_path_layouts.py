"""The fast paths of every public method on arrays of every layout, and their direct entries.

The one-row and small-batch fast paths (:mod:`fastbp.online`, :mod:`fastbp.row_kernels`) call
compiled entry points directly.  An entry point compiled for C-contiguous rows reads a strided
view as if it were contiguous (wrong memory, no error), so :class:`fastbp.row_kernels.DirectCall`
checks the caller's arrays on every call.  Here every method (forward, predict, predict_proba,
loss_and_gradient, gradient, partial_fit) gets strided, Fortran-ordered, reversed (negative
stride), read-only, unaligned, non-native byte order and wrong-dtype X and Y, on 1 row and on
small batches, and must give the contiguous answer (for partial_fit: the same parameters and
optimizer state, to the bit); bad values are refused with nothing changed.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from conftest import assert_close

import fastbp as fb
from fastbp import reference, row_kernels

ROWS = (1, 2, 7, 32, 256)
LOSSES = ("squared", "logistic", "softmax_cross_entropy")


# ---------------------------------------------------------------------- DirectCall itself
@numba.njit(cache=False)
def _first_row_sum(X):
    total = 0.0
    for j in range(X.shape[1]):
        total += X[0, j]
    return total


@numba.njit(cache=False)
def _write_first(X, value):
    X[0, 0] = value
    return 0


def _strided_row() -> np.ndarray:
    """The row [2, 4, 6] as a stride-2 view: read as contiguous memory it is [2, 0, 4]."""
    return np.array([[2.0, 0.0, 4.0, 0.0, 6.0, 0.0]])[:, ::2]


def test_direct_call_on_a_strided_view_after_a_contiguous_call_reads_the_right_memory() -> None:
    call = row_kernels.DirectCall(_first_row_sum)
    assert call(np.array([[1.0, 2.0, 3.0]])) == 6.0  # records the C-layout entry point
    view = _strided_row()
    assert not view.flags.c_contiguous
    assert call(view) == 12.0  # not 6.0 (2 + 0 + 4): the dispatcher picks the strided code
    assert call.call(view) == 12.0
    assert call(np.asfortranarray(np.array([[1.0, 5.0], [2.0, 7.0]]))) == 6.0
    assert call(np.array([[1.0, 2.0, 3.0]])[:, ::-1]) == 6.0  # negative stride
    assert call(np.array([[1.0, 2.0, 3.0]])) == 6.0  # and the recorded entry still runs


def test_direct_call_with_refuse_calls_nothing_on_a_mismatch() -> None:
    kind = row_kernels.row_kind(np.dtype(np.float64))
    call = row_kernels.DirectCall(_first_row_sum, refuse=-1.0, kinds=(kind,))
    assert call(_strided_row()) == -1.0  # checked on the first call too: nothing recorded
    assert call.entry is None
    assert call(np.array([[1.0, 2.0, 3.0]])) == 6.0
    assert (call.entry is None) == numba.config.DISABLE_JIT  # plain Python: nothing to record
    readonly = np.array([[1.0, 2.0, 3.0]])
    readonly.setflags(write=False)
    swapped = np.array([[1.0, 2.0, 3.0]], dtype=">f8")
    raw = np.zeros(3 * 8 + 1, dtype=np.uint8)[1:].view(np.float64).reshape(1, 3)
    assert not raw.flags.aligned
    for bad in (
        _strided_row(),
        np.asfortranarray(np.ones((2, 3))),
        np.array([[1.0, 2.0, 3.0]])[:, ::-1],
        readonly,
        swapped,
        raw,
        np.ones((1, 3), dtype=np.float32),
        np.ones(3),
        [[1.0, 2.0, 3.0]],
    ):
        assert call(bad) == -1.0
        assert call.call(bad) == -1.0


def test_direct_call_never_writes_through_a_readonly_or_strided_argument() -> None:
    kind = row_kernels.row_kind(np.dtype(np.float64))
    call = row_kernels.DirectCall(_write_first, refuse=-1, kinds=(kind,))
    X = np.zeros((1, 3))
    assert call(X, 5.0) == 0 and X[0, 0] == 5.0
    ro = np.zeros((1, 3))
    ro.setflags(write=False)
    assert call(ro, 5.0) == -1 and ro[0, 0] == 0.0


def test_direct_call_records_the_kinds_of_its_first_call() -> None:
    if numba.config.DISABLE_JIT:
        pytest.skip("plain Python functions have no entry point to record")
    call = row_kernels.DirectCall(_first_row_sum, checked=1)
    x = np.array([[1.0, 2.0, 3.0]])
    call(x)
    assert call.kinds == (row_kernels.array_kind(x),)
    assert call.kinds[0][0] is x.dtype and call.kinds[0][1] == 2


# ---------------------------------------------------------------------- the public methods
def _network(loss: str, dtype: str) -> fb.Network:
    nr = 3 if loss == "softmax_cross_entropy" else 2
    spec = fb.NetworkSpec([5, 8, 6, nr], ["tanh", "relu"], loss, dtype)
    net = fb.Network(spec, seed=3)
    rng = np.random.default_rng(4)
    for k in range(1, spec.n_layers + 1):
        _, b = net.layer(k)
        b[...] = rng.uniform(0.05, 0.3, size=b.shape)
    return net


def _rows(m: int, dtype: str) -> np.ndarray:
    """(m, 5) rows whose values float32 holds exactly (so a wrong-dtype copy is the same rows)."""
    X = np.random.default_rng(m).normal(size=(m, 5)).astype(np.float32)
    return X.astype(dtype)


def _targets(net: fb.Network, m: int) -> np.ndarray:
    """Targets in the network's dtype (labels for softmax), values float32 holds exactly."""
    rng = np.random.default_rng(100 + m)
    nr = net.spec.n_outputs
    if net.spec.loss == "softmax_cross_entropy":
        return rng.integers(0, nr, size=m)
    if net.spec.loss == "logistic":
        Y = rng.integers(0, 2, size=(m, nr)).astype(np.float32)
    else:
        Y = rng.normal(size=(m, nr)).astype(np.float32)
    return Y.astype(net.spec.dtype)


def _variants(A: np.ndarray) -> dict[str, np.ndarray]:
    """A in every unusual layout and type, each holding exactly A's values."""
    out: dict[str, np.ndarray] = {}
    wide = np.zeros((A.shape[0], 2 * A.shape[1]) if A.ndim == 2 else (2 * A.shape[0],), A.dtype)
    strided = wide[:, ::2] if A.ndim == 2 else wide[::2]
    strided[...] = A
    out["strided"] = strided
    out["fortran"] = np.asfortranarray(A)
    out["reversed"] = A[::-1].copy()[::-1]
    readonly = A.copy()
    readonly.setflags(write=False)
    out["readonly"] = readonly
    out["byteswapped"] = A.astype(A.dtype.newbyteorder())
    buf = np.zeros(A.nbytes + 1, dtype=np.uint8)[1:]
    unaligned = buf.view(A.dtype).reshape(A.shape)
    unaligned[...] = A
    out["unaligned"] = unaligned
    if A.dtype.kind == "f":
        out["other dtype"] = A.astype(np.float64 if A.dtype == np.float32 else np.float32)
    else:
        out["other dtype"] = A.astype(np.int32 if A.dtype == np.int64 else np.int64)
    if A.ndim == 2 and A.shape[0] == 1:
        out["1-D"] = A.copy()[0] if A.dtype.kind == "f" else A.copy()[0]
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_forward_predict_and_proba_on_every_layout(loss: str, dtype: str) -> None:
    net = _network(loss, dtype)
    for m in ROWS:
        X = _rows(m, dtype)
        want = net.forward(X)
        ref = [reference.output(loss, _z_last(net, x)) for x in X.astype(np.float64).tolist()]
        assert_close(want, ref, dtype, f"forward {loss} m={m}")
        for name, V in _variants(X).items():
            if name == "1-D":
                continue  # a 1-D array is refused: X must be (n, n0)
            what = f"{name} X, {loss} {dtype} m={m}"
            np.testing.assert_array_equal(net.forward(V), want, err_msg=f"forward, {what}")
            np.testing.assert_array_equal(net.predict(V), net.predict(X), err_msg=what)
            if loss != "squared":
                np.testing.assert_array_equal(net.predict_proba(V), want, err_msg=what)


def _z_last(net: fb.Network, x: list[float]) -> list[float]:
    """z[r] of one row by the pure-Python reference."""
    spec = net.spec
    W, b = reference.unpack(net.params.tolist(), spec.widths)
    a = x
    r = spec.n_layers
    for k in range(1, r + 1):
        z = [b[k][j] + sum(W[k][j][p] * a[p] for p in range(len(a))) for j in range(len(b[k]))]
        if k < r:
            a = [reference.sigma(spec.activations[k - 1], v) for v in z]
    return z


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_and_gradient_on_every_layout(loss: str, dtype: str) -> None:
    net = _network(loss, dtype)
    for m in ROWS:
        X, Y = _rows(m, dtype), _targets(net, m)
        J, g = net.loss_and_gradient(X, Y)
        if m <= 32:
            Y_dense = np.eye(net.spec.n_outputs)[Y] if Y.ndim == 1 else Y
            ref = reference.loss_and_gradient(
                net.params.tolist(), net.spec.widths, net.spec.activations, loss,
                X.astype(np.float64).tolist(), Y_dense.astype(np.float64).tolist(),
            )  # fmt: skip
            assert_close(J, ref.loss, dtype, f"loss {loss} m={m}")
            assert_close(g, ref.grad, dtype, f"gradient {loss} m={m}")
        cases = [(f"{name} X", V, Y) for name, V in _variants(X).items() if name != "1-D"]
        cases += [(f"{name} Y", X, V) for name, V in _variants(Y).items() if name != "1-D"]
        for what, V, T in cases:
            label = f"{what}, {loss} {dtype} m={m}"
            J2, g2 = net.loss_and_gradient(V, T)
            assert J2 == J, label
            np.testing.assert_array_equal(g2, g, err_msg=label)
            np.testing.assert_array_equal(net.gradient(V, T), g, err_msg=label)


def _state(net: fb.Network) -> tuple[np.ndarray, ...]:
    opt = net.optimizer
    assert opt is not None
    return (net.params.copy(), opt.s1.copy(), opt.s2.copy(), opt.step.copy())


def _assert_same_state(a: tuple, b: tuple, what: str) -> None:
    for x, y, name in zip(a, b, ("params", "s1", "s2", "step"), strict=True):
        np.testing.assert_array_equal(x, y, err_msg=f"{name}: {what}")


@pytest.mark.parametrize(("optimizer", "batch_size"), [("sgd", 1), ("adam", 4)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_partial_fit_on_every_layout(
    loss: str, dtype: str, optimizer: str, batch_size: int
) -> None:
    def trained() -> fb.Network:
        net = _network(loss, dtype)
        X0 = _rows(3, dtype)
        net.partial_fit(X0, _targets(net, 3), optimizer=optimizer, lr=0.01, batch_size=batch_size)
        return net

    for m in (1, 2, 7, 32):
        X, Y = _rows(m, dtype), _targets(_network(loss, dtype), m)
        net = trained()
        want_loss = net.partial_fit(X, Y, batch_size=batch_size)
        want = _state(net)
        cases = [(f"{name} X", V, Y) for name, V in _variants(X).items() if name != "1-D"]
        cases += [(f"{name} Y", X, V) for name, V in _variants(Y).items() if name != "1-D"]
        for what, V, T in cases:
            label = f"{what}, {loss} {dtype} {optimizer} m={m}"
            other = trained()
            assert other.partial_fit(V, T, batch_size=batch_size) == want_loss, label
            _assert_same_state(_state(other), want, label)
            # ... and the fast path still runs (and agrees) after an unusual call.
            again, first = trained(), trained()
            first.partial_fit(V, T, batch_size=batch_size)
            first.partial_fit(X, Y, batch_size=batch_size)
            again.partial_fit(X, Y, batch_size=batch_size)
            again.partial_fit(X, Y, batch_size=batch_size)
            _assert_same_state(_state(first), _state(again), f"then contiguous: {label}")


def _bad_inputs(net: fb.Network, m: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    X, Y = _rows(m, net.spec.dtype), _targets(net, m)
    out = []
    for value in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[m - 1, 2] = value
        out.append((f"X with {value}", Xb, Y))
    if net.spec.loss == "softmax_cross_entropy":
        for label in (-1, net.spec.n_outputs):
            Yb = Y.copy()
            Yb[m - 1] = label
            out.append((f"label {label}", X, Yb))
    else:
        for value in (np.nan, np.inf) + ((2.0, -0.5) if net.spec.loss == "logistic" else ()):
            Yb = Y.copy()
            Yb[m - 1, 0] = value
            out.append((f"target {value}", X, Yb))
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_bad_values_are_refused_with_nothing_changed(loss: str, dtype: str) -> None:
    net = _network(loss, dtype)
    net.partial_fit(_rows(4, dtype), _targets(net, 4), optimizer="adam", batch_size=2)
    for m in (1, 2, 32):
        for what, X, Y in _bad_inputs(net, m):
            before = _state(net)
            label = f"{what}, {loss} {dtype} m={m}"
            if what.startswith("X"):
                for method in (net.forward, net.predict):
                    with pytest.raises(ValueError, match="NaN|inf|finite"):
                        method(X)
            with pytest.raises(ValueError):
                net.loss_and_gradient(X, Y)
            for batch_size in (1, 2):
                with pytest.raises(ValueError):
                    net.partial_fit(X, Y, batch_size=batch_size)
                _assert_same_state(_state(net), before, label)
    # Still the fast path's answers afterwards.
    X, Y = _rows(2, dtype), _targets(net, 2)
    other = _network(loss, dtype)
    other.params = net.params
    np.testing.assert_array_equal(net.forward(X), other.forward(X))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_non_finite_parameters_are_reported_by_every_fast_path(dtype: str) -> None:
    net = _network("squared", dtype)
    net.partial_fit(_rows(2, dtype), _targets(net, 2))
    net.params[3] = np.nan
    for m in (1, 2, 32):
        X, Y = _rows(m, dtype), _targets(net, m)
        with pytest.raises(ValueError, match="param"):
            net.forward(X)
        with pytest.raises(ValueError, match="param"):
            net.loss_and_gradient(X, Y)
        with pytest.raises(ValueError, match="param"):
            net.partial_fit(X, Y)
