"""fastbp.ensemble_dask: Ensemble.fit(client=...) shards the members over a Dask cluster and gives
the local fit's result bit for bit.

The cluster is in-process (``LocalCluster(processes=False)``): its workers run this process's
compiled code, so the comparison with the local fit is exact, as in test_sweep's Client test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastbp as fb
from fastbp import ensemble_dask
from fastbp.ensemble_train import MemberDivergedWarning

#: Fields of a History that measure time and so differ between otherwise identical fits.
TIMING = ("seconds", "examples_per_s", "compile_seconds")

SPEC = fb.NetworkSpec([4, 8, 3], ["relu"], loss="softmax_cross_entropy")


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)


def assert_same_fit(ens: fb.Ensemble, ref: fb.Ensemble) -> None:
    """Parameters, optimizer state, last learning rates and histories (but the timing fields)
    bit for bit."""
    np.testing.assert_array_equal(ens.params, ref.params)
    for name in ("S1", "S2", "steps", "mus"):
        np.testing.assert_array_equal(getattr(ens.state, name), getattr(ref.state, name))
    assert ens.state.settings.settings() == ref.state.settings.settings()
    np.testing.assert_array_equal(ens.last_lrs, ref.last_lrs)
    assert len(ens.histories) == len(ref.histories) == len(ens)
    for h, r in zip(ens.histories, ref.histories, strict=True):
        hd, rd = h.to_dict(), r.to_dict()
        for key in rd:
            if key not in TIMING:
                np.testing.assert_array_equal(hd[key], rd[key], err_msg=key)


def twins(M: int, seed: int = 3) -> tuple[fb.Ensemble, fb.Ensemble]:
    return fb.Ensemble(SPEC, M, seed=seed), fb.Ensemble(SPEC, M, seed=seed)


def test_shards_are_contiguous_and_sized_by_threads():
    assert ensemble_dask.shard_bounds(5, [1, 1]) == [(0, 2), (2, 5)]
    assert ensemble_dask.shard_bounds(6, [1, 2]) == [(0, 2), (2, 6)]
    assert ensemble_dask.shard_bounds(1, [1, 1, 1]) == [(0, 1)]
    assert ensemble_dask.shard_bounds(7, [1] * 3) == [(0, 2), (2, 5), (5, 7)]


def test_cluster_fit_equals_local_fit(client, xy):
    X, y = xy
    kwargs = dict(
        epochs=3, batch_size=4, optimizer="momentum", lr=[0.01, 0.02, 0.05, 0.03, 0.04],
        momentum=[0.9, 0.5, 0.0, 0.8, 0.7], l2=[0.0, 1e-3, 0.0, 1e-4, 0.0], seed=11,
        validation_fraction=0.2, early_stopping=True, patience=1, progress=False,
    )  # fmt: skip
    ens, ref = twins(5)
    hist = ens.fit(X, y, client=client, **kwargs)
    ref.fit(X, y, **kwargs)
    assert hist is ens.histories
    assert_same_fit(ens, ref)
    # warm_start continues each member's state on its shard
    ens.fit(X, y, client=client, warm_start=True, **kwargs)
    ref.fit(X, y, warm_start=True, **kwargs)
    assert_same_fit(ens, ref)


def test_cluster_fit_with_lanes_equals_local_fit(client, xy):
    """The SIMD-lane kernel is chosen for the whole ensemble (16 members of a small spec), and
    each shard of 8 keeps that choice: the cluster's result is the local one, bit for bit."""
    from fastbp import lanes

    X, y = xy
    spec = fb.NetworkSpec([4, 8, 3], ["relu"], loss="softmax_cross_entropy")
    assert lanes.recommended(spec, 16) and not lanes.recommended(spec, 8)
    ens, ref = fb.Ensemble(spec, 16, seed=1), fb.Ensemble(spec, 16, seed=1)
    kwargs = dict(epochs=2, lr=np.geomspace(1e-3, 1e-1, 16), seed=2, progress=False)
    ens.fit(X, y, client=client, **kwargs)
    ref.fit(X, y, **kwargs)
    assert_same_fit(ens, ref)


def test_cluster_fit_per_member_data_and_bootstrap(client, xy):
    X, y = xy
    rng = np.random.default_rng(1)
    X3 = np.stack([X + 0.1 * rng.normal(size=X.shape) for _ in range(3)])
    Y3 = np.eye(3)[np.stack([y, y[::-1], y])]
    for data, extra in (((X3, Y3), {}), ((X, y), {"bootstrap": True})):
        ens, ref = twins(3, seed=0)
        kwargs = dict(epochs=2, batch_size=1, lr=0.02, seed=4, progress=False, **extra)
        ens.fit(*data, client=client, **kwargs)
        ref.fit(*data, **kwargs)
        assert_same_fit(ens, ref)


def test_cluster_fit_reports_divergence_as_a_local_fit(client, xy):
    X, y = xy
    kwargs = dict(epochs=2, batch_size=1, optimizer="sgd", seed=2, progress=False)
    ens, ref = twins(4)
    lr = [0.01, 0.02, 1e30, 0.01]  # member 2 (on the second shard) diverges
    with pytest.warns(MemberDivergedWarning, match=r"members \[2\]"):
        ens.fit(X, y, client=client, lr=lr, **kwargs)
    with pytest.warns(MemberDivergedWarning):
        ref.fit(X, y, lr=lr, **kwargs)
    assert ens.diverged.tolist() == [False, False, True, False]
    assert_same_fit(ens, ref)
    # Every member diverging raises, after each was restored, though no shard raised alone.
    ens, ref = twins(4)
    with pytest.raises(fb.FitDivergedError):
        ens.fit(X, y, client=client, lr=1e30, **kwargs)
    with pytest.raises(fb.FitDivergedError):
        ref.fit(X, y, lr=1e30, **kwargs)
    assert_same_fit(ens, ref)


class Untouchable:
    """A client that fails the test if anything is sent to it."""

    def __getattr__(self, name):
        raise AssertionError(f"client.{name} was used before the input was checked")


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"lr": [0.1, 0.2]}, ValueError, "lr"),
        ({"batch_size": 1000}, ValueError, "batch_size"),
        ({"early_stopping": True}, ValueError, "validation_fraction"),
        ({"optimizer": "sgd2"}, ValueError, "sgd2"),
        ({"n_jobs": 0}, ValueError, "n_jobs"),
        ({"seed": None, "bootstrap": True}, ValueError, "bootstrap"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(xy, change, error, match):
    X, y = xy
    ens = fb.Ensemble(SPEC, 3)
    kwargs = dict(epochs=1, progress=False) | change
    with pytest.raises(error, match=match):
        ens.fit(X, y, client=Untouchable(), **kwargs)
    with pytest.raises(ValueError, match="X has shape"):
        ens.fit(np.zeros((2, 5, 4)), np.zeros((2, 5)), client=Untouchable(), progress=False)
    ens.params[1, 0] = np.nan  # the params setter refuses NaN; a row written in place is caught
    with pytest.raises(ValueError, match="NaN"), warnings.catch_warnings():
        ens.fit(X, y, client=Untouchable(), epochs=1, progress=False)
