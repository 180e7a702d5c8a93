"""``fastbp lecture``: rerun the backpropagation lecture's claims as experiments."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fastbp.cli.argtypes import nonnegative_int
from fastbp.cli.common import require_matplotlib


def add_parser(sub: Any) -> None:
    """Add ``fastbp lecture`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
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
    lec.add_argument(
        "--only", default=None, help="comma-separated letters or names, e.g. c,e (default: all)"
    )
    lec.add_argument("--seed", type=nonnegative_int, default=0)
    lec.add_argument("--no-plot", action="store_true", help="write only the JSON files")
    lec.set_defaults(handler=cmd_lecture)


def cmd_lecture(args: argparse.Namespace) -> int:
    """Run ``fastbp lecture``: the chosen experiments, their files and one verdict each.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fastbp lecture``.

    Returns
    -------
    int
        0 if every claim held, 1 otherwise.

    Raises
    ------
    UsageError
        If plots are asked for and matplotlib is missing.
    ValueError
        If ``--only`` names an unknown experiment (before anything runs).
    """
    from fastbp import lecture

    chosen = lecture.select(args.only)  # a bad name is a usage error, before anything runs
    if not args.no_plot:
        require_matplotlib()
    outcomes = lecture.run(
        [e.name for e in chosen], args.out, quick=args.quick, seed=args.seed,
        plot=not args.no_plot, echo=print,
    )  # fmt: skip
    held = sum(o.holds for o in outcomes)
    print(f"fastbp lecture: {held}/{len(outcomes)} claims held; files in {args.out}")
    return 0 if held == len(outcomes) else 1
