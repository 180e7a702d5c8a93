"""``fastbp gradcheck``, ``fastbp curvature`` and ``fastbp circuit``: derivatives, checked and
measured."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from fastbp.cli.argtypes import (
    UsageError,
    add_dataset_argument,
    add_model_argument,
    at_least_two,
    float_list,
    int_list,
    nonnegative_int,
    positive_int,
    target_column,
)
from fastbp.cli.common import load_dataset, model_scalers

#: ``fastbp gradcheck`` refuses a --batch whose random X and Y would take more than this.
MAX_GRADCHECK_DATA_BYTES = 2**30


def add_parsers(sub: Any) -> None:
    """Add ``fastbp gradcheck``, ``fastbp curvature`` and ``fastbp circuit`` to the subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    from fastbp import ACTIVATIONS, LOSSES
    from fastbp.spec import DTYPES

    g = sub.add_parser("gradcheck", help="backprop vs finite differences on a random network")
    g.add_argument(
        "--widths", type=int_list, default=[8, 16, 1], help="layer widths, inputs to outputs"
    )
    g.add_argument(
        "--activation", choices=sorted(ACTIVATIONS), default="tanh", help="of the hidden layers"
    )
    g.add_argument("--loss", choices=sorted(LOSSES), default="squared")
    g.add_argument("--dtype", choices=DTYPES, default="float64")
    g.add_argument("--batch", type=positive_int, default=16, help="random examples")
    g.add_argument(
        "--max-params", type=positive_int, default=2000, help="parameters checked (a sample)"
    )
    g.add_argument("--seed", type=nonnegative_int, default=0)
    g.set_defaults(handler=cmd_gradcheck)

    c = sub.add_parser("curvature", help="sharpness and Hessian trace of a saved model")
    add_model_argument(c, deprecated_option=True)
    add_dataset_argument(
        c,
        "digits, diabetes, or a path to a .csv/.npz file, or to a .npy file of features (with "
        "--target), with the model's input columns and a target (default: digits)",
        default="digits",
    )
    c.add_argument(
        "--target",
        type=Path,
        default=None,
        help="a .npy file of targets, one per row of a .npy --dataset (required with one)",
    )
    c.add_argument(
        "--target-column",
        type=target_column,
        default=None,
        help="index (negative from the end) or header name of the target column of a CSV file "
        "(default: the last column)",
    )
    c.add_argument("--iters", type=positive_int, default=100, help="power iterations")
    c.add_argument(
        "--samples",
        type=at_least_two,
        default=50,
        help="Hutchinson probes for the trace (>= 2, for a standard error)",
    )
    c.add_argument(
        "--max-examples", type=positive_int, default=2000, help="first rows of the dataset used"
    )
    c.add_argument("--seed", type=nonnegative_int, default=0)
    c.set_defaults(handler=cmd_curvature)

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
    ci.add_argument("--at", type=float_list, required=True, help="the point, e.g. 1,0,0")
    ci.add_argument("--v", type=float_list, default=None, help="direction for the JVP and HVP")
    ci.add_argument("--output", type=int, default=0, help="which output to differentiate (from 0)")
    ci.add_argument("--check", action="store_true", help="raise at the first non-finite node")
    ci.add_argument("--save", type=Path, default=None, help="save the circuit here")

    ci.set_defaults(handler=cmd_circuit)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """Run ``fastbp gradcheck``: backprop against central differences on a random network.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of the command.

    Returns
    -------
    int
        0 if the check passed, 1 if it did not.

    Raises
    ------
    UsageError
        If the widths are too few, or the random data would be too large.
    """
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
    output = spec.loss_record.output  # targets in the range the loss's output takes
    if output == "softmax":
        Y = rng.integers(0, widths[-1], size=args.batch)
    elif output == "sigmoid":
        Y = rng.uniform(size=(args.batch, widths[-1]))
    elif output == "exp":
        Y = rng.poisson(1.0, size=(args.batch, widths[-1])).astype(float)
    else:
        Y = rng.normal(size=(args.batch, widths[-1]))
    report = fb.gradcheck(net, X, Y, max_params=args.max_params, seed=args.seed)
    print(f"{spec!r}\n{report}")
    return 0 if report.passed else 1


def cmd_curvature(args: argparse.Namespace) -> int:
    """Run ``fastbp curvature``: sharpness and Hessian trace of a saved model on a dataset.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of the command.

    Returns
    -------
    int
        0.

    Raises
    ------
    UsageError
        If the dataset does not fit the model.
    OSError, ValueError
        If a file cannot be read or is refused.
    """
    import fastbp as fb
    from fastbp.curvature import curvature_report

    net = fb.Network.load(args.model)
    data = load_dataset(args.dataset, args.target_column, None, net.spec.dtype, args.target)
    x_scaler, y_scaler = model_scalers(net, args.model)
    if data.X.shape[1] != net.spec.n_inputs:
        which = "the last" if args.target_column is None else args.target_column
        column = (
            f" besides its target column ({which}, see --target-column)"
            if args.dataset.lower().endswith(".csv")
            else ""
        )
        raise UsageError(
            f"--dataset {args.dataset} has {data.X.shape[1]} feature columns{column}, but the "
            f"model expects {net.spec.n_inputs} inputs"
        )
    X, y = data.X[: args.max_examples], data.y[: args.max_examples]  # a memory map: read those
    X = X if x_scaler is None else x_scaler.transform(X)
    y = y if y_scaler is None else y_scaler.transform(y)
    rep = curvature_report(net, X, y, iters=args.iters, samples=args.samples, seed=args.seed)
    for key, value in rep.items():
        print(f"{key:<18} {value}")
    return 0


def cmd_circuit(args: argparse.Namespace) -> int:
    """Run ``fastbp circuit``: value, gradient (JVP, HVP) and a finite-difference check.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of the command.

    Returns
    -------
    int
        0.

    Raises
    ------
    UsageError
        If the expression, the point or the output index do not fit together.
    FloatingPointError
        With ``--check``, at the first non-finite node.
    """
    from fastbp import circuit as fc
    from fastbp.circuit.expr import from_expression

    if args.expression is not None and args.load is not None:
        raise UsageError("give either an expression or --load PATH, not both")
    if args.expression is None and args.load is None:
        raise UsageError("give either an expression or --load PATH (neither was given)")
    c = fc.Circuit.load(args.load) if args.load is not None else from_expression(args.expression)
    x = np.asarray(args.at, dtype=np.float64)
    if x.shape[0] != c.n_inputs:
        raise UsageError(f"--at has {x.shape[0]} value(s); the circuit has {c.n_inputs} inputs")
    if not 0 <= args.output < c.n_outputs:
        raise UsageError(f"--output must be in 0..{c.n_outputs - 1}, got {args.output}")
    print(repr(c))
    if c.n_outputs > 1:
        print(f"outputs   {c.forward(x, check=args.check)}")
    print(f"value     {c.value(x, output=args.output, check=args.check)}")
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
