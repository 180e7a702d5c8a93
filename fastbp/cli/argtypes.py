"""The argparse pieces every ``fastbp`` subcommand shares: the parser class, the user-error
exception and the value types (``--epochs``, ``--hidden``, ``--test-fraction`` ...).

Each type turns one command-line word into a value or raises
:class:`argparse.ArgumentTypeError`, which argparse reports as a one-line usage error.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn, TypeVar

#: Exit status of a user error (bad arguments, unreadable files, invalid data).
EXIT_USAGE = 2

_T = TypeVar("_T")


class UsageError(Exception):
    """A user error that the CLI reports in one line (exit status 2)."""


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are one line, without the usage dump.

    Parameters
    ----------
    prog, usage, description, epilog, parents, formatter_class, prefix_chars, \
fromfile_prefix_chars, argument_default, conflict_handler, add_help, allow_abbrev, \
exit_on_error : object
        As for :class:`argparse.ArgumentParser`.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line on stderr and exit with :data:`EXIT_USAGE`.

        Parameters
        ----------
        message : str
            What argparse found wrong.

        Raises
        ------
        SystemExit
            Always, with status :data:`EXIT_USAGE`.
        """
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def convert(text: str, parse: Callable[[str], _T], what: str) -> _T:
    """``parse(text)``, with a ValueError turned into an argparse type error naming ``what``.

    Parameters
    ----------
    text : str
        The command-line word.
    parse : callable
        Turns ``text`` into a value, raising ValueError if it cannot.
    what : str
        What was expected, e.g. ``"an integer"``.

    Returns
    -------
    object
        ``parse(text)``.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``parse`` raised ValueError.
    """
    try:
        return parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer ≥ ``minimum``.

    Parameters
    ----------
    minimum : int
        The smallest value accepted.

    Returns
    -------
    callable
        ``parse(text) -> int``, raising :class:`argparse.ArgumentTypeError` for anything else.
    """

    def parse(text: str) -> int:
        """An argparse type: an integer as large as the minimum of :func:`int_at_least`.

        Parameters
        ----------
        text : str
            The command-line word.

        Returns
        -------
        int
            The integer.

        Raises
        ------
        argparse.ArgumentTypeError
            If ``text`` is not an integer, or is below the minimum.
        """
        v = convert(text, int, "an integer")
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
        return v

    parse.__name__ = f"int_at_least_{minimum}"
    if parse.__doc__:  # None under python -OO
        parse.__doc__ = parse.__doc__.replace("as large as the minimum of", f">= {minimum}, see")
    return parse


#: An integer ≥ 0 (``--seed``, ``--epochs``).
nonnegative_int = int_at_least(0)
#: An integer ≥ 1 (``--batch-size``, ``--n-jobs``).
positive_int = int_at_least(1)
#: An integer ≥ 2 (``curvature --samples``).
at_least_two = int_at_least(2)


def int_list(text: str) -> list[int]:
    """An argparse type: comma-separated positive integers, e.g. ``64,64``.

    Parameters
    ----------
    text : str
        The command-line word.

    Returns
    -------
    list of int
        The integers, at least one.

    Raises
    ------
    argparse.ArgumentTypeError
        If a part is not an integer, or none is given, or one is below 1.
    """
    values = convert(text, lambda t: [int(v) for v in t.split(",") if v.strip()],
                     "comma-separated integers")  # fmt: skip
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers like 64,64, got {text!r}")
    return values


def float_list(text: str) -> list[float]:
    """An argparse type: comma-separated numbers, e.g. ``1,0,0.5``.

    Parameters
    ----------
    text : str
        The command-line word.

    Returns
    -------
    list of float
        The numbers, at least one.

    Raises
    ------
    argparse.ArgumentTypeError
        If a part is not a number, or none is given.
    """
    what = "comma-separated numbers"
    values = convert(text, lambda t: [float(v) for v in t.split(",") if v.strip()], what)
    if not values:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return values


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (``--lr``).

    Parameters
    ----------
    text : str
        The command-line word.

    Returns
    -------
    float
        The number.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a finite number > 0.
    """
    v = convert(text, float, "a number")
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return v


def fraction(text: str) -> float:
    """An argparse type: a fraction in [0, 1) (``--test-fraction``).

    Parameters
    ----------
    text : str
        The command-line word.

    Returns
    -------
    float
        The fraction.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a number in [0, 1) (NaN included).
    """
    v = convert(text, float, "a number")
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text}")
    return v
