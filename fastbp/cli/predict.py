"""``fastbp predict`` and ``fastbp info``: use and describe a saved model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastbp.cli.argtypes import (
    UsageError,
    add_dataset_argument,
    add_model_argument,
    target_column,
)
from fastbp.cli.common import REGRESSION_LOSSES, check_target_column, class_names, model_scalers

if TYPE_CHECKING:
    from fastbp.datasets import Dataset


def add_parsers(sub: Any) -> None:
    """Add ``fastbp predict`` and ``fastbp info`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    p = sub.add_parser(
        "predict",
        help="predict with a saved model",
        description="Print one prediction per row of --dataset (class names for a classifier "
        "trained by 'fastbp train'), in the original units, and, when the rows carry targets, "
        "the score on stderr.",
    )
    add_model_argument(p, deprecated_option=True)
    add_dataset_argument(
        p,
        "digits, diabetes, or a .csv/.npz file with the model's input columns; a CSV with one "
        "column more carries the target in its last column (or in --target-column), and the "
        "score is printed",
        deprecated=["--data"],
    )
    p.add_argument(
        "--target-column",
        type=target_column,
        default=None,
        help="index or header name of the target column of a CSV --dataset (default: the last "
        "one, if the file has one column more than the model has inputs)",
    )
    p.add_argument("--out", type=Path, default=None, help="write predictions as CSV here")
    p.set_defaults(handler=cmd_predict)

    i = sub.add_parser("info", help="describe a saved model")
    add_model_argument(i)
    i.add_argument("--json", action="store_true", help="print the raw header as JSON")
    i.set_defaults(handler=cmd_info)


def cmd_predict(args: argparse.Namespace) -> int:
    """Run ``fastbp predict``: one prediction per row, as CSV, and a score if targets are given.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fastbp predict``.

    Returns
    -------
    int
        0.

    Raises
    ------
    UsageError
        If the data does not fit the model, or the model's saved records are malformed.
    OSError, ValueError
        If a file cannot be read or is refused.
    """
    import fastbp as fb

    net = fb.Network.load(args.model)
    meta = net.metadata if isinstance(net.metadata, dict) else {}
    model_scalers(net, args.model)  # the file's standardisation, checked
    n0 = net.spec.n_inputs
    regression = net.spec.loss in REGRESSION_LOSSES
    task = "regression" if regression else "classification"
    X, y = _read_features(args.dataset, n0, args.target_column, "float64", task)
    # net.predict applies the model's preprocessing: raw rows in, user units out.
    if regression:
        rows = net.predict(X)
    else:
        labels = net.predict(X)
        names = class_names(meta, net, args.model)
        rows = np.array([names[v] for v in labels]) if names else labels
    out = sys.stdout if args.out is None else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for row in np.atleast_1d(rows):
            out.write(",".join(str(v) for v in np.atleast_1d(row)) + "\n")
    finally:
        if args.out is not None:
            out.close()
    if y is not None:
        if regression:
            score = fb.train.score("squared", rows, y.reshape(-1, 1))
            print(f"fastbp: r2 {score:.4f} on {len(y)} rows", file=sys.stderr)
        else:
            truth = [_label_text(v) for v in y]
            predicted = [_label_text(v) for v in rows]
            accuracy = np.mean([a == b for a, b in zip(predicted, truth, strict=True)])
            print(f"fastbp: accuracy {accuracy:.4f} on {len(y)} rows", file=sys.stderr)
    return 0


def _label_text(value: object) -> str:
    """A class label as text, with whole floats written as integers (3.0 -> "3")."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _read_features(
    name: str, n0: int, target_column: int | str | None, dtype: str, task: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """The model inputs of a ``--dataset`` and its targets (None if the rows carry none).

    A CSV file's target column is ``target_column``; left out (None), the file's last column is
    taken for a target only if the file has one column more than the model has inputs.
    """
    from fastbp import datasets
    from fastbp.datasets.named import BUNDLED

    check_target_column(name, target_column)
    if name in BUNDLED:
        data = datasets.load_named(name, dtype=dtype)
        _check_width(data.n_features, n0, f"--dataset {name} has {data.n_features} features")
        return data.X, _targets_as_text(data)
    path = Path(name)
    if not path.exists():
        raise UsageError(f"--dataset {path}: no such file (nor 'digits' or 'diabetes')")
    if path.suffix.lower() == ".npz":
        data = datasets.load_file(path, dtype=dtype, task=task)
        _check_width(data.n_features, n0, f"--dataset {path}: its X has {data.n_features} columns")
        return data.X, _targets_as_text(data)
    column = -1 if target_column is None else target_column
    data = datasets.load_file(path, target_column=column, dtype=dtype, task="regression")
    n_cols = data.n_features + 1
    if target_column is not None:
        _check_width(
            data.n_features,
            n0,
            f"--dataset {path} has {n_cols} columns, so {data.n_features} feature columns "
            f"besides the target column (--target-column {target_column})",
        )
        return data.X, data.y
    if n_cols == n0:  # no target: the column read as one is the last feature
        return np.ascontiguousarray(np.column_stack([data.X, data.y]), dtype=dtype), None
    if n_cols != n0 + 1:
        raise UsageError(
            f"--dataset {path} has {n_cols} columns, but the model expects {n0} inputs: give "
            f"{n0} feature columns, or {n0 + 1} with the target in the last one (or name the "
            "target with --target-column)"
        )
    return data.X, data.y


def _check_width(found: int, n0: int, what: str) -> None:
    """Raise ``UsageError("{what}, but the model expects {n0} inputs")`` if found != n0."""
    if found != n0:
        raise UsageError(f"{what}, but the model expects {n0} inputs")


def _targets_as_text(data: Dataset) -> np.ndarray:
    if data.task == "classification":
        return np.array([data.target_names[v] for v in data.y])
    return data.y


def cmd_info(args: argparse.Namespace) -> int:
    """Run ``fastbp info``: print a saved model's header (as text or JSON).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fastbp info``.

    Returns
    -------
    int
        0.

    Raises
    ------
    OSError, ValueError
        If the file cannot be read or is not a fastbp model.
    """
    from fastbp.io import read_header

    header = read_header(args.model)
    if args.json:
        print(json.dumps(header, indent=2))
        return 0
    spec = header["spec"]
    hist = header.get("history") or {}
    print(f"model        {args.model}")
    print(f"format       {header['format']} v{header['format_version']} "
          f"(fastbp {header['fastbp_version']}, created {header['created']})")  # fmt: skip
    print(f"widths       {spec['widths']}")
    print(f"activations  {spec['activations']}")
    print(f"loss         {spec['loss']}")
    print(f"dtype        {spec['dtype']}")
    print(f"parameters   {header['n_params']:,}")
    print(f"init, seed   {header['init']}, {header['seed']}")
    print(f"optimizer    {header['optimizer']}")
    epochs, losses = hist.get("epoch"), hist.get("loss")
    if isinstance(epochs, list) and epochs:  # the history is free-form JSON: print what fits
        last = losses[-1] if isinstance(losses, list) and losses else None
        final = f", final loss {last:.6g}" if isinstance(last, (int, float)) else ""
        print(f"trained      {len(epochs)} epochs{final}"
              + (" (interrupted)" if hist.get("interrupted") is True else ""))  # fmt: skip
    if header.get("metadata"):
        print(f"metadata     {header['metadata']}")
    if header.get("arrays"):
        print(f"arrays       {header['arrays']}")
    return 0
