"""The fastbp command line, end to end."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastbp import datasets
from fastbp.cli import argtypes, build_parser, main


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run(
        [sys.executable, "-m", "fastbp.cli", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


@pytest.mark.slow
def test_default_train_is_the_main_job_and_reaches_96_percent(tmp_path: Path) -> None:
    """`fastbp train` with no options: digits, seeded 80/20 split, >= 96 % test accuracy."""
    out = tmp_path / "digits.fastbp"
    proc = run_cli("train", "--json", "--no-progress", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["dataset"] == "digits" and summary["metric"] == "accuracy"
    assert summary["test_score"] >= 0.96, summary
    assert summary["epochs"] == 30 and out.exists()


@pytest.mark.slow
def test_diabetes_beats_a_constant_predictor(capsys) -> None:
    assert main(["train", "--dataset", "diabetes", "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["metric"] == "r2" and summary["test_score"] >= 0.4, summary


def test_progress_bar_and_summary_are_printed(capsys) -> None:
    assert main(["train", "--epochs", "2", "--hidden", "8"]) == 0
    captured = capsys.readouterr()
    assert "digits: train accuracy" in captured.out
    assert "2/2" in captured.err  # the progress display


def test_train_passes_the_toolbox_options_to_fit(monkeypatch, capsys) -> None:
    """--optimizer adamw, --weight-decay, --clip-norm and --warmup reach Network.fit as given
    (left out: fit's own defaults), and such a run trains end to end."""
    import fastbp as fb

    seen: list[dict] = []
    fit = fb.Network.fit

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(fb.Network, "fit", spy)
    argv = ["train", "--epochs", "1", "--hidden", "8", "--no-progress", "--json"]
    assert main([*argv, "--optimizer", "adamw", "--weight-decay", "0.05", "--clip-norm", "0.5",
                 "--warmup", "20", "--lr", "0.001"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs"] == 1 and np.isfinite(summary["final_loss"])
    assert main(argv) == 0
    capsys.readouterr()
    got = [{k: kw[k] for k in ("optimizer", "weight_decay", "clip_norm", "warmup")} for kw in seen]
    assert got == [
        {"optimizer": "adamw", "weight_decay": 0.05, "clip_norm": 0.5, "warmup": 20},
        {"optimizer": "sgd", "weight_decay": None, "clip_norm": None, "warmup": 0},
    ]


def test_train_dropout_and_loss_parameters_reach_the_saved_spec(tmp_path: Path, capsys) -> None:
    """--dropout (one rate, or one per hidden layer) and --huber-delta/--quantile go into the
    spec of the trained model, which is saved with them; a run trains end to end."""
    import fastbp as fb

    argv = ["train", "--epochs", "1", "--no-progress", "--json"]
    model = tmp_path / "d.fastbp"
    assert main([*argv, "--hidden", "8,6", "--dropout", "0.1,0.25", "--out", str(model)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert np.isfinite(summary["final_loss"]) and summary["test_score"] > 0.2
    assert fb.Network.load(model).spec.dropout == (0.1, 0.25)
    assert main([*argv, "--hidden", "8,6", "--dropout", "0.3", "--out", str(model)]) == 0
    assert fb.Network.load(model).spec.dropout == (0.3, 0.3)
    for loss, flag, field, value in [("huber", "--huber-delta", "huber_delta", 2.5),
                                     ("quantile", "--quantile", "quantile", 0.9)]:  # fmt: skip
        assert main([*argv, "--dataset", "diabetes", "--hidden", "8", "--loss", loss, flag,
                     str(value), "--out", str(model)]) == 0  # fmt: skip
        spec = fb.Network.load(model).spec
        assert spec.loss == loss and getattr(spec, field) == value
    capsys.readouterr()


def test_train_predict_info_round_trip(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.fastbp"
    assert main(["train", "--dataset", "diabetes", "--epochs", "5", "--no-progress",
                 "--out", str(model)]) == 0  # fmt: skip
    capsys.readouterr()
    data = datasets.load_diabetes()
    csv = tmp_path / "rows.csv"
    np.savetxt(csv, data.X[:7], delimiter=",")
    assert main(["predict", str(model), "--dataset", str(csv)]) == 0
    preds = [float(v) for v in capsys.readouterr().out.split()]
    assert len(preds) == 7 and 25 < np.mean(preds) < 350  # in the target's original units
    labelled = tmp_path / "labelled.csv"
    np.savetxt(labelled, np.column_stack([data.X[:7], data.y[:7]]), delimiter=",")
    out_csv = tmp_path / "pred.csv"
    assert main(["predict", str(model), "--dataset", str(labelled),
                 "--out", str(out_csv)]) == 0  # fmt: skip
    assert "r2" in capsys.readouterr().err
    np.testing.assert_allclose(np.loadtxt(out_csv), preds)
    assert main(["info", str(model)]) == 0
    info = capsys.readouterr().out
    assert "widths       [10, 16, 1]" in info and "trained      5 epochs" in info
    assert main(["info", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["spec"]["loss"] == "squared"


def test_predict_reports_accuracy_with_class_names(tmp_path: Path, capsys) -> None:
    model = tmp_path / "d.fastbp"
    assert main(["train", "--epochs", "3", "--no-progress", "--out", str(model)]) == 0
    capsys.readouterr()
    d = datasets.load_digits()
    csv = tmp_path / "digits.csv"
    np.savetxt(csv, np.column_stack([d.X[:50], d.y[:50]]), delimiter=",", fmt="%g")
    assert main(["predict", str(model), "--dataset", str(csv)]) == 0
    captured = capsys.readouterr()
    assert set(captured.out.split()) <= {str(k) for k in range(10)}
    accuracy = float(captured.err.split("accuracy")[1].split()[0])
    assert accuracy > 0.8


@pytest.mark.parametrize(
    ("loss", "activation"), [("squared", "tanh"), ("softmax_cross_entropy", "relu"),
                             ("logistic", "sigmoid"), ("poisson", "softplus")],
)  # fmt: skip
def test_gradcheck_command(loss: str, activation: str, capsys) -> None:
    assert main(["gradcheck", "--widths", "5,7,3", "--loss", loss, "--activation", activation]) == 0
    assert "gradcheck PASSED" in capsys.readouterr().out


def test_train_on_a_csv_file(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    path = tmp_path / "two.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.6f")
    assert main(["train", "--dataset", str(path), "--epochs", "20", "--no-progress",
                 "--loss", "logistic", "--hidden", "8", "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["task"] == "classification" and summary["test_score"] > 0.8


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["train", "--epochs", "-1"], "--epochs"),
        (["train", "--lr", "0"], "--lr"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--hidden", "64,x"], "--hidden"),
        (["train", "--hidden", "0"], "--hidden"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--optimizer", "rmsprop"], "--optimizer"),
        (["train", "--dataset", "missing.csv"], "neither 'digits', 'diabetes' nor an existing"),
        (["train", "--batch-size", "5000", "--no-progress"], "batch_size must be between"),
        (["train", "--dataset", "diabetes", "--loss", "logistic"], "needs a classification"),
        (["train", "--momentum", "1.5", "--optimizer", "momentum"], "momentum must be in"),
        (["train", "--weight-decay", "-1"], "--weight-decay"),
        (["train", "--clip-norm", "0"], "--clip-norm"),
        (["train", "--dropout", "0.5,x"], "--dropout"),
        (["train", "--dropout", "1"], "dropout"),
        (["train", "--hidden", "8", "--dropout", "0.1,0.2"], "one rate per hidden layer"),
        (
            ["train", "--dataset", "diabetes", "--loss", "huber", "--quantile", "0.9"],
            "--quantile is the parameter of --loss quantile",
        ),
        (
            ["train", "--dataset", "diabetes", "--loss", "quantile", "--quantile", "1.5"],
            "quantile = 1.5 must be in (0, 1)",
        ),
        (["predict", "nope.fastbp", "--dataset", "x.csv"], "No such file"),
        (["info", "nope.fastbp"], "No such file"),
        (["gradcheck", "--widths", "4"], "at least an input and an output"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], match: str) -> None:
    proc = run_cli(*argv)
    assert proc.returncode == 2, proc
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("fastbp")]
    assert any(match in ln for ln in lines), proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("error") == 1


def test_hostile_model_file_is_refused_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "evil.fastbp"
    bad.write_bytes(b"\x80\x04\x95not really a model")
    proc = run_cli("info", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "pickle" in proc.stderr.lower() or "not a fastbp model" in proc.stderr


def test_no_command_prints_help(capsys) -> None:
    assert main([]) == 2
    assert "train" in capsys.readouterr().out


def test_curvature_command(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.fastbp"
    assert main(["train", "--dataset", "diabetes", "--epochs", "3", "--no-progress",
                 "--out", str(model)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["curvature", str(model), "--dataset", "diabetes", "--iters", "20",
                 "--samples", "8"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "sharpness" in out and "trace" in out
    sharp = float(out.split("sharpness")[1].split()[0])
    assert np.isfinite(sharp) and sharp != 0


def test_sweep_command_is_wired(tmp_path: Path, capsys) -> None:
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"hidden": [[8], [16]], "epochs": 2}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["sweep", "--grid", str(grid), "--backend", "serial", "--out", str(out),
                 "--no-progress", "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["configs"] == 2
    assert (out / "best.fastbp").exists()
    assert main(["predict", str(out / "best.fastbp"), "--dataset", str(_digits_csv(tmp_path))]) == 0


def _digits_csv(tmp_path: Path) -> Path:
    d = datasets.load_digits()
    path = tmp_path / "rows.csv"
    np.savetxt(path, d.X[:5], delimiter=",", fmt="%g")
    return path


# ----------------------------------------------------------------------------- entry points
#: Each run is compared across the three ways to start the command line.
ENTRY_RUNS = [
    (["--help"], 0), (["gradcheck", "--widths", "3,4,2", "--batch", "4"], 0),
    (["gradcheck", "--widths", "4"], 2), (["train", "--epochs", "-1"], 2), ([], 2),
]  # fmt: skip


def test_pyproject_console_script_is_fastbp_cli_main() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text("utf-8")
    assert '\n[project.scripts]\nfastbp = "fastbp.cli:main"\n' in pyproject


@pytest.mark.parametrize(("argv", "status"), ENTRY_RUNS, ids=[" ".join(a) for a, _ in ENTRY_RUNS])
def test_python_m_fastbp_behaves_exactly_as_the_fastbp_command(argv: list[str], status) -> None:
    """`fastbp`, `python -m fastbp` and `python -m fastbp.cli`: same output, same exit status.

    The `fastbp` script is the one `pip install -e .` put on PATH; PYTHONPATH (conftest) makes
    it import this checkout's fastbp.
    """
    script = shutil.which("fastbp")
    assert script is not None, "the fastbp console script is not installed (pip install -e .)"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    runs = [
        subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        for cmd in ([script, *argv], [sys.executable, "-m", "fastbp", *argv],
                    [sys.executable, "-m", "fastbp.cli", *argv])
    ]  # fmt: skip
    first = runs[0]
    for other in runs[1:]:
        assert (other.returncode, other.stdout, other.stderr) == (
            first.returncode, first.stdout, first.stderr,
        )  # fmt: skip
    assert first.returncode == status, first.stderr
    if argv[:1] == ["--help"]:
        assert "sweep" in first.stdout and "export" in first.stdout
    elif first.returncode == 0:
        assert "gradcheck PASSED" in first.stdout


# ----------------------------------------------------------------------------- argtypes
@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (argtypes.nonnegative_int, "0", 0), (argtypes.positive_int, "7", 7),
        (argtypes.at_least_two, "2", 2), (argtypes.int_at_least(5), "5", 5),
        (argtypes.int_list, "64,32", [64, 32]), (argtypes.int_list, "8,", [8]),
        (argtypes.float_list, "1,0,-2.5", [1.0, 0.0, -2.5]),
        (argtypes.positive_float, "1e-3", 1e-3), (argtypes.fraction, "0", 0.0),
        (argtypes.fraction, "0.25", 0.25), (argtypes.nonnegative_float, "0", 0.0),
        (argtypes.nonnegative_float, "0.01", 0.01),
    ],
)  # fmt: skip
def test_argtypes_accept(parse, text: str, value) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "match"),
    [
        (argtypes.nonnegative_int, "-1", "integer >= 0"), (argtypes.positive_int, "0", ">= 1"),
        (argtypes.positive_int, "1.5", "expected an integer"),
        (argtypes.at_least_two, "1", ">= 2"), (argtypes.int_list, "", "positive integers"),
        (argtypes.int_list, "3,0", "positive integers"), (argtypes.int_list, "a", "integers"),
        (argtypes.float_list, ",", "numbers"), (argtypes.float_list, "x", "numbers"),
        (argtypes.positive_float, "0", "> 0"), (argtypes.positive_float, "inf", "finite"),
        (argtypes.positive_float, "nan", "finite"), (argtypes.fraction, "1", r"\[0, 1\)"),
        (argtypes.fraction, "-0.1", r"\[0, 1\)"), (argtypes.fraction, "nan", r"\[0, 1\)"),
        (argtypes.nonnegative_float, "-1e-3", ">= 0"),
        (argtypes.nonnegative_float, "inf", "finite"),
    ],
)  # fmt: skip
def test_argtypes_refuse_with_a_message(parse, text: str, match: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=match):
        parse(text)


def test_parser_errors_are_one_line_with_status_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "--seed", "-1"])
    assert exit_info.value.code == argtypes.EXIT_USAGE == 2
    err = capsys.readouterr().err
    assert err == "fastbp train: error: argument --seed: expected an integer >= 0, got -1 " \
                  "(see fastbp train --help)\n"  # fmt: skip


def test_every_subcommand_has_a_handler() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(sub.choices) == ["circuit", "curvature", "export", "gradcheck", "info",
                                   "lecture", "predict", "sweep", "train", "warmup"]  # fmt: skip
    for name, subparser in sub.choices.items():
        handler = subparser.get_default("handler")
        assert callable(handler) and handler.__name__ == f"cmd_{name}", name


# ----------------------------------------------------------------------------- layering
def _imports_of(path: Path, package: str, modules: set[str]) -> set[str]:
    """The fastbp modules a file imports, at the top or inside functions (TYPE_CHECKING blocks,
    which never run, are left out).  ``from pkg import name`` counts as importing ``pkg.name``
    if that is a module, else ``pkg`` itself (its ``__init__``)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("fastbp"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("fastbp"):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    out.add(candidate if candidate in modules else node.module)
    out.discard(package)
    return out


def _import_graph() -> dict[str, set[str]]:
    root = Path(datasets.__file__).resolve().parents[1]  # fastbp/, installed in the wheel job
    paths = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return {name: _imports_of(path, name, set(paths)) for name, path in paths.items()}


def test_nothing_below_the_cli_imports_it() -> None:
    for module, imports in _import_graph().items():
        if module.startswith("fastbp.cli") or module == "fastbp.__main__":
            continue
        assert not [m for m in imports if m.startswith("fastbp.cli")], module


def test_no_import_circle_through_the_cli_sweep_or_datasets() -> None:
    """No circle, lazy imports included, through fastbp.cli, fastbp.sweep or fastbp.datasets."""
    graph = _import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(graph.get(start, ()))
        while todo:
            m = todo.pop()
            if m == goal:
                return True
            if m not in seen:
                seen.add(m)
                todo.extend(graph.get(m, ()))
        return False

    watched = [m for m in graph if m.startswith(("fastbp.cli", "fastbp.sweep", "fastbp.datasets"))]
    assert "fastbp.sweep.runner" in watched and "fastbp.datasets.named" in watched
    circles = [m for m in watched if reaches(m, m)]
    assert not circles
