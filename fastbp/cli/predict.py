"""``fastbp predict`` and ``fastbp info``: use and describe a saved model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastbp.cli.argtypes import UsageError
from fastbp.cli.common import class_names, model_scalers

if TYPE_CHECKING:
    from fastbp.datasets import Dataset


def add_parsers(sub: Any) -> None:
    """Add ``fastbp predict`` and ``fastbp info`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    p = sub.add_parser("predict", help="predict with a saved model")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help=".csv/.npz with the model's input columns (plus a target column to score)",
    )
    p.add_argument("--target-column", type=int, default=-1)
    p.add_argument("--out", type=Path, default=None, help="write predictions as CSV here")
    p.set_defaults(handler=cmd_predict)

    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("model", type=Path)
    i.add_argument("--json", action="store_true")
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
    task = "regression" if net.spec.loss in ("squared", "poisson") else "classification"
    X, y = _read_features(args.data, n0, args.target_column, "float64", task)
    # net.predict applies the model's preprocessing: raw rows in, user units out.
    if net.spec.loss == "squared":
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
        if net.spec.loss == "squared":
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
    path: Path, n0: int, target_column: int, dtype: str, task: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of model inputs from a .csv/.npz; a file with one extra column carries a target."""
    from fastbp import datasets

    if not path.exists():
        raise UsageError(f"--data {path}: no such file")
    if path.suffix == ".npz":
        data = datasets.load_file(path, dtype=dtype, task=task)
        X, y = data.X, _targets_as_text(data)
    else:
        data = datasets.load_file(path, target_column=target_column, dtype=dtype,
                                  task="regression")  # fmt: skip
        if data.n_features == n0 - 1:  # the file has no target: its "target" is a feature
            X = _csv_matrix(path, dtype)
            y = None
        else:
            X, y = data.X, data.y
    if X.shape[1] != n0:
        raise UsageError(f"--data {path} has {X.shape[1]} feature columns; the model takes {n0}")
    return X, y


def _csv_matrix(path: Path, dtype: str) -> np.ndarray:
    from fastbp import datasets

    data = datasets.load_file(path, target_column=-1, dtype=dtype, task="regression")
    return np.ascontiguousarray(np.column_stack([data.X, data.y]), dtype=dtype)


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
