"""The ``fastbp`` command line: train, predict, info, gradcheck, curvature, circuit, lecture,
sweep, warmup, export.

User errors (bad arguments, unreadable files, invalid data) print one line on stderr and exit
with status 2, without a traceback.  A diverged training run exits with status 1; Ctrl-C during
training keeps the last completed epoch, saves it if ``--out`` was given, and exits with 130.

One module per family of subcommands, each with ``add_parser(sub)`` (or ``add_parsers``) and its
``cmd_*`` functions: :mod:`~fastbp.cli.train`, :mod:`~fastbp.cli.predict` (predict, info),
:mod:`~fastbp.cli.checks` (gradcheck, curvature, circuit), :mod:`~fastbp.cli.lecture`,
:mod:`~fastbp.cli.sweep`, :mod:`~fastbp.cli.warmup` and :mod:`~fastbp.cli.export`.  The argparse
types they share live in :mod:`~fastbp.cli.argtypes`, and the helpers in
:mod:`~fastbp.cli.common`.  ``fastbp``, ``python -m fastbp`` and ``python -m fastbp.cli`` all
call :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastbp.cli import checks, export, lecture, predict, sweep, train, warmup
from fastbp.cli.argtypes import EXIT_USAGE, Parser, UsageError

__all__ = ["EXIT_USAGE", "UsageError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``fastbp`` command, with every subcommand.

    Each subcommand's parser stores its ``cmd_*`` function as ``args.handler``.

    Returns
    -------
    argparse.ArgumentParser
        The parser (its errors print one line and exit with status 2).
    """
    from fastbp import __version__

    parser = Parser(prog="fastbp", description="Train and check MLPs with compiled backprop.")
    parser.add_argument("--version", action="version", version=f"fastbp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    train.add_parser(sub)
    predict.add_parsers(sub)
    checks.add_parsers(sub)
    warmup.add_parser(sub)
    lecture.add_parser(sub)
    sweep.add_parser(sub)
    export.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastbp`` console script (and of ``python -m fastbp``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 when a check failed or training diverged, 2 for a
        user error (reported in one line on stderr), 130 after Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        status: int = args.handler(args)
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
    return status
