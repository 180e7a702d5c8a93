"""What a training run measured (:class:`History`), and its failure (:class:`FitDivergedError`)."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field


class FitDivergedError(ValueError):
    """Training produced a non-finite loss or parameter; the network was restored.

    Parameters
    ----------
    message : str
        What happened and what to try.
    epoch : int
        The 1-based epoch that diverged (also the attribute ``epoch``).
    history : History
        The epochs completed before it (also the attribute ``history``).
    """

    def __init__(self, message: str, epoch: int, history: History) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.history = history


@dataclass
class History:
    """What :meth:`Network.fit` measured, one entry per completed epoch.

    ``loss`` is the mean training loss over the epoch's steps (each example's loss is taken
    just before the update that uses it, as scikit-learn's ``loss_curve_``); ``val_loss`` and
    ``val_score`` are measured on the validation split after the epoch (NaN without one);
    ``lr`` is the learning rate used; ``examples_per_s`` the training throughput.
    ``diagnostics`` (only with ``fit(..., diagnostics=True)``) holds one dict per epoch from
    :func:`fastbp.diagnostics.diagnostics_from_trace` (per-layer lists of floats, plus
    ``epoch``), measured after the epoch on a fixed subsample of the training rows.

    Parameters
    ----------
    epoch : list of int
        The 1-based epoch numbers.
    loss, val_loss, val_score, lr, examples_per_s, seconds : list of float
        One value per epoch, as described above; ``seconds`` is the epoch's wall time, less
        the time spent compiling or loading kernels in it.
    compile_seconds : float
        Seconds the fit spent compiling kernels (a fresh cache) or loading them from the disk
        cache (:class:`fastbp.compiling.CompileWatch`), kept out of ``seconds``.
    interrupted : bool
        Ctrl-C stopped the fit (the last completed epoch was kept).
    diverged : bool
        The fit diverged (:class:`FitDivergedError`).
    stopped_early : bool
        Early stopping ended the fit.
    best_epoch : int or None
        The epoch whose parameters early stopping restored.
    diagnostics : list of dict
        Per-epoch gradient diagnostics, as described above.
    privacy : dict
        Only for DP-SGD (``fit(..., max_grad_norm=C)``): ``max_grad_norm``, ``noise_multiplier``,
        ``sample_rate`` (batch size over training rows), ``steps`` (optimizer steps so far) and
        ``clipped`` (examples whose gradient was clipped); :meth:`epsilon` turns it into ε.
    """

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    examples_per_s: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    compile_seconds: float = 0.0
    interrupted: bool = False
    diverged: bool = False
    stopped_early: bool = False
    best_epoch: int | None = None
    diagnostics: list[dict] = field(default_factory=list)
    privacy: dict = field(default_factory=dict)

    def epsilon(self, delta: float) -> float:
        """The ε of (ε, δ)-DP this DP-SGD fit spent (:func:`fastbp.privacy.privacy_spent`).

        Parameters
        ----------
        delta : float
            δ in (0, 1).

        Returns
        -------
        float
        """
        from fastbp.privacy import privacy_spent

        return privacy_spent(self, delta)

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field (the model file stores it).

        Returns
        -------
        dict
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, wrongly typed ones refused.

        Parameters
        ----------
        d : dict
            As written by :meth:`to_dict`.

        Returns
        -------
        History

        Raises
        ------
        TypeError
            If ``d`` is not a mapping.
        ValueError
            If a field has the wrong type.
        """
        if not isinstance(d, dict):
            raise TypeError(f"history must be a mapping, got {type(d).__name__}")
        known = cls.__dataclass_fields__
        kwargs = {k: v for k, v in d.items() if k in known}
        defaults = cls()
        for key, value in kwargs.items():
            default = getattr(defaults, key)
            if isinstance(default, list):
                numeric = key in _NUMERIC_HISTORY
                want = "a list of numbers" if numeric else "a list"
                ok = isinstance(value, list) and (not numeric or all(map(_is_number, value)))
            elif isinstance(default, bool):
                want, ok = "true or false", isinstance(value, bool)
            elif isinstance(default, dict):  # privacy
                want, ok = "a mapping", isinstance(value, dict)
            elif isinstance(default, float):  # compile_seconds
                want, ok = "a number", _is_number(value)
            else:  # best_epoch
                want = "an integer or null"
                ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
            if not ok:
                raise ValueError(f"history field {key!r} must be {want}, got {value!r:.80}")
        return cls(**kwargs)

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        flags = [n for n in ("interrupted", "diverged", "stopped_early") if getattr(self, n)]
        return f"History({len(self)} epochs{last}{', ' + ', '.join(flags) if flags else ''})"


_NUMERIC_HISTORY = ("epoch", "loss", "val_loss", "val_score", "lr", "examples_per_s", "seconds")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
