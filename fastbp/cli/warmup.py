"""``fastbp warmup``: compile every kernel for both dtypes, so later runs load them from disk."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    """Add ``fastbp warmup`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    w = sub.add_parser("warmup", help="compile every kernel for both dtypes (cached on disk)")
    w.set_defaults(handler=cmd_warmup)


def cmd_warmup(args: argparse.Namespace) -> int:
    """Run ``fastbp warmup``: compile (or load) the kernels and print the seconds per dtype.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (none).

    Returns
    -------
    int
        0.
    """
    from fastbp.warmup import warmup

    for dtype, seconds in warmup().items():
        print(f"{dtype}: {seconds:.2f} s")
    return 0
