"""fastbp.sweep: grids, the pure train_one, identical tables on serial / joblib / Dask, faults.

joblib and dask.distributed are test dependencies: the backend tests fail (they do not skip)
when either is missing.  The Dask tests start local clusters of two single-threaded worker
processes, about 3 s each on a 2-core machine.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import fastbp as fb
from fastbp import datasets, sweep
from fastbp.cli import build_parser, main
from fastbp.cli import sweep as cli_sweep
from fastbp.sweep import SweepConfig

#: Eight small configurations: both minibatch paths (loops below 16 rows, BLAS above), three
#: optimizers, two dtypes, two activations.  About 0.1 s each.
GRID = [
    {"hidden": [16], "batch_size": 1, "optimizer": "sgd", "lr": 0.01},
    {"hidden": [16], "batch_size": 8, "optimizer": "momentum", "lr": 0.01},
    {"hidden": [24, 12], "batch_size": 32, "optimizer": "adam", "lr": 0.003},
    {"hidden": [24, 12], "batch_size": 32, "optimizer": "nesterov", "lr": 0.01, "seed": 3},
    {"hidden": [16], "batch_size": 4, "activation": "tanh", "dtype": "float32", "lr": 0.01},
    {"hidden": [32], "batch_size": 64, "optimizer": "adam", "lr": 0.01, "l2": 1e-3},
    {"hidden": [], "batch_size": 16, "optimizer": "sgd", "lr": 0.05, "schedule": "cosine"},
    {"hidden": [8, 8], "batch_size": 2, "activation": "sigmoid", "lr": 0.05, "seed": 7},
]
GRID = [dict(cfg, epochs=3) for cfg in GRID]


@pytest.fixture(scope="module")
def data():
    return sweep.prepare_data("digits")


def _serial_in_child(path, ensembles: bool):
    """The serial table, computed in a child process that loads every kernel from the disk cache.

    Under fastmath, the code Numba JIT-compiles in a process and the object code it caches on
    disk can round differently in the last bit.  This pytest process may have compiled kernels
    itself in earlier test modules, while workers load them from the cache.  So the reference
    comes from a second child process: the first one fills the cache for every kernel the grid
    needs, and the second one, like the workers, only loads from it.
    """
    code = (
        "import json, pickle, sys; from fastbp import sweep; "
        "rows = sweep.run(json.loads(sys.argv[1]), 'digits', progress=False, "
        "ensembles=json.loads(sys.argv[3])).rows; "
        "open(sys.argv[2], 'wb').write(pickle.dumps(rows))"
    )
    args = [sys.executable, "-c", code, json.dumps(GRID), str(path), json.dumps(ensembles)]
    for _ in range(2):
        subprocess.run(args, check=True)
    return pickle.loads(path.read_bytes())


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The serial table as the default sweep computes it (groups as ensembles), in a child."""
    return _serial_in_child(tmp_path_factory.mktemp("serial") / "rows.pkl", True)


@pytest.fixture(scope="module")
def serial_solo(tmp_path_factory):
    """The serial table with every configuration trained alone (``train_one``), in a child.

    The reference of a custom task that trains configurations alone.  Loaded from the cache, an
    ensemble's compiled driver and the solo kernel it runs per member can round differently in
    the last bits (docs/guide/ensembles.rst), so such a run is compared with solo fits.
    """
    return _serial_in_child(tmp_path_factory.mktemp("serial_solo") / "rows.pkl", False)


def assert_same_rows(rows, reference):
    """Every field bit-identical except the timing ones (sweep.TIMING_FIELDS)."""
    assert len(rows) == len(reference)
    for row, ref in zip(rows, reference, strict=True):
        np.testing.assert_array_equal(row["params"], ref["params"])
        assert row["params"].dtype == ref["params"].dtype
        strip = ("params", *sweep.TIMING_FIELDS)
        assert {k: v for k, v in row.items() if k not in strip} == {
            k: v for k, v in ref.items() if k not in strip
        }


# ----------------------------------------------------------------------------- grids
def test_expand_grid_is_a_cartesian_product_in_key_order():
    configs = sweep.expand_grid({"hidden": [[8], [4, 4]], "lr": [0.1, 0.01], "epochs": 2})
    assert [(c.hidden, c.lr) for c in configs] == [
        ((8,), 0.1), ((8,), 0.01), ((4, 4), 0.1), ((4, 4), 0.01),
    ]  # fmt: skip
    assert all(c.epochs == 2 for c in configs)
    assert [c.hidden for c in sweep.expand_grid({"hidden": [64, 128]})] == [(64,), (128,)]
    assert sweep.expand_grid([{"lr": 0.5}, {}]) == [SweepConfig(lr=0.5), SweepConfig()]


@pytest.mark.parametrize(
    ("grid", "match"),
    [
        ({"hiden": [[8]]}, "unknown configuration key"),
        ({"lr": []}, "empty list"),
        ([], "no configurations"),
        ({"optimizer": ["sgd", "rmsprop"]}, "configuration 1"),
        ({"hidden": [[8, 0]]}, "hidden width"),
        ("grid.json", "mapping of lists"),
    ],
)
def test_bad_grids_are_refused_with_the_configuration_named(grid, match):
    with pytest.raises(ValueError, match=match):
        sweep.expand_grid(grid)


def test_configs_are_checked_against_the_data_before_anything_runs(data):
    def exploding_task(config, data):
        raise AssertionError("nothing may run when a configuration is invalid")

    bad = [{"epochs": 1}, {"loss": "logistic"}]  # logistic needs 2 classes; digits has 10
    with pytest.raises(ValueError, match="configuration 1 .*2 classes"):
        sweep.run(bad, data, progress=False, task=exploding_task)
    with pytest.raises(ValueError, match="batch_size 5000 exceeds"):
        sweep.run([{"batch_size": 5000}], data, progress=False, task=exploding_task)


# ----------------------------------------------------------------------------- train_one
def test_train_one_is_pure_and_deterministic(data):
    cfg = SweepConfig(**GRID[2])
    a, b = sweep.train_one(cfg, data), sweep.train_one(cfg.to_dict(), data)
    assert_same_rows([a], [b])
    # The row records what was trained: the config with its loss and dtype resolved.
    resolved = dict(cfg.to_dict(), loss="softmax_cross_entropy", dtype=cfg.dtype or data.dtype)
    assert a["config"] == resolved and a["epochs_run"] == 3 and not a["diverged"]
    assert a["params"].shape == (a["n_params"],) and len(a["history"]["loss"]) == 3
    assert 0.8 < a["val_score"] <= 1 and 0.8 < a["test_score"] <= 1
    c = sweep.train_one(SweepConfig(**dict(GRID[2], seed=1)), data)
    assert not np.array_equal(a["params"], c["params"])


def test_train_one_reports_divergence_instead_of_raising(data):
    row = sweep.train_one(SweepConfig(hidden=(16,), lr=1e6, epochs=2, loss=None), data)
    assert row["diverged"] and np.isfinite(row["params"]).all()  # last good epoch restored


def test_a_finite_but_exploding_loss_is_diverged(data):
    """lr 0.3 with ReLU blows the loss up to ~1e64 and beyond without a NaN or inf."""
    row = sweep.train_one({"hidden": [16], "lr": 0.3, "epochs": 3}, data)
    assert all(np.isfinite(row["history"]["loss"])) and row["final_loss"] > 1e6
    assert row["diverged"]
    ok = sweep.train_one({"hidden": [16], "lr": 0.01, "epochs": 3}, data)
    assert not ok["diverged"] and ok["final_loss"] < ok["initial_loss"]
    # The rule: not finite, or more than DIVERGENCE_FACTOR times the initial loss.
    assert sweep.DIVERGENCE_FACTOR == 10
    assert not sweep.exploded(2.3, []) and not sweep.exploded(2.3, [50.0, 23.0])
    assert sweep.exploded(2.3, [1.0, 23.1]) and sweep.exploded(2.3, [float("nan")])
    result = sweep.SweepResult([{"index": 0, **row}, {"index": 1, **ok}], data, "serial", 0.0)
    assert result.best_index == 1


# ----------------------------------------------------------------------------- backends
#: The bit-identity tests below compare processes that compiled kernels with processes that loaded
#: them from Numba's disk cache.  Under NUMBA_BOUNDSCHECK=1 with a cold cache (CI's job 2) the two
#: can still round differently in the last bit (seen: 3e-16), so these tests are marked slow and
#: run in the plain job, where the claim is checked bit for bit.
@pytest.mark.slow
def test_serial_joblib_and_dask_give_identical_tables(data, serial):
    assert [r["index"] for r in serial] == list(range(8))
    for r in serial:
        assert r["params"].dtype == np.dtype(r["config"]["dtype"])
    joblib_run = sweep.run(GRID, data, backend="joblib", n_jobs=2, progress=False)
    assert_same_rows(joblib_run.rows, serial)
    # The default Dask path: its own LocalCluster(n_workers=2, threads_per_worker=1,
    # processes=True), data scattered once, closed at the end.
    dask_run = sweep.run(GRID, data, backend="dask", n_jobs=2, progress=False)
    assert_same_rows(dask_run.rows, serial)
    assert dask_run.best_index == joblib_run.best_index is not None


class CrashOnce:
    """Task: the first attempt at ``target`` kills its worker process; retries train normally.

    A file created with O_EXCL records the first attempt, whichever process makes it.
    """

    def __init__(self, flag: str, target: SweepConfig) -> None:
        self.flag, self.target = flag, target

    def __call__(self, config, data):
        if config == self.target:
            try:
                fd = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os._exit(1)  # the worker process dies mid-sweep, with this task running
        return sweep.train_one(config, data)


@pytest.mark.slow
def test_dask_sweep_survives_a_worker_dying(data, serial_solo, tmp_path):
    from distributed import Client, LocalCluster

    flag = tmp_path / "crashed"
    task = CrashOnce(str(flag), SweepConfig(**GRID[3]))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:  # fmt: skip
        workers_before = set(client.scheduler_info()["workers"])
        result = sweep.run(GRID, data, backend="dask", scheduler=cluster.scheduler_address,
                           progress=False, task=task)  # fmt: skip
        workers_after = set(client.scheduler_info()["workers"])
    assert flag.exists()  # the first attempt did kill a worker...
    assert workers_after != workers_before  # ...which the nanny replaced
    assert_same_rows(result.rows, serial_solo)  # and the table is complete and identical


def test_dask_accepts_a_client_and_leaves_it_open(data):
    # An in-process (threaded) worker runs this process's compiled code: compare in-process.
    from distributed import Client, LocalCluster

    in_process = sweep.run(GRID[:2], data, backend="serial", progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:  # fmt: skip
        result = sweep.run(GRID[:2], data, backend="dask", scheduler=client, progress=False,
                           warmup=False)  # fmt: skip
        assert client.status == "running"
    assert_same_rows(result.rows, in_process.rows)


def test_unknown_backend_and_misplaced_scheduler(data):
    with pytest.raises(ValueError, match="backend"):
        sweep.run(GRID, data, backend="ray")
    with pytest.raises(ValueError, match="scheduler"):
        sweep.run(GRID, data, backend="joblib", scheduler="tcp://127.0.0.1:8786")


# ----------------------------------------------------------------------------- ensembles
#: Three groups that train as ensembles: per-example SGD over lr x seed (with one member that
#: diverges, lr=50), momentum minibatches over momentum x l2 with their own seeds, and a
#: float32 group of one; plus a lone config whose epochs differ (a group of its own).
ENSEMBLE_GRID = (
    [{"hidden": [16], "lr": lr, "seed": seed, "epochs": 2}
     for lr in (0.01, 0.05, 50.0) for seed in (0, 5)]
    + [{"hidden": [12, 8], "optimizer": "momentum", "batch_size": 8, "momentum": mu, "l2": l2,
        "seed": 9 - i, "epochs": 2} for i, (mu, l2) in enumerate([(0.9, 0.0), (0.5, 1e-3)])]
    + [{"hidden": [16], "activation": "tanh", "dtype": "float32", "batch_size": 4, "epochs": 2},
       {"hidden": [16], "lr": 0.02, "epochs": 1}]
)  # fmt: skip


def test_configurations_group_by_everything_but_lr_momentum_l2_and_seed(data):
    from fastbp.sweep import members

    configs = sweep.expand_grid(ENSEMBLE_GRID)
    assert members.group_configs(configs, data) == [[0, 1, 2, 3, 4, 5], [6, 7], [8], [9]]
    assert members.member_blocks(configs, data, 2) == [(0, 1, 2), (3, 4, 5), (6,), (7,), (8,), (9,)]
    # loss and dtype compare resolved: None and the data's own value are one group
    both = [{"hidden": [4]}, {"hidden": [4], "dtype": data.dtype, "loss": "softmax_cross_entropy"}]
    assert members.group_configs(sweep.expand_grid(both), data) == [[0, 1]]
    with pytest.raises(ValueError, match="differ only in"):
        members.train_members(configs[5:7], data)


def test_sweep_as_ensembles_equals_training_each_configuration(data, tmp_path):
    per_config = sweep.run(ENSEMBLE_GRID, data, progress=False, ensembles=False,
                           out_dir=tmp_path / "one")  # fmt: skip
    grouped = sweep.run(ENSEMBLE_GRID, data, progress=False, out_dir=tmp_path / "ens")
    assert_same_rows(grouped.rows, per_config.rows)
    assert [r["diverged"] for r in grouped.rows][4:6] == [True, True]  # lr=50
    assert grouped.best_index == per_config.best_index is not None
    # The files: the same CSV but the seconds column, and the same best model.
    tables = []
    for sub in ("one", "ens"):
        with open(tmp_path / sub / "results.csv", encoding="utf-8") as f:
            tables.append(
                [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]
            )
    assert tables[0] == tables[1]
    best = [fb.Network.load(tmp_path / sub / "best.fastbp") for sub in ("one", "ens")]
    np.testing.assert_array_equal(best[0].params, best[1].params)
    assert best[0].metadata == best[1].metadata


@pytest.mark.slow  # about 30 s without the JIT; the serial test above covers the members
def test_dask_sweep_as_blocks_of_members(data):
    # In-process workers run this process's compiled code: compare in-process.
    from distributed import Client, LocalCluster

    per_config = sweep.run(ENSEMBLE_GRID, data, progress=False, ensembles=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:  # fmt: skip
        result = sweep.run(ENSEMBLE_GRID, data, backend="dask", scheduler=client, n_jobs=2,
                           progress=False, warmup=False)  # fmt: skip
    assert_same_rows(result.rows, per_config.rows)


# ----------------------------------------------------------------------------- outputs
def test_out_dir_has_csv_json_and_a_predictable_best_model(data, tmp_path):
    serial = sweep.run(GRID, data, backend="serial", progress=False)
    paths = serial.save(tmp_path)
    with open(paths["csv"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and tuple(rows[0]) == sweep.CSV_COLUMNS
    assert rows[0]["hidden"] == "16" and rows[6]["hidden"] == "none"
    assert rows[0]["loss"] == "softmax_cross_entropy"
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))  # strict JSON, no NaN
    assert summary["best_index"] == serial.best_index and len(summary["rows"]) == 8
    assert "params" not in summary["rows"][0]

    best = fb.Network.load(paths["best"])
    row = serial.best
    np.testing.assert_array_equal(best.params, row["params"])
    assert best.metadata["config"] == row["config"]
    # The standardiser goes with it (so `fastbp predict` and best.predict take raw features), and
    # the bare network reproduces the recorded test score on the standardised rows.
    np.testing.assert_array_equal(best.extras["x_mean"], data.x_mean)
    np.testing.assert_array_equal(best.extras["x_scale"], data.x_scale)
    assert best.preprocessing is not None and best.preprocessing.y is None
    bare = best.copy()
    bare.preprocessing = None
    assert bare.score(data.X_test, data.y_test) == row["test_score"]
    # best matches its CSV row, loss included (the config records what was trained).
    assert best.metadata["config"]["loss"] == rows[row["index"]]["loss"] == row["config"]["loss"]


def test_regression_sweep_keeps_the_target_scaler(tmp_path):
    result = sweep.run({"hidden": [[8]], "lr": [0.001, 0.003], "epochs": 5}, "diabetes",
                       progress=False, out_dir=tmp_path)  # fmt: skip
    assert all(r["val_score"] > 0 for r in result.rows)  # R² better than a constant
    best = fb.Network.load(tmp_path / "best.fastbp")
    assert set(best.extras) == {"x_mean", "x_scale", "y_mean", "y_scale"}
    assert best.metadata["task"] == "regression"


def test_sweep_command(tmp_path, capsys):
    """``fastbp sweep`` is a subcommand of the CLI (fastbp.cli.sweep), not part of the library."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"hidden": [[8], [16]], "epochs": 2}), encoding="utf-8")
    parser = build_parser()
    out = tmp_path / "out"
    args = parser.parse_args(["sweep", "--grid", str(grid), "--dataset", "digits", "--out",
                              str(out), "--no-progress", "--json"])  # fmt: skip
    assert args.handler is cli_sweep.cmd_sweep
    assert cli_sweep.cmd_sweep(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["configs"] == 2 and summary["best_index"] in (0, 1)
    assert {p.name for p in out.iterdir()} == {"results.csv", "results.json", "best.fastbp"}

    grid.write_text('{"hidden": [[8]], "optimiser": ["sgd"]}', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown configuration key"):
        cli_sweep.cmd_sweep(parser.parse_args(["sweep", "--grid", str(grid), "--no-progress"]))
    args = parser.parse_args(["sweep", "--grid", str(grid), "--scheduler", "tcp://x:1"])
    with pytest.raises(ValueError, match="--backend dask"):
        cli_sweep.cmd_sweep(args)
    # Through main: the same errors are one line and exit status 2.
    assert main(["sweep", "--grid", str(grid), "--no-progress"]) == 2
    assert "unknown configuration key" in capsys.readouterr().err
    assert main(["sweep", "--grid", str(tmp_path / "none.json")]) == 2
    with pytest.raises(SystemExit) as exit_info:  # argparse, through the shared argtypes
        main(["sweep", "--grid", str(grid), "--n-jobs", "0"])
    assert exit_info.value.code == 2
    assert "--n-jobs: expected an integer >= 1, got 0" in capsys.readouterr().err


def test_sweep_command_reads_npy_data_with_target(tmp_path, capsys):
    d = datasets.load_digits()
    np.save(tmp_path / "X.npy", d.X[:400])
    np.save(tmp_path / "y.npy", d.y[:400])
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"hidden": [[8]], "epochs": 1}), encoding="utf-8")
    argv = ["sweep", "--grid", str(grid), "--dataset", str(tmp_path / "X.npy"), "--no-progress",
            "--json"]  # fmt: skip
    assert main([*argv, "--target", str(tmp_path / "y.npy")]) == 0
    assert json.loads(capsys.readouterr().out)["configs"] == 1
    assert main(argv) == 2
    assert "needs --target" in capsys.readouterr().err


def test_prepare_data_takes_a_name_or_a_path(tmp_path):
    d = datasets.load_diabetes()
    path = tmp_path / "diabetes.csv"
    np.savetxt(path, np.column_stack([d.X, d.y]), delimiter=",")
    from_path = sweep.prepare_data(path)
    by_name = sweep.prepare_data("diabetes")
    assert from_path.task == by_name.task == "regression"
    np.testing.assert_allclose(from_path.X_train, by_name.X_train, rtol=1e-12)
    with pytest.raises(ValueError, match="neither 'digits', 'diabetes' nor an existing file"):
        sweep.prepare_data("iris")
    with pytest.raises(TypeError, match="Dataset"):
        sweep.prepare_data(42)


def test_progress_without_tqdm_is_one_line_per_configuration(data, monkeypatch, capsys):
    """The sweep reports through fastbp.progress.Progress; its fallback line names the unit."""
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    result = sweep.run([{"hidden": [8], "epochs": 1}, {"hidden": [4], "epochs": 1}], data,
                       progress=True)  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"config {i + 1}/2 val={r['val_score']:.4g}" for i, r in
                     enumerate(result.rows)]  # fmt: skip


def test_results_json_writes_nonfinite_scores_as_null(data, tmp_path):
    def nan_task(config, data):
        row = sweep.train_one(config, data)
        return dict(row, val_score=float("nan"), final_loss=float("inf"))

    result = sweep.run([{"hidden": [4], "epochs": 1}], data, progress=False, task=nan_task)
    assert result.best_index is None  # a NaN score is never the best
    paths = result.save(tmp_path)
    row = json.loads(paths["json"].read_text(encoding="utf-8"))["rows"][0]
    assert row["val_score"] is None and row["final_loss"] is None
    assert "best" not in paths


def test_sweep_library_has_no_command_line():
    """fastbp.sweep is a library: no argparse, and nothing of fastbp.cli, even lazily."""
    import ast
    from pathlib import Path

    for path in sorted(Path(sweep.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name != "argparse" and not name.startswith("fastbp.cli"), (path, name)
    code = (
        "import sys, fastbp.sweep; "
        "assert not [m for m in sys.modules if m.startswith('fastbp.cli')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_fastbp_does_not_import_joblib_or_dask():
    code = (
        "import sys, fastbp, fastbp.sweep; "
        "bad = [m for m in ('sklearn', 'joblib', 'dask', 'distributed') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
