"""The argparse pieces every ``fastbp`` subcommand shares: the parser class and its help
formatter, the user-error exception, the value types (``--epochs``, ``--hidden``,
``--test-fraction`` ...) and the arguments that several subcommands spell the same way (the
model, ``--dataset``) with their deprecated old spellings.

Each type turns one command-line word into a value or raises
:class:`argparse.ArgumentTypeError`, which argparse reports as a one-line usage error.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

#: Exit status of a user error (bad arguments, unreadable files, invalid data).
EXIT_USAGE = 2

_T = TypeVar("_T")


class UsageError(Exception):
    """A user error that the CLI reports in one line (exit status 2)."""


class HelpFormatter(argparse.HelpFormatter):
    """The ``--help`` layout of every ``fastbp`` parser: each option's default is shown.

    An option that takes a value and has a default other than None gets ``(default: ...)``
    after its help, unless the help already says what the default is (with ``%(default)s`` or
    ``default:``); choices show in the option's ``{a,b,c}`` placeholder.  Flags
    (``--json``) and options whose default is None (``--out``) get nothing.

    Parameters
    ----------
    prog, indent_increment, max_help_position, width : object
        As for :class:`argparse.HelpFormatter`.
    """

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._get_help_string(action):  # argparse skips an empty help
            action = copy.copy(action)
            action.help = self._get_help_string(action)
        return super()._format_action(action)

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if getattr(action, "shown_required", False):  # MODEL, optional only for its old alias
            return str(self._metavar_formatter(action, default_metavar)(1)[0])
        return super()._format_args(action, default_metavar)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            text is argparse.SUPPRESS
            or action.default is None
            or action.default is argparse.SUPPRESS
            or action.nargs == 0  # a flag
            or "default:" in text  # the help says what the default means
            or "%(default)" in text
        ):
            return action.help
        shown = ",".join(str(v) for v in action.default) if isinstance(
            action.default, list
        ) else "%(default)s"  # fmt: skip
        return f"{text} (default: {shown})" if text else f"default: {shown}"


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are one line, without the usage dump.

    Its help shows every option's default (:class:`HelpFormatter`) unless another
    ``formatter_class`` is given.

    Parameters
    ----------
    *args, **kwargs : object
        As for :class:`argparse.ArgumentParser`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

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
        # A required argument with a deprecated alias is a required group of one shown member.
        message = re.sub(
            r"^one of the arguments (\S+) is required$",
            r"the following arguments are required: \1",
            message,
        )
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


def nonnegative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (``--weight-decay``).

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
        If ``text`` is not a finite number >= 0.
    """
    v = convert(text, float, "a number")
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
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


def target_column(text: str) -> int | str:
    """An argparse type: a CSV column, by index (negative from the end) or by header name.

    A header row has no numeric cell (see :func:`fastbp.datasets.load_file`), so a word that
    reads as an integer is always an index.

    Parameters
    ----------
    text : str
        The command-line word.

    Returns
    -------
    int or str
        The index, or the header name.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is empty.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a column index or a header name, got ''")
    try:
        return int(text)
    except ValueError:
        return text


class DeprecatedAlias(argparse.Action):
    """An old spelling of an argument: stores like the new one, after a one-line notice.

    The notice goes to stderr as ``fastbp CMD: note: --old is deprecated; use NEW``; it is not
    a Python warning, so it reads the same in a terminal, in a subprocess and in tests that
    turn warnings into errors.  The alias is left out of ``--help``.

    Parameters
    ----------
    option_strings : sequence of str
        The old spelling(s).
    dest : str
        The attribute the new spelling fills.
    new : str
        The new spelling, for the notice (e.g. ``"--dataset"`` or ``"the positional MODEL"``).
    **kwargs : object
        As for :class:`argparse.Action` (``type``, ``default`` ...).
    """

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any):
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """Print the notice and store ``values`` under :attr:`dest`.

        Parameters
        ----------
        parser : argparse.ArgumentParser
            The subcommand's parser (its ``prog`` starts the notice).
        namespace : argparse.Namespace
            Where the value goes.
        values : object
            The converted value.
        option_string : str or None
            The spelling used.
        """
        print(
            f"{parser.prog}: note: {option_string} is deprecated; use {self.new}", file=sys.stderr
        )
        setattr(namespace, self.dest, values)


def _path(text: str) -> Path | str:
    """``Path(text)``, but SUPPRESS as it is: argparse (3.11, at least) also converts a
    left-out positional's default, and a converted SUPPRESS would count as a given MODEL."""
    return text if text is argparse.SUPPRESS else Path(text)


def add_model_argument(parser: argparse.ArgumentParser, deprecated_option: bool = False) -> None:
    """Add the saved model as the positional ``MODEL`` (the spelling of every subcommand).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    deprecated_option : bool
        Also accept the old ``--model MODEL`` spelling, with a deprecation notice.
    """
    what = "a model file saved by fastbp (fastbp train --out, fastbp sweep --out)"
    if not deprecated_option:
        parser.add_argument("model", type=Path, metavar="MODEL", help=what)
        return
    # One of the two is required; the positional may be left out only for --model, so it takes
    # nargs="?" with a SUPPRESS default (left out, it does not overwrite --model's value).
    group = parser.add_mutually_exclusive_group(required=True)
    positional = group.add_argument(
        "model", type=_path, nargs="?", metavar="MODEL", default=argparse.SUPPRESS, help=what
    )
    positional.shown_required = True  # type: ignore[attr-defined]
    group.add_argument(
        "--model", dest="model", type=Path, action=DeprecatedAlias, new="the positional MODEL"
    )


def add_dataset_argument(
    parser: argparse.ArgumentParser,
    text: str,
    default: str | None = None,
    deprecated: Sequence[str] = (),
) -> None:
    """Add ``--dataset`` (the spelling of every subcommand), required if it has no default.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    text : str
        Its help text.
    default : str or None
        The default; None makes the option required.
    deprecated : sequence of str
        Old spellings still accepted, each with a deprecation notice.
    """
    if not deprecated:
        parser.add_argument("--dataset", default=default, required=default is None, help=text)
        return
    # argparse would not count the alias for a required --dataset: a required group does.
    group = parser.add_mutually_exclusive_group(required=default is None)
    group.add_argument("--dataset", default=default, help=text)
    for old in deprecated:
        group.add_argument(old, dest="dataset", action=DeprecatedAlias, new="--dataset")
