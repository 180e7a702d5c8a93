"""``fastbp warmup``: compile every kernel for both dtypes, so later runs load them from disk."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fastbp.activations import ACTIVATIONS


def add_parser(sub: Any) -> None:
    """Add ``fastbp warmup`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    w = sub.add_parser(
        "warmup",
        help="compile every kernel the API reaches, for both dtypes (cached on disk)",
        description=(
            "Compile (or load from the disk cache) every kernel the public API reaches, H v and "
            "G v included, so that no later call compiles. Kernels specialised to a network's "
            "activations, loss and depth (per-example SGD) are compiled for the fastbp train "
            "network; others compile on their first per-example fit."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    w.add_argument(
        "--dtype",
        choices=("float32", "float64", "both"),
        default="both",
        help="the dtype(s) to compile for",
    )
    w.add_argument(
        "--activations",
        nargs="+",
        default=["relu"],
        choices=sorted(ACTIVATIONS),
        metavar="NAME",
        help="hidden activations whose specialised per-example SGD kernels to compile "
        f"(choices: {', '.join(sorted(ACTIVATIONS))})",
    )
    w.add_argument(
        "--depths",
        nargs="+",
        type=int,
        default=[1, 2],
        metavar="N",
        help="numbers of hidden layers for those kernels",
    )
    w.add_argument("--no-progress", action="store_true", help="no progress display")
    w.set_defaults(handler=cmd_warmup)


def cmd_warmup(args: argparse.Namespace) -> int:
    """Run ``fastbp warmup``: compile (or load) the kernels and say how long it took.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (``--dtype``, ``--no-progress``).

    Returns
    -------
    int
        0.
    """
    from fastbp._cache import cache_root
    from fastbp.cli.argtypes import UsageError
    from fastbp.warmup import DTYPES, warmup

    dtypes = DTYPES if args.dtype == "both" else (args.dtype,)
    print(f"fastbp: compiling kernels for {', '.join(dtypes)} into {cache_root()}", file=sys.stderr)
    if any(d < 1 for d in args.depths):
        raise UsageError(f"--depths must be 1 or more, got {args.depths}")
    seconds = warmup(
        dtypes, activations=args.activations, depths=args.depths, progress=not args.no_progress
    )
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items() if k in (*DTYPES, "circuits"))
    print(
        f"warmup: {seconds['total']:.2f} s ({parts}); compiling {seconds['compile']:.2f} s, "
        f"loading {seconds['load']:.2f} s"
    )
    return 0
