"""The progress display of long runs: a tqdm bar when tqdm is installed, else one line per step.

``fit``, the scikit-learn estimators and ``sweep`` all report through :class:`Progress`, so a
long run looks the same whichever of them drives it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Any


class Progress:
    """A progress display over ``total`` steps (epochs, configurations...).

    Parameters
    ----------
    total : int
        The number of steps expected.
    enabled : bool
        Show anything at all; a disabled display costs one attribute test per step.
    unit : str
        What one step is, e.g. ``"epoch"``; it also starts the fallback line.
    desc : str
        The bar's label, e.g. ``"fit"``.

    Notes
    -----
    With tqdm, each :meth:`update` advances the bar by one and shows ``stats`` as its postfix.
    Without it, each :meth:`update` prints ``"<unit> <done>/<total> k=v ..."`` on stderr.  NaN
    values are left out of both.
    """

    def __init__(
        self, total: int, enabled: bool, *, unit: str = "epoch", desc: str = "fit"
    ) -> None:
        self.total = int(total)
        self.enabled = bool(enabled)
        self.unit = unit
        self.done = 0
        self.bar: Any = None
        if self.enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=self.total, unit=unit, desc=desc, leave=True, file=sys.stderr)

    def update(self, stats: Mapping[str, float] | None = None) -> None:
        """Mark one more step done and show ``stats`` (name to number) beside it.

        Parameters
        ----------
        stats : mapping of str to float, optional
            Figures of the step just finished, e.g. ``{"loss": 0.12}``.
        """
        self.done += 1
        if not self.enabled:
            return
        text = {k: f"{v:.4g}" for k, v in (stats or {}).items() if not math.isnan(v)}
        if self.bar is not None:
            self.bar.set_postfix(text, refresh=False)
            self.bar.update(1)
        else:
            items = " ".join(f"{k}={v}" for k, v in text.items())
            print(
                f"{self.unit} {self.done}/{self.total} {items}".rstrip(),
                file=sys.stderr,
                flush=True,
            )

    def note(self, message: str) -> None:
        """Show a one-line message on stderr, above the bar (nothing when disabled).

        Parameters
        ----------
        message : str
            The line to show, e.g. :data:`fastbp.compiling.COMPILING_MESSAGE`.
        """
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def exclude(self, seconds: float) -> None:
        """Leave ``seconds`` out of the bar's rate and time-left estimate.

        The time a run spent compiling kernels says nothing about how long its remaining steps
        will take, so :func:`fastbp.train.fit` excludes it here.

        Parameters
        ----------
        seconds : float
            Seconds spent since the last update on work that is not a step (compiling).
        """
        if self.bar is not None and seconds > 0:
            self.bar.start_t += seconds
            self.bar.last_print_t += seconds

    def close(self) -> None:
        """Close the bar (a no-op without tqdm)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Progress({self.done}/{self.total} {self.unit}, enabled={self.enabled})"
