"""``fastbp sweep``: train a grid of configurations (serial, joblib or Dask) and keep the best.

The sweep itself is the library :mod:`fastbp.sweep`; this module only parses the options,
loads the data and prints the summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from fastbp.cli.argtypes import (
    EXIT_USAGE,
    add_dataset_argument,
    fraction,
    nonnegative_int,
    positive_int,
    target_column,
)
from fastbp.cli.common import load_dataset


def add_parser(sub: Any) -> None:
    """Add ``fastbp sweep`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    from fastbp.datasets._dataset import TASKS
    from fastbp.sweep import BACKENDS, SweepConfig

    s = sub.add_parser(
        "sweep",
        help="train a grid of configurations (serial, joblib or Dask) and keep the best",
        description="Train every configuration of a JSON grid on one dataset and write one "
        "results table (CSV + JSON) and the best model (by validation score). grid.json is an "
        'object of lists (cartesian product), e.g. {"hidden": [[32], [64, 64]], "lr": [0.01, '
        "0.003]}, or a list of configuration objects. Keys: "
        + ", ".join(f.name for f in dataclasses.fields(SweepConfig))
        + ". The data are split into train/validation/test parts, standardised with the "
        "training part's statistics.",
    )
    s.add_argument("--grid", type=Path, required=True, help="JSON grid file")
    add_dataset_argument(
        s,
        "digits, diabetes, or a path to a .csv/.npz file, or to a .npy file of features "
        "(with --target; read into memory) (default: digits)",
        default="digits",
    )
    s.add_argument(
        "--target",
        type=Path,
        default=None,
        help="a .npy file of targets, one per row of a .npy --dataset (required with one)",
    )
    s.add_argument(
        "--target-column",
        type=target_column,
        default=None,
        help="index (negative from the end) or header name of the target column of a CSV file "
        "(default: the last column)",
    )
    s.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="task of a file dataset (default: inferred, see fastbp.datasets)",
    )
    s.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=None,
        help="dtype of the data and of configurations that set none (default: the data's: a "
        ".npy/.npz file's own, else float64)",
    )
    s.add_argument("--backend", choices=BACKENDS, default="serial")
    s.add_argument(
        "--n-jobs",
        type=positive_int,
        default=2,
        help="worker processes (joblib; workers of the default Dask LocalCluster)",
    )
    s.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster)",
    )
    s.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for results.csv, results.json and best.fastbp",
    )
    s.add_argument(
        "--test-fraction", type=fraction, default=0.2, help="held out for the test score (> 0)"
    )
    s.add_argument(
        "--validation-fraction",
        type=fraction,
        default=0.2,
        help="held out to pick the best configuration (> 0)",
    )
    s.add_argument(
        "--seed", type=nonnegative_int, default=0, help="seed of the train/validation/test split"
    )
    s.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run ``fastbp sweep``: load the grid and the data, run the sweep, print the summary.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fastbp sweep``.

    Returns
    -------
    int
        0 on success, 1 if every configuration diverged, 2 if the backend's package is missing.

    Raises
    ------
    ValueError
        If the options, the grid or the data are refused (before anything is trained).
    """
    from fastbp.jsonable import to_json
    from fastbp.sweep import load_grid, prepare_data, run

    if args.scheduler is not None and args.backend != "dask":
        raise ValueError("--scheduler needs --backend dask")
    if not args.grid.exists():
        raise ValueError(f"--grid {args.grid}: no such file")
    configs = load_grid(args.grid)
    dataset = load_dataset(args.dataset, args.target_column, args.task, args.dtype, args.target)
    if args.test_fraction == 0 or args.validation_fraction == 0:
        raise ValueError("--test-fraction and --validation-fraction must be > 0")
    if dataset.task_note and not args.json:  # a doubtful guess of the task: said on stdout
        print(f"fastbp: note: {dataset.task_note}")
    data = prepare_data(dataset, args.test_fraction, args.validation_fraction, args.seed,
                        dtype=args.dtype)  # fmt: skip
    try:
        result = run(
            configs, data, backend=args.backend, n_jobs=args.n_jobs, scheduler=args.scheduler,
            progress=not args.no_progress, out_dir=args.out,
        )  # fmt: skip
    except ImportError as exc:
        print(f"fastbp sweep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    best = result.best
    summary = {
        "dataset": data.name,
        "metric": data.metric,
        "backend": args.backend,
        "configs": len(result.rows),
        "diverged": sum(r["diverged"] for r in result.rows),
        "seconds": result.seconds,
        "best_index": result.best_index,
        "best_config": None if best is None else best["config"],
        "best_val_score": None if best is None else best["val_score"],
        "best_test_score": None if best is None else best["test_score"],
        "out": None if args.out is None else str(args.out),
    }
    if dataset.task_note:
        summary["task_note"] = dataset.task_note
    if args.json:
        print(json.dumps(to_json(summary, "summary", nonfinite="null")))
        return 0
    m = data.metric
    print(f"{data.name}: {len(result.rows)} configurations on {args.backend} in "
          f"{result.seconds:.2f} s ({summary['diverged']} diverged)")  # fmt: skip
    if best is None:
        print("every configuration diverged; no best model")
        return 1
    print(f"best #{best['index']}: val {m} {best['val_score']:.4f}, test {m} "
          f"{best['test_score']:.4f} | {best['config']}")  # fmt: skip
    if args.out is not None:
        print(f"wrote {args.out / 'results.csv'}, results.json and best.fastbp")
    return 0
