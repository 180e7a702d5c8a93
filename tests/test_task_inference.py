"""Task inference states a doubtful decision and the flag that overrides it (issue 24, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fastbp.cli import main
from fastbp.datasets import load_file, load_named


def write_csv(path: Path, y: np.ndarray, n_features: int = 3, seed: int = 0) -> Path:
    X = np.random.default_rng(seed).normal(size=(len(y), n_features))
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.10g")
    return path


def test_clear_labels_have_no_note(tmp_path) -> None:
    d = load_file(write_csv(tmp_path / "clear.csv", np.arange(120) % 3))
    assert d.task == "classification" and d.task_note == ""
    d = load_file(write_csv(tmp_path / "real.csv", np.linspace(0, 1, 40)))
    assert d.task == "regression" and d.task_note == ""


def test_one_distinct_value_is_a_clear_error_unless_the_task_is_given(tmp_path) -> None:
    path = write_csv(tmp_path / "const.csv", np.full(30, 7.0))
    with pytest.raises(ValueError, match=r"one value \(7\) in all 30 rows.*--task regression"):
        load_named(path)
    d = load_named(path, task="regression")
    assert d.task == "regression" and d.task_note == ""
    d = load_named(path, task="classification")  # an explicit task is taken as it is
    assert d.target_names == ("7",)


def test_one_distinct_value_in_the_cli(tmp_path, capsys) -> None:
    path = write_csv(tmp_path / "const.csv", np.full(30, 7.0))
    assert main(["train", "--dataset", str(path), "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "one value (7)" in err and "--task regression" in err
    assert "softmax_cross_entropy" not in err and "outputs" not in err
    argv = ["train", "--dataset", str(path), "--epochs", "1", "--no-progress", "--hidden", "4",
            "--task", "regression"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    argv[-1] = "classification"
    assert main(argv) == 2
    assert "needs at least 2 classes" in capsys.readouterr().err


def test_count_target_states_its_decision_on_stdout(tmp_path, capsys) -> None:
    counts = np.arange(300) % 30  # 30 whole-number values, 10 rows each
    path = write_csv(tmp_path / "counts.csv", counts)
    d = load_named(path)
    assert d.task == "classification"
    assert "30 classes" in d.task_note and "counts" in d.task_note
    assert "--task regression" in d.task_note
    argv = ["train", "--dataset", str(path), "--epochs", "1", "--hidden", "4", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("fastbp: note: ") and "--task regression" in out.splitlines()[0]
    assert main([*argv, "--json"]) == 0  # stdout stays one JSON document
    summary = json.loads(capsys.readouterr().out)
    assert "30 classes" in summary["task_note"]
    assert main([*argv, "--task", "regression", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "regression" and "task_note" not in summary


def test_few_rows_per_class_is_doubtful(tmp_path) -> None:
    d = load_file(write_csv(tmp_path / "few.csv", np.arange(12) % 4))  # 3 rows per class
    assert d.task == "classification" and "3.0 rows per class" in d.task_note


def test_loss_squared_on_whole_number_targets_trains_a_regression(tmp_path, capsys) -> None:
    """--loss squared without --task: the file's task follows the loss (regression)."""
    path = write_csv(tmp_path / "labels.csv", np.arange(60) % 2)
    argv = ["train", "--dataset", str(path), "--loss", "squared", "--epochs", "1", "--no-progress"]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "regression" and summary["metric"] == "r2"


def test_classification_task_with_squared_loss_names_the_task_flag(tmp_path, capsys) -> None:
    path = write_csv(tmp_path / "labels.csv", np.arange(60) % 2)
    argv = ["train", "--dataset", str(path), "--loss", "squared", "--task", "classification",
            "--epochs", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    assert "needs a regression dataset" in capsys.readouterr().err


def test_sweep_command_states_the_note(tmp_path, capsys) -> None:
    path = write_csv(tmp_path / "counts.csv", np.arange(300) % 30)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"hidden": [[4]], "epochs": 1}), encoding="utf-8")
    assert main(["sweep", "--grid", str(grid), "--dataset", str(path), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("fastbp: note: target")
