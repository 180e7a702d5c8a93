"""The ``fastbp`` command line: train, predict, info, gradcheck, curvature, circuit, lecture,
sweep, warmup, export.

User errors (bad arguments, unreadable files, invalid data) print one line on stderr and exit
with status 2, without a traceback.  A diverged training run exits with status 1; Ctrl-C during
training keeps the last completed epoch, saves it if ``--out`` was given, and exits with 130.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

EXIT_USAGE = 2

#: ``fastbp gradcheck`` refuses a --batch whose random X and Y would take more than this.
MAX_GRADCHECK_DATA_BYTES = 2**30


class UsageError(Exception):
    """A user error that the CLI reports in one line (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _convert(text: str, convert, what: str):
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _int_at_least(minimum: int):
    """An argparse type: an integer ≥ ``minimum``."""

    def parse(text: str) -> int:
        v = _convert(text, int, "an integer")
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
        return v

    return parse


_nonnegative_int = _int_at_least(0)
_positive_int = _int_at_least(1)
_at_least_two = _int_at_least(2)


def _int_list(text: str) -> list[int]:
    values = _convert(text, lambda t: [int(v) for v in t.split(",") if v.strip()],
                      "comma-separated integers")  # fmt: skip
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers like 64,64, got {text!r}")
    return values


def _float_list(text: str) -> list[float]:
    what = "comma-separated numbers"
    values = _convert(text, lambda t: [float(v) for v in t.split(",") if v.strip()], what)
    if not values:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return values


def _positive_float(text: str) -> float:
    v = _convert(text, float, "a number")
    if not np.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return v


def _fraction(text: str) -> float:
    v = _convert(text, float, "a number")
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text}")
    return v


#: Defaults of ``fastbp train`` per dataset (anything given on the command line wins).  digits:
#: the lecture's per-example SGD; diabetes (442 noisy rows): a small tanh network, so that it
#: does not overfit; files: the digits preset.
PRESETS = {
    "digits": {"hidden": [64, 64], "activation": "relu", "epochs": 30, "lr": 0.01},
    "diabetes": {"hidden": [16], "activation": "tanh", "epochs": 100, "lr": 0.001},
    "file": {"hidden": [64, 64], "activation": "relu", "epochs": 30, "lr": 0.01},
}


def _describe(preset: dict) -> str:
    hidden = ",".join(str(w) for w in preset["hidden"])
    return (
        f"--hidden {hidden} --activation {preset['activation']} --epochs {preset['epochs']} "
        f"--lr {preset['lr']}"
    )


def build_parser() -> argparse.ArgumentParser:
    from fastbp import ACTIVATIONS, LOSSES, __version__
    from fastbp.optim import OPTIMIZERS, SCHEDULES

    parser = _Parser(prog="fastbp", description="Train and check MLPs with compiled backprop.")
    parser.add_argument("--version", action="version", version=f"fastbp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser(
        "train",
        help="train a network on a bundled dataset or a file (main job)",
        description="Train an MLP. Options left out come from a per-dataset preset: "
        + "; ".join(f"{name}: {_describe(p)}" for name, p in PRESETS.items())
        + ". Features (and regression targets) are standardised with training-set statistics, "
        "which are saved with the model.",
    )
    t.add_argument(
        "--dataset",
        default="digits",
        help="digits, diabetes, or a path to a .csv/.npz file, or to a .npy file of features "
        "(memory-mapped, with --target) (default: digits)",
    )
    t.add_argument(
        "--target-column", type=int, default=-1, help="target column of a CSV file (default: last)"
    )
    t.add_argument(
        "--target",
        type=Path,
        default=None,
        help="a .npy file of targets, one per row of a .npy --dataset (required with one)",
    )
    t.add_argument(
        "--task",
        choices=["classification", "regression"],
        default=None,
        help="task of a file dataset (default: inferred, see fastbp.datasets)",
    )
    t.add_argument(
        "--hidden",
        type=_int_list,
        default=None,
        help="hidden layer widths, comma-separated (default: from the preset)",
    )
    t.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None)
    t.add_argument(
        "--loss",
        # poisson is left out: train standardises regression targets, which counts must not be
        # (use NetworkSpec(..., loss="poisson") or MLPRegressor(loss="poisson") from Python).
        choices=sorted(set(LOSSES) - {"poisson"}),
        default=None,
        help="default: softmax_cross_entropy for classification, squared otherwise",
    )
    t.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    t.add_argument("--init", default="xavier_normal")
    t.add_argument("--epochs", type=_nonnegative_int, default=None)
    t.add_argument("--batch-size", type=_positive_int, default=1)
    t.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd")
    t.add_argument("--lr", type=_positive_float, default=None)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--l2", type=float, default=0.0)
    t.add_argument("--schedule", choices=list(SCHEDULES), default="constant")
    t.add_argument("--test-fraction", type=_fraction, default=0.2)
    t.add_argument("--validation-fraction", type=_fraction, default=0.0)
    t.add_argument("--early-stopping", action="store_true")
    t.add_argument("--patience", type=_positive_int, default=5)
    t.add_argument("--seed", type=_nonnegative_int, default=0)
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

    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("model", type=Path)
    i.add_argument("--json", action="store_true")

    g = sub.add_parser("gradcheck", help="backprop vs finite differences on a random network")
    g.add_argument("--widths", type=_int_list, default=[8, 16, 1])
    g.add_argument("--activation", choices=sorted(ACTIVATIONS), default="tanh")
    g.add_argument("--loss", choices=sorted(LOSSES), default="squared")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    g.add_argument("--batch", type=_positive_int, default=16)
    g.add_argument("--max-params", type=_positive_int, default=2000)
    g.add_argument("--seed", type=_nonnegative_int, default=0)

    c = sub.add_parser("curvature", help="sharpness and Hessian trace of a saved model")
    c.add_argument("--model", type=Path, required=True)
    c.add_argument("--dataset", default="digits")
    c.add_argument("--target-column", type=int, default=-1)
    c.add_argument("--iters", type=_positive_int, default=100)
    c.add_argument(
        "--samples",
        type=_at_least_two,
        default=50,
        help="Hutchinson probes for the trace (>= 2, for a standard error)",
    )
    c.add_argument("--max-examples", type=_positive_int, default=2000)
    c.add_argument("--seed", type=_nonnegative_int, default=0)

    ci = sub.add_parser(
        "circuit",
        help="value, gradient (and JVP/HVP) of an expression, compiled as a circuit",
        description="Record an expression such as 'sin(x1 * x2) + exp(x3) / x1' (numbers, "
        "x1..xl, + - * / **, and sin cos exp log sqrt tanh sigmoid relu softplus; several "
        "outputs separated by commas) as a circuit, then print its value, gradient and a "
        "finite-difference check at a point.",
    )
    ci.add_argument("expression", nargs="?", help="the expression (or use --load)")
    ci.add_argument("--load", type=Path, default=None, help="a circuit saved with --save")
    ci.add_argument("--at", type=_float_list, required=True, help="the point, e.g. 1,0,0")
    ci.add_argument("--v", type=_float_list, default=None, help="direction for the JVP and HVP")
    ci.add_argument("--output", type=int, default=0, help="which output to differentiate")
    ci.add_argument("--check", action="store_true", help="raise at the first non-finite node")
    ci.add_argument("--save", type=Path, default=None, help="save the circuit here")

    sub.add_parser("warmup", help="compile every kernel for both dtypes (cached on disk)")

    lec = sub.add_parser(
        "lecture",
        help="rerun the backprop lecture's claims as experiments (plots + JSON)",
        description="One experiment per claim of the backpropagation lecture (see "
        "fastbp.lecture): a backprop_cost, b hvp_cost, c zero_init, d vanishing, e lemmas, f sgd. "
        "Each writes <letter>_<name>.json and .png to --out and prints a one-line verdict; the "
        "exit status is 1 if a claim did not hold.",
    )
    lec.add_argument("--out", type=Path, required=True, help="folder for the PNG and JSON files")
    lec.add_argument("--quick", action="store_true", help="smaller sweeps, fewer epochs")
    lec.add_argument("--only", default=None, help="comma-separated letters or names, e.g. c,e")
    lec.add_argument("--seed", type=_nonnegative_int, default=0)
    lec.add_argument("--no-plot", action="store_true", help="write only the JSON files")

    from fastbp.sweep import add_sweep_parser

    add_sweep_parser(sub)
    _add_export_parser(sub)
    return parser


# --------------------------------------------------------------------------- data helpers
def _load_dataset(
    name: str,
    target_column: int = -1,
    task: str | None = None,
    dtype="float64",
    target: Path | None = None,
):
    from fastbp import datasets

    if name.lower().endswith(".npy") or target is not None:
        if not (name.lower().endswith(".npy") and target is not None):
            raise UsageError("a .npy --dataset needs --target y.npy, and --target needs a .npy one")
        for p in (Path(name), target):
            if not p.is_file():
                raise UsageError(f"{p} is not an existing file")
        return datasets.load_npy(name, target, dtype=dtype, task=task)

    if name == "digits":
        return datasets.load_digits(dtype)
    if name == "diabetes":
        return datasets.load_diabetes(dtype)
    path = Path(name)
    if not path.exists():
        raise UsageError(f"dataset {name!r} is neither 'digits', 'diabetes' nor an existing file")
    return datasets.load_file(path, target_column=target_column, task=task, dtype=dtype)


def _model_scalers(net, model: Path) -> tuple:
    """The feature and target standardisers saved with a model by ``fastbp train``, checked."""
    from fastbp.datasets import Standardizer

    arrays = net.extras
    scalers = []
    for prefix, width in (("x", net.spec.n_inputs), ("y", 1)):
        if f"{prefix}_mean" not in arrays and f"{prefix}_scale" not in arrays:
            scalers.append(None)
            continue
        try:
            scaler = Standardizer.from_arrays(
                {"mean": arrays.get(f"{prefix}_mean"), "scale": arrays.get(f"{prefix}_scale")}
            )
        except ValueError as exc:
            raise UsageError(
                f"model {model}: bad {prefix}_mean/{prefix}_scale arrays: {exc}"
            ) from None
        if scaler.n_features != width or (prefix == "y" and net.spec.loss != "squared"):
            raise UsageError(
                f"model {model}: {prefix}_mean/{prefix}_scale hold {scaler.n_features} column(s), "
                f"which does not fit the model {net.spec!r}"
            )
        scalers.append(scaler)
    return tuple(scalers)


def _class_names(meta: dict, net, model: Path) -> list[str] | None:
    """``target_names`` from a model's metadata, checked against its classes (None if absent)."""
    names = meta.get("target_names")
    if names is None or (net.spec.loss == "logistic" and net.spec.n_outputs > 1):
        return None
    n_classes = 2 if net.spec.loss == "logistic" else net.spec.n_outputs
    if (
        not isinstance(names, list)
        or len(names) != n_classes
        or not all(isinstance(n, str) for n in names)
    ):
        raise UsageError(
            f"model {model}: metadata target_names must be a list of {n_classes} class names, "
            f"got {names!r:.80}"
        )
    return names


# --------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    import fastbp as fb
    from fastbp.datasets import Standardizer, train_test_split
    from fastbp.diagnostics import GradientWarning

    preset = PRESETS.get(args.dataset, PRESETS["file"])
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    data = _load_dataset(args.dataset, args.target_column, args.task, args.dtype, args.target)
    classification = data.task == "classification"
    loss = args.loss or ("softmax_cross_entropy" if classification else "squared")
    n_classes = len(data.target_names)
    if classification and loss == "squared":
        raise UsageError("--loss squared needs a regression dataset")
    if not classification and loss != "squared":
        raise UsageError(f"--loss {loss} needs a classification dataset")
    if loss == "logistic" and n_classes != 2:
        raise UsageError(f"--loss logistic needs 2 classes, the dataset has {n_classes}")
    if isinstance(data.X, np.memmap):  # never copied whole: split and standardise by index
        X_tr, X_te, y_tr, y_te, x_scaler = _split_memmap(data, args, classification)
    else:
        X_tr, X_te, y_tr, y_te = train_test_split(
            data.X, data.y, test_fraction=args.test_fraction, seed=args.seed,
            stratify=classification,
        )  # fmt: skip
        x_scaler = Standardizer().fit(X_tr)
        X_tr, X_te = x_scaler.transform(X_tr), x_scaler.transform(X_te)
    arrays = {"x_mean": x_scaler.mean_, "x_scale": x_scaler.scale_}
    y_scaler = None
    if not classification:
        y_scaler = Standardizer().fit(y_tr)
        y_tr = y_scaler.transform(y_tr)
        arrays.update(y_mean=y_scaler.mean_, y_scale=y_scaler.scale_)
    n_out = 1 if loss == "logistic" else (n_classes if classification else 1)
    spec = fb.NetworkSpec(
        [data.n_features, *args.hidden, n_out], [args.activation] * len(args.hidden), loss,
        args.dtype,
    )  # fmt: skip
    net = fb.Network(spec, init=args.init, seed=args.seed)
    if args.plot is not None:  # before training, so that a mistake here costs no time
        _require_matplotlib()
        if not args.plot.parent.is_dir():
            raise UsageError(f"--plot {args.plot}: directory {args.plot.parent} does not exist")
    print(f"fastbp: {data!r}\nfastbp: {net!r}", file=sys.stderr)
    t0 = time.perf_counter()
    exit_code = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GradientWarning)
            hist = net.fit(
                X_tr, y_tr, epochs=args.epochs, batch_size=args.batch_size,
                optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, l2=args.l2,
                schedule=args.schedule, validation_fraction=args.validation_fraction,
                early_stopping=args.early_stopping, patience=args.patience, seed=args.seed,
                progress=not args.no_progress, diagnostics=args.plot is not None,
            )  # fmt: skip
    except fb.FitDivergedError as exc:
        print(f"fastbp: {exc}", file=sys.stderr)
        hist, exit_code = exc.history, 1
    for w in caught:  # the gradient check's warning, as one line
        print(f"fastbp: warning: {w.message}", file=sys.stderr)
    seconds = time.perf_counter() - t0
    if hist.interrupted:
        print(f"fastbp: interrupted; keeping the {len(hist)} completed epoch(s)", file=sys.stderr)
        exit_code = 130

    def evaluate(X: np.ndarray, y: np.ndarray) -> float:
        if classification:
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
        "seconds": seconds,
        "examples_per_s": float(np.median(hist.examples_per_s)) if len(hist) else 0.0,
        "final_loss": hist.loss[-1] if len(hist) else None,
        "n_params": net.n_params,
        "interrupted": hist.interrupted,
        "diverged": hist.diverged,
    }
    if args.out is not None:
        net.save(
            args.out,
            arrays=arrays,
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
            f"{summary['test_score']:.4f} | {summary['epochs']} epochs in {seconds:.2f} s "
            f"(compile included), {summary['examples_per_s']:,.0f} examples/s (median epoch)"
            + (f" | saved {args.out}" if args.out is not None else "")
            + (f" | plot {args.plot}" if args.plot is not None else "")
        )
    return exit_code


def _split_memmap(data, args: argparse.Namespace, classification: bool):
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


def _require_matplotlib() -> None:
    from fastbp.plot import require_matplotlib

    try:
        require_matplotlib()
    except ImportError as exc:
        raise UsageError(str(exc)) from None


def _original(y: np.ndarray, y_scaler) -> np.ndarray:
    return y if y_scaler is None else y_scaler.inverse_transform(y)


def cmd_predict(args: argparse.Namespace) -> int:
    import fastbp as fb

    net = fb.Network.load(args.model)
    meta = net.metadata if isinstance(net.metadata, dict) else {}
    x_scaler, y_scaler = _model_scalers(net, args.model)
    n0 = net.spec.n_inputs
    X, y = _read_features(args.data, n0, args.target_column, net.spec.dtype)
    Xs = X if x_scaler is None else x_scaler.transform(X)
    if net.spec.loss == "squared":
        pred = net.predict(Xs)
        if y_scaler is not None:
            pred = y_scaler.inverse_transform(pred[:, 0]).reshape(-1, 1)
        rows = pred
    else:
        labels = net.predict(Xs)
        names = _class_names(meta, net, args.model)
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


def _read_features(path: Path, n0: int, target_column: int, dtype: str):
    """Rows of model inputs from a .csv/.npz; a file with one extra column carries a target."""
    from fastbp import datasets

    if not path.exists():
        raise UsageError(f"--data {path}: no such file")
    if path.suffix == ".npz":
        data = datasets.load_file(path, dtype=dtype)
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


def _targets_as_text(data):
    if data.task == "classification":
        return np.array([data.target_names[v] for v in data.y])
    return data.y


def cmd_info(args: argparse.Namespace) -> int:
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


def cmd_gradcheck(args: argparse.Namespace) -> int:
    import fastbp as fb

    widths = args.widths
    if len(widths) < 2:
        raise UsageError("--widths needs at least an input and an output width, e.g. 8,16,1")
    data_bytes = args.batch * (widths[0] + widths[-1]) * 8
    if data_bytes > MAX_GRADCHECK_DATA_BYTES:
        raise UsageError(
            f"--batch {args.batch} with widths {widths[0]} in and {widths[-1]} out needs "
            f"{data_bytes / 2**30:.1f} GiB of random data (limit "
            f"{MAX_GRADCHECK_DATA_BYTES / 2**30:.0f} GiB); use a smaller --batch"
        )
    spec = fb.NetworkSpec(widths, [args.activation] * (len(widths) - 2), args.loss, args.dtype)
    net = fb.Network(spec, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    for k in range(1, spec.n_layers + 1):  # random nonzero biases keep ReLU off its kink
        net.layer(k)[1][...] = rng.uniform(0.05, 0.3, size=widths[k])
    X = rng.normal(size=(args.batch, widths[0]))
    if args.loss == "softmax_cross_entropy":
        Y = rng.integers(0, widths[-1], size=args.batch)
    elif args.loss == "logistic":
        Y = rng.uniform(size=(args.batch, widths[-1]))
    elif args.loss == "poisson":
        Y = rng.poisson(1.0, size=(args.batch, widths[-1])).astype(float)
    else:
        Y = rng.normal(size=(args.batch, widths[-1]))
    report = fb.gradcheck(net, X, Y, max_params=args.max_params, seed=args.seed)
    print(f"{spec!r}\n{report}")
    return 0 if report.passed else 1


def cmd_curvature(args: argparse.Namespace) -> int:
    import fastbp as fb
    from fastbp.curvature import curvature_report

    net = fb.Network.load(args.model)
    data = _load_dataset(args.dataset, args.target_column, None, net.spec.dtype)
    x_scaler, y_scaler = _model_scalers(net, args.model)
    if data.X.shape[1] != net.spec.n_inputs:
        raise UsageError(
            f"dataset {data.name!r} has {data.X.shape[1]} features; the model takes "
            f"{net.spec.n_inputs}"
        )
    X = data.X if x_scaler is None else x_scaler.transform(data.X)
    y = data.y if y_scaler is None else y_scaler.transform(data.y)
    if X.shape[1] != net.spec.n_inputs:
        raise UsageError(
            f"dataset {data.name!r} has {X.shape[1]} features; the model takes {net.spec.n_inputs}"
        )
    X, y = X[: args.max_examples], y[: args.max_examples]
    rep = curvature_report(net, X, y, iters=args.iters, samples=args.samples, seed=args.seed)
    for key, value in rep.items():
        print(f"{key:<18} {value}")
    return 0


def cmd_circuit(args: argparse.Namespace) -> int:
    from fastbp import circuit as fc
    from fastbp.circuit.expr import from_expression

    if (args.expression is None) == (args.load is None):
        raise UsageError("give either an expression or --load PATH, not both")
    c = fc.Circuit.load(args.load) if args.load is not None else from_expression(args.expression)
    x = np.asarray(args.at, dtype=np.float64)
    if x.shape[0] != c.n_inputs:
        raise UsageError(f"--at has {x.shape[0]} value(s); the circuit has {c.n_inputs} inputs")
    if not 0 <= args.output < c.n_outputs:
        raise UsageError(f"--output must be in 0..{c.n_outputs - 1}, got {args.output}")
    print(repr(c))
    print(f"value     {c.forward(x, check=args.check)}")
    print(f"gradient  {c.gradient(x, output=args.output, check=args.check)}")
    if args.v is not None:
        print(f"jvp       {c.jvp(x, args.v, check=args.check)}")
        print(f"hvp       {c.hvp(x, args.v, output=args.output, check=args.check)}")
    if c.n_outputs == 1:
        print(fc.gradcheck(c, x))
    if args.save is not None:
        c.save(args.save)
        print(f"saved     {args.save}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from fastbp.sweep import cmd_sweep as run_sweep

    return run_sweep(args)


def cmd_warmup(args: argparse.Namespace) -> int:
    from fastbp.warmup import warmup

    for dtype, seconds in warmup().items():
        print(f"{dtype}: {seconds:.2f} s")
    return 0


def cmd_lecture(args: argparse.Namespace) -> int:
    from fastbp import lecture

    chosen = lecture.select(args.only)  # a bad name is a usage error, before anything runs
    if not args.no_plot:
        _require_matplotlib()
    outcomes = lecture.run(
        [e.name for e in chosen], args.out, quick=args.quick, seed=args.seed,
        plot=not args.no_plot, echo=print,
    )  # fmt: skip
    held = sum(o.holds for o in outcomes)
    print(f"fastbp lecture: {held}/{len(outcomes)} claims held; files in {args.out}")
    return 0 if held == len(outcomes) else 1


# --------------------------------------------------------------------------- export
def _add_export_parser(sub) -> None:
    ex = sub.add_parser(
        "export",
        help="write a saved model as ONNX (and a PyTorch state_dict)",
        description="Export a .fastbp model. --onnx writes an ONNX model with input X (batch, n0) "
        "and output Y: what net.forward returns (values, softmax or sigmoid probabilities). If "
        "the model holds the feature (and target) standardisation saved by 'fastbp train', the "
        "ONNX graph applies it, so Y is what 'fastbp predict' computes from raw features (before "
        "class names); --raw leaves it out. --torch writes the state_dict of the network's "
        "torch.nn.Sequential (see Network.to_torch), without standardisation.",
    )
    ex.add_argument("model", type=Path, help="a model file saved by fastbp")
    ex.add_argument("--onnx", type=Path, default=None, metavar="OUT.onnx")
    ex.add_argument("--torch", type=Path, default=None, metavar="OUT.pt")
    ex.add_argument("--opset", type=_int_at_least(1), default=None, help="ONNX opset (default 17)")
    ex.add_argument(
        "--raw", action="store_true", help="export the bare network, without standardisation"
    )


def cmd_export(args: argparse.Namespace) -> int:
    import fastbp as fb

    if args.onnx is None and args.torch is None:
        raise UsageError("give --onnx OUT.onnx and/or --torch OUT.pt")
    net = fb.Network.load(args.model)
    x_scaler, y_scaler = (None, None) if args.raw else _model_scalers(net, args.model)
    spec = net.spec
    output = {"identity": "values", "softmax": "softmax probabilities",
              "sigmoid": "sigmoid probabilities"}[spec.output_activation]  # fmt: skip
    try:
        if args.onnx is not None:
            from fastbp.interop.onnx_export import to_onnx

            to_onnx(net, args.onnx, opset=args.opset, x_scaler=x_scaler, y_scaler=y_scaler)
            scaled = [w for w, s in (("features", x_scaler), ("targets", y_scaler)) if s]
            print(
                f"wrote {args.onnx}: ONNX, input X (batch, {spec.n_inputs}) {spec.dtype} -> "
                f"output Y (batch, {spec.n_outputs}) {output}"
                + (f"; standardisation of the {' and '.join(scaled)} built in" if scaled else "")
            )
        if args.torch is not None:
            _export_torch(net, args.torch, bool(x_scaler or y_scaler))
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _export_torch(net, path: Path, scaled: bool) -> None:
    import io

    from fastbp.interop._common import require
    from fastbp.interop.onnx_export import write_bytes_atomically

    torch = require("torch", "fastbp export --torch")
    module = net.to_torch()
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    write_bytes_atomically(path, buf.getvalue(), "torch state_dict")
    layout = " ".join(repr(module).split())
    print(f"wrote {path}: torch state_dict of {layout}")
    if scaled:
        print(
            "fastbp export: note: the state_dict is the bare network; standardise features as "
            "the model file's x_mean/x_scale say (and undo y_mean/y_scale) around it",
            file=sys.stderr,
        )


COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "info": cmd_info,
    "gradcheck": cmd_gradcheck,
    "curvature": cmd_curvature,
    "warmup": cmd_warmup,
    "lecture": cmd_lecture,
    "circuit": cmd_circuit,
    "sweep": cmd_sweep,
    "export": cmd_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastbp`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ValueError, TypeError, OSError) as exc:
        print(f"fastbp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FloatingPointError as exc:  # circuit --check found a non-finite value: not a usage error
        print(f"fastbp {args.command}: {exc}", file=sys.stderr)
        return 1
    except MemoryError as exc:  # e.g. a dataset too large for this machine
        print(f"fastbp {args.command}: error: out of memory ({exc})", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fastbp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
