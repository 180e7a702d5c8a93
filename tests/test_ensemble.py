"""fastbp.Ensemble: every member equals the network trained alone, bit for bit.

Member i of ``Ensemble(spec, M, seed=s)`` trained by ``fit(..., seed=f)`` must equal
``Network(spec, seed=s + i)`` trained by ``Network.fit(..., seed=f + i)`` with member i's
settings.  The ensemble's drivers run the very kernels a single fit runs, on the member's own
row of the parameters, so the comparison is exact (``np.array_equal``), not to a tolerance:
for per-example SGD (specialised and generic kernels), minibatches on the loops and BLAS paths,
every optimizer, both dtypes, shared and per-member data, bootstrap resamples and per-member
validation splits with early stopping.  The kernels themselves are checked against the
reference and finite differences elsewhere (test_specialise.py, test_train.py, ...).
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from conftest import make_targets

import fastbp as fb
from fastbp.ensemble_train import MemberDivergedWarning, bootstrap_indices


def _data(spec: fb.NetworkSpec, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, spec.n_inputs)).astype(spec.dtype)
    Y, _ = make_targets(spec, n, rng)
    return X, Y


def _solo(spec, init_seed, X, Y, **fit_kwargs) -> fb.Network:
    net = fb.Network(spec, seed=init_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MemberDivergedWarning)
        net.fit(X, Y, progress=False, **fit_kwargs)
    return net


def _assert_members_equal_solo(ens, X, Y, per_member, fit_seed, **common):
    """Each member equals its solo fit, parameters and history, to the bit."""
    for i in range(len(ens)):
        kw = {k: (v[i] if isinstance(v, (list, np.ndarray)) else v) for k, v in per_member.items()}
        Xi = X[i] if isinstance(X, np.ndarray) and X.ndim == 3 else X
        Yi = Y[i] if isinstance(X, np.ndarray) and X.ndim == 3 else Y
        net = _solo(ens.spec, ens.seed + i, Xi, Yi, seed=fit_seed + i, **kw, **common)
        np.testing.assert_array_equal(ens.params[i], net.params, err_msg=f"member {i}")
        h, hs = ens.histories[i], net.history
        assert h.loss == hs.loss, f"member {i}"
        np.testing.assert_array_equal(h.val_loss, hs.val_loss)
        np.testing.assert_array_equal(h.val_score, hs.val_score)
        assert (h.stopped_early, h.best_epoch) == (hs.stopped_early, hs.best_epoch)
        assert h.lr == hs.lr


# Random architectures: (widths, activations, loss).  Each one compiles its own drivers, so
# the list is short; together they cover depth 1-3, every activation, every loss.
CASES = [
    ([5, 9, 3], ["tanh"], "softmax_cross_entropy"),
    ([4, 7, 6, 1], ["relu", "softplus"], "squared"),
    ([3, 8, 2], ["sigmoid"], "logistic"),
    ([6, 5, 2], ["leaky_relu"], "poisson"),
    ([2, 1], [], "squared"),
    ([4, 6, 5, 4, 2], ["identity", "relu", "tanh"], "squared"),
    # Wide enough for LLVM to vectorise and fuse multiply-adds: on Numba 0.59 (LLVM 14) this
    # one differed in the last bits while the drivers had the safe fast-math flags and the
    # kernel they inline the specialised ones (contract); the drivers now share the kernel's.
    ([64, 16, 10], ["relu"], "softmax_cross_entropy"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_per_example_sgd_member_equals_solo(case, dtype):
    widths, acts, loss = CASES[case]
    spec = fb.NetworkSpec(widths, acts, loss, dtype)
    X, Y = _data(spec, 90, seed=case)
    M = 3
    lrs = np.array([0.01, 0.03, 0.05])
    l2s = np.array([0.0, 1e-3, 0.0])
    ens = fb.Ensemble(spec, M, seed=7)
    ens.fit(X, Y, epochs=3, lr=lrs, l2=l2s, seed=11, progress=False)
    _assert_members_equal_solo(ens, X, Y, {"lr": lrs, "l2": l2s}, 11, epochs=3)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("batch_size", [5, 24])  # the loops path and the BLAS path
def test_minibatch_member_equals_solo(optimizer, batch_size, dtype):
    spec = fb.NetworkSpec([4, 12, 8, 2], ["tanh", "relu"], "squared", dtype)
    X, Y = _data(spec, 130, seed=1)
    lrs = [0.01, 0.02, 0.005, 0.01]
    l2s = [0.0, 1e-3, 0.0, 1e-2]  # λ = 0 and λ > 0 run different variants (sgd: the gemm fold)
    mus = [0.9, 0.5, 0.8, 0.0]
    ens = fb.Ensemble(spec, 4, seed=3)
    ens.fit(X, Y, epochs=2, batch_size=batch_size, optimizer=optimizer, lr=lrs, l2=l2s,
            momentum=mus, seed=5, progress=False)  # fmt: skip
    _assert_members_equal_solo(
        ens, X, Y, {"lr": lrs, "l2": l2s, "momentum": mus}, 5, epochs=2,
        batch_size=batch_size, optimizer=optimizer,
    )  # fmt: skip


def test_generic_kernel_member_equals_solo(monkeypatch):
    """With specialisation off, per-example SGD runs the generic kernel's driver."""
    monkeypatch.setenv("FASTBP_SPECIALISE", "0")
    spec = fb.NetworkSpec([3, 6, 2], ["relu"], "softmax_cross_entropy")
    X, Y = _data(spec, 60)
    ens = fb.Ensemble(spec, 3, seed=1)
    ens.fit(X, Y, epochs=2, lr=[0.01, 0.02, 0.03], l2=[0, 1e-3, 0], seed=2, progress=False)
    _assert_members_equal_solo(ens, X, Y, {"lr": [0.01, 0.02, 0.03], "l2": [0, 1e-3, 0]}, 2,
                               epochs=2)  # fmt: skip


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size", [1, 8])
def test_per_member_data_member_equals_solo(batch_size, dtype):
    spec = fb.NetworkSpec([3, 10, 1], ["relu"], "squared", dtype)
    M, n = 3, 50
    rng = np.random.default_rng(4)
    X = rng.normal(size=(M, n, 3)).astype(dtype)
    Y = rng.normal(size=(M, n)).astype(dtype)
    ens = fb.Ensemble(spec, M, seed=0)
    ens.fit(X, Y, epochs=2, batch_size=batch_size, lr=0.02, seed=9, progress=False)
    _assert_members_equal_solo(ens, X, Y, {}, 9, epochs=2, batch_size=batch_size, lr=0.02)
    # A member's data is its own: member 1 trained on block 1 differs from one on block 0.
    other = _solo(spec, 1, X[0], Y[0], seed=10, epochs=2, batch_size=batch_size, lr=0.02)
    assert not np.array_equal(ens.params[1], other.params)


@pytest.mark.parametrize("batch_size", [1, 16])
def test_bootstrap_and_validation_member_equals_solo(batch_size):
    spec = fb.NetworkSpec([4, 8, 3], ["tanh"], "softmax_cross_entropy")
    X, Y = _data(spec, 120, seed=2)
    M = 4
    ens = fb.Ensemble(spec, M, seed=5)
    common = dict(epochs=6, batch_size=batch_size, lr=0.05, validation_fraction=0.25,
                  early_stopping=True, patience=2)  # fmt: skip
    ens.fit(X, Y, bootstrap=True, seed=3, progress=False, **common)
    idx = bootstrap_indices(X.shape[0], M, 3)
    for i in range(M):
        net = _solo(spec, 5 + i, X[idx[i]], Y[idx[i]], seed=3 + i, **common)
        np.testing.assert_array_equal(ens.params[i], net.params, err_msg=f"member {i}")
        assert ens.histories[i].val_loss == net.history.val_loss
        assert ens.histories[i].stopped_early == net.history.stopped_early
    # Resamples differ between members and repeat rows.
    assert len({tuple(r) for r in idx}) == M and len(np.unique(idx[0])) < X.shape[0]


def test_schedule_and_warm_start_member_equals_solo():
    spec = fb.NetworkSpec([3, 7, 1], ["relu"], "squared")
    X, Y = _data(spec, 64)
    ens = fb.Ensemble(spec, 2, seed=0)
    kw = dict(batch_size=8, optimizer="adam", schedule="invscaling", progress=False)
    ens.fit(X, Y, epochs=2, lr=[0.01, 0.02], seed=1, **kw)
    ens.fit(X, Y, epochs=2, lr=[0.01, 0.02], seed=4, warm_start=True, **kw)
    for i, lr in enumerate([0.01, 0.02]):
        net = fb.Network(spec, seed=i)
        net.fit(X, Y, epochs=2, lr=lr, seed=1 + i, **kw)
        net.fit(X, Y, epochs=2, lr=lr, seed=4 + i, warm_start=True, **kw)
        np.testing.assert_array_equal(ens.params[i], net.params)
        np.testing.assert_array_equal(ens.member(i).optimizer.s2, net.optimizer.s2)


def test_results_do_not_depend_on_n_jobs():
    spec = fb.NetworkSpec([5, 16, 16, 1], ["relu", "relu"], "squared")
    X, Y = _data(spec, 200)
    results = []
    for n_jobs in (1, 2, 3, None):
        for batch_size in (1, 20):
            ens = fb.Ensemble(spec, 5, seed=2)
            ens.fit(X, Y, epochs=2, batch_size=batch_size, lr=np.linspace(0.005, 0.02, 5),
                    n_jobs=n_jobs, progress=False)  # fmt: skip
            results.append((batch_size, ens.params.copy()))
    for bs in (1, 20):
        same = [p for b, p in results if b == bs]
        for p in same[1:]:
            np.testing.assert_array_equal(p, same[0])


def test_divergence_is_isolated_per_member():
    spec = fb.NetworkSpec([3, 8, 1], ["relu"], "squared")
    X, Y = _data(spec, 100)
    Y = np.asarray(Y) * 1e3
    lrs = np.array([1e-4, 1e3, 1e-4])
    ens = fb.Ensemble(spec, 3, seed=0)
    ens.fit(X, Y, epochs=1, lr=1e-4, seed=0, progress=False)  # a good first epoch
    start = ens.params.copy()
    with pytest.warns(MemberDivergedWarning, match="1 of 3 members diverged"):
        hist = ens.fit(X, Y, epochs=3, lr=lrs, seed=0, progress=False, warm_start=True)
    assert list(ens.diverged) == [False, True, False]
    assert hist[1].diverged and len(hist[1].loss) == 0
    np.testing.assert_array_equal(ens.params[1], start[1])  # restored: nothing lost
    assert np.isfinite(ens.params).all()
    for i in (0, 2):
        net = fb.Network(spec, seed=i)
        net.fit(X, Y, epochs=1, lr=1e-4, seed=i, progress=False)
        net.fit(X, Y, epochs=3, lr=1e-4, seed=i, progress=False, warm_start=True)
        np.testing.assert_array_equal(ens.params[i], net.params)
    with pytest.raises(fb.FitDivergedError, match="every member diverged"):
        ens.fit(X, Y, epochs=1, lr=1e3, seed=0, progress=False)
    np.testing.assert_array_equal(ens.params[[0, 2]], ens.params[[0, 2]])
    assert np.isfinite(ens.params).all()


def test_bad_input_is_refused_before_anything_changes():
    spec = fb.NetworkSpec([3, 4, 1], ["relu"], "squared")
    X, Y = _data(spec, 20)
    ens = fb.Ensemble(spec, 2)
    before = ens.params.copy()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ens.fit(bad, Y, progress=False)
    with pytest.raises(ValueError, match="one value per member"):
        ens.fit(X, Y, lr=[0.1, 0.2, 0.3], progress=False)
    with pytest.raises(ValueError, match="lr\\[1\\]"):
        ens.fit(X, Y, lr=[0.1, -1.0], progress=False)
    with pytest.raises(ValueError, match="per-member data needs one block per member"):
        ens.fit(np.zeros((3, 20, 3)), np.zeros((3, 20)), progress=False)
    with pytest.raises(ValueError, match="Y must have shape"):
        ens.fit(np.zeros((2, 20, 3)), np.zeros((20,)), progress=False)
    with pytest.raises(ValueError, match="n_jobs"):
        ens.fit(X, Y, n_jobs=0, progress=False)
    with pytest.raises(TypeError, match="seed"):
        fb.Ensemble(spec, 2, seed=None)
    with pytest.raises(ValueError, match="n_members"):
        fb.Ensemble(spec, 0)
    np.testing.assert_array_equal(ens.params, before)
    assert ens.histories is None and ens.state is None


def test_members_start_as_networks_and_member_is_a_copy():
    spec = fb.NetworkSpec([4, 6, 2], ["tanh"], "softmax_cross_entropy", "float32")
    for init in ("xavier_normal", "he_uniform"):
        ens = fb.Ensemble(spec, 3, init=init, seed=10)
        for i, net in enumerate(ens):
            np.testing.assert_array_equal(
                net.params, fb.Network(spec, init=init, seed=10 + i).params
            )
    assert len(ens) == 3 and ens.params.shape == (3, ens.n_params)
    net = ens.member(-1)
    assert net.seed == 12
    net.params[...] = 0
    assert np.abs(ens.params[2]).sum() > 0  # a copy, not a view
    with pytest.raises(IndexError):
        ens.member(3)
    assert "n_members=3" in repr(ens)


def test_forward_predict_score():
    spec = fb.NetworkSpec([3, 8, 1], ["tanh"], "squared")
    X, Y = _data(spec, 40)
    ens = fb.Ensemble(spec, 4, seed=1)
    ens.fit(X, Y, epochs=2, lr=0.02, progress=False)
    out = ens.forward(X)
    assert out.shape == (4, 40, 1)
    for i in range(4):
        np.testing.assert_array_equal(out[i], ens.member(i).forward(X))
    mean, std = ens.predict(X, return_std=True)
    np.testing.assert_allclose(mean, out.mean(axis=0))
    np.testing.assert_allclose(std, out.std(axis=0))
    assert -1 < ens.score(X, Y) <= 1
    cls = fb.Ensemble(fb.NetworkSpec([3, 5, 3], ["relu"], "softmax_cross_entropy"), 3)
    proba = cls.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(cls.predict(X), proba.argmax(axis=1))
    with pytest.raises(ValueError, match="regression"):
        cls.predict(X, return_std=True)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_partial_fit_member_equals_network_partial_fit(batch_size):
    spec = fb.NetworkSpec([3, 6, 1], ["relu"], "squared")
    X, Y = _data(spec, 24)
    lrs = np.array([0.01, 0.05, 0.02])
    ens = fb.Ensemble(spec, 3, seed=4)
    nets = [fb.Network(spec, seed=4 + i) for i in range(3)]
    for lo in range(0, 24, 8):
        losses = ens.partial_fit(X[lo : lo + 8], Y[lo : lo + 8], lr=lrs, optimizer="adam",
                                 batch_size=batch_size)  # fmt: skip
        for i, net in enumerate(nets):
            loss = net.partial_fit(X[lo : lo + 8], Y[lo : lo + 8], lr=float(lrs[i]),
                                   optimizer="adam", batch_size=batch_size)  # fmt: skip
            assert losses[i] == loss
    for i, net in enumerate(nets):
        np.testing.assert_array_equal(ens.params[i], net.params)
    ens.partial_fit(X[:1], Y[:1])  # defaults: continue each member's optimizer and rate
    nets[1].partial_fit(X[:1], Y[:1])
    np.testing.assert_array_equal(ens.params[1], nets[1].params)


def test_save_load_round_trip(tmp_path):
    spec = fb.NetworkSpec([3, 5, 2], ["relu"], "softmax_cross_entropy", "float32")
    X, Y = _data(spec, 30)
    ens = fb.Ensemble(spec, 3, seed=2)
    ens.fit(X, Y, epochs=2, batch_size=5, optimizer="adam", lr=[0.01, 0.02, 0.03],
            progress=False)  # fmt: skip
    path = ens.save(tmp_path / "ens.fastbp", metadata={"note": "x"})
    back = fb.Ensemble.load(path)
    np.testing.assert_array_equal(back.params, ens.params)
    assert back.params.dtype == np.float32 and len(back) == 3 and back.seed == 2
    np.testing.assert_array_equal(back.state.S2, ens.state.S2)
    np.testing.assert_array_equal(back.last_lrs, ens.last_lrs)
    assert [h.loss for h in back.histories] == [h.loss for h in ens.histories]
    # Training on continues identically.
    ens.fit(X, Y, epochs=1, batch_size=5, optimizer="adam", lr=0.01, warm_start=True,
            progress=False)  # fmt: skip
    back.fit(X, Y, epochs=1, batch_size=5, optimizer="adam", lr=0.01, warm_start=True,
             progress=False)  # fmt: skip
    np.testing.assert_array_equal(back.params, ens.params)
    # Network.load reads member 0 (as saved); a network file is not an ensemble file.
    np.testing.assert_array_equal(fb.Network.load(path).params, fb.Ensemble.load(path).params[0])
    net_path = fb.Network(spec).save(tmp_path / "net.fastbp")
    with pytest.raises(fb.io.ModelFileError, match="not an ensemble file"):
        fb.Ensemble.load(net_path)


def test_two_threads_fit_two_ensembles_at_once():
    """Two Python threads launching parallel regions at the same time (fastbp._parallel)."""
    spec = fb.NetworkSpec([4, 16, 1], ["relu"], "squared")
    X, Y = _data(spec, 400)
    expected = fb.Ensemble(spec, 4, seed=0)
    expected.fit(X, Y, epochs=3, lr=0.01, progress=False)
    ensembles = [fb.Ensemble(spec, 4, seed=0) for _ in range(2)]
    errors: list[BaseException] = []

    def work(ens):
        try:
            for _ in range(3):
                ens.params[...] = fb.Ensemble(spec, 4, seed=0).params
                ens.fit(X, Y, epochs=3, lr=0.01, progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e,)) for e in ensembles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for ens in ensembles:
        np.testing.assert_array_equal(ens.params, expected.params)


def test_one_ensemble_is_refused_to_a_second_writer():
    spec = fb.NetworkSpec([2, 3, 1], ["relu"], "squared")
    ens = fb.Ensemble(spec, 2)
    with ens.writing("fit"):
        with pytest.raises(RuntimeError, match="already in use"):
            ens.fit(np.zeros((4, 2)), np.zeros(4), progress=False)
        with pytest.raises(RuntimeError, match="busy"):
            ens.forward(np.zeros((4, 2)))


_FORK_CHILD = """
import multiprocessing as mp
import numpy as np
import fastbp as fb

spec = fb.NetworkSpec([4, 8, 1], ["relu"], "squared")
X = np.random.default_rng(0).normal(size=(64, 4))
Y = X[:, 0]


def child(_):
    ens = fb.Ensemble(spec, 3)
    ens.fit(X, Y, epochs=1, progress=False)
    return float(ens.params.sum())


if __name__ == "__main__":
    ens = fb.Ensemble(spec, 3)
    ens.fit(X, Y, epochs=1, progress=False)  # the parent has run a parallel region
    with mp.get_context("fork").Pool(2) as pool:
        assert pool.map(child, range(2)) == [float(ens.params.sum())] * 2
    print("forked children trained")
"""


def test_fork_after_a_parallel_fit(tmp_path):
    """fastbp asks Numba for a fork-safe threading layer (fastbp._parallel): a process that has
    trained an ensemble can fork workers that train ensembles (GNU OpenMP would terminate
    them)."""
    import subprocess
    import sys

    script = tmp_path / "fork_child.py"
    script.write_text(_FORK_CHILD)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "forked children trained" in out.stdout


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lanes_kernel_members_equal_solo_to_tolerance(monkeypatch, dtype):
    """Small layers and many members run per-example SGD with members in SIMD lanes
    (fastbp.lanes): each member equals its solo fit to the suite's tolerances (conftest.TOL;
    the solo kernel sums its dot products in another order, so not to the bit)."""
    from conftest import assert_close

    from fastbp import ensemble_pass, lanes

    spec = fb.NetworkSpec([4, 16, 1], ["relu"], "squared", dtype)
    M = 17
    assert lanes.recommended(spec, M)  # the W9 shape takes lanes by default
    X, Y = _data(spec, 150)
    lrs = np.geomspace(1e-3, 3e-2, M)
    monkeypatch.setattr(ensemble_pass, "LANES", "auto")
    ens = fb.Ensemble(spec, M, seed=2)
    ens.fit(X, Y, epochs=3, lr=lrs, seed=4, progress=False, validation_fraction=0.2,
            early_stopping=True, patience=1)  # fmt: skip
    for i in range(M):
        net = _solo(spec, 2 + i, X, Y, epochs=3, lr=lrs[i], seed=4 + i,
                    validation_fraction=0.2, early_stopping=True, patience=1)  # fmt: skip
        assert_close(ens.params[i], net.params, dtype, f"member {i}")
        assert len(ens.histories[i].loss) == len(net.history.loss)
    # Forced off, the same ensemble trains with the threads' kernels, bit for bit; so does a
    # fit asked to be exact (what sweeps ask for).
    solo5 = _solo(spec, 7, X, Y, epochs=1, lr=lrs[5], seed=9).params
    from fastbp import ensemble_train

    ens = fb.Ensemble(spec, M, seed=2)
    ensemble_train.fit(ens, X, Y, exact=True, **_FIT_DEFAULTS, epochs=1, lr=lrs, seed=4)
    np.testing.assert_array_equal(ens.params[5], solo5)
    monkeypatch.setattr(ensemble_pass, "LANES", "never")
    ens = fb.Ensemble(spec, M, seed=2)
    ens.fit(X, Y, epochs=1, lr=lrs, seed=4, progress=False)
    np.testing.assert_array_equal(ens.params[5], solo5)


#: Ensemble.fit's defaults, for calls of fastbp.ensemble_train.fit itself.
_FIT_DEFAULTS = dict(
    batch_size=1, optimizer="sgd", momentum=0.9, l2=0.0, schedule="constant", shuffle=True,
    validation_fraction=0.0, early_stopping=False, patience=5, min_delta=0.0, bootstrap=False,
    warm_start=False, n_jobs=None, progress=False,
)  # fmt: skip
