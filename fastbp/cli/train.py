"""``fastbp train``: train a network on a bundled dataset or a file (the main job)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastbp.cli.argtypes import (
    UsageError,
    add_dataset_argument,
    float_list,
    fraction,
    int_list,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    target_column,
)
from fastbp.cli.common import REGRESSION_LOSSES, load_dataset, require_matplotlib

if TYPE_CHECKING:
    from fastbp.datasets import Dataset, Standardizer
    from fastbp.rows import LazyRows

#: Defaults of ``fastbp train`` per dataset (anything given on the command line wins).  digits:
#: the lecture's per-example SGD; diabetes (442 noisy rows): a small tanh network, so that it
#: does not overfit; files: the digits preset.
PRESETS: dict[str, dict[str, Any]] = {
    "digits": {"hidden": [64, 64], "activation": "relu", "epochs": 30, "lr": 0.01},
    "diabetes": {"hidden": [16], "activation": "tanh", "epochs": 100, "lr": 0.001},
    "file": {"hidden": [64, 64], "activation": "relu", "epochs": 30, "lr": 0.01},
}


def _describe(preset: dict[str, Any]) -> str:
    hidden = ",".join(str(w) for w in preset["hidden"])
    return (
        f"--hidden {hidden} --activation {preset['activation']} --epochs {preset['epochs']} "
        f"--lr {preset['lr']}"
    )


def add_parser(sub: Any) -> None:
    """Add ``fastbp train`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    from fastbp import ACTIVATIONS, INITIALISERS, LOSSES
    from fastbp.datasets._dataset import TASKS
    from fastbp.losses import PARAMS
    from fastbp.optim import OPTIMIZERS, SCHEDULES
    from fastbp.spec import DTYPES

    t = sub.add_parser(
        "train",
        help="train a network on a bundled dataset or a file (main job)",
        description="Train an MLP. Options left out come from a per-dataset preset: "
        + "; ".join(f"{name}: {_describe(p)}" for name, p in PRESETS.items())
        + ". Features (and regression targets) are standardised with training-set statistics, "
        "which are saved with the model.",
    )
    add_dataset_argument(
        t,
        "digits, diabetes, or a path to a .csv/.npz file, or to a .npy file of features "
        "(memory-mapped, with --target) (default: digits)",
        default="digits",
    )
    t.add_argument(
        "--target-column",
        type=target_column,
        default=None,
        help="index (negative from the end) or header name of the target column of a CSV file "
        "(default: the last column)",
    )
    t.add_argument(
        "--target",
        type=Path,
        default=None,
        help="a .npy file of targets, one per row of a .npy --dataset (required with one)",
    )
    t.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="task of a file dataset (default: the task of --loss if given, else inferred, see "
        "fastbp.datasets)",
    )
    t.add_argument(
        "--hidden",
        type=int_list,
        default=None,
        help="hidden layer widths, comma-separated (default: from the preset)",
    )
    t.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default=None,
        help="activation of the hidden layers (default: from the preset)",
    )
    t.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default=None,
        help="softmax_cross_entropy or logistic (2 classes) for classification; squared, "
        "poisson (non-negative targets such as counts, which are not standardised), huber (y not "
        "standardised: δ is in units of y), absolute_error or quantile for regression (default: "
        "softmax_cross_entropy for classification, squared otherwise)",
    )
    for field, record in PARAMS.items():  # --huber-delta, --quantile
        t.add_argument(
            "--" + field.replace("_", "-"),
            type=float,
            default=None,
            help=f"the parameter of --loss {record.name} (default: {record.default:g})",
        )
    t.add_argument(
        "--dtype",
        choices=DTYPES,
        default=None,
        help="the network's dtype (default: the data's: a .npy/.npz file's own, else float64)",
    )
    t.add_argument("--init", choices=list(INITIALISERS), default="xavier_normal")
    t.add_argument("--epochs", type=nonnegative_int, default=None, help="default: from the preset")
    t.add_argument("--batch-size", type=positive_int, default=1)
    t.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd")
    t.add_argument(
        "--lr", type=positive_float, default=None, help="learning rate (default: from the preset)"
    )
    t.add_argument("--momentum", type=float, default=0.9, help="momentum of sgd")
    t.add_argument("--l2", type=float, default=0.0, help="L2 penalty")
    t.add_argument(
        "--weight-decay",
        type=nonnegative_float,
        default=None,
        help="weight decay on the weights (decoupled for adamw, default 0.01 there, as "
        "torch.optim.AdamW; coupled, torch.optim.SGD's, for the others; default: none)",
    )
    t.add_argument(
        "--clip-norm",
        type=positive_float,
        default=None,
        help="clip each step's gradient to this global norm (torch's clip_grad_norm_)",
    )
    t.add_argument(
        "--warmup",
        type=nonnegative_int,
        default=0,
        help="steps of linear learning-rate warm-up in front of the schedule",
    )
    t.add_argument(
        "--dropout",
        type=float_list,
        default=None,
        metavar="P[,P...]",
        help="inverted dropout on the hidden layers, in training only: one rate 0 <= p < 1 for "
        "every hidden layer, or one per hidden layer, comma-separated (default: none)",
    )
    t.add_argument("--schedule", choices=list(SCHEDULES), default="constant")
    t.add_argument(
        "--test-fraction", type=fraction, default=0.2, help="held out for the test score"
    )
    t.add_argument(
        "--validation-fraction",
        type=fraction,
        default=0.0,
        help="of the training part, held out for a validation loss",
    )
    t.add_argument(
        "--early-stopping", action="store_true", help="stop when the validation loss stalls"
    )
    t.add_argument(
        "--patience", type=positive_int, default=5, help="epochs without improvement to stop"
    )
    t.add_argument("--seed", type=nonnegative_int, default=0)
    t.add_argument("--out", type=Path, default=None, help="save the trained model here")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.add_argument("--json", action="store_true", help="print the summary as JSON")
    t.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help="record per-layer gradient diagnostics and plot the history here (needs matplotlib)",
    )

    t.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``fastbp train``, timing the wall clock and the kernels' compiling and loading apart.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fastbp train``.

    Returns
    -------
    int
        As :func:`train_command`.
    """
    from fastbp.compiling import COMPILING_MESSAGE, CompileWatch

    def on_compile() -> None:  # during fit, its progress bar says it when the bar is shown
        if args.no_progress or getattr(args, "fit_done", False):
            print(COMPILING_MESSAGE, file=sys.stderr, flush=True)

    args.wall_start = time.perf_counter()
    with CompileWatch(on_compile=on_compile) as args.compile_watch:
        return train_command(args)


def _loss_params(args: argparse.Namespace, loss: str) -> dict[str, float]:
    """The ``NetworkSpec`` keyword of the loss's parameter, from ``--huber-delta``/``--quantile``;
    a parameter given for another loss is refused."""
    from fastbp.losses import PARAMS

    out = {}
    for field, record in PARAMS.items():
        value = getattr(args, field, None)
        if value is not None and record.name != loss:
            flag = "--" + field.replace("_", "-")
            raise UsageError(f"{flag} is the parameter of --loss {record.name}, not of {loss}")
        if value is not None:
            out[field] = value
    return out


def _dropout(rates: list[float] | None) -> float | list[float]:
    """``NetworkSpec``'s ``dropout`` from ``--dropout``: one rate for every hidden layer, or a
    list (one per hidden layer; the spec checks the count and the range)."""
    if not rates:
        return 0.0
    return rates[0] if len(rates) == 1 else rates


def train_command(args: argparse.Namespace) -> int:
    """Run ``fastbp train``: split, standardise, train, score, and save the model if asked.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fastbp train``.

    Returns
    -------
    int
        0 on success, 1 if training diverged, 130 if it was interrupted (the completed epochs
        are kept and saved).

    Raises
    ------
    UsageError
        If the options do not fit the dataset (a loss for the other task, say).
    ValueError
        If the data or the options are refused by the library.
    """
    import fastbp as fb
    from fastbp.datasets import Standardizer, train_test_split
    from fastbp.datasets.named import BUNDLED
    from fastbp.diagnostics import GradientWarning
    from fastbp.preprocessing import Preprocessing

    preset = PRESETS.get(args.dataset, PRESETS["file"])
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    task = args.task
    if task is None and args.loss is not None:  # a file's task follows the loss asked for
        task = "regression" if args.loss in REGRESSION_LOSSES else "classification"
    data = load_dataset(args.dataset, args.target_column, task, args.dtype, args.target)
    args.dtype = args.dtype or data.X.dtype.name  # the network's dtype follows the data's
    classification = data.task == "classification"
    loss = args.loss or ("softmax_cross_entropy" if classification else "squared")
    n_classes = len(data.target_names)
    if classification and n_classes < 2:
        raise UsageError(
            f"--task classification needs at least 2 classes; the target of {args.dataset} has "
            f"one ({data.target_names[0]})"
        )
    if classification == (loss in REGRESSION_LOSSES):
        need = "regression" if classification else "classification"
        if args.dataset in BUNDLED:
            hint = ""
        elif classification and task is None:
            hint = " (its target was taken for class labels: add --task regression)"
        else:
            hint = " (see --task)"
        raise UsageError(
            f"--loss {loss} needs a {need} dataset; {data.name!r} is a {data.task} one{hint}"
        )
    if data.task_note and not args.json:  # a doubtful guess of the task: said on stdout
        print(f"fastbp: note: {data.task_note}")
    sigmoid = fb.losses.RECORDS[loss].output == "sigmoid"  # one output per class, 2 classes
    if sigmoid and n_classes != 2:
        raise UsageError(f"--loss logistic needs 2 classes, the dataset has {n_classes}")
    X_tr: Any  # arrays, or LazyRows over a memory map
    X_te: Any
    if isinstance(data.X, np.memmap):  # never copied whole: split and standardise by index
        X_tr, X_te, y_tr, y_te, x_scaler = _split_memmap(data, args, classification)
    else:
        X_tr, X_te, y_tr, y_te = train_test_split(
            data.X, data.y, test_fraction=args.test_fraction, seed=args.seed,
            stratify=classification,
        )  # fmt: skip
        x_scaler = Standardizer().fit(X_tr)
        X_tr, X_te = x_scaler.transform(X_tr), x_scaler.transform(X_te)
    y_scaler = None
    if fb.losses.RECORDS[loss].standardise_y:  # not counts, nor Huber's y (δ is in its units)
        y_scaler = Standardizer().fit(y_tr)
        y_tr = y_scaler.transform(y_tr)
    n_out = 1 if sigmoid else (n_classes if classification else 1)
    spec = fb.NetworkSpec(
        [data.n_features, *args.hidden, n_out], [args.activation] * len(args.hidden), loss,
        args.dtype, dropout=_dropout(args.dropout), **_loss_params(args, loss),
    )  # fmt: skip
    net = fb.Network(spec, init=args.init, seed=args.seed)
    if args.plot is not None:  # before training, so that a mistake here costs no time
        require_matplotlib()
        if not args.plot.parent.is_dir():
            raise UsageError(f"--plot {args.plot}: directory {args.plot.parent} does not exist")
    print(f"fastbp: {data!r}\nfastbp: {net!r}", file=sys.stderr)
    exit_code = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GradientWarning)
            hist = net.fit(
                X_tr, y_tr, epochs=args.epochs, batch_size=args.batch_size,
                optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, l2=args.l2,
                weight_decay=args.weight_decay, clip_norm=args.clip_norm, warmup=args.warmup,
                schedule=args.schedule, validation_fraction=args.validation_fraction,
                early_stopping=args.early_stopping, patience=args.patience, seed=args.seed,
                progress=not args.no_progress, diagnostics=args.plot is not None,
            )  # fmt: skip
    except fb.FitDivergedError as exc:
        print(f"fastbp: {exc}", file=sys.stderr)
        hist, exit_code = exc.history, 1
    args.fit_done = True  # a first compile from here on (scoring) is the CLI's to announce
    for w in caught:  # the gradient check's warning, as one line
        print(f"fastbp: warning: {w.message}", file=sys.stderr)
    if hist.interrupted:
        print(f"fastbp: interrupted; keeping the {len(hist)} completed epoch(s)", file=sys.stderr)
        exit_code = 130

    def evaluate(X: Any, y: np.ndarray) -> float:
        if classification or y_scaler is None:
            return net.score(X, y)
        pred = y_scaler.inverse_transform(net.predict(X)[:, 0])
        return fb.train.score("squared", pred.reshape(-1, 1), y.reshape(-1, 1))

    summary = {
        "dataset": data.name,
        "task": data.task,
        "metric": "accuracy" if classification else "r2",
        "train_score": evaluate(X_tr, _original(y_tr, y_scaler)),
        "test_score": evaluate(X_te, y_te),
        "epochs": len(hist),
        "seconds": time.perf_counter() - args.wall_start,
        "compile_seconds": args.compile_watch.compile_seconds,
        "load_seconds": args.compile_watch.load_seconds,
        "train_seconds": float(sum(hist.seconds)),
        "examples_per_s": float(np.median(hist.examples_per_s)) if len(hist) else 0.0,
        "final_loss": hist.loss[-1] if len(hist) else None,
        "n_params": net.n_params,
        "interrupted": hist.interrupted,
        "diverged": hist.diverged,
    }
    if data.task_note:
        summary["task_note"] = data.task_note
    if args.out is not None:
        # Saved as x_mean/x_scale (y_mean/y_scale): net.predict applies them wherever it is loaded.
        net.preprocessing = Preprocessing(x_scaler, y_scaler)
        net.save(
            args.out,
            metadata={
                "dataset": data.name,
                "task": data.task,
                "target_names": list(data.target_names),
            },
        )
        summary["model"] = str(args.out)
    if args.plot is not None:
        from fastbp.plot import plot_history

        plot_history(hist, args.plot)
        summary["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(summary))
    else:
        m = summary["metric"]
        print(
            f"{data.name}: train {m} {summary['train_score']:.4f}, test {m} "
            f"{summary['test_score']:.4f} | {summary['epochs']} epochs | wall time "
            f"{summary['seconds']:.2f} s: compiling kernels {summary['compile_seconds']:.2f} s, "
            f"loading kernels {summary['load_seconds']:.2f} s, training "
            f"{summary['train_seconds']:.2f} s | {summary['examples_per_s']:,.0f} examples/s "
            "(median epoch)"
            + (f" | saved {args.out}" if args.out is not None else "")
            + (f" | plot {args.plot}" if args.plot is not None else "")
        )
    return exit_code


def _split_memmap(
    data: Dataset, args: argparse.Namespace, classification: bool
) -> tuple[LazyRows, LazyRows, np.ndarray, np.ndarray, Standardizer]:
    """The train/test split of a memory-mapped dataset, as lazily standardised row sets.

    The split is the one :func:`fastbp.datasets.train_test_split` makes (it is run on the row
    numbers); the standardiser is fitted block by block on the training rows; the rows come back
    as :class:`fastbp.rows.LazyRows` that standardise each chunk as the network reads it.
    """
    from fastbp.datasets import Standardizer, train_test_split
    from fastbp.rows import LazyRows, block_rows, row_blocks

    n = data.X.shape[0]
    idx_tr, idx_te, y_tr, y_te = train_test_split(
        np.arange(n), data.y, test_fraction=args.test_fraction, seed=args.seed,
        stratify=classification,
    )  # fmt: skip
    x_scaler = Standardizer()
    # Read through LazyRows, so the memory map's pages are released block by block here too.
    train_rows = LazyRows(data.X, np.dtype(np.float64), data.X.shape[1], index=np.sort(idx_tr))
    for s in row_blocks(train_rows.shape[0], block_rows(train_rows.n_cols * 8)):
        x_scaler.partial_fit(train_rows[s])
    dtype = np.dtype(args.dtype)

    def rows(idx: np.ndarray) -> LazyRows:
        d = data.X.shape[1]
        return LazyRows(data.X, dtype, d, index=idx, shift=x_scaler.mean_, scale=x_scaler.scale_)

    return rows(idx_tr), rows(idx_te), y_tr, y_te, x_scaler


def _original(y: np.ndarray, y_scaler: Standardizer | None) -> np.ndarray:
    return y if y_scaler is None else y_scaler.inverse_transform(y)
