"""The command line's spellings, help, choices and messages, through the installed ``fastbp``.

One spelling per thing in every subcommand: the model is the positional MODEL, the data
``--dataset``; the old spellings (``--model``, ``predict --data``) still work and say once, on
stderr, what to write instead.  Each test runs the ``fastbp`` console script as a subprocess,
as a user would; PYTHONPATH (see conftest) makes it import this checkout.
"""

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

import fastbp as fb
from fastbp.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
#: Subcommands that take a saved model, and those that take data.
MODEL_COMMANDS = ("predict", "info", "curvature", "export")
DATASET_COMMANDS = ("train", "predict", "curvature", "sweep")


def fastbp_script() -> str:
    """The ``fastbp`` console script of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).with_name("fastbp")
    script = str(beside) if beside.exists() else shutil.which("fastbp")
    assert script is not None, "the fastbp console script is not installed (pip install -e .)"
    return script


def fastbp(*args: str, cwd: Path, pythonpath: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``fastbp ARGS`` in ``cwd``; ``pythonpath`` goes before this checkout."""
    path = os.pathsep.join(str(p) for p in (*pythonpath, ROOT))
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run(
        [fastbp_script(), *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-input regression model (with the standardisers ``fastbp train`` saves) and CSVs."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    net = fb.Network(fb.NetworkSpec([4, 3, 1], ["tanh"], "squared"), seed=0)
    arrays = {"x_mean": rng.normal(size=4), "x_scale": rng.uniform(0.5, 2, size=4),
              "y_mean": np.array([1.5]), "y_scale": np.array([2.0])}  # fmt: skip
    net.save(d / "m4.fastbp", arrays=arrays)
    X = rng.normal(size=(6, 5))
    np.savetxt(d / "rows4.csv", X[:, :4], delimiter=",")
    np.savetxt(d / "labelled.csv", X, delimiter=",")
    np.savetxt(d / "bad3.csv", X[:, :3], delimiter=",")
    header = "a,b,target,c,d"
    np.savetxt(d / "named.csv", X[:, [0, 1, 4, 2, 3]], delimiter=",", header=header, comments="")
    return d


def notices(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if "deprecated" in ln]


# ----------------------------------------------------------------------------- spellings
def test_every_subcommand_spells_the_model_and_the_data_the_same() -> None:
    subs = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    for name, parser in subs.items():
        shown = {s for a in parser._actions if a.help is not argparse.SUPPRESS
                 for s in (a.option_strings or [a.dest])}  # fmt: skip
        assert ("model" in shown) == (name in MODEL_COMMANDS), name
        assert ("--dataset" in shown) == (name in DATASET_COMMANDS), name
        assert not shown & {"--model", "--data"}, name  # old spellings are hidden aliases


def test_new_spellings_run_without_notices(folder: Path) -> None:
    proc = fastbp("predict", "m4.fastbp", "--dataset", "rows4.csv", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 6 and not notices(proc)


def test_old_spellings_still_work_with_a_one_line_notice_each(folder: Path) -> None:
    new = fastbp("predict", "m4.fastbp", "--dataset", "labelled.csv", cwd=folder)
    old = fastbp("predict", "--model", "m4.fastbp", "--data", "labelled.csv", cwd=folder)
    assert old.returncode == new.returncode == 0, old.stderr
    assert old.stdout == new.stdout
    assert notices(old) == [
        "fastbp predict: note: --model is deprecated; use the positional MODEL",
        "fastbp predict: note: --data is deprecated; use --dataset",
    ]
    curv = fastbp("curvature", "--model", "m4.fastbp", "--dataset", "labelled.csv", "--iters",
                  "2", "--samples", "2", cwd=folder)  # fmt: skip
    assert curv.returncode == 0, curv.stderr
    assert "sharpness" in curv.stdout
    assert notices(curv) == [
        "fastbp curvature: note: --model is deprecated; use the positional MODEL"
    ]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["predict", "m4.fastbp", "--model", "m4.fastbp", "--dataset", "rows4.csv"],
         "argument --model: not allowed with argument MODEL"),
        (["predict", "m4.fastbp", "--data", "rows4.csv", "--dataset", "rows4.csv"],
         "argument --dataset: not allowed with argument --data "),
        (["predict", "--dataset", "rows4.csv"], "the following arguments are required: MODEL"),
        (["predict", "m4.fastbp"], "the following arguments are required: --dataset"),
        (["curvature"], "the following arguments are required: MODEL"),
    ],
)  # fmt: skip
def test_spelling_mistakes_are_one_line_usage_errors(folder: Path, argv, match: str) -> None:
    proc = fastbp(*argv, cwd=folder)
    assert proc.returncode == 2
    assert proc.stderr.count("error") == 1 and match in proc.stderr, proc.stderr


# ----------------------------------------------------------------------------- --target-column
def test_target_column_takes_a_header_name_or_an_index(folder: Path) -> None:
    by_name = fastbp("predict", "m4.fastbp", "--dataset", "named.csv", "--target-column",
                     "target", cwd=folder)  # fmt: skip
    by_index = fastbp("predict", "m4.fastbp", "--dataset", "named.csv", "--target-column", "2",
                      cwd=folder)  # fmt: skip
    by_default = fastbp("predict", "m4.fastbp", "--dataset", "labelled.csv", cwd=folder)
    assert by_name.returncode == by_index.returncode == 0, by_name.stderr
    assert by_name.stdout == by_index.stdout == by_default.stdout
    assert "r2" in by_name.stderr
    missing = fastbp("predict", "m4.fastbp", "--dataset", "named.csv", "--target-column", "y",
                     cwd=folder)  # fmt: skip
    assert missing.returncode == 2 and "'y' is not a column" in missing.stderr
    assert "['a', 'b', 'target', 'c', 'd']" in missing.stderr


def test_train_takes_a_target_column_by_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    table = np.column_stack([X[:, 0], X.sum(axis=1), X[:, 1:]])  # the target second
    np.savetxt(tmp_path / "t.csv", table, delimiter=",", header="u,total,v,w", comments="")
    proc = fastbp("train", "--dataset", "t.csv", "--target-column", "total", "--hidden", "4",
                  "--epochs", "1", "--no-progress", "--json", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "target 'total'" in proc.stderr and "X=(60, 3)" in proc.stderr


def test_predict_takes_a_bundled_dataset_like_train(tmp_path: Path) -> None:
    net = fb.Network(fb.NetworkSpec([64, 8, 10], ["relu"], "softmax_cross_entropy"), seed=0)
    names = [str(k) for k in range(10)]
    net.save(tmp_path / "d.fastbp", metadata={"target_names": names})
    proc = fastbp("predict", "d.fastbp", "--dataset", "digits", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    labels = proc.stdout.split()
    assert len(labels) == fb.datasets.load_digits().X.shape[0] and set(labels) <= set(names)
    assert "accuracy" in proc.stderr


@pytest.mark.parametrize("command", ["train", "curvature", "sweep"])
def test_target_column_is_refused_where_the_target_is_fixed(folder: Path, command: str) -> None:
    model = ["m4.fastbp"] if command == "curvature" else []
    grid = ["--grid", "g.json"] if command == "sweep" else []
    (folder / "g.json").write_text('{"epochs": [1]}', "utf-8")
    proc = fastbp(command, *model, *grid, "--dataset", "diabetes", "--target-column", "abc",
                  cwd=folder)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--target-column applies to a CSV --dataset, not to diabetes" in proc.stderr


# ----------------------------------------------------------------------------- --help
def _visible_options() -> list[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    subs = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    return [(name, p, a) for name, p in subs.items() for a in p._actions
            if a.option_strings and a.help is not argparse.SUPPRESS]  # fmt: skip


def test_help_shows_every_default_and_every_choice() -> None:
    checked = 0
    for name, parser, action in _visible_options():
        formatter = parser._get_formatter()  # the formatter the parser itself uses
        formatter.add_argument(action)
        text = formatter.format_help()
        where = f"fastbp {name} {action.option_strings[0]}: {text!r}"
        if action.nargs != 0 and action.default not in (None, argparse.SUPPRESS):
            assert "default:" in " ".join(text.split()), where
            checked += 1
        for choice in action.choices or ():
            assert str(choice) in text, where
    assert checked > 30  # every subcommand's options, not a handful


@pytest.mark.parametrize(
    "command",
    ["train", "sweep", "predict", "export", "info", "curvature", "gradcheck", "circuit",
     "warmup", "lecture"],
)  # fmt: skip
def test_help_of_each_command_runs_and_shows_its_defaults(tmp_path: Path, command: str) -> None:
    proc = fastbp(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: fastbp {command}")
    text = " ".join(proc.stdout.split())  # as wrapped for any terminal width
    if command in ("train", "sweep", "curvature", "gradcheck", "lecture"):
        assert "--seed SEED" in text and "default: 0" in text
    if command == "train":
        assert "default: xavier_normal" in text and "default: sgd" in text
        assert "{xavier_normal,xavier_uniform,he_normal" in text  # --init's choices


# ----------------------------------------------------------------------------- --loss
def test_loss_choices_are_the_spec_registry(tmp_path: Path) -> None:
    for command in ("train", "gradcheck"):
        proc = fastbp(command, "--help", cwd=tmp_path)
        assert "{" + ",".join(sorted(fb.LOSSES)) + "}" in proc.stdout, command


def test_train_with_poisson_loss_keeps_counts_unscaled(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 2))
    counts = rng.poisson(np.exp(0.5 * X[:, 0]))  # whole numbers: inferred as classes, but
    np.savetxt(tmp_path / "c.csv", np.column_stack([X, counts]), delimiter=",")  # --loss decides
    proc = fastbp("train", "--dataset", "c.csv", "--loss", "poisson", "--hidden", "4",
                  "--epochs", "2", "--no-progress", "--json", "--out", "p.fastbp",
                  cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["task"] == "regression"
    assert "y_mean" not in fb.Network.load(tmp_path / "p.fastbp").extras
    np.savetxt(tmp_path / "x.csv", X[:5], delimiter=",")
    pred = fastbp("predict", "p.fastbp", "--dataset", "x.csv", cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    assert all(float(v) > 0 for v in pred.stdout.split())  # Poisson means, not class labels


# ----------------------------------------------------------------------------- messages
@pytest.mark.parametrize(
    ("argv", "parts"),
    [
        (["--dataset", "bad3.csv"],
         ["bad3.csv has 3 columns", "model expects 4 inputs", "target in the last one"]),
        (["--dataset", "rows4.csv", "--target-column", "0"],
         ["rows4.csv has 4 columns", "3 feature columns besides the target column",
          "--target-column 0", "model expects 4 inputs"]),
        (["--dataset", "digits"], ["digits has 64 features", "model expects 4 inputs"]),
        (["--dataset", "digits", "--target-column", "0"], ["--target-column applies to a CSV"]),
        (["--dataset", "nope.csv"], ["nope.csv: no such file"]),
    ],
)  # fmt: skip
def test_predict_errors_name_the_file_columns_and_model_inputs(
    folder: Path, argv: list[str], parts: list[str]
) -> None:
    proc = fastbp("predict", "m4.fastbp", *argv, cwd=folder)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for part in parts:
        assert part in proc.stderr, proc.stderr
    assert "2 feature columns" not in proc.stderr  # the old, misleading count


def test_curvature_error_names_the_dataset_option(folder: Path) -> None:
    proc = fastbp("curvature", "m4.fastbp", "--dataset", "diabetes", cwd=folder)
    assert proc.returncode == 2
    assert "--dataset diabetes has 10 feature columns" in proc.stderr
    assert "model expects 4 inputs" in proc.stderr


def test_circuit_without_expression_or_load_does_not_say_not_both(tmp_path: Path) -> None:
    proc = fastbp("circuit", "--at", "1", cwd=tmp_path)
    assert proc.returncode == 2 and "neither was given" in proc.stderr
    assert "not both" not in proc.stderr


# ----------------------------------------------------------------------------- export
def test_export_writes_nothing_when_a_requested_format_is_missing(folder: Path) -> None:
    """Without torch, ``--onnx a.onnx --torch m.pt`` fails before writing the ONNX file."""
    pytest.importorskip("onnx", reason="needs the onnx extra (pip install 'fastbp[onnx]')")
    shim = folder / "no-torch"
    (shim / "torch").mkdir(parents=True, exist_ok=True)
    (shim / "torch" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'torch' (hidden by the test)\")\n", "utf-8"
    )
    proc = fastbp("export", "m4.fastbp", "--onnx", "a.onnx", "--torch", "m.pt", cwd=folder,
                  pythonpath=(shim,))  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'torch'" in proc.stderr and "nothing was written" in proc.stderr, proc.stderr
    assert not (folder / "a.onnx").exists() and not (folder / "m.pt").exists()
    assert not list(folder.glob(".a.onnx.*"))  # no temporary file either
    onnx_only = fastbp("export", "m4.fastbp", "--onnx", "a.onnx", cwd=folder, pythonpath=(shim,))
    assert onnx_only.returncode == 0 and (folder / "a.onnx").exists(), onnx_only.stderr
    (folder / "a.onnx").unlink()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--onnx", "b.onnx", "--torch", "missing/m.pt"], "--torch missing/m.pt: directory"),
        (["--onnx", ".", "--torch", "m.pt"], "--onnx .: it is a directory"),
        (["--onnx", "b.onnx", "--torch", "b.onnx"], "name the same file"),
    ],
)
def test_export_checks_every_output_path_before_writing(folder: Path, argv, match) -> None:
    proc = fastbp("export", "m4.fastbp", *argv, cwd=folder)
    assert proc.returncode == 2 and match in proc.stderr, proc.stderr
    assert not (folder / "b.onnx").exists() and not (folder / "m.pt").exists()
